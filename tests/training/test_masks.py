"""Hole generators: sizes, coverage, overlap with the person, band edges, seeding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from portrait_editor.labels import LIP_NECK
from training import masks

L = LIP_NECK.id
SHAPE = (256, 192)


def _person(shape=SHAPE):
    person = np.zeros(shape, bool)
    h, w = shape
    person[h // 6: h - 10, w // 3: 2 * w // 3] = True
    return person


def _rng(seed):
    return np.random.default_rng(seed)


def _box(mask):
    ys, xs = np.nonzero(mask)
    return ys.max() - ys.min() + 1, xs.max() - xs.min() + 1


def test_rectangle_edges_scale_with_height_and_overlap_the_person():
    person = _person()
    for seed in range(30):
        hole = masks.RandomRectangles((64, 128))(_rng(seed), SHAPE, person)
        rh, rw = _box(hole)
        assert hole.sum() == rh * rw  # one solid rectangle
        assert 64 <= rh <= 128 and 64 <= rw <= 128
        assert (hole & person).sum() >= 0.2 * hole.sum()
    big = masks.RandomRectangles((64, 128))(_rng(0), (512, 512))
    assert 128 <= min(_box(big)) and max(_box(big)) <= 256


def test_rectangle_edges_as_fractions_and_several_holes():
    hole = masks.RandomRectangles((0.25, 0.25), reference_height=None)(_rng(1), (200, 300))
    assert _box(hole) == (50, 50)
    three = masks.RandomRectangles((20, 30), count=3)(_rng(2), SHAPE, _person())
    assert 3 * 20 * 20 * 0.3 < three.sum() <= 3 * 30 * 30


def test_rectangle_finds_even_a_tiny_person():
    person = np.zeros(SHAPE, bool)
    person[5, 180] = True
    for seed in range(5):
        assert (masks.RandomRectangles()(_rng(seed), SHAPE, person) & person).any()


def test_person_is_taken_from_the_parsing_when_not_given():
    parsing = np.zeros(SHAPE, np.uint8)
    parsing[200:230, 10:40] = L("face")
    for seed in range(10):
        assert (masks.RandomRectangles((20, 40))(_rng(seed), SHAPE, parsing=parsing) & (parsing > 0)).any()


@pytest.mark.parametrize("person", [None, _person()])
def test_brush_coverage_stays_in_range(person):
    gen = masks.BrushStrokes((0.04, 0.20))
    cover = [gen(_rng(seed), SHAPE, person).mean() for seed in range(25)]
    assert min(cover) >= 0.04 and max(cover) <= 0.20
    assert max(cover) - min(cover) > 0.05  # the target is drawn, not fixed


def test_brush_strokes_start_on_the_person_and_are_round():
    person = np.zeros(SHAPE, bool)
    person[100:140, 80:110] = True
    for seed in range(10):
        assert (masks.BrushStrokes((0.04, 0.1))(_rng(seed), SHAPE, person) & person).any()
    thick = masks.BrushStrokes((0.02, 0.03), width_range=(20, 20))(_rng(3), SHAPE)
    # every piece of the hole is a stroke at least 20 px wide (10 px from its centre line to its edge)
    count, comp = cv2.connectedComponents(thick.astype(np.uint8))
    depth = cv2.distanceTransform(thick.astype(np.uint8), cv2.DIST_L2, 5)
    assert count > 1 and all(depth[comp == c].max() >= 9 for c in range(1, count))


@pytest.mark.parametrize("gen", [
    masks.RandomRectangles(), masks.BrushStrokes(), masks.ExtrapolationBand("top"), masks.FaceHole(),
    masks.occlusion_masks(), masks.extrapolation_masks(True), masks.parsing_masks(),
])
def test_same_seed_same_hole(gen):
    parsing = np.zeros(SHAPE, np.uint8)
    parsing[40:250, 60:130] = L("upper-clothes")
    parsing[20:70, 75:115] = L("face")
    a = gen(_rng(11), SHAPE, None, parsing)
    b = gen(_rng(11), SHAPE, None, parsing)
    assert a.dtype == bool and a.shape == SHAPE and a.any()
    np.testing.assert_array_equal(a, b)


def test_different_seeds_differ():
    gen = masks.occlusion_masks()
    holes = {gen(_rng(s), SHAPE, _person()).tobytes() for s in range(8)}
    assert len(holes) == 8


@pytest.mark.parametrize("side", ["top", "bottom", "left", "right"])
def test_bands_lie_along_their_edge(side):
    h, w = 200, 100
    for seed in range(10):
        band = masks.ExtrapolationBand(side)(_rng(seed), (h, w))
        lo, hi = masks.BAND_FRACTIONS[side]
        if side in ("top", "bottom"):
            rows = np.nonzero(band.all(1))[0]
            assert band.sum() == len(rows) * w
            assert (rows[0] == 0) if side == "top" else (rows[-1] == h - 1)
            assert round(lo * h) <= len(rows) <= round(hi * h)
        else:
            cols = np.nonzero(band.all(0))[0]
            assert band.sum() == len(cols) * h
            assert (cols[0] == 0) if side == "left" else (cols[-1] == w - 1)
            assert round(lo * w) <= len(cols) <= round(hi * w)


def test_paper_bands():
    bottom = masks.ExtrapolationBand("bottom", (0.25, 0.25))(_rng(0), (256, 256))
    top = masks.ExtrapolationBand("top", (0.125, 0.125))(_rng(0), (256, 256))
    assert bottom[192:].all() and not bottom[:192].any()
    assert top[:32].all() and not top[32:].any()
    with pytest.raises(ValueError, match="side"):
        masks.ExtrapolationBand("middle")


def test_face_hole_lies_inside_the_face_and_scales():
    parsing = np.zeros((512, 384), np.uint8)
    parsing[60:180, 140:240] = L("face")
    for seed in range(10):
        hole = masks.FaceHole()(_rng(seed), (512, 384), parsing=parsing)
        assert hole.sum() == 64 * 64 and (parsing[hole] == L("face")).all()


def test_face_hole_without_a_face():
    parsing = np.zeros(SHAPE, np.uint8)
    parsing[100:200, 50:150] = L("upper-clothes")
    assert not masks.FaceHole()(_rng(0), SHAPE, parsing=parsing).any()
    fallback = masks.face_masks()(_rng(0), SHAPE, parsing=parsing)
    assert fallback.sum() == 32 * 32 and (fallback & (parsing > 0)).any()


def test_mask_mix_follows_its_weights():
    top, bottom = masks.ExtrapolationBand("top", (0.1, 0.1)), masks.ExtrapolationBand("bottom", (0.1, 0.1))
    only_bottom = masks.MaskMix((top, bottom), (0.0, 1.0))
    assert all(only_bottom(_rng(s), SHAPE)[-1].all() for s in range(10))
    mix = masks.MaskMix((top, bottom))
    picks = [mix(_rng(s), SHAPE)[0].all() for s in range(200)]
    assert 60 < sum(picks) < 140
    with pytest.raises(ValueError):
        masks.MaskMix((top, bottom), (1.0,))


def _touches(hole):
    """The sides of the image that a band along one side covers entirely."""
    return {side for side, edge in (("top", hole[0]), ("bottom", hole[-1]), ("left", hole[:, 0]),
                                     ("right", hole[:, -1])) if edge.all()}


def test_the_margins_network_trains_on_bands_of_every_side_mostly_at_the_bottom():
    gen = masks.wild_extrapolation_masks()
    sides = [_touches(gen(_rng(s), SHAPE, _person())) for s in range(200)]
    assert all(len(t) >= 1 for t in sides)  # always a band, never a hole inside
    bottom = sum(t == {"bottom"} for t in sides)
    assert 95 < bottom < 145  # 60% at the bottom
    assert all(any(side in t for t in sides) for side in ("top", "left", "right"))


def test_band_parsing_masks_are_mostly_bands_and_validate_on_the_paper_bands():
    gen = masks.band_parsing_masks()
    bands = sum(bool(_touches(gen(_rng(s), SHAPE, _person()))) for s in range(200))
    assert 120 < bands < 165  # 70% bands, the rest occluders (which rarely span a whole side)
    val = masks.band_parsing_masks(True)(_rng(0), (200, 100))
    assert _touches(val) in ({"bottom"}, {"top"})
    assert val.sum() in (40 * 100, 16 * 100)


def test_fill_hole_sets_only_the_hole():
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    mask = np.zeros((20, 30), bool)
    mask[5:10, 3:8] = True
    out = masks.fill_hole(image, mask, (120.4, 110.6, 100))
    assert (out[mask] == (120, 111, 100)).all()
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert not (image[mask] == (120, 111, 100)).all()  # the input is untouched
