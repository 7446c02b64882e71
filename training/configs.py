"""Shared config helpers: where the data lives and ``--set key=value`` overrides of dataclasses."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

DATA_ROOT = os.environ.get("PORTRAIT_EDITOR_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
"""``../shared/data`` beside the checkout unless $PORTRAIT_EDITOR_DATA says otherwise."""


def apply_overrides(cfg: Any, overrides: list[str]) -> Any:
    """``["lr=1e-4", "size=(256,192)", "model={'width': 48}"]`` -> a new dataclass; unknown keys fail."""
    fields = {f.name for f in dataclasses.fields(cfg)}
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"override {item!r} is not KEY=VALUE")
        if key not in fields:
            raise SystemExit(f"unknown config key {key!r}; known: {', '.join(sorted(fields))}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        changes[key] = value
    return dataclasses.replace(cfg, **changes)


def preset_config(base: Any, presets: dict[str, dict[str, Any]], name: str, overrides: list[str]) -> Any:
    """The dataclass ``base`` with preset ``name``'s values, then ``--set`` ``overrides``."""
    if name not in presets:
        raise SystemExit(f"unknown config {name!r}; known: {', '.join(presets)}")
    return apply_overrides(dataclasses.replace(base, **presets[name]), overrides)


def config_from_run(run_dir: Path, cls: type) -> Any:
    """The dataclass ``cls`` from a run's resolved ``config.json`` (lists back to tuples; keys
    that ``cls`` no longer has are left out)."""
    def tuples(value: Any) -> Any:
        return tuple(tuples(v) for v in value) if isinstance(value, list) else value

    resolved = json.loads((Path(run_dir) / "config.json").read_text())
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuples(v) for k, v in resolved.items() if k in known})


def run_metadata(cfg: Any, script: str, step: int, metrics: dict[str, float]) -> dict[str, Any]:
    """What exported weights record about their training: data, size, steps, the resolved config."""
    return {"training": {"data": list(cfg.data), "size": list(cfg.size), "steps": step, "config": script,
                         "resolved": json.loads(json.dumps(dataclasses.asdict(cfg), default=str))},
            "metrics": metrics}
