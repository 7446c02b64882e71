"""Readers of the public sources (synthetic layouts), crops at random zoom, people pasted onto
scenes, the training mixture, the extraction script and the wild evaluation cases."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from portrait_editor.labels import LIP_NECK, UNKNOWN
from training import masks
from training import wild_data as W

L = LIP_NECK.id


def _save(path: Path, array: np.ndarray, palette: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(array)
    if palette:
        im = im.convert("P")
    im.save(path)


def _photo(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def sources(tmp_path) -> Path:
    root = tmp_path / "sources"
    for i in range(60):  # close-ups (enough that the 5% validation split holds some)
        labels = np.zeros((80, 80), np.uint8)
        labels[10:30] = 13
        labels[30:60, 20:60] = 1
        labels[40:45, 35:45] = 2
        labels[35:38, 25:55] = 3
        labels[60:] = 18
        _save(root / "celebamask" / "images" / f"{i}.jpg", _photo(80, 80, i))
        _save(root / "celebamask" / "labels" / f"{i}.png", labels, palette=True)
    for i in range(1, 7):
        person = np.zeros((100, 75), np.uint8)
        person[30:, 20:55] = 255
        _save(root / "portraits" / "images" / f"{i:05d}.jpg", _photo(100, 75, i))
        _save(root / "portraits" / "masks-png" / f"{i:05d}.png", person)
    (root / "portraits" / "val.txt").write_text("00002\n00005\n")
    (root / "portraits" / "excluded.txt").write_text("00006\n")
    for folder, n in (("bsds/train", 4), ("bsds/test", 2), ("camvid/train", 10), ("urban100", 3)):
        for i in range(n):
            _save(root / "scenes" / folder / f"s{i:03d}.png", _photo(60, 90, 100 + i))
    return root


def test_closeup_labels_map_onto_lip(sources):
    reader = W.CelebAMaskDataset(sources / "celebamask")
    assert reader.names == [str(i) for i in range(60)]
    sample = reader.load("0")
    p = sample["parsing"]
    assert p[20, 5] == L("hair") and p[50, 30] == L("face") and p[42, 40] == L("face")  # skin, nose
    assert p[36, 30] == L("sunglasses") and p[70, 5] == L("upper-clothes") and p[50, 5] == L("background")
    assert sample["person"][20, 5] and not sample["person"][50, 5]


def test_portraits_know_only_person_and_background(sources):
    reader = W.PortraitsDataset(sources / "portraits")
    assert reader.names == ["00001", "00002", "00003", "00004", "00005"]  # 00006 is excluded
    sample = reader.load("00001")
    assert sample["parsing"][50, 30] == UNKNOWN and sample["parsing"][5, 5] == L("background")
    assert sample["person"][50, 30] and not sample["person"][5, 5]
    train, val = W.source_split("portraits", reader, 0.05)
    assert val == ["00002", "00005"] and not set(train) & set(val)


def test_scenes_are_background_with_fixed_validation_folders(sources):
    reader = W.ScenesDataset(sources / "scenes")
    assert "camvid/train/s000" in reader.names and "camvid/train/s001" not in reader.names  # every 5th frame
    assert "camvid/train/s005" in reader.names
    sample = reader.load("bsds/train/s000")
    assert sample["image"].shape == (60, 90, 3) and not sample["parsing"].any()
    train, val = W.source_split("scenes", reader, 0.05)
    assert {"bsds/test/s000", "bsds/test/s001"} <= set(val) and not set(train) & set(val)


def test_random_crop_zooms_without_enlarging_much():
    rng = np.random.default_rng(0)
    parsing = np.zeros((400, 300), np.uint8)
    parsing[100:300, 100:200] = L("upper-clothes")
    kp = np.zeros((18, 3), np.float32)
    kp[1] = (150, 200, 1)
    sample = {"image": _photo(400, 300), "parsing": parsing, "keypoints": kp, "name": "x"}
    sides = []
    for _ in range(40):
        out = W.random_crop(sample, rng, (64, 64), zoom_range=(0.25, 1.0), max_upscale=1.4, flip_prob=0.0)
        assert out["image"].shape == (64, 64, 3) and out["parsing"].shape == (64, 64)
        x, y, c = out["keypoints"][1]
        if c > 0:  # the neck keypoint still sits on the shirt
            assert out["parsing"][int(round(y)), int(round(x))] == L("upper-clothes")
        sides.append(out)
    # a tiny photo is never enlarged more than max_upscale: the crop holds at least 64 / 1.4 px
    small = {"image": _photo(40, 40), "parsing": np.zeros((40, 40), np.uint8), "keypoints": kp * 0, "name": "s"}
    out = W.random_crop(small, rng, (64, 64), max_upscale=1.4, flip_prob=0.0)
    assert out["image"].shape == (64, 64, 3)


def test_random_crop_centres_on_the_person():
    rng = np.random.default_rng(1)
    parsing = np.zeros((600, 600), np.uint8)
    parsing[500:560, 500:560] = L("face")
    sample = {"image": _photo(600, 600), "parsing": parsing, "keypoints": np.zeros((18, 3), np.float32), "name": "p"}
    hits = sum(W.random_crop(sample, rng, (64, 64), zoom_range=(0.2, 0.3), on_person=1.0)["parsing"].any()
               for _ in range(20))
    assert hits == 20


def test_composite_pastes_the_person_with_its_labels():
    rng = np.random.default_rng(2)
    parsing = np.zeros((100, 60), np.uint8)
    parsing[10:90, 20:40] = L("pants")
    person = {"image": np.full((100, 60, 3), 250, np.uint8), "parsing": parsing,
              "keypoints": np.zeros((18, 3), np.float32), "name": "p"}
    scene = {"image": np.zeros((120, 160, 3), np.uint8), "parsing": np.zeros((120, 160), np.uint8),
             "keypoints": np.zeros((18, 3), np.float32), "name": "s"}
    out = W.composite(person, scene, rng, height_range=(0.5, 0.5))
    assert out["image"].shape == (120, 160, 3) and out["name"] == "p+s"
    pasted = out["parsing"] == L("pants")
    assert pasted.any() and (out["image"][pasted] > 200).all()
    rows = np.nonzero(pasted.any(1))[0]
    assert 50 <= len(rows) <= 62 or rows[-1] == 119  # half the scene's height, unless cut by the bottom
    assert (out["image"][~out["person"]] < 130).all()  # the scene elsewhere (feathered edge < half)


def test_mixture_draws_every_source_and_is_deterministic(sources, tmp_path):
    weights = {"celebamask": 1.0, "portraits": 1.0, "composite": 1.0}  # scenes come with the composites
    train = W.mixture_samples(weights, tmp_path / "no-shared-data", sources, split="train", size=(48, 48),
                              masks="occlusion", epoch_size=40)
    assert len(train) == 40
    item = train[3]
    assert item["image"].shape == (3, 48, 48) and item["mask"].shape == (1, 48, 48)
    assert item["parsing"].dtype == torch.int64 and item["mask"].sum() > 0
    assert torch.equal(train[3]["input"], item["input"])  # seeded by (seed, epoch, index)
    names = {train[i]["name"] for i in range(40)}
    assert any("+" in n for n in names)  # composites
    assert "scenes" in train.names and "scenes" not in train.keys
    train.set_epoch(1)
    assert not torch.equal(train[3]["input"], item["input"])
    val = W.mixture_samples(weights, tmp_path / "no-shared-data", sources, split="val", size=(48, 48),
                            masks="occlusion")
    assert [n for k, n in val.items if k == "portraits"] == ["00002", "00005"]
    assert not {n for _, n in val.items if _ == "portraits"} & set(train.names["portraits"])
    with pytest.raises(SystemExit, match="sources"):
        W.mixture_samples({"celebamask": 1.0}, tmp_path, tmp_path / "nowhere", split="train", size=(48, 48),
                          masks="occlusion")


def test_mixture_items_mark_the_person_and_carry_pose_targets(sources, tmp_path):
    """P's training items: ``person`` where the photo shows a person (a portrait's person too,
    whose parts are unknown) and heatmaps at P's stride (zeros: these sources have no pose)."""
    train = W.mixture_samples({"portraits": 1.0}, tmp_path / "no-shared-data", sources, split="train",
                              size=(48, 48), masks="wild-parsing", epoch_size=8, heatmap_stride=8)
    for i in range(8):
        item = train[i]
        unknown = item["parsing"] == UNKNOWN
        assert item["person"].dtype == torch.bool and torch.equal(item["person"], unknown)
        assert item["heatmaps"].shape == (18, 6, 6) and item["heatmaps"].abs().sum() == 0
    assert any(train[i]["person"].any() for i in range(8))


