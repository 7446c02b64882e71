"""The training scripts run, checkpoint, resume and export with tiny configs (seconds on a CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from portrait_editor.pipeline.weights import load_network

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"

needs_data = pytest.mark.skipif(not (DATA / "viton").is_dir() or not (DATA / "ccp").is_dir(),
                                reason="../shared/data is not available")


def _train(module: str, run: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"training.{module}", "--config", "tiny", "--run-dir", str(run),
                           "--set", *overrides], cwd=ROOT, capture_output=True, text=True, timeout=300)


@needs_data
@pytest.mark.parametrize("module,role", [("train_completion", "completion"), ("train_parsing", "parsing")])
def test_tiny_run_resumes_and_exports(tmp_path, module, role):
    run = tmp_path / "run"
    first = _train(module, run, "steps=2")
    assert first.returncode == 0, first.stderr
    resumed = _train(module, run, "steps=4")
    assert resumed.returncode == 0, resumed.stderr
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps[:2] == [1, 2] and 3 in steps and 4 in steps  # continued from step 2, not from 0
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 4
    net, info = load_network(run / "last", role)
    assert info["training"]["steps"] == 4
    saved = json.loads((run / "config.json").read_text())
    assert saved["steps"] == 4 and saved["preset"] == "tiny"


@needs_data
def test_changed_config_refuses_to_resume(tmp_path):
    run = tmp_path / "run"
    assert _train("train_completion", run, "steps=1").returncode == 0
    proc = _train("train_completion", run, "steps=2", "lr=0.1")
    assert proc.returncode != 0 and "lr" in proc.stderr


@needs_data
def test_two_process_ddp_keeps_weights_equal(tmp_path):
    """torchrun with two CPU processes (gloo): after a few steps both ranks hold the same G."""
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", "29517", "-m", "training.train_completion", "--config", "tiny",
                           "--run-dir", str(run), "--device", "cpu", "--set", "steps=3", "dump_rank_weights=True"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = torch.load(run / "rank0.pt", weights_only=True)
    b = torch.load(run / "rank1.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)
    initial = torch.load(run / "rank0-initial.pt", weights_only=True)
    assert any(not torch.equal(initial[k], a[k]) for k in a if a[k].is_floating_point())  # it did train


@needs_data
def test_face_training_resumes_exports_and_learns_a_residual(tmp_path, tiny_weights):
    """F trains on G's (frozen) fill of face holes; untrained F is the identity, trained F is not."""
    run = tmp_path / "face"
    first = _train("train_face", run, "steps=2", f"g_from={tiny_weights}")
    assert first.returncode == 0, first.stderr
    resumed = _train("train_face", run, "steps=4", f"g_from={tiny_weights}")
    assert resumed.returncode == 0, resumed.stderr
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 4
    net, info = load_network(run / "last", "face")
    assert info["training"]["config"] == "train_face" and info["training"]["steps"] == 4
    assert net.last.weight.abs().sum() > 0  # moved away from the zero-initialised identity
    assert any("val_l1_hole_g_only" in line for line in (run / "log.jsonl").read_text().splitlines())
    # ``training.export RUN --checkpoint`` tells an F run from a G run and writes F as in last.pt.
    from training.export import main as export_main

    export_main([str(run), "--checkpoint", "--dest", str(tmp_path / "w")])
    exported, info = load_network(tmp_path / "w", "face")
    assert info["training"]["steps"] == 4 and not (tmp_path / "w" / "completion.json").exists()
    state = torch.load(run / "last.pt", weights_only=True)["face"]
    for name, tensor in exported.state_dict().items():
        torch.testing.assert_close(tensor, state[name].half().to(tensor.dtype))


@needs_data
def test_face_training_starts_from_given_f_and_can_use_p_parsing(tmp_path, tiny_weights):
    start = _train("train_face", tmp_path / "f0", "steps=0", f"g_from={tiny_weights}", f"init_from={tiny_weights}")
    assert start.returncode == 0, start.stderr
    given, _ = load_network(tiny_weights, "face")
    exported, _ = load_network(tmp_path / "f0" / "last", "face")
    for name, tensor in given.state_dict().items():
        torch.testing.assert_close(exported.state_dict()[name], tensor)
    with_p = _train("train_face", tmp_path / "f1", "steps=2", f"g_from={tiny_weights}",
                    f"init_from={tiny_weights}", f"parsing_from={tiny_weights}")
    assert with_p.returncode == 0, with_p.stderr
    assert json.loads((tmp_path / "f1" / "config.json").read_text())["parsing_from"] == str(tiny_weights)


