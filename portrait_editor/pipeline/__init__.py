"""Headless inference: crop -> stage I parse -> stage II complete -> face -> blend. No Qt here."""

from .complete import STAGES, Cancelled, Completer, CompletionRequest, CompletionResult
from .regions import Margins
from .weights import ModelBundle, WeightsError, load_bundle, pick_device, save_weights

__all__ = [
    "STAGES", "Cancelled", "Completer", "CompletionRequest", "CompletionResult", "Margins",
    "ModelBundle", "WeightsError", "load_bundle", "pick_device", "save_weights",
]
