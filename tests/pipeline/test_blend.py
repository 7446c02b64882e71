"""Seamless pasting (portrait_editor.pipeline.blend)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from portrait_editor.pipeline.blend import blend, membrane


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus a little noise: like skin or a wall, where seams show."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([40 + 1.1 * xx, 60 + 1.3 * yy, 120 + 30 * np.sin(xx / 9 + yy / 13)], axis=-1)
    return np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8)


def _distance_to_hole(mask: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance of every pixel to the nearest hole pixel (brute force)."""
    holes = np.argwhere(mask).astype(np.float64)
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    pixels = np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float64)
    best = np.full(len(pixels), np.inf)
    for chunk in np.array_split(holes, max(1, len(holes) // 256)):
        d = np.sqrt(((pixels[:, None, :] - chunk[None, :, :]) ** 2).sum(-1)).min(axis=1)
        best = np.minimum(best, d)
    return best.reshape(mask.shape)


def _offset(image: np.ndarray, red: int) -> np.ndarray:
    out = image.astype(np.int32)
    out[..., 0] += red
    return np.clip(out, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------ untouched pixels


@pytest.mark.parametrize("poisson", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pixels_beyond_the_band_are_bit_identical(seed, poisson):
    rng = np.random.default_rng(seed)
    h, w = 70, 90
    original = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    fill = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), bool)
    for _ in range(4):
        y, x = rng.integers(0, h), rng.integers(0, w)
        mask[y : y + rng.integers(1, 12), x : x + rng.integers(1, 12)] = True
    dilate, feather = 2, 3
    out = blend(original, fill, mask, dilate=dilate, feather=feather, poisson=poisson)
    assert out.dtype == np.uint8 and out.shape == original.shape
    far = _distance_to_hole(mask) > dilate + feather
    np.testing.assert_array_equal(out[far], original[far])
    assert not np.shares_memory(out, original)


def test_no_band_changes_only_the_hole():
    original = _photo(40, 50)
    fill = _offset(original, 40)
    mask = np.zeros((40, 50), bool)
    mask[10:20, 12:30] = True
    out = blend(original, fill, mask, dilate=0, feather=0, poisson=False)
    np.testing.assert_array_equal(out[~mask], original[~mask])
    np.testing.assert_array_equal(out[mask], fill[mask])


# ------------------------------------------------------------------------ colour matching


@pytest.mark.parametrize("composite", [False, True])
def test_poisson_removes_a_colour_offset(composite):
    original = _photo(96, 128)
    mask = np.zeros((96, 128), bool)
    mask[30:70, 40:90] = True
    fill = _offset(original, 30)  # a network with a red cast ...
    if composite:  # ... pasted into the original (fill == original outside the hole)
        fill = np.where(mask[..., None], fill, original)
    out = blend(original, fill, mask)
    error = np.abs(out.astype(np.int32) - original)[mask].mean()
    assert error < 3, error
    # without Poisson the cast stays
    plain = blend(original, fill, mask, poisson=False)
    assert np.abs(plain.astype(np.int32) - original)[mask][:, 0].mean() > 25


def test_boundary_gradient_is_continuous():
    original = _photo(96, 128, seed=3)
    mask = np.zeros((96, 128), bool)
    mask[30:70, 40:90] = True
    fill = np.where(mask[..., None], _offset(original, 30), original)
    out = blend(original, fill, mask).astype(np.float64)
    ref = original.astype(np.float64)
    # steps across the hole's top, bottom, left and right edges
    steps = [
        out[30, 40:90] - out[29, 40:90],
        out[70, 40:90] - out[69, 40:90],
        out[30:70, 40] - out[30:70, 39],
        out[30:70, 90] - out[30:70, 89],
    ]
    expected = [
        ref[30, 40:90] - ref[29, 40:90],
        ref[70, 40:90] - ref[69, 40:90],
        ref[30:70, 40] - ref[30:70, 39],
        ref[30:70, 90] - ref[30:70, 89],
    ]
    for got, want in zip(steps, expected, strict=True):
        assert np.abs(got.mean(axis=0) - want.mean(axis=0)).max() < 2.0  # no 30-level seam
        assert np.abs(got - want).mean() < 4.0


# ---------------------------------------------------------------------- border / extrapolation


def _border_masks(h, w):
    def box(y0, y1, x0, x1):
        m = np.zeros((h, w), bool)
        m[y0:y1, x0:x1] = True
        return m

    return {
        "top": box(0, 15, 20, 50),
        "bottom": box(h - 15, h, 20, 50),
        "left": box(20, 40, 0, 12),
        "right": box(20, 40, w - 12, w),
        "top-left": box(0, 14, 0, 14),
        "top-right": box(0, 14, w - 14, w),
        "bottom-left": box(h - 14, h, 0, 14),
        "bottom-right": box(h - 14, h, w - 14, w),
        "bottom band": box(h - 20, h, 0, w),
        "left band": box(0, h, 0, 9),
        "1 px corner": box(0, 1, 0, 1),
        "1 px edge": box(h - 1, h, 30, 31),
    }


@pytest.mark.parametrize("poisson", [True, False])
@pytest.mark.parametrize("name", list(_border_masks(10, 10)))
def test_holes_at_the_border(name, poisson):
    h, w = 61, 77  # odd sizes
    mask = _border_masks(h, w)[name]
    original = _photo(h, w, seed=4)
    fill = _offset(original, 25)
    for composite in (False, True):
        f = np.where(mask[..., None], fill, original) if composite else fill
        out = blend(original, f, mask, poisson=poisson)
        assert out.dtype == np.uint8 and out.shape == original.shape
        far = _distance_to_hole(mask) > 3 + 4
        np.testing.assert_array_equal(out[far], original[far])
        if poisson:  # the cast measured on the known side is removed, right up to the edge
            assert np.abs(out.astype(np.int32) - original)[mask].mean() < 3


def test_extrapolated_band_keeps_the_fills_gradient():
    """A bottom margin: the original there is edge-replicated junk; the fill has structure."""
    h, w, band = 80, 100, 30
    yy, xx = np.mgrid[0:h, 0:w]
    truth = np.stack([50 + xx, 40 + 2 * yy, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    original = truth.copy()
    original[h - band :] = original[h - band - 1]  # what expand_canvas gives
    mask = np.zeros((h, w), bool)
    mask[h - band :] = True
    fill = _offset(truth, 20)  # right structure, wrong colour
    out = blend(original, fill, mask).astype(np.int32)
    far_side = out[h - band // 2 :]
    # the fill's vertical gradient (2 per row) survives down to the edge, not pulled to the junk
    rows = np.diff(far_side[..., 1], axis=0)
    assert abs(rows.mean() - 2.0) < 0.1
    np.testing.assert_array_equal(
        np.diff(far_side[..., 0], axis=1), np.diff(truth[h - band // 2 :, :, 0].astype(np.int32), axis=1)
    )
    # and the colour matches the photo (the cast is gone), so it continues the known part
    assert np.abs(out[h - band :] - truth[h - band :]).mean() < 2


# ------------------------------------------------------------------------------ edge cases


def test_empty_mask_returns_a_copy_of_the_original():
    original = _photo(20, 30)
    out = blend(original, _offset(original, 50), np.zeros((20, 30), bool))
    np.testing.assert_array_equal(out, original)
    assert out is not original


def test_whole_image_mask_returns_the_fill():
    original = _photo(21, 33)
    fill = _offset(original, 50)
    for poisson in (True, False):
        np.testing.assert_array_equal(blend(original, fill, np.ones((21, 33), bool), poisson=poisson), fill)


def test_one_pixel_hole():
    original = _photo(31, 41)
    fill = np.where(np.ones((31, 41, 1), bool), _offset(original, 60), original)
    mask = np.zeros((31, 41), bool)
    mask[15, 20] = True
    out = blend(original, np.where(mask[..., None], fill, original), mask)
    assert np.abs(out[15, 20].astype(int) - original[15, 20]).max() <= 6
    out = blend(original, fill, mask)  # raw fill: the band is blended too, still matched
    assert np.abs(out.astype(int) - original).max() <= 6


def test_mask_as_uint8_and_bad_arguments():
    original = _photo(20, 20)
    mask = np.zeros((20, 20), np.uint8)
    mask[5:9, 5:9] = 255
    np.testing.assert_array_equal(blend(original, original, mask), blend(original, original, mask > 0))
    with pytest.raises(ValueError):
        blend(original, original[:-1], mask)
    with pytest.raises(ValueError):
        blend(original, original, mask[:-1])
    with pytest.raises(ValueError):
        blend(original.astype(np.float32), original, mask)
    with pytest.raises(ValueError):
        blend(original, original, mask, dilate=-1)


def test_poisson_false_is_dilate_and_feather_compositing():
    original = np.zeros((40, 40, 3), np.uint8)
    fill = np.full((40, 40, 3), 200, np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[18:22, 18:22] = True
    out = blend(original, fill, mask, dilate=3, feather=4, poisson=False)
    assert (out[18:22, 18:22] == 200).all()
    assert (out[20, 22 + 2] == 200).all()  # 3 px of dilation: fully the fill
    assert 0 < out[20, 22 + 4, 0] < 200  # then a feathered ramp ...
    row = out[20, 21:34, 0].astype(int)
    assert (np.diff(row) <= 0).all()  # ... falling monotonically
    assert (out[20, 22 + 7 :] == 0).all()  # ... to the original


# --------------------------------------------------------------------------- the membrane


def _exact_membrane(values, known):
    """Dense solve of the same discrete problem (4-neighbour Laplace, Neumann at the edges)."""
    h, w = known.shape
    unknown = np.argwhere(~known)
    index = -np.ones((h, w), int)
    index[~known] = np.arange(len(unknown))
    a = np.zeros((len(unknown), len(unknown)))
    rhs = np.zeros((len(unknown), values.shape[2]))
    for i, (y, x) in enumerate(unknown):
        for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            ny, nx = y + dy, x + dx
            if 0 <= ny < h and 0 <= nx < w:
                a[i, i] += 1
                if known[ny, nx]:
                    rhs[i] += values[ny, nx]
                else:
                    a[i, index[ny, nx]] -= 1
    out = values.astype(np.float64).copy()
    out[~known] = np.linalg.solve(a, rhs)
    return out


@pytest.mark.parametrize("shape", ["inside", "corner", "band"])
def test_membrane_matches_an_exact_solve(shape):
    rng = np.random.default_rng(7)
    h, w = 45, 52
    known = np.ones((h, w), bool)
    if shape == "inside":
        known[6:40, 8:45] = False
    elif shape == "corner":
        known[:30, 20:] = False
    else:
        known[25:, :] = False
    yy, xx = np.mgrid[0:h, 0:w]
    values = np.stack([np.sin(xx / 5.0) * 20, yy * 0.5, rng.normal(0, 5, (h, w))], axis=-1).astype(np.float32)
    got = membrane(values, known)
    want = _exact_membrane(values, known)
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got[known], values[known])
    assert np.abs(got - want).max() < 1.0
    # one channel works the same
    np.testing.assert_allclose(membrane(values[..., 0], known), got[..., 0], atol=1e-4)


def test_membrane_relaxes_wide_areas_near_their_boundary_only(monkeypatch):
    """A band far wider than the relaxation reach: holding the coarse solution away from the
    boundary changes the result by less than half a grey level."""
    from portrait_editor.pipeline import blend as blend_module

    rng = np.random.default_rng(3)
    h, w = 420, 300
    known = np.ones((h, w), bool)
    known[120:, :] = False  # a 300 px band below the photo, as an extrapolation makes
    yy, xx = np.mgrid[0:h, 0:w]
    values = np.stack([np.sin(xx / 7.0) * 30, rng.normal(0, 10, (h, w)), xx * 0.2], axis=-1).astype(np.float32)
    assert blend_module._REACH < h - 120
    got = membrane(values, known)
    monkeypatch.setattr(blend_module, "_REACH", 10**6)
    full = membrane(values, known)
    assert np.abs(got - full).max() < 0.5


def test_membrane_without_known_pixels_is_zero():
    assert not membrane(np.ones((5, 6, 3), np.float32), np.zeros((5, 6), bool)).any()


# ------------------------------------------------------------------------------ performance


def test_twelve_megapixel_photo_with_a_256_px_hole_is_fast():
    original = np.zeros((3000, 4000, 3), np.uint8)
    original[..., 1] = 90
    fill = original.copy()
    mask = np.zeros((3000, 4000), bool)
    mask[1200:1456, 1800:2056] = True
    fill[mask] = (40, 130, 10)
    blend(original[:100, :100], fill[:100, :100], mask[:100, :100])  # warm-up
    start = time.perf_counter()
    out = blend(original, fill, mask)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.5, f"blend took {elapsed:.2f} s"
    assert np.abs(out[mask].astype(int) - original[mask]).max() <= 1


def test_image_smaller_than_the_band():
    original = np.full((9, 9, 3), 100, np.uint8)
    fill = np.full((9, 9, 3), 140, np.uint8)
    mask = np.zeros((9, 9), bool)
    mask[4, 4] = True
    out = blend(original, fill, mask)  # every pixel is within dilate + feather of the hole
    assert np.abs(out.astype(int) - 100).max() <= 1
