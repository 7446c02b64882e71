"""Weights files: round trip, lookup order, and clear errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from portrait_editor.models import build_model
from portrait_editor.pipeline import weights
from portrait_editor.pipeline.weights import (
    WeightsError,
    find_weights_folder,
    load_bundle,
    load_network,
    save_weights,
)


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No env var, an empty user config folder, and no packaged weights."""
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(weights, "resources_dir", lambda: tmp_path / "resources")
    return tmp_path


def test_round_trip_gives_the_same_network(tmp_path):
    torch.manual_seed(1)
    net = build_model("completion", preset="tiny").eval()
    save_weights(net, "completion", tmp_path, half=False, metadata={"metrics": {"l1": 1.0}})
    loaded, info = load_network(tmp_path, "completion")
    x = torch.rand(1, 3, 32, 24) * 2 - 1
    p = torch.randint(0, 21, (1, 32, 24))
    m = torch.zeros(1, 1, 32, 24)
    m[..., 8:20, 6:18] = 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, p, m), net(x, p, m))
    assert info["metrics"] == {"l1": 1.0} and info["kind"] == "completion"
    assert not list(tmp_path.glob("*.tmp"))


def test_lookup_order(isolated, tiny_weights, monkeypatch):
    user = isolated / "config" / "portrait-editor" / "weights"
    packaged = isolated / "resources" / "weights"
    shutil.copytree(tiny_weights, packaged)
    assert find_weights_folder() == packaged
    shutil.copytree(tiny_weights, user)
    assert find_weights_folder() == user
    env = isolated / "env"
    shutil.copytree(tiny_weights, env)
    monkeypatch.setenv(weights.ENV_VAR, str(env))
    assert find_weights_folder() == env
    assert find_weights_folder(tiny_weights) == tiny_weights


def test_explicit_folder_without_weights_is_an_error_naming_it(isolated, tiny_weights):
    shutil.copytree(tiny_weights, isolated / "resources" / "weights")
    with pytest.raises(WeightsError, match="nowhere"):
        find_weights_folder(isolated / "nowhere")


def test_missing_weights_message_lists_every_place(isolated):
    with pytest.raises(WeightsError) as info:
        find_weights_folder()
    message = str(info.value)
    assert "user config" in message and "packaged" in message and "\n" not in message


def test_missing_parsing_weights(isolated, tiny_weights):
    folder = isolated / "w"
    shutil.copytree(tiny_weights, folder)
    (folder / "parsing.safetensors").unlink()
    with pytest.raises(WeightsError, match="parsing.safetensors"):
        load_bundle(folder)


def test_optional_networks_may_be_absent(isolated, tiny_weights):
    folder = isolated / "w"
    shutil.copytree(tiny_weights, folder)
    for role in ("face", "extrapolation"):
        (folder / f"{role}.safetensors").unlink()
    bundle = load_bundle(folder)
    assert bundle.face is None and bundle.extrapolation is None and bundle.label_set.name == "lip+neck"


def test_mismatched_architecture_is_reported(isolated, tiny_weights):
    folder = isolated / "w"
    shutil.copytree(tiny_weights, folder)
    meta = json.loads((folder / "completion.json").read_text())
    meta["config"]["width"] = meta["config"]["width"] * 2
    (folder / "completion.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="do not match the architecture"):
        load_bundle(folder)


def test_corrupt_tensors_file(isolated, tiny_weights):
    folder = isolated / "w"
    shutil.copytree(tiny_weights, folder)
    (folder / "completion.safetensors").write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(WeightsError, match="cannot read weights"):
        load_bundle(folder)


def test_unknown_config_key_is_reported(isolated, tiny_weights):
    folder = isolated / "w"
    shutil.copytree(tiny_weights, folder)
    meta = json.loads((folder / "face.json").read_text())
    meta["config"]["colour_magic"] = 3
    (folder / "face.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="colour_magic"):
        load_bundle(folder)


def test_pick_device():
    assert weights.pick_device("cpu").type == "cpu"
    assert weights.pick_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(WeightsError, match="unknown device"):
        weights.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(WeightsError, match="no CUDA"):
            weights.pick_device("cuda")


def test_trained_size_comes_from_the_metadata(tiny_bundle, monkeypatch):
    from portrait_editor.pipeline.weights import DEFAULT_TRAIN_SIZE

    assert tiny_bundle.trained_size("completion") == DEFAULT_TRAIN_SIZE  # not recorded
    monkeypatch.setitem(tiny_bundle.metadata, "completion", {"training": {"resolved": {"size": [128, 96]}}})
    assert tiny_bundle.trained_size("completion") == (128, 96)
    monkeypatch.setitem(tiny_bundle.metadata, "completion", {"train_size": "bad"})
    assert tiny_bundle.trained_size("completion") == DEFAULT_TRAIN_SIZE


def test_no_shipped_network_upsamples_with_transposed_convolutions():
    """Transposed convolutions paint a dot grid into flat fills (issue 10); every generator in the
    packaged weights resizes instead (its config as the loader reads it, files without the key
    meaning the old default, deconv)."""
    from portrait_editor.models.config import config_from_dict
    from portrait_editor.paths import resources_dir
    from portrait_editor.pipeline.weights import ROLES

    folder = resources_dir() / "weights"
    shipped = {role: kind for role, kind in ROLES.items() if kind != "parsing" and (folder / f"{role}.json").is_file()}
    assert {"completion", "face"} <= set(shipped)
    for role, kind in shipped.items():
        info = json.loads((folder / f"{role}.json").read_text())
        assert config_from_dict(kind, info["config"]).upsample == "resize", role