def test_parsing_training_on_crops_of_the_sources(sources, tmp_path):
    """train_parsing with framing=crop on the sources' layout: runs with the partial-label loss,
    validates person IoU, and its weights say how they were framed."""
    import json
    import sys

    from portrait_editor.pipeline.weights import trained_framing

    run = tmp_path / "run"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "training.train_parsing", "--config", "tiny", "--run-dir",
                           str(run), "--set", "steps=2", "framing=crop", "data=('celebamask','portraits','composite')",
                           "data_weights=(1,1,1)", "masks=wild-parsing", f"sources_root={sources}"],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "val_person_iou" in proc.stdout + proc.stderr
    info = json.loads((run / "last" / "parsing.json").read_text())
    assert trained_framing(info) == "crop" and info["training"]["steps"] == 2


def test_training_masks_go_on_the_person_in_crops(sources):
    reader = W.PortraitsDataset(sources / "portraits")
    rng = np.random.default_rng(0)
    sample = W.random_crop(reader.load("00001"), rng, (64, 64), on_person=1.0)
    hole = masks.occlusion_masks(True)(rng, (64, 64), sample["person"], sample["parsing"])
    assert (hole & sample["person"]).any()


def test_wild_cases_cover_the_tasks(sources, monkeypatch):
    from training.wild_eval import wild_cases

    occ = wild_cases("wild-occlusion", sources, limit=2, max_side=64)
    assert [c.dataset for c in occ[:3]] == ["portraits", "celebamask", "scenes"]  # the sources take turns
    assert all(max(c.target.shape[:2]) <= 64 and c.hole.any() and c.mask is not None for c in occ)
    ext = wild_cases("wild-extrapolation", sources, limit=2)
    assert all(c.mask is None and c.margins.any() and c.canvas.shape == c.target.shape for c in ext)
    sides = {(c.dataset, "bottom" if c.margins.bottom else "top") for c in ext}
    assert sides == {(key, side) for key in ("portraits", "scenes") for side in ("bottom", "top")}  # each source both
    wide = wild_cases("wild-sides", sources, limit=2)
    assert {(c.dataset, "left" if c.margins.left else "right") for c in wide} == {
        (key, side) for key in ("portraits", "scenes") for side in ("left", "right")}
    assert all(not c.margins.top and not c.margins.bottom and c.canvas.shape == c.target.shape for c in wide)
    faces = wild_cases("wild-faces", sources, limit=3)
    assert faces and all((c.hole & (c.parsing == L("face"))).any() for c in faces)
    assert wild_cases("wild-occlusion", sources.parent / "nothing") == []