@needs_data
def test_face_training_adapts_an_f_with_transposed_convolutions_to_resize(tmp_path, tiny_weights):
    """``init_from`` an F with transposed convolutions into a resize F (``model={'upsample': 'resize'}``):
    the kernels are adapted as for G (``adapt_generator_state``), so the shipped F can be retrained
    without the checkerboard."""
    from portrait_editor.models import build_model
    from portrait_editor.pipeline.weights import save_weights

    old = build_model("face", preset="tiny", upsample="deconv")
    save_weights(old, "face", tmp_path / "w", half=False)
    run = _train("train_face", tmp_path / "f", "steps=0", f"g_from={tiny_weights}", f"init_from={tmp_path / 'w'}",
                 "model={'upsample': 'resize'}")
    assert run.returncode == 0, run.stderr
    net, _ = load_network(tmp_path / "f" / "last", "face")
    assert net.config.upsample == "resize"
    deconv = [m for m in old.body if isinstance(m, torch.nn.ConvTranspose2d)][0]
    conv = [m for m in net.body if isinstance(m, torch.nn.Sequential) and isinstance(m[0], torch.nn.Upsample)][0][1]
    torch.testing.assert_close(conv.weight.float(), deconv.weight.transpose(0, 1).flip(2, 3) / 4, atol=1e-3, rtol=1e-2)


def test_face_crops_follow_the_face_and_skip_photos_without_one(tiny_weights):
    from portrait_editor.labels import LIP_NECK
    from training.train_face import face_crops, load_frozen

    g, size = load_frozen(tiny_weights, "completion", torch.device("cpu"))
    face_id = LIP_NECK.id("face")
    image = torch.zeros(2, 3, 96, 64)
    image[:, 0, 20:40, 20:40] = 1.0  # a red "face"
    parsing = torch.zeros(2, 96, 64, dtype=torch.long)
    parsing[:, 20:40, 20:40] = face_id
    mask = torch.zeros(2, 1, 96, 64)
    mask[0, :, 25:35, 25:35] = 1  # photo 0: hole in the face; photo 1: hole elsewhere
    mask[1, :, 70:80, 10:20] = 1
    fill = torch.zeros(1, 3, 1, 1)
    crops = face_crops(g, size, {"image": image, "mask": mask, "parsing": parsing}, fill, face_id, 32, 16,
                       torch.device("cpu"), "fp32")
    assert crops["input"].shape == (1, 3, 32, 32) and crops["parsing"].shape == (1, 32, 32)
    # The window is centred on the face with a 1.4x margin: the face fills the middle, not the edges.
    assert (crops["parsing"][0, 16, 16] == face_id) and (crops["parsing"][0, 0, 0] == 0)
    assert crops["target"][0, 0, 16, 16] == pytest.approx(1.0, abs=0.05)
    assert 0 < crops["mask"].mean() < 1
    mask[0] = 0
    mask[0, :, 70:80, 10:20] = 1
    assert face_crops(g, size, {"image": image, "mask": mask, "parsing": parsing}, fill, face_id, 32, 16,
                      torch.device("cpu"), "fp32") is None


