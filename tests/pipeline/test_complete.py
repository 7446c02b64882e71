"""End-to-end pipeline tests with tiny random-weight networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from portrait_editor.labels import UNKNOWN
from portrait_editor.pipeline import Cancelled, Completer, CompletionRequest, Margins

BAND = 3 + 4 + 1  # blend dilation + feathering (+1 for resampling at the edge)


def _far_from(mask: np.ndarray, distance: int) -> np.ndarray:
    import cv2

    grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * distance + 1, 2 * distance + 1), np.uint8))
    return grown == 0


def _box_mask(shape, *boxes):
    mask = np.zeros(shape, bool)
    for y0, x0, y1, x1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


def test_outside_hole_unchanged_and_hole_filled(tiny_bundle, portrait):
    mask = _box_mask(portrait.shape[:2], (30, 40, 70, 80))
    result = Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask))
    assert result.image.shape == portrait.shape and result.image.dtype == np.uint8
    far = _far_from(mask, BAND)
    np.testing.assert_array_equal(result.image[far], portrait[far])
    assert np.abs(result.image[mask].astype(int) - portrait[mask]).mean() > 1  # something was synthesized
    assert set(result.timings) >= {"parsing", "completion", "face", "blending", "total"}


def test_no_blend_changes_only_hole_pixels(tiny_bundle, portrait):
    mask = _box_mask(portrait.shape[:2], (30, 40, 70, 80))
    result = Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask, blend=False))
    np.testing.assert_array_equal(result.image[~mask], portrait[~mask])


def test_margins_grow_canvas_and_keep_original(tiny_bundle, portrait):
    margins = Margins(10, 0, 24, 6)
    result = Completer(tiny_bundle).run(CompletionRequest(image=portrait, margins=margins))
    h, w = portrait.shape[:2]
    assert result.image.shape == (h + 34, w + 6, 3)
    assert result.mask[:10].all() and result.mask[-24:].all() and result.mask[:, :6].all()
    assert not result.mask[10:10 + h, 6:].any()
    inner = result.image[10:10 + h, 6:6 + w]
    far = _far_from(result.mask, BAND)[10:10 + h, 6:6 + w]
    np.testing.assert_array_equal(inner[far], portrait[far])
    assert all(r.touches_border for r in result.regions)


def test_several_holes_filled_in_one_run(tiny_bundle, portrait):
    import cv2

    portrait = cv2.resize(portrait, (360, 480))
    boxes = [(10, 10, 40, 40), (400, 300, 450, 350), (200, 150, 230, 200)]
    mask = _box_mask(portrait.shape[:2], *boxes)
    seen: list[str] = []
    result = Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask),
                                        progress=lambda stage, f: seen.append(stage))
    assert len(result.regions) == 3
    for y0, x0, y1, x1 in boxes:
        assert not np.array_equal(result.image[y0:y1, x0:x1], portrait[y0:y1, x0:x1])
    order = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert order == ["parsing", "completion", "face", "blending"]


def test_parsing_in_skips_stage_one(tiny_bundle, portrait, monkeypatch):
    mask = _box_mask(portrait.shape[:2], (30, 40, 70, 80))
    parsing = np.full(portrait.shape[:2], 5, np.uint8)
    parsing[50:60] = UNKNOWN

    def no_parse(*args, **kwargs):
        raise AssertionError("stage I ran although a parsing map was given")

    monkeypatch.setattr(tiny_bundle.parsing, "forward", no_parse)
    seen: list[str] = []
    result = Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask, parsing=parsing),
                                        progress=lambda stage, f: seen.append(stage))
    assert "parsing" not in seen
    np.testing.assert_array_equal(result.parsing, parsing)


def test_edited_parsing_changes_the_fill(tiny_bundle, portrait):
    mask = _box_mask(portrait.shape[:2], (30, 40, 70, 80))
    completer = Completer(tiny_bundle)
    a = completer.run(CompletionRequest(image=portrait, mask=mask, parsing=np.full(mask.shape, 5, np.uint8)))
    b = completer.run(CompletionRequest(image=portrait, mask=mask, parsing=np.full(mask.shape, 13, np.uint8)))
    assert not np.array_equal(a.image[mask], b.image[mask])


def test_parsing_output_covers_the_hole(tiny_bundle, portrait):
    mask = _box_mask(portrait.shape[:2], (30, 40, 70, 80))
    result = Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask))
    assert result.parsing.shape == mask.shape and result.parsing.dtype == np.uint8
    assert (result.parsing[mask] < len(tiny_bundle.label_set)).all()


def test_cancel_between_stages(tiny_bundle, portrait):
    mask = _box_mask(portrait.shape[:2], (30, 40, 70, 80))
    seen: list[str] = []
    with pytest.raises(Cancelled):
        Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask),
                                   progress=lambda stage, f: seen.append(stage),
                                   is_cancelled=lambda: "parsing" in seen)
    assert "completion" not in seen


def test_border_hole_uses_extrapolation_weights(tiny_bundle, portrait, monkeypatch):
    calls: list[str] = []
    for role in ("completion", "extrapolation"):
        net = getattr(tiny_bundle, role)
        original = net.forward
        monkeypatch.setattr(net, "forward", lambda *a, _o=original, _r=role, **k: calls.append(_r) or _o(*a, **k))
    completer = Completer(tiny_bundle)
    completer.run(CompletionRequest(image=portrait, margins=Margins(0, 0, 20, 0)))
    completer.run(CompletionRequest(image=portrait, mask=_box_mask(portrait.shape[:2], (30, 40, 70, 80))))
    assert calls == ["extrapolation", "completion"]


def test_face_network_runs_only_when_hole_covers_face(tiny_bundle, portrait, monkeypatch):
    calls = []
    original = tiny_bundle.face.forward
    monkeypatch.setattr(tiny_bundle.face, "forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    face_id = tiny_bundle.label_set.id("face")
    parsing = np.zeros(portrait.shape[:2], np.uint8)
    parsing[25:65, 40:80] = face_id
    completer = Completer(tiny_bundle)
    completer.run(CompletionRequest(image=portrait, mask=_box_mask(parsing.shape, (35, 45, 55, 75)), parsing=parsing))
    assert calls == [1]
    completer.run(CompletionRequest(image=portrait, mask=_box_mask(parsing.shape, (120, 10, 140, 30)), parsing=parsing))
    completer.run(CompletionRequest(image=portrait, mask=_box_mask(parsing.shape, (35, 45, 55, 75)), parsing=parsing,
                                    use_face=False))
    assert calls == [1]


@pytest.mark.parametrize("bad", ["empty", "size", "full"])
def test_bad_requests_raise_clear_errors(tiny_bundle, portrait, bad):
    mask = {"empty": np.zeros(portrait.shape[:2], bool),
            "size": np.ones((10, 10), bool),
            "full": np.ones(portrait.shape[:2], bool)}[bad]
    with pytest.raises(ValueError, match={"empty": "nothing to fill", "size": "mask is 10x10",
                                          "full": "whole image"}[bad]):
        Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask))


def test_large_photo_is_processed_on_crops(tiny_bundle):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (1500, 2000, 3), dtype=np.uint8)
    mask = _box_mask(image.shape[:2], (700, 900, 956, 1156))
    torch.manual_seed(0)
    result = Completer(tiny_bundle, max_work_side=256).run(CompletionRequest(image=image, mask=mask))
    (region,) = result.regions
    assert max(region.work_size) <= 256
    far = _far_from(mask, BAND)
    np.testing.assert_array_equal(result.image[far], image[far])
