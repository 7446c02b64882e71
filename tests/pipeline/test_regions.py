"""Hole regions, crops and working scales (portrait_editor.pipeline.regions)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from portrait_editor.pipeline.regions import (
    MAX_UPSCALE,
    Box,
    Margins,
    expand_canvas,
    find_regions,
    from_work,
    hole_boxes,
    person_working_scale,
    shrink_mask,
    to_work,
)

# ---------------------------------------------------------------------------------- Margins


def test_margins_parse_and_helpers():
    m = Margins.parse(" 10, 0,24 ,6 ")
    assert m == Margins(10, 0, 24, 6)
    assert tuple(m) == (10, 0, 24, 6)
    assert m.any()
    assert not Margins.parse("0,0,0,0").any()
    assert str(m) == "10,0,24,6"
    assert Margins.parse(str(m)) == m


@pytest.mark.parametrize(
    "text, words",
    [
        ("1,2,3", "4 numbers"),
        ("1,2,3,4,5", "4 numbers"),
        ("", "4 numbers"),
        ("1,-2,3,4", "negative"),
        ("1,2,x,4", "whole number"),
        ("1,2,3.5,4", "whole number"),
        ("1,,3,4", "whole number"),
    ],
)
def test_margins_parse_errors(text, words):
    with pytest.raises(ValueError, match=words):
        Margins.parse(text)


def test_margins_reject_negative_and_fractions():
    with pytest.raises(ValueError, match="negative"):
        Margins(0, 0, -1, 0)
    with pytest.raises(ValueError, match="whole number"):
        Margins(0, 1.5, 0, 0)


# ---------------------------------------------------------------------------- expand_canvas


def test_expand_canvas_geometry():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    mask = np.zeros((30, 40), bool)
    mask[10:12, 5:9] = True
    t, r, b, left = 3, 5, 7, 2
    grown, grown_mask = expand_canvas(image, mask, Margins(t, r, b, left))
    assert grown.shape == (30 + t + b, 40 + left + r, 3)
    assert grown.dtype == np.uint8 and grown_mask.dtype == bool
    # original pixels intact at the offset, its mask carried over
    np.testing.assert_array_equal(grown[t : t + 30, left : left + 40], image)
    np.testing.assert_array_equal(grown_mask[t : t + 30, left : left + 40], mask)
    # the whole new area is hole
    border = np.ones(grown_mask.shape, bool)
    border[t : t + 30, left : left + 40] = False
    assert grown_mask[border].all()
    # filled by edge replication
    np.testing.assert_array_equal(grown[0, left : left + 40], image[0])
    np.testing.assert_array_equal(grown[-1, left : left + 40], image[-1])
    np.testing.assert_array_equal(grown[t : t + 30, 0], image[:, 0])
    np.testing.assert_array_equal(grown[t : t + 30, -1], image[:, -1])
    assert (grown[-1, -1] == image[-1, -1]).all()


def test_expand_canvas_without_mask_and_without_margins():
    image = np.full((8, 6, 3), 7, np.uint8)
    grown, mask = expand_canvas(image, None, Margins(0, 0, 4, 0))
    assert grown.shape == (12, 6, 3)
    assert mask[8:].all() and not mask[:8].any()
    same, empty = expand_canvas(image, None, Margins())
    assert same is image and empty.shape == (8, 6) and not empty.any()
    with pytest.raises(ValueError):
        expand_canvas(image, np.zeros((3, 3), bool), Margins(1, 1, 1, 1))


# ------------------------------------------------------------------------------- hole_boxes


def test_hole_boxes_match_opencv_labelling():
    rng = np.random.default_rng(1)
    for density in (0.002, 0.02, 0.3):
        mask = rng.random((90, 130)) < density
        mask[:, 64] |= rng.random(90) < 0.5  # long thin structures too
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
        expected = sorted(Box(int(y), int(x), int(y + h), int(x + w)) for x, y, w, h, _ in stats[1:count])
        assert hole_boxes(mask) == expected
    assert hole_boxes(np.zeros((5, 5), bool)) == []
    # diagonal neighbours are one component (8-connectivity)
    diag = np.eye(6, dtype=bool)
    assert hole_boxes(diag) == [Box(0, 0, 6, 6)]


# ----------------------------------------------------------------------------- find_regions


def _assert_partition(mask, regions):
    """Crops are disjoint and every hole pixel lies in exactly one hole box and crop."""
    covered = np.zeros(mask.shape, np.int32)
    for region in regions:
        covered[region.crop_slices()] += 1
        assert region.crop.y0 <= region.hole.y0 < region.hole.y1 <= region.crop.y1
        assert region.crop.x0 <= region.hole.x0 < region.hole.x1 <= region.crop.x1
    assert covered.max() <= 1
    assert (covered[mask] == 1).all()


def test_nearby_holes_merge_and_far_holes_stay_apart():
    mask = np.zeros((600, 800), bool)
    mask[100:120, 100:120] = True
    mask[100:120, 150:170] = True  # 30 px away: the crops overlap
    mask[450:470, 650:670] = True  # far away
    regions = find_regions(mask)
    assert len(regions) == 2
    near, far = regions
    assert near.hole == Box(100, 100, 120, 170)
    assert far.hole == Box(450, 650, 470, 670)
    _assert_partition(mask, regions)


def test_merging_repeats_until_stable():
    # a chain: A merges with B, the merged (bigger) hole then reaches C
    mask = np.zeros((400, 900), bool)
    for x in (100, 170, 280):  # C is 68 px from B: only the merged crop reaches it
        mask[200:210, x : x + 10] = True
    regions = find_regions(mask, context=1.0, min_context=32)
    assert len(regions) == 1
    _assert_partition(mask, regions)


def test_context_growth_and_clipping_at_borders():
    mask = np.zeros((500, 600), bool)
    mask[200:240, 300:320] = True  # 40 x 20 -> context 40 px each side
    (region,) = find_regions(mask, context=1.0, min_context=8)
    assert region.crop == Box(160, 260, 280, 360)
    assert not region.touches_border and region.border_sides() == frozenset()

    (small,) = find_regions(mask, context=0.1, min_context=32)
    assert small.crop == Box(168, 268, 272, 352)  # min_context wins

    corner = np.zeros((500, 600), bool)
    corner[480:, 570:] = True
    (region,) = find_regions(corner)
    assert region.touches_border
    assert region.border_sides() == {"bottom", "right"}
    assert region.crop.y1 == 500 and region.crop.x1 == 600  # clipped; context grows inward only
    assert region.crop.y0 == 480 - 32 and region.crop.x0 == 570 - 32

    band = np.zeros((300, 400), bool)
    band[260:, :] = True  # extrapolation margin at the bottom
    (region,) = find_regions(band)
    assert region.crop == Box(0, 0, 300, 400)
    assert region.border_sides() == {"bottom", "left", "right"}


def test_scale_limits():
    big = np.zeros((3000, 2000), bool)
    big[1000:1800, 500:1100] = True
    (region,) = find_regions(big, max_work_side=512)
    assert region.scale < 1
    assert max(region.work_size) <= 512
    assert region.work_size[0] % 8 == 0 and region.work_size[1] % 8 == 0
    ratio = region.crop.height / region.crop.width
    assert abs(region.work_size[0] / region.work_size[1] - ratio) < 0.05

    tiny = np.zeros((1000, 1000), bool)
    tiny[500:503, 500:504] = True  # crop about 67 x 68 px
    (region,) = find_regions(tiny, min_work_side=128, min_context=32)
    assert 1 < region.scale <= MAX_UPSCALE
    assert region.work_size[0] % 8 == 0 and region.work_size[1] % 8 == 0

    really_tiny = np.zeros((1000, 1000), bool)
    really_tiny[500, 500] = True
    (region,) = find_regions(really_tiny, min_context=4, min_work_side=128)
    assert region.scale == MAX_UPSCALE  # never more than 2x, even though 128 px is not reached

    medium = np.zeros((1000, 1000), bool)
    medium[400:500, 400:480] = True
    (region,) = find_regions(medium)
    assert region.scale == 1.0
    for work, crop in zip(region.work_size, region.crop_size, strict=True):
        assert work % 8 == 0 and abs(work - crop) <= 4  # nearest multiple of 8


def test_person_working_scale_limits():
    # The person's scale is used as it is when nothing else binds.
    assert person_working_scale(300, 200, 100, 0.5) == pytest.approx(0.5)
    # A tiny hole on a big photo keeps at least 16 working px (here 8 px * 2 = 16)...
    assert person_working_scale(300, 300, 8, 0.05) == pytest.approx(1.0)
    assert person_working_scale(3000, 3000, 160, 0.05) == pytest.approx(0.1)
    # ...but the crop still fits max_work_side, and nothing is enlarged beyond MAX_UPSCALE.
    assert person_working_scale(2000, 1000, 900, 0.5, max_work_side=512) == pytest.approx(512 / 2000)
    assert person_working_scale(100, 100, 50, 10.0) == pytest.approx(MAX_UPSCALE)
    with pytest.raises(ValueError):
        person_working_scale(100, 100, 50, 0.0)


def test_person_scale_regions_get_context_for_a_whole_working_crop():
    mask = np.zeros((2000, 3000), bool)
    mask[1000:1040, 1500:1540] = True  # a 40 px hole
    (region,) = find_regions(mask, target_scale=0.25, min_work_side=128)
    assert region.scale == pytest.approx(0.4)  # 16 px of hole at least
    # Context makes the crop at least 128 px at the person's scale (512 canvas px), not 3 x 40.
    assert region.crop.height >= 128 / 0.25 and region.crop.width >= 128 / 0.25
    assert min(region.work_size) >= 128


def test_holes_reaching_into_the_margins_use_their_own_target_scale():
    mask = np.zeros((1000, 1000), bool)
    mask[:50, 100:300] = True  # reaches the top edge: extrapolation
    mask[600:650, 600:650] = True
    margins = np.zeros_like(mask)
    margins[:30] = True  # canvas added above the photo
    regions = find_regions(mask, target_scale=0.5, outward_target_scale=0.25, outward=margins, min_work_side=64)
    by_border = {r.outward: r for r in regions}
    assert set(by_border) == {True, False}
    assert by_border[True].scale == pytest.approx(0.25)
    assert by_border[False].scale == pytest.approx(0.5)


def test_fifty_megapixel_mask_is_fast():
    mask = np.zeros((8000, 6000), bool)
    mask[1000:1100, 2000:2080] = True
    mask[6500:6540, 300:350] = True
    find_regions(mask)  # warm-up (imports, first cv2 call)
    start = time.perf_counter()
    regions = find_regions(mask)
    elapsed = time.perf_counter() - start
    assert len(regions) == 2
    assert elapsed < 0.5, f"find_regions took {elapsed:.3f} s on a 50 MP mask"


def test_empty_mask_has_no_regions():
    assert find_regions(np.zeros((50, 50), bool)) == []


# ---------------------------------------------------------------------- to_work / from_work


def test_to_work_and_back():
    mask = np.zeros((2000, 1500), bool)
    mask[800:1300, 600:900] = True
    (region,) = find_regions(mask)
    assert region.scale < 1
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (2000, 1500, 3), dtype=np.uint8)
    crop = image[region.crop_slices()]
    work = to_work(crop, region)
    assert work.shape == (*region.work_size, 3) and work.dtype == np.uint8
    back = from_work(work, region)
    assert back.shape == crop.shape and back.dtype == np.uint8

    work_mask = to_work(mask[region.crop_slices()], region, nearest=True)
    assert work_mask.dtype == bool and work_mask.shape == region.work_size
    assert from_work(work_mask, region, nearest=True).dtype == bool

    labels = rng.integers(0, 5, region.crop_size, dtype=np.uint8) * 10
    work_labels = to_work(labels, region, nearest=True)
    assert set(np.unique(work_labels)) <= {0, 10, 20, 30, 40}
    back_labels = from_work(work_labels, region, nearest=True)
    assert set(np.unique(back_labels)) <= {0, 10, 20, 30, 40}

    logits = rng.random((*region.work_size, 21)).astype(np.float32)  # many channels
    assert from_work(logits, region, interpolation=cv2.INTER_LINEAR).shape == (*region.crop_size, 21)

    with pytest.raises(ValueError):
        to_work(crop[:-1], region)


# ---------------------------------------------------------------------------------- shrink_mask


def test_shrink_mask_matches_area_resampling():
    """Every shrunk pixel is set exactly when OpenCV's area average of the mask is above 0."""
    rng = np.random.default_rng(3)
    for _ in range(400):
        rows, cols = (int(v) for v in rng.integers(5, 300, 2))
        h, w = int(rng.integers(1, rows + 1)), int(rng.integers(1, cols + 1))
        mask = np.zeros((rows, cols), bool)
        for _ in range(int(rng.integers(0, 4))):
            y, x = int(rng.integers(0, rows)), int(rng.integers(0, cols))
            mask[y:y + int(rng.integers(1, 30)), x:x + int(rng.integers(1, 30))] = True
        mask |= rng.random((rows, cols)) < 0.0005
        expected = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0
        assert np.array_equal(shrink_mask(mask, (h, w)), expected), (rows, cols, h, w)


def test_shrink_mask_never_drops_a_pixel_and_enlarges_like_opencv():
    mask = np.zeros((3000, 4000), bool)
    mask[1372, 2127] = True  # one pixel of a 12 MP canvas
    small = shrink_mask(mask, (384, 512))
    assert small.sum() >= 1 and small[int(1372 * 384 / 3000), int(2127 * 512 / 4000)]
    tiny = np.zeros((10, 10), bool)
    tiny[4:6, 4:6] = True
    expected = cv2.resize(tiny.astype(np.float32), (25, 25), interpolation=cv2.INTER_AREA) > 0
    assert np.array_equal(shrink_mask(tiny, (25, 25)), expected)