def test_wild_parsing_cases_frame_the_people_three_ways(sources, tiny_weights):
    """P's wild task: close-ups and portraits as they are and zoomed 2x on the person, and the
    portraits' people pasted small onto scenes; the report scores person and face IoU."""
    from training.evaluate import evaluate_parsing
    from training.wild_eval import wild_parsing_cases

    groups = wild_parsing_cases(sources, limit=2)
    assert set(groups) == {"close-ups, photo", "close-ups, 2x zoom", "portraits, photo", "portraits, 2x zoom",
                           "portraits small on scenes"}
    for photo, zoom in zip(groups["portraits, photo"], groups["portraits, 2x zoom"], strict=True):
        assert zoom.target.shape[0] == photo.target.shape[0] // 2 and zoom.hole.any()
        assert (zoom.parsing == UNKNOWN).mean() > (photo.parsing == UNKNOWN).mean()  # closer on the person
    for case in groups["portraits small on scenes"]:
        height = np.nonzero((case.parsing != 0).any(1))[0]
        assert 0 < len(height) <= 0.5 * case.parsing.shape[0] + 1 and case.hole.any()
    report = evaluate_parsing(tiny_weights, cases=groups, sheet_rows=0, task="wild-parsing")
    assert report.task == "wild-parsing" and len(report.rows) == 10
    assert report.rows["P stage I, close-ups, photo"]["face IoU"] is not None
    assert report.rows["P stage I, portraits, photo"]["face IoU"] is None  # no face labels in the truth


