"""The full-resolution detail stage (pipeline/detail.py) on synthetic photos, and its place in the pipeline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from portrait_editor.labels import LIP_NECK, UNKNOWN
from portrait_editor.pipeline import Cancelled, Completer, CompletionRequest, Margins
from portrait_editor.pipeline.detail import (
    SEAM_RAMP,
    TEXTURE_STRENGTH,
    _detail_gain,
    add_detail,
    detail_crop,
    exemplar_available,
    fade_at_seam,
    start_exemplars,
)
from portrait_editor.pipeline.regions import find_regions

needs_patchmatch = pytest.mark.skipif(not exemplar_available(), reason="PyPatchMatch is not installed here")


def _laplacian_var(image: np.ndarray, where: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(grey, cv2.CV_32F)[where].var())


def _textured(h: int = 240, w: int = 320, grain: float = 25.0, seed: int = 0) -> np.ndarray:
    """Smooth colours plus fine texture, like a photo of fabric or foliage."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([110 + 40 * np.sin(xx / 90), 120 + 30 * np.cos(yy / 70), 100 + 0 * xx], -1)
    texture = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8) * grain
    return np.clip(base + texture[..., None], 0, 255).astype(np.uint8)


def _upscaled_fill(photo: np.ndarray, hole: np.ndarray, cell: int) -> np.ndarray:
    """What the pipeline pastes: the photo at 1/cell resolution, scaled up, inside the hole."""
    h, w = hole.shape
    small = cv2.resize(photo, (max(1, w // cell), max(1, h // cell)), interpolation=cv2.INTER_AREA)
    return np.where(hole[..., None], cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), photo)


def _run(photo: np.ndarray, hole: np.ndarray, cell: int = 8, parsing=None, **kw) -> tuple[np.ndarray, np.ndarray]:
    fill = _upscaled_fill(photo, hole, cell)
    regions = find_regions(hole, target_scale=1.0 / cell)
    return fill, add_detail(photo, fill, hole, regions, parsing, LIP_NECK if parsing is not None else None, **kw)


def _ring(hole: np.ndarray, width: int = 24) -> np.ndarray:
    return (cv2.dilate(hole.astype(np.uint8), np.ones((2 * width + 1,) * 2, np.uint8)) > 0) & ~hole


def test_restores_texture_and_keeps_pixels_outside_the_hole():
    photo = _textured()
    hole = np.zeros(photo.shape[:2], bool)
    hole[80:170, 100:230] = True
    fill, out = _run(photo, hole)
    np.testing.assert_array_equal(out[~hole], fill[~hole])
    inner = hole & (cv2.erode(hole.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    truth = _laplacian_var(photo, inner) / _laplacian_var(photo, _ring(hole))
    before = _laplacian_var(fill, inner) / _laplacian_var(fill, _ring(hole))
    after = _laplacian_var(out, inner) / _laplacian_var(out, _ring(hole))
    assert before < 0.2 * truth
    assert 0.75 * truth < after < 1.25 * truth
    # only detail was added: the colours at the network's scale stay
    blur = (31, 31)
    diff = cv2.blur(out.astype(np.float32), blur) - cv2.blur(fill.astype(np.float32), blur)
    assert np.abs(diff[inner]).mean() < 3.0


def test_copied_texture_fades_in_at_the_seam_and_the_colours_stay():
    h, w = 120, 160
    hole = np.zeros((h, w), bool)
    hole[30:100, 40:130] = True
    before = np.full((h, w, 3), 100, np.uint8)
    rng = np.random.default_rng(0)
    texture = rng.normal(0, 20, (h, w, 1)).astype(np.float32)
    # the stage made the hole 30 levels brighter (colours) and added texture
    fill = np.where(hole[..., None], np.clip(130 + texture, 0, 255), before).astype(np.uint8)
    faded = fill.copy()
    fade_at_seam(faded, before, hole)
    dist = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
    far = hole & (dist >= SEAM_RAMP)
    np.testing.assert_array_equal(faded[~hole], fill[~hole])  # outside the hole: untouched
    np.testing.assert_array_equal(faded[far], fill[far])  # beyond the ramp: untouched
    edge, middle = hole & (dist < 2), hole & (dist >= 4) & (dist < SEAM_RAMP)
    spread = lambda where: float(faded[where].astype(np.float32).std())  # noqa: E731
    assert spread(edge) < 0.35 * float(fill[edge].astype(np.float32).std())
    assert spread(edge) < spread(middle) < float(fill[middle].astype(np.float32).std())
    # the brightening is kept right up to the edge
    assert abs(float(faded[edge].mean()) - 130) < 3


@needs_patchmatch
def test_a_small_hole_in_a_larger_photo_gets_texture_at_full_resolution():
    """A hole the networks fill at scale 1 in a photo larger than SMALL_PHOTO_SIDE is a small crop
    seen at 100%: PatchMatch's texture goes there (the test above: a small photo gets only grain)."""
    from portrait_editor.pipeline.detail import SMALL_PHOTO_SIDE

    photo = _textured(480, 640)
    assert max(photo.shape[:2]) > SMALL_PHOTO_SIDE
    hole = np.zeros(photo.shape[:2], bool)
    hole[200:280, 280:360] = True
    fill = _upscaled_fill(photo, hole, 8)  # what a smooth network fill looks like
    regions = find_regions(hole, target_scale=1.0)
    assert all(r.scale >= 1 for r in regions)
    out = add_detail(photo, fill, hole, regions, method="exemplar", grain=False)
    np.testing.assert_array_equal(out[~hole], fill[~hole])
    assert _laplacian_var(out, hole) > 0.5 * _laplacian_var(photo, hole) > 4 * _laplacian_var(fill, hole)
    tiny = np.zeros_like(hole)  # a hole whose blurs reach past what PatchMatch sees
    tiny[100:110, 100:110] = True
    out = add_detail(photo, _upscaled_fill(photo, tiny, 8), tiny, find_regions(tiny, target_scale=1.0),
                     method="exemplar", grain=False)
    np.testing.assert_array_equal(out[~tiny], photo[~tiny])


@pytest.mark.parametrize("method", ["exemplar", "pieces"])
def test_a_region_filled_at_full_resolution_gets_only_the_grain(method):
    """In a small photo (VITON's 256 x 192) scaling removed nothing: no texture is copied (the
    network's shapes stay as they are), but a smooth fill in a noisy photo still gets the photo's
    noise."""
    rng = np.random.default_rng(4)
    photo = np.clip(cv2.resize(_textured(), (320, 240)) + rng.normal(0, 5, (240, 320, 3)), 0, 255).astype(np.uint8)
    hole = np.zeros(photo.shape[:2], bool)
    hole[80:170, 100:230] = True
    fill = _upscaled_fill(photo, hole, 8)
    regions = find_regions(hole, target_scale=1.0)
    np.testing.assert_array_equal(add_detail(photo, fill, hole, regions, method=method, grain=False), fill)
    out = add_detail(photo, fill, hole, regions, method=method)
    np.testing.assert_array_equal(out[~hole], fill[~hole])
    added = out.astype(np.float32) - fill.astype(np.float32)
    assert 2.0 < added[hole].std() < 8.0  # the photo's noise (sigma 5), nothing like its texture
    # noise only: it averages out over 3 x 3 px, where texture copied at the fill's scale does not
    assert np.abs(cv2.blur(added, (3, 3))[hole]).mean() < 2.5
    with_texture = add_detail(photo, fill, hole, find_regions(hole, target_scale=1 / 8), method=method)
    assert np.abs(cv2.blur(with_texture.astype(np.float32) - fill, (3, 3))[hole]).mean() > 3.5


def test_grain_in_a_frame_of_thin_margins(recwarn):
    """Margins on every side make a hole whose box is the whole canvas and whose middle is empty:
    the hole's own noise is measured on all of it (a median of nothing warned and added none)."""
    rng = np.random.default_rng(8)
    photo = np.clip(cv2.resize(_textured(), (1000, 900)) + rng.normal(0, 6, (900, 1000, 3)), 0, 255).astype(np.uint8)
    hole = np.zeros(photo.shape[:2], bool)
    hole[:5], hole[-7:], hole[:, :3], hole[:, -4:] = True, True, True, True
    fill = np.where(hole[..., None], cv2.GaussianBlur(photo, (0, 0), 6), photo)
    out = add_detail(photo, fill, hole, find_regions(hole, target_scale=1.0), method="pieces")
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert (out.astype(np.float32) - fill)[hole].std() > 2.0  # the photo's noise came in


def test_deterministic_and_fill_not_modified_in_place():
    photo = _textured()
    hole = np.zeros(photo.shape[:2], bool)
    hole[50:120, 60:150] = True
    fill = _upscaled_fill(photo, hole, 6)
    keep = fill.copy()
    regions = find_regions(hole, target_scale=1 / 6)
    a = add_detail(photo, fill, hole, regions, seed=3)
    b = add_detail(photo, fill, hole, regions, seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fill, keep)


@pytest.mark.parametrize("method", ["exemplar", "pieces"])
@pytest.mark.parametrize("where", ["top-left corner", "bottom band", "right edge", "whole top rows"])
def test_holes_at_the_border(where, method):
    photo = _textured(200, 260)
    hole = np.zeros(photo.shape[:2], bool)
    if where == "top-left corner":
        hole[:60, :80] = True
    elif where == "bottom band":
        hole[150:] = True
    elif where == "right edge":
        hole[40:140, 200:] = True
    else:
        hole[:30] = True
    fill, out = _run(photo, hole, method=method)
    np.testing.assert_array_equal(out[~hole], fill[~hole])
    assert _laplacian_var(out, hole) > 3 * _laplacian_var(fill, hole)


@pytest.mark.parametrize("method", ["exemplar", "pieces"])
@pytest.mark.parametrize("box", [(100, 100, 101, 101), (50, 60, 52, 63), (10, 0, 14, 3), (199, 259, 200, 260)])
def test_tiny_holes(box, method):
    photo = _textured(200, 260)
    hole = np.zeros(photo.shape[:2], bool)
    y0, x0, y1, x1 = box
    hole[y0:y1, x0:x1] = True
    fill, out = _run(photo, hole, cell=2, method=method)
    np.testing.assert_array_equal(out[~hole], fill[~hole])
    assert np.abs(out.astype(int) - fill).max() <= 255


@pytest.mark.parametrize("method", ["exemplar", "pieces"])
def test_huge_hole_and_a_hole_with_almost_no_context(method):
    photo = _textured(200, 260)
    hole = np.ones(photo.shape[:2], bool)
    hole[:6, :10] = False  # 60 known pixels: less than one source cell of context around them
    fill, out = _run(photo, hole, cell=8, method=method)
    np.testing.assert_array_equal(out[~hole], fill[~hole])
    hole = np.zeros(photo.shape[:2], bool)
    hole[10:190, 10:250] = True  # 83 % of the photo
    fill, out = _run(photo, hole, cell=8, method=method)
    np.testing.assert_array_equal(out[~hole], fill[~hole])
    assert _laplacian_var(out, hole) > 3 * _laplacian_var(fill, hole)


def test_texture_comes_from_the_same_class():
    """The pieces: background is grainy, the shirt smooth, both the same colour: a hole over both
    gets grain on the background side only."""
    h, w = 200, 240
    rng = np.random.default_rng(1)
    photo = np.full((h, w, 3), 128, np.float32)
    photo[:, : w // 2] += cv2.GaussianBlur(rng.normal(0, 1, (h, w // 2)).astype(np.float32), (0, 0), 0.8)[..., None] * 30
    photo = np.clip(photo, 0, 255).astype(np.uint8)
    parsing = np.zeros((h, w), np.uint8)
    parsing[:, w // 2:] = LIP_NECK.id("upper-clothes")
    hole = np.zeros((h, w), bool)
    hole[60:140, 70:170] = True
    _, out = _run(photo, hole, cell=8, parsing=parsing, grain=False, method="pieces")
    background = hole & (parsing == 0)
    shirt = hole & (parsing != 0)
    shirt &= cv2.erode(shirt.astype(np.uint8), np.ones((17, 17), np.uint8)) > 0  # away from the seam
    assert _laplacian_var(out, background) > 20 * max(_laplacian_var(out, shirt), 1e-3)
    # unknown labels take texture from anywhere
    _, anywhere = _run(photo, hole, cell=8, parsing=np.full((h, w), UNKNOWN, np.uint8), grain=False,
                       method="pieces")
    assert _laplacian_var(anywhere, hole) > 0


def test_grain_matches_a_noisy_photo():
    """A flat, noisy photo (high ISO): the smooth fill gets noise of the same strength."""
    rng = np.random.default_rng(2)
    photo = np.clip(120 + rng.normal(0, 6, (160, 200, 3)), 0, 255).astype(np.uint8)
    hole = np.zeros(photo.shape[:2], bool)
    hole[40:120, 50:150] = True
    fill = np.where(hole[..., None], np.uint8(120), photo)
    out = fill.copy()
    detail_crop(photo, out, hole, cell=2)
    std = out[hole].astype(np.float32).std(axis=0)
    assert np.all(std > 4.0) and np.all(std < 8.0)
    np.testing.assert_array_equal(out[~hole], fill[~hole])


def _period_strength(added: np.ndarray, period: int) -> float:
    """How much the rows' mean vertical gradient of ``added`` repeats every ``period`` px (a
    regular grid of seams), relative to the median of its spectrum."""
    profile = np.abs(np.diff(added.mean(axis=2), axis=0)).mean(axis=1)
    spectrum = np.abs(np.fft.rfft(profile - profile.mean()))
    k = round(len(profile) / period)
    return float(spectrum[k - 1:k + 2].max() / np.median(spectrum))


@pytest.mark.parametrize("method", ["pieces", "patch"])
def test_no_regular_grid_at_the_cell_size(method):
    """The detail copied into a hole over fine grain has no seams repeating at the 2-px cell size
    (the residual is taken with a shift-invariant blur, not per cell). Measured with averaging
    down and up instead: 11-21x the spectrum's median; with the blur: 1.5-6.7x."""
    strengths = []
    for seed in range(3):
        photo = _textured(seed=seed, grain=30)
        hole = np.zeros(photo.shape[:2], bool)
        hole[40:200, 40:280] = True
        fill, out = _run(photo, hole, cell=2, method=method, grain=False)
        strengths.append(_period_strength((out.astype(np.float32) - fill)[50:190, 50:270], 2))
    assert max(strengths) < 9.0


def test_pieces_copy_texture_not_edges():
    """A flat grey photo crossed by thin bright lines: the lines are structure, not texture, and
    the pieces copy none of them into the hole (the cell copies did: up to 119 levels)."""
    h, w = 200, 240
    rng = np.random.default_rng(0)
    photo = np.full((h, w, 3), 90, np.float32) + rng.normal(0, 2, (h, w, 1))
    for x in range(20, w, 37):
        photo[:, x:x + 2] = 250
    photo = np.clip(photo, 0, 255).astype(np.uint8)
    hole = np.zeros((h, w), bool)
    hole[60:140, 60:180] = True
    fill, out = _run(photo, hole, cell=4, grain=False, method="pieces")
    assert np.abs(out.astype(int) - fill)[hole].max() < 30


def test_pieces_are_two_dimensional_copies():
    """Each piece copies one region of the photo's residual: in the hole, most 6 x 6 windows of
    what was added correlate above 0.9 with the photo's residual somewhere among the known pixels
    (measured: 68% of them; the cell copies with propagation, 10%; the attention blend, 0%).
    Windows across a seam between two pieces do not."""
    import portrait_editor.pipeline.detail as detail

    photo = _textured(seed=4, grain=30)
    hole = np.zeros(photo.shape[:2], bool)
    hole[60:180, 80:240] = True
    cell = 4
    fill = _upscaled_fill(photo, hole, cell)
    residual = photo.astype(np.float32) - detail._lowpass(photo.astype(np.float32), cell)
    added = add_detail(photo, fill, hole, find_regions(hole, target_scale=1 / cell), grain=False, method="pieces")
    added = added.astype(np.float32) - fill
    # the gain scales the copy by one factor per channel: normalise both before comparing
    coherent = total = 0
    rng = np.random.default_rng(0)
    for _ in range(60):
        y, x = rng.integers(70, 164), rng.integers(90, 224)
        window = added[y:y + 6, x:x + 6, 1]
        if np.abs(window).max() < 1.0:
            continue
        total += 1
        # the best-matching source position over the known pixels, by normalised correlation
        scores = cv2.matchTemplate(residual[..., 1].astype(np.float32), window.astype(np.float32),
                                   cv2.TM_CCOEFF_NORMED)
        scores[55:180, 75:240] = -1  # sources are known pixels only
        coherent += scores.max() > 0.9
    assert total >= 40 and coherent >= 0.5 * total


def test_cra_method_and_bad_arguments():
    photo = _textured()
    hole = np.zeros(photo.shape[:2], bool)
    hole[80:140, 100:200] = True
    fill, out = _run(photo, hole, method="cra")
    np.testing.assert_array_equal(out[~hole], fill[~hole])
    with pytest.raises(ValueError, match="method"):
        _run(photo, hole, method="nope")
    with pytest.raises(ValueError):
        add_detail(photo, fill[:10], hole, [])


# -- in the pipeline ---------------------------------------------------------------------------


def test_pipeline_reports_detail_and_can_skip_it(tiny_bundle, portrait):
    mask = np.zeros(portrait.shape[:2], bool)
    mask[30:70, 40:80] = True
    seen: list[str] = []
    Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask, use_detail=True),
                               progress=lambda stage, f: seen.append(stage))
    assert "detail" in seen and seen.index("detail") < seen.index("blending")
    seen.clear()
    result = Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask, use_detail=False),
                                        progress=lambda stage, f: seen.append(stage))
    assert "detail" not in seen and "detail" in result.timings


def test_pipeline_cancels_at_the_detail_boundary(tiny_bundle, portrait):
    mask = np.zeros(portrait.shape[:2], bool)
    mask[30:70, 40:80] = True
    seen: list[str] = []
    with pytest.raises(Cancelled):
        Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask, use_detail=True),
                                   progress=lambda stage, f: seen.append(stage),
                                   is_cancelled=lambda: "detail" in seen)
    assert "blending" not in seen