def test_face_crops_with_p_use_p_parsing_of_the_photo_with_its_hole(tiny_weights):
    """``parsing_from``: G and F see P's labels, which cannot see what the hole hides."""
    from portrait_editor.labels import LIP_NECK
    from training.train_face import face_crops, load_frozen, parse_with_hole

    cpu = torch.device("cpu")
    g, g_size = load_frozen(tiny_weights, "completion", cpu)
    p = load_frozen(tiny_weights, "parsing", cpu)
    face_id = LIP_NECK.id("face")
    torch.manual_seed(0)
    image = torch.rand(1, 3, 96, 64) * 2 - 1
    parsing = torch.zeros(1, 96, 64, dtype=torch.long)
    parsing[:, 20:40, 20:40] = face_id
    mask = torch.zeros(1, 1, 96, 64)
    mask[0, :, 24:36, 24:36] = 1
    fill = torch.zeros(1, 3, 1, 1)
    labels = parse_with_hole(*p, image, mask, fill)
    assert labels.shape == (1, 96, 64) and labels.dtype == torch.long
    other = image.clone()
    other[:, :, 24:36, 24:36] = 1.0  # whatever the hole hides ...
    assert torch.equal(parse_with_hole(*p, other, mask, fill), labels)  # ... P's parsing is the same
    batch = {"image": image, "mask": mask, "parsing": parsing}
    with_gt = face_crops(g, g_size, batch, fill, face_id, 32, 16, cpu, "fp32")
    with_p = face_crops(g, g_size, batch, fill, face_id, 32, 16, cpu, "fp32", p)
    assert with_p is not None and not torch.equal(with_p["parsing"], with_gt["parsing"])
    assert not torch.equal(with_p["input"], with_gt["input"])  # G was steered by P's labels
    # The window follows P's face where P finds one (the editor knows no other), else the true face.
    found = int((labels == face_id).sum()) >= 16
    assert torch.equal(with_p["target"], with_gt["target"]) != found
    labels_without_face = torch.where(labels == face_id, 0, labels)
    from unittest import mock

    with mock.patch("training.train_face.parse_with_hole", return_value=labels_without_face):
        fallback = face_crops(g, g_size, batch, fill, face_id, 32, 16, cpu, "fp32", p)
    torch.testing.assert_close(fallback["target"], with_gt["target"])


@needs_data
def test_a_running_g_exports_the_step_in_its_checkpoint(tmp_path):
    """``training.export RUN --checkpoint`` writes G as it is in last.pt, for a step between validations."""
    from training.export import main as export_main

    run = tmp_path / "run"
    assert _train("train_completion", run, "steps=2").returncode == 0
    export_main([str(run), "--checkpoint", "--dest", str(tmp_path / "w"), "--as", "extrapolation_body",
                 "--only", "completion"])
    net, info = load_network(tmp_path / "w", "extrapolation_body")
    assert info["training"]["steps"] == 2 and info["dtype"] == "float16"
    state = torch.load(run / "last.pt", weights_only=True)["generator"]
    for name, tensor in net.state_dict().items():
        torch.testing.assert_close(tensor, state[name].half().to(tensor.dtype))
    with pytest.raises(SystemExit, match="no last.pt"):
        export_main([str(tmp_path / "w"), "--checkpoint", "--dest", str(tmp_path / "x")])


def test_face_discriminator_sees_a_window_around_the_hole():
    from training.train_face import discriminator_view

    mask = torch.zeros(2, 1, 128, 128)
    mask[0, :, 90:110, 10:30] = 1  # near the bottom-left corner
    mask[1, :, 40:60, 60:80] = 1
    image = torch.arange(2 * 3 * 128 * 128, dtype=torch.float32).view(2, 3, 128, 128)
    guide = torch.randn(2, 21, 128, 128)
    whole = discriminator_view(mask, 0)(image, guide)
    assert whole[0] is image and whole[1] is guide
    seen, seen_guide = discriminator_view(mask, 64)(image, guide)
    assert seen.shape == (2, 3, 64, 64) and seen_guide.shape == (2, 21, 64, 64)
    for i in range(2):  # every hole pixel is inside the view, and the view inside the window
        rows, cols = torch.nonzero(mask[i, 0], as_tuple=True)
        top = int(torch.nonzero((image[i, 0] == seen[i, 0, 0, 0]).any(1))[0])
        left = int(torch.nonzero((image[i, 0] == seen[i, 0, 0, 0]).any(0))[0])
        assert top <= int(rows.min()) and int(rows.max()) < top + 64
        assert left <= int(cols.min()) and int(cols.max()) < left + 64
        torch.testing.assert_close(seen_guide[i], guide[i, :, top:top + 64, left:left + 64])
