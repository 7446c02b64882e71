"""Headless inference: crop -> stage I parse -> stage II complete -> face -> blend. No Qt here.

Names are imported lazily (PEP 562) so that the plain-data parts (requests, margins) can be used
on the editor's GUI thread without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "STAGES": "request", "Cancelled": "request", "CompletionRequest": "request",
    "CompletionResult": "request", "Margins": "regions",
    "Completer": "complete",
    "ModelBundle": "weights", "WeightsError": "weights", "load_bundle": "weights",
    "pick_device": "weights", "save_weights": "weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