def test_extraction_takes_the_listed_folder_of_a_commit(tmp_path):
    from training.sources import extract_folder

    repo = tmp_path / "repo"
    (repo / "data" / "img").mkdir(parents=True)
    _save(repo / "data" / "img" / "a.png", _photo(8, 8))
    (repo / "data" / "img" / "notes.txt").write_text("not an image")
    (repo / "other.png").write_bytes((repo / "data" / "img" / "a.png").read_bytes())

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "x")
    commit = git("rev-parse", "HEAD")
    n = extract_folder(repo / ".git", commit, "data/img", tmp_path / "out")
    assert n == 1 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]
    assert extract_folder(repo / ".git", commit, ".", tmp_path / "root") == 1  # the root's own files only


def test_portrait_masks_are_converted(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    from training.sources import prepare_portraits

    folder = tmp_path / "portraits"
    for i, mask in ((1, np.eye(6, dtype=np.uint8)), (2, np.ones((6, 6), np.uint8)), (3, None), (4, None)):
        _save(folder / "images" / f"{i:05d}.jpg", _photo(6, 6, seed=1 if i == 4 else i))
        if mask is not None:
            (folder / "masks").mkdir(exist_ok=True)
            scipy_io.savemat(folder / "masks" / f"{i:05d}_mask.mat", {"mask": mask})
    _save(folder / "images" / "00005.jpg", _photo(6, 6, seed=1))  # a duplicate of 00001 (and 00004)
    scipy_io.savemat(folder / "testlist.mat", {"testlist": np.array([[2, 3]])})
    prepare_portraits(folder)
    assert (np.asarray(Image.open(folder / "masks-png" / "00001.png")) == np.eye(6) * 255).all()
    excluded = (folder / "excluded.txt").read_text().split()
    assert excluded == ["00001", "00002", "00003", "00004", "00005"]  # duplicates, all-ones, no mask
    assert (folder / "val.txt").read_text().split() == ["00002", "00003"]


def test_completion_training_on_crops_of_the_sources(sources, tmp_path):
    """train_completion with framing=crop on the sources' layout: runs, exports, and the weights
    say how they were framed, which is what the pipeline reads."""
    import json
    import sys

    from portrait_editor.pipeline.weights import trained_framing

    run = tmp_path / "run"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "training.train_completion", "--config", "tiny", "--run-dir",
                           str(run), "--set", "steps=2", "framing=crop", "data=('celebamask','portraits','composite')",
                           "data_weights=(1,1,1)", f"sources_root={sources}"],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((run / "last" / "completion.json").read_text())
    assert trained_framing(info) == "crop" and info["training"]["steps"] == 2


def test_pseudo_labels_for_the_unlabelled_ccp_photos(tiny_weights, tmp_path):
    """training.pseudo_labels: P's maps of the CCP photos without hand labels (and only those),
    written beside their photos, unsure body parts UNKNOWN, and read back as a source."""
    from portrait_editor.pipeline import Completer, load_bundle
    from training import pseudo_labels

    ccp = tmp_path / "data" / "ccp"
    for i in range(3):
        _save(ccp / "images" / f"{i:04d}.jpg", _photo(64, 40, i))
    _save(ccp / "parsing" / "0001.png", np.zeros((64, 40), np.uint8))
    bundle = load_bundle(tiny_weights)
    completer = Completer(bundle, "cpu", precision="fp32")
    out = tmp_path / "sources" / "ccp-pseudo"
    assert pseudo_labels.write_maps(completer, str(tiny_weights), tmp_path / "data", out, gate=0.0) == 2
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["0000.png", "0002.png"]
    assert pseudo_labels.write_maps(completer, str(tiny_weights), tmp_path / "data", out, gate=0.0) == 0  # done already
    reader = W.open_source("ccp-pseudo", tmp_path / "data", tmp_path / "sources")
    sample = reader.load("0000")
    assert sample["parsing"].shape == sample["image"].shape[:2] == (64, 40)
    assert (sample["parsing"] < len(bundle.label_set)).all()  # gate 0: every pixel labelled
    assert (sample["parsing"] != L("background")).any()  # (random weights label some body parts)
    np.testing.assert_array_equal(sample["person"], sample["parsing"] != L("background"))
    unsure = pseudo_labels.pseudo_map(completer, sample["image"], gate=1.01)  # no probability reaches it
    assert set(np.unique(unsure)) <= {L("background"), UNKNOWN}
    np.testing.assert_array_equal(unsure == UNKNOWN, sample["parsing"] != L("background"))
