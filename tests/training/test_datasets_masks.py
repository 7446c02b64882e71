"""Data readers, augmentation and hole generators for training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from portrait_editor.labels import LIP_NECK
from training import masks
from training.datasets import (
    CCPDataset,
    VitonDataset,
    augment,
    flip_sample,
    heatmaps_from_keypoints,
    make_split,
    split_skin_and_shoes,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
L = LIP_NECK.id


def _sample(h=64, w=48):
    parsing = np.zeros((h, w), np.uint8)
    parsing[20:40, 2:10] = L("left-arm")  # image left
    parsing[20:40, 38:46] = L("right-arm")
    image = np.zeros((h, w, 3), np.uint8)
    image[:, : w // 2] = 200
    kp = np.zeros((18, 3), np.float32)
    kp[2] = (5, 20, 1)  # r-shoulder
    kp[5] = (40, 20, 1)  # l-shoulder
    return {"image": image, "parsing": parsing, "person": parsing > 0, "keypoints": kp, "name": "s"}


def test_flip_swaps_left_and_right_and_twice_is_identity():
    s = _sample()
    f = flip_sample(s)
    assert (f["parsing"][20:40, 38:46] == L("right-arm")).all()  # left-arm moved and was renamed
    assert (f["parsing"][20:40, 2:10] == L("left-arm")).all()
    assert f["image"][0, -1, 0] == 200
    assert tuple(f["keypoints"][5, :2]) == (47 - 5, 20) and tuple(f["keypoints"][2, :2]) == (47 - 40, 20)
    back = flip_sample(f)
    for key in ("image", "parsing", "keypoints"):
        np.testing.assert_array_equal(back[key], s[key])


def test_augment_keeps_labels_and_keypoints_together():
    s = _sample()
    out = augment(s, np.random.default_rng(3), (80, 60), scale_range=(1.2, 1.2), flip_prob=0.0)
    assert out["image"].shape == (80, 60, 3) and out["parsing"].shape == (80, 60)
    x, y, _ = out["keypoints"][2]
    assert out["parsing"].dtype == np.uint8 and set(np.unique(out["parsing"])) <= {0, L("left-arm"), L("right-arm")}
    assert 0 <= x < 60 and 0 <= y < 80


def test_heatmaps_peak_at_the_keypoint():
    kp = np.zeros((18, 3), np.float32)
    kp[0] = (33, 17, 1)
    maps = heatmaps_from_keypoints(kp, (64, 48), stride=8)
    assert maps.shape == (18, 8, 6)
    assert np.unravel_index(maps[0].argmax(), maps[0].shape) == (2, 4)
    assert maps[1:].max() == 0


def test_split_is_deterministic_and_disjoint():
    names = [f"{i:04d}" for i in range(500)]
    train, val = make_split(names, 0.1, seed=0)
    assert set(train).isdisjoint(val) and len(train) + len(val) == 500
    assert 25 < len(val) < 80
    assert make_split(list(reversed(names)), 0.1, seed=0) == (train, val)
    assert make_split(names[:300], 0.1)[1] == [n for n in val if n in names[:300]]  # stable subsets


@pytest.mark.parametrize("gen", [masks.RandomRectangles((40, 96)), masks.BrushStrokes((0.04, 0.2)),
                                 masks.ExtrapolationBand("bottom", (0.2, 0.2)), masks.occlusion_masks(True)])
def test_masks_are_seeded_and_overlap_the_person(gen):
    person = np.zeros((256, 192), bool)
    person[40:240, 60:130] = True
    a = gen(np.random.default_rng(7), (256, 192), person)
    b = gen(np.random.default_rng(7), (256, 192), person)
    np.testing.assert_array_equal(a, b)
    assert a.any() and (a & person).any()


def test_brush_coverage_and_band_geometry():
    cover = [masks.BrushStrokes((0.04, 0.2))(np.random.default_rng(i), (256, 192)).mean() for i in range(10)]
    assert 0.03 < min(cover) and max(cover) < 0.35
    band = masks.ExtrapolationBand("top", (0.08, 0.08))(np.random.default_rng(0), (200, 100))
    assert band[:16].all() and not band[16:].any()


def test_face_hole_lies_in_the_face():
    parsing = np.zeros((256, 192), np.uint8)
    parsing[30:90, 70:120] = L("face")
    hole = masks.FaceHole(face_id=L("face"))(np.random.default_rng(1), (256, 192), parsing=parsing)
    assert hole.sum() == 32 * 32 and (parsing[hole] == L("face")).mean() > 0.5


def test_ccp_skin_split_rule():
    """A synthetic standing person: hair, skin face, shirt, skin hands, trousers, skin-free legs."""
    p = np.zeros((200, 100), np.uint8)
    p[10:30, 40:60] = 254  # SKIN placeholder: face
    p[5:15, 38:62] = L("hair")
    p[30:100, 30:70] = L("upper-clothes")
    p[60:90, 20:30] = 254  # arm on the image left = person's right arm
    p[100:170, 35:65] = L("pants")
    p[170:195, 35:48] = 254  # leg, image left = right leg
    p[195:200, 35:48] = 253  # SHOE placeholder
    out = split_skin_and_shoes(p)
    assert (out[16:26, 45:55] == L("face")).all() and (out[28, 45:55] == L("neck")).all()
    assert (out[60:90, 20:30] == L("right-arm")).all()
    assert (out[175:190, 36:47] == L("right-leg")).all()
    assert (out[196:200, 36:47] == L("right-shoe")).all()


def test_real_viton_and_ccp_samples():
    if not (DATA / "viton").is_dir() or not (DATA / "ccp").is_dir():
        pytest.skip("../shared/data is not available")
    v = VitonDataset(DATA / "viton")
    s = v.load(v.names[0])
    assert s["image"].shape == (256, 192, 3) and s["parsing"].shape == (256, 192)
    assert s["parsing"].max() <= 20 and (s["keypoints"][:, 2] > 0).sum() > 5
    c = CCPDataset(DATA / "ccp")
    s = c.load(c.names[0])
    assert s["parsing"].shape == s["image"].shape[:2] and s["parsing"].max() <= 20
    assert (s["parsing"] == L("face")).any() and not np.isin(s["parsing"], [253, 254]).any()