def test_pipeline_with_detail_keeps_far_pixels_at_margins(tiny_bundle, portrait):
    result = Completer(tiny_bundle).run(CompletionRequest(image=portrait, margins=Margins(12, 0, 30, 8),
                                                          use_detail=True))
    h, w = portrait.shape[:2]
    inner = result.image[12:12 + h, 8:8 + w]
    grown = cv2.dilate(result.mask.astype(np.uint8), np.ones((17, 17), np.uint8))[12:12 + h, 8:8 + w] == 0
    np.testing.assert_array_equal(inner[grown], portrait[grown])


def test_detail_is_on_by_default_and_can_be_turned_off():
    from portrait_editor.cli import build_parser
    from portrait_editor.pipeline import CompletionRequest

    assert build_parser().parse_args(["in.jpg", "-m", "m.png", "-o", "out.jpg"]).detail
    assert not build_parser().parse_args(["in.jpg", "-m", "m.png", "-o", "out.jpg", "--no-detail"]).detail
    assert CompletionRequest(image=np.zeros((4, 4, 3), np.uint8)).use_detail is True


# -- exemplar synthesis (PatchMatch) -----------------------------------------------------------


def _stripes(h: int = 200, w: int = 240) -> np.ndarray:
    """A flat grey photo crossed by thin bright vertical lines every 37 px, with a little noise."""
    rng = np.random.default_rng(0)
    photo = np.full((h, w, 3), 90, np.float32) + rng.normal(0, 2, (h, w, 1))
    for x in range(20, w, 37):
        photo[:, x:x + 2] = 250
    return np.clip(photo, 0, 255).astype(np.uint8)




