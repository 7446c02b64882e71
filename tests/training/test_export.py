"""training.export: a run's weights into a weights folder, in float16, one role renamed if asked."""

from __future__ import annotations

import json

import pytest
import torch

from portrait_editor.pipeline import load_bundle
from training.export import main


def test_one_role_exported_under_another_name_loads_as_the_body_margins_network(tiny_weights, tmp_path):
    main([str(tiny_weights), "--only", "extrapolation", "--as", "extrapolation_body", "--dest", str(tmp_path),
          "--note", "test"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extrapolation_body.json", "extrapolation_body.safetensors"]
    info = json.loads((tmp_path / "extrapolation_body.json").read_text())
    assert info["role"] == "extrapolation_body" and info["dtype"] == "float16" and info["export"]["note"] == "test"
    for role in ("parsing", "completion", "face"):
        main([str(tiny_weights), "--only", role, "--dest", str(tmp_path)])
    bundle = load_bundle(tmp_path)
    assert bundle.extrapolation is None and bundle.extrapolation_body is not None
    source = load_bundle(tiny_weights).extrapolation.state_dict()
    for name, tensor in bundle.extrapolation_body.state_dict().items():
        torch.testing.assert_close(tensor, source[name].half().to(tensor.dtype))


def test_renaming_needs_one_role_of_the_same_kind(tiny_weights, tmp_path):
    with pytest.raises(SystemExit, match="--as needs --only"):
        main([str(tiny_weights), "--as", "extrapolation_body", "--dest", str(tmp_path)])
    with pytest.raises(SystemExit, match="same kind"):
        main([str(tiny_weights), "--only", "parsing", "--as", "extrapolation_body", "--dest", str(tmp_path)])
    assert not any(tmp_path.iterdir())