@needs_patchmatch
def test_exemplar_continues_the_photos_structure_at_full_resolution():
    """Where the network's fill is a blur, the exemplar brings back the lines that cross the hole
    (the pieces only ever copy texture finer than a cell, never such edges)."""
    photo = _stripes()
    hole = np.zeros(photo.shape[:2], bool)
    hole[60:140, 60:180] = True
    fill, out = _run(photo, hole, cell=8, grain=False, method="exemplar")
    np.testing.assert_array_equal(out[~hole], fill[~hole])
    bright = (out[hole].astype(int).mean(axis=1) > 200).mean()
    truth = (photo[hole].astype(int).mean(axis=1) > 200).mean()
    assert (fill[hole].astype(int).mean(axis=1) > 200).mean() < 0.2 * truth
    assert 0.5 * truth < bright < 2 * truth


@needs_patchmatch
def test_exemplar_background_from_the_photo_the_person_keeps_the_networks_colours():
    """The left half is labelled background, the right half a blue shirt; the network painted the
    whole hole a brighter blue (at a quarter of the photo's resolution). The background side takes
    the photo's own grey and grain, the shirt side keeps the network's blue with the shirt's
    grain on it."""
    h, w = 200, 240
    rng = np.random.default_rng(3)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8)[..., None] * 30
    photo = np.full((h, w, 3), 128, np.float32)
    photo[:, w // 2:] = (60, 70, 170)
    photo = np.clip(photo + grain, 0, 255).astype(np.uint8)
    parsing = np.zeros((h, w), np.uint8)
    parsing[:, w // 2:] = LIP_NECK.id("upper-clothes")
    hole = np.zeros((h, w), bool)
    hole[60:140, 60:180] = True
    blue = np.array([40, 60, 200], np.uint8)
    fill = np.where(hole[..., None], blue, photo)
    regions = find_regions(hole, target_scale=1 / 4)
    out = add_detail(photo, fill, hole, regions, parsing, LIP_NECK, method="exemplar", grain=False)
    np.testing.assert_array_equal(out[~hole], photo[~hole])
    # away from the labels' seam (column 120), which blends over a Gaussian of 3 cells (12 px)
    columns = np.arange(w)[None, :]
    background, shirt = hole & (columns < 90), hole & (columns >= 150)
    assert np.abs(out[background].mean(0) - 128).max() < 8
    assert np.abs(out[shirt].mean(0) - blue).max() < 8
    assert _laplacian_var(out, shirt) > 0.5 * _laplacian_var(photo, shirt)


def _edge_contrast(image: np.ndarray, rows: slice, column: int) -> float:
    """Mean grey step across ``column`` (two pixels each side) over ``rows``: how sharp an edge is."""
    grey = image.astype(np.float32).mean(axis=2)
    return float(np.abs(grey[rows, column - 2] - grey[rows, column + 1]).mean())


def _ground_with_band(h: int, w: int, level: int, grain: float, below: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Grey ground with fine grain, and a margin from row ``below`` down."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8)[..., None] * grain
    photo = np.clip(np.full((h, w, 3), level, np.float32) + noise, 0, 255).astype(np.uint8)
    hole = np.zeros((h, w), bool)
    hole[below:, :] = True
    return photo, hole


@needs_patchmatch
def test_the_networks_shoes_survive_where_patchmatch_copies_something_else():
    """A bottom band over pale pavement: the network drew a dark shoe, P's labels are a narrower
    shoe. PatchMatch copies pavement everywhere. The shoe keeps its sharp outline: the network's
    own detail stays where PatchMatch's colours disagree (not its blur), and the background
    beside the labels keeps the network's colours (its outline, not P's)."""
    h, w = 200, 240
    photo, hole = _ground_with_band(h, w, 190, 12, below=120, seed=4)
    parsing = np.zeros((h, w), np.uint8)
    parsing[130:190, 104:136] = LIP_NECK.id("left-shoe")  # P's shoe: 8 px narrower each side
    fill = np.where(hole[..., None], np.uint8(170), photo)
    fill[130:190, 96:144] = 35  # the network's shoe
    regions = find_regions(hole, target_scale=1 / 4, outward_target_scale=1 / 4, outward=hole)
    assert regions and all(r.outward and r.scale < 1 for r in regions)
    out = add_detail(photo, fill, hole, regions, parsing, LIP_NECK, method="exemplar", grain=False)
    np.testing.assert_array_equal(out[~hole], photo[~hole])
    rows = slice(140, 180)
    for column in (96, 144):  # the shoe's edges, inside the background labels
        assert _edge_contrast(out, rows, column) > 0.7 * _edge_contrast(fill, rows, column)
    assert out[140:180, 100:140].mean() < 60  # a dark shoe, all of it


@needs_patchmatch
def test_far_below_the_photo_the_background_takes_the_networks_colours():
    """In a margin below the photo, PatchMatch's colours hold near the photo only: its copy far
    below the feet is a guess. A band of 240 px under 4x4 px cells: the first rows continue the
    photo's ground, the rows beyond MARGIN_COLOUR_REACH cells are the network's, with the photo's
    texture."""
    from portrait_editor.pipeline.detail import MARGIN_COLOUR_REACH

    h, w = 400, 240
    photo, hole = _ground_with_band(h, w, 180, 15, below=160, seed=6)
    fill = np.where(hole[..., None], np.uint8(110), photo)
    parsing = np.zeros((h, w), np.uint8)
    regions = find_regions(hole, target_scale=1 / 4, outward_target_scale=1 / 4, outward=hole)
    assert all(r.outward for r in regions)
    out = add_detail(photo, fill, hole, regions, parsing, LIP_NECK, method="exemplar", grain=False)
    assert abs(out[160:168].mean() - 180) < 15  # near the photo: its ground
    far = 160 + int(MARGIN_COLOUR_REACH * 4)
    assert far < h - 8
    assert abs(out[far:].mean() - 110) < 10  # far from it: the network's colour ...
    assert out[far:].std() > 5  # ... with texture
    # above the photo (sky, a wall) PatchMatch's colours hold everywhere
    flipped = add_detail(photo[::-1].copy(), np.where(hole[::-1, :, None], np.uint8(110), photo[::-1]), hole[::-1],
                         find_regions(hole[::-1], target_scale=1 / 4, outward_target_scale=1 / 4, outward=hole[::-1]),
                         parsing, LIP_NECK, method="exemplar", grain=False)
    assert abs(flipped[: h - far].mean() - 180) < 10
    # in a hole inside the photo, PatchMatch's colours hold everywhere
    inner = np.zeros((h, w), bool)
    inner[120:280, 60:180] = True
    fill = np.where(inner[..., None], np.uint8(110), photo)
    out = add_detail(photo, fill, inner, find_regions(inner, target_scale=1 / 4), parsing, LIP_NECK,
                     method="exemplar", grain=False)
    assert abs(out[inner].mean() - 180) < 10


@needs_patchmatch
def test_patchmatch_runs_side_by_side_give_what_they_give_one_after_the_other():
    from portrait_editor.pipeline.detail import _patchmatch, _patchmatch_runs

    photo = _textured(120, 160)
    hole = np.zeros(photo.shape[:2], bool)
    hole[40:80, 50:110] = True
    no_source = np.zeros_like(hole)
    no_source[:, :40] = True
    together = _patchmatch_runs(photo, hole, [None, no_source], seed=3)
    apart = [_patchmatch(photo, hole, None, 3), _patchmatch(photo, hole, no_source, 3)]
    for a, b in zip(together, apart, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(together[0], together[1])


@needs_patchmatch
def test_patchmatch_started_early_gives_the_same_detail(monkeypatch):
    import portrait_editor.pipeline.detail as detail

    """The pipeline starts PatchMatch right after stage I (start_exemplars), while the networks
    run; the detail stage then gives exactly what it gives when it runs PatchMatch itself. Two
    holes (two regions), each over background and a shirt (two runs each)."""
    h, w = 240, 640
    photo = _textured(h, w)
    parsing = np.zeros((h, w), np.uint8)
    parsing[:, 100:540] = LIP_NECK.id("upper-clothes")
    hole = np.zeros((h, w), bool)
    left, right = np.zeros((h, w), bool), np.zeros((h, w), bool)
    left[80:160, 60:140] = True
    right[80:160, 500:580] = True
    hole = left | right
    fill = _upscaled_fill(photo, hole, 4)
    regions = find_regions(left, target_scale=1 / 4) + find_regions(right, target_scale=1 / 4)
    assert len(regions) == 2
    alone = add_detail(photo, fill, hole, regions, parsing, LIP_NECK, seed=5)
    started = start_exemplars(photo, hole, regions, parsing, LIP_NECK, seed=5)
    assert started is not None
    monkeypatch.setattr(detail, "_patchmatch_runs", None)  # the stage must not run PatchMatch again
    early = add_detail(photo, fill, hole, regions, parsing, LIP_NECK, seed=5, exemplars=started)
    assert not started.running()
    np.testing.assert_array_equal(early, alone)
    assert not np.array_equal(early, fill)
    # regions of a small photo filled at its own resolution need no PatchMatch
    small, small_hole = photo[:, :320].copy(), left[:, :320].copy()
    assert start_exemplars(small, small_hole, find_regions(small_hole, target_scale=1.0), parsing[:, :320],
                           LIP_NECK) is None


@needs_patchmatch
def test_pipeline_gives_torch_a_core_less_while_patchmatch_runs(tiny_bundle, portrait, monkeypatch):
    """On a CPU, torch runs the networks on one thread fewer while PatchMatch takes a core, and
    has all of them back afterwards (also when the run is cancelled)."""
    import torch

    big = cv2.resize(portrait, (480, 640), interpolation=cv2.INTER_CUBIC)
    mask = np.zeros(big.shape[:2], bool)
    mask[120:280, 160:320] = True
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    calls: list[int] = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), real(n)))
    try:
        result = Completer(tiny_bundle).run(CompletionRequest(image=big, mask=mask, use_detail=True))
        assert any(region.scale < 1 for region in result.regions)
        assert calls == [1, 2] and torch.get_num_threads() == 2
        calls.clear()
        with pytest.raises(Cancelled):
            Completer(tiny_bundle).run(CompletionRequest(image=big, mask=mask, use_detail=True),
                                       progress=lambda stage, f: None, is_cancelled=lambda: bool(calls))
        assert calls == [1, 2] and torch.get_num_threads() == 2
        calls.clear()
        Completer(tiny_bundle).run(CompletionRequest(image=big, mask=mask, use_detail=False))
        assert calls == []
    finally:
        real(before)


def test_exemplar_falls_back_to_the_pieces_without_pypatchmatch(monkeypatch):
    import portrait_editor.pipeline.detail as detail

    photo = _textured()
    hole = np.zeros(photo.shape[:2], bool)
    hole[80:170, 100:230] = True
    _, pieces = _run(photo, hole, method="pieces")
    monkeypatch.setattr(detail, "exemplar_available", lambda: False)
    _, fallback = _run(photo, hole, method="exemplar")
    np.testing.assert_array_equal(fallback, pieces)


def test_copied_detail_is_turned_down_to_the_strength_of_the_fabrics_own():
    """PatchMatch may copy a badge's lettering into plain fabric: detail as strong as the
    fabric's own passes, detail far stronger is scaled to the limit, and a class with its own
    stronger texture (a patterned scarf) sets its own, higher limit."""
    h, w = 160, 200
    rng = np.random.default_rng(5)
    photo = np.clip(128 + rng.normal(0, 3, (h, w, 3)), 0, 255).astype(np.float32)
    groups = np.zeros((h, w), np.int16)
    groups[:, 150:] = 7  # the scarf: its own, strong texture
    photo[:, 150:] = np.clip(128 + rng.normal(0, 30, (h, 50, 3)), 0, 255)
    known = np.ones((h, w), bool)
    known[50:110, 40:190] = False
    detail = rng.normal(0, 3, (h, w, 3)).astype(np.float32)  # fabric-like
    detail[60:100, 50:90] = rng.normal(0, 40, (40, 40, 3))  # lettering
    detail[60:100, 160:190] = rng.normal(0, 25, (40, 30, 3))  # the scarf's pattern
    factor = _detail_gain(detail + 128, np.full_like(photo, 128), photo, known, groups, 4.0)[..., 0]  # PatchMatch's copy
    assert factor.max() <= 1.0
    assert np.median(factor[60:100, 100:140]) > 0.95  # the fabric's own strength passes
    weak = np.median(factor[70:90, 60:80])
    assert weak < 0.5  # the lettering is turned down ...
    limited = np.square(detail[70:90, 60:80] * weak).sum(2).mean()
    own = np.square(photo[:, :140] - cv2.GaussianBlur(photo[:, :140], (0, 0), 4.0)).sum(2)
    assert limited < 2 * TEXTURE_STRENGTH * np.median(own)  # ... to about the limit
    assert np.median(factor[60:100, 160:190]) > 0.95  # the scarf's own limit lets its texture through
    fabric = photo[:, :140]
    assert _detail_gain(fabric, np.full_like(fabric, 128), fabric, known[:, :140], None, 4.0) is None  # its own texture: no limit


@needs_patchmatch
def test_a_badge_above_the_hole_leaves_no_lettering_on_the_fill():
    """A plain red suit with a purple badge right above the hole; the network continues the suit
    red into the hole. Without the limits PatchMatch's copy of the badge puts its white strokes
    on the red fill (99th percentile 200 away from the red)."""
    h, w = 220, 260
    rng = np.random.default_rng(9)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8)[..., None] * 6
    photo = np.full((h, w, 3), (170, 60, 40), np.float32)
    photo[40:100, 70:190] = (90, 60, 150)  # the badge above the hole, with "lettering"
    photo[44:100:6, 75:185] = 250
    photo = np.clip(photo + grain, 0, 255).astype(np.uint8)
    parsing = np.full((h, w), LIP_NECK.id("coat"), np.uint8)
    hole = np.zeros((h, w), bool)
    hole[100:200, 60:200] = True
    fill = np.where(hole[..., None], np.array([170, 60, 40], np.uint8), photo)
    regions = find_regions(hole, target_scale=1 / 4)
    out = add_detail(photo, fill, hole, regions, parsing, LIP_NECK, method="exemplar", grain=False)
    far = np.sqrt(np.square(out.astype(np.float32) - (170, 60, 40)).sum(axis=2))
    assert np.percentile(far[hole], 99) < 60  # no white stroke of lettering on the suit


def test_copied_detail_fades_where_its_colours_are_another_objects():
    """Detail copied from something of the network's colours passes; detail from a copy whose
    colours are far from the network's (another object) is dropped."""
    h, w = 80, 80
    rng = np.random.default_rng(2)
    photo = np.clip(128 + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.float32)
    known = np.ones((h, w), bool)
    known[20:60, 20:60] = False
    net = np.full((h, w, 3), 128, np.float32)
    same = _detail_gain(photo, net, photo, known, None, 4.0)
    assert same is None or same[30:50, 30:50].min() > 0.9
    other = photo.copy()
    other[20:60, 20:60] += np.array([-60, -60, 90], np.float32)  # a purple copy on a grey fill
    faded = _detail_gain(other, net, photo, known, None, 4.0)
    assert faded is not None and faded[30:50, 30:50].max() < 0.05
