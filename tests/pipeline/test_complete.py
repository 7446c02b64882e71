"""End-to-end pipeline tests with tiny random-weight networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from portrait_editor.labels import UNKNOWN
from portrait_editor.pipeline import Cancelled, Completer, CompletionRequest, Margins
from portrait_editor.pipeline.regions import Box, from_work

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
    result = Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask, use_detail=True))
    assert result.image.shape == portrait.shape and result.image.dtype == np.uint8
    far = _far_from(mask, BAND)
    np.testing.assert_array_equal(result.image[far], portrait[far])
    assert np.abs(result.image[mask].astype(int) - portrait[mask]).mean() > 1  # something was synthesized
    assert set(result.timings) >= {"parsing", "completion", "face", "detail", "blending", "total"}


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

    # Wide enough that the crops (at least 128 px at the person's working scale) stay apart.
    portrait = cv2.resize(portrait, (1440, 480))
    boxes = [(10, 10, 40, 40), (400, 1380, 450, 1430), (200, 700, 230, 750)]
    mask = _box_mask(portrait.shape[:2], *boxes)
    seen: list[str] = []
    result = Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask, use_detail=True),
                                        progress=lambda stage, f: seen.append(stage))
    assert len(result.regions) == 3
    for y0, x0, y1, x1 in boxes:
        assert not np.array_equal(result.image[y0:y1, x0:x1], portrait[y0:y1, x0:x1])
    order = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert order == ["parsing", "completion", "face", "detail", "blending"]


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
    # A stroke that reaches the photo's edge is an occluder, not an extrapolation.
    completer.run(CompletionRequest(image=portrait, mask=_box_mask(portrait.shape[:2], (0, 40, 30, 80))))
    assert calls == ["extrapolation", "completion", "completion"]


def test_bands_that_continue_legs_go_to_the_body_extrapolation_network(tiny_bundle, portrait, monkeypatch):
    """With both margins networks, a band whose labels carry legs or shoes goes to the one trained
    on full-length photos, any other band to the general one; a user's map decides the same way."""
    import copy

    monkeypatch.setattr(tiny_bundle, "extrapolation_body", copy.deepcopy(tiny_bundle.extrapolation))
    calls: list[str] = []
    for role in ("completion", "extrapolation", "extrapolation_body"):
        net = getattr(tiny_bundle, role)
        original = net.forward
        monkeypatch.setattr(net, "forward", lambda *a, _o=original, _r=role, **k: calls.append(_r) or _o(*a, **k))
    labels = tiny_bundle.label_set
    h, w = portrait.shape[:2]
    completer = Completer(tiny_bundle)
    for below in ("left-leg", "right-shoe", "upper-clothes", "background"):
        parsing = np.full((h + 30, w), labels.id("background"), np.uint8)
        parsing[80:, 20:100] = labels.id("upper-clothes")
        parsing[h:, 30:50] = labels.id(below)
        completer.run(CompletionRequest(image=portrait, margins=Margins(0, 0, 30, 0), parsing=parsing))
    assert calls == ["extrapolation_body", "extrapolation_body", "extrapolation", "extrapolation"]


@pytest.mark.parametrize("ground", [200, 40])
def test_a_body_band_takes_the_ground_from_the_network_whose_ground_matches_the_photo(tiny_bundle, monkeypatch,
                                                                                     ground):
    """Under full-length legs the body network fills the legs and shoes; the general margins
    network fills the floor around them when its floor's colour is nearer the photo's (the body
    network, trained on CCP's streets alone, drew a wooden floor as grey pavement)."""
    import copy

    from portrait_editor.pipeline import complete

    monkeypatch.setattr(tiny_bundle, "extrapolation_body", copy.deepcopy(tiny_bundle.extrapolation))
    monkeypatch.setattr(tiny_bundle.extrapolation_body, "forward", lambda x, *a: torch.full_like(x, -1.0))
    monkeypatch.setattr(tiny_bundle.extrapolation, "forward", lambda x, *a: torch.full_like(x, 1.0))
    labels = tiny_bundle.label_set
    h, w = 160, 120
    photo = np.full((h, w, 3), ground, np.uint8)
    photo[80:, 20:100] = (40, 60, 150)
    parsing = np.full((h + 40, w), labels.id("background"), np.uint8)
    parsing[80:h, 20:100] = labels.id("upper-clothes")
    parsing[h - 20:, 30:60] = labels.id("left-leg")
    request = CompletionRequest(image=photo, margins=Margins(0, 0, 40, 0), parsing=parsing, blend=False,
                                use_detail=False)  # the networks' own fills
    band = Completer(tiny_bundle).run(request).image[h + 5:h + 35]
    assert band[:, 38:52].max() < 30  # inside the leg: the body network (black)
    if ground == 200:  # a light floor: the general network's (white) is nearer
        assert band[:, 75:].min() > 225
    else:  # a dark floor: the body network's (black) is nearer and fills the band
        assert band.max() < 30
    monkeypatch.setattr(complete, "BODY_BAND_SCENE_MARGIN", 0.0)  # off: the body network fills it all
    assert Completer(tiny_bundle).run(request).image[h + 5:h + 35].max() < 30


def test_body_weight_covers_the_person_inside_its_outline():
    from portrait_editor.labels import LIP_NECK as labels
    from portrait_editor.pipeline.structure import body_weight

    parsing = np.full((60, 80), labels.id("background"), np.uint8)
    parsing[10:50, 20:40] = labels.id("pants")
    parsing[10:50, 60:75] = UNKNOWN  # unsure is not the person
    weight = body_weight(parsing, labels, 2)
    assert weight.dtype == np.float32 and weight.shape == parsing.shape
    assert weight[20:40, 27:33].min() > 0.99 and weight[:, 50:].max() < 0.01 and weight[:, :12].max() < 0.01
    assert 0.05 < weight[30, 20] < 0.95  # the outline is shared
    assert not body_weight(np.full((60, 80), UNKNOWN, np.uint8), labels, 2).any()


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


def test_face_network_works_at_the_crop_size_it_was_trained_for(tiny_bundle, monkeypatch):
    """F trained on close-ups at 128 px (``crop_size`` in its config) gets 128 x 128 windows; a
    smaller window is enlarged to it, a larger one shrunk."""
    sizes = []
    original = tiny_bundle.face.forward
    monkeypatch.setattr(tiny_bundle.face, "forward", lambda x, *a: sizes.append(x.shape[-2:]) or original(x, *a))
    import dataclasses

    monkeypatch.setattr(tiny_bundle.face, "config", dataclasses.replace(tiny_bundle.face.config, crop_size=48))
    image = np.random.default_rng(0).integers(0, 255, (400, 300, 3), dtype=np.uint8)
    for face_box, hole_box in (((100, 100, 140, 140), (110, 110, 130, 130)),
                               ((60, 40, 300, 260), (120, 100, 200, 180))):
        parsing = np.zeros((400, 300), np.uint8)
        parsing[face_box[0]:face_box[2], face_box[1]:face_box[3]] = tiny_bundle.label_set.id("face")
        Completer(tiny_bundle).run(CompletionRequest(image=image, mask=_box_mask((400, 300), hole_box), parsing=parsing))
    assert [tuple(s) for s in sizes] == [(48, 48), (48, 48)]


def test_remove_checkerboard_removes_the_2px_period_and_keeps_smooth_structure():
    from portrait_editor.pipeline.complete import remove_checkerboard

    yy, xx = torch.meshgrid(torch.arange(40.0), torch.arange(48.0), indexing="ij")
    smooth = torch.sin(xx / 7) + 0.02 * yy
    checker = ((yy + xx) % 2) * 2 - 1
    for taps in (3, 5):
        out = remove_checkerboard((smooth + 0.5 * checker)[None, None].expand(1, 3, 40, 48), taps)
        assert out.shape == (1, 3, 40, 48)
        inner = (slice(None), slice(None), slice(3, -3), slice(3, -3))
        assert (out - smooth)[inner].abs().max() < 0.02  # the checkerboard is gone, the sine kept
    with pytest.raises(ValueError, match="odd"):
        remove_checkerboard(smooth[None, None], 4)


def _refined_difference(tiny_bundle, monkeypatch, residual_checker: float, upsample: str = "deconv") -> np.ndarray:
    """The hole of a large face (window 4x F's crop size) with F returning a flat residual plus a
    2-px checkerboard, minus the same run without F (no blending)."""
    import dataclasses

    monkeypatch.setattr(tiny_bundle.face, "config", dataclasses.replace(tiny_bundle.face.config, crop_size=32,
                                                                         upsample=upsample))

    def fake_face(x, *a):
        yy, xx = torch.meshgrid(torch.arange(x.shape[-2]), torch.arange(x.shape[-1]), indexing="ij")
        return (0.2 + residual_checker * (((yy + xx) % 2) * 2 - 1).float()).expand_as(x)

    monkeypatch.setattr(tiny_bundle.face, "forward", fake_face)
    image = np.full((300, 300, 3), 100, np.uint8)
    parsing = np.zeros((300, 300), np.uint8)
    parsing[60:240, 60:240] = tiny_bundle.label_set.id("face")
    mask = _box_mask((300, 300), (110, 110, 190, 190))
    completer = Completer(tiny_bundle)
    with_f, without_f = (completer.run(CompletionRequest(image=image, mask=mask, parsing=parsing, blend=False,
                                                         use_face=use)).image for use in (True, False))
    return with_f[120:180, 120:180].astype(float) - without_f[120:180, 120:180]


def test_a_face_residual_is_enlarged_smoothly_without_its_checkerboard(tiny_bundle, monkeypatch):
    """F works at 32 px on a 250-px window: its residual is enlarged smoothly (it was enlarged with
    INTER_AREA, nearest-like, into blocks) and its transposed convolutions' 2-px checkerboard is
    filtered out first, so the hole gets the flat residual (0.2 x 127.5) and no grid."""
    diff = _refined_difference(tiny_bundle, monkeypatch, 0.1)
    assert abs(diff.mean() - 0.2 * 127.5) < 1.5
    assert diff.std() < 1.0
    from portrait_editor.pipeline import complete

    # an F without transposed convolutions is not filtered: a checkerboard it drew would show
    assert _refined_difference(tiny_bundle, monkeypatch, 0.1, upsample="resize").std() > 3
    monkeypatch.setattr(complete, "FACE_RESIDUAL_TAPS", 0)  # unfiltered, the grid shows at the window's scale
    assert _refined_difference(tiny_bundle, monkeypatch, 0.1).std() > 3


def test_a_deconv_generators_output_loses_its_checkerboard(tiny_bundle, portrait, monkeypatch):
    import dataclasses

    from portrait_editor.pipeline import complete

    net = tiny_bundle.completion
    def checkered(x, *a):
        yy, xx = torch.meshgrid(torch.arange(x.shape[-2]), torch.arange(x.shape[-1]), indexing="ij")
        return (0.5 * (((yy + xx) % 2) * 2 - 1).float()).expand_as(x)

    monkeypatch.setattr(net, "forward", checkered)
    mask = _box_mask(portrait.shape[:2], (40, 30, 100, 90))
    spreads = {}
    for upsample in ("resize", "deconv"):
        monkeypatch.setattr(net, "config", dataclasses.replace(net.config, upsample=upsample))
        out = Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask, blend=False, use_face=False))
        spreads[upsample] = out.image[50:90, 40:80].astype(float).std()
    # enlarged from G's working scale, a resize G's checkerboard still shows; a deconv G's is gone
    assert spreads["deconv"] < 0.2 * spreads["resize"]
    monkeypatch.setattr(complete, "DECONV_OUTPUT_TAPS", 0)
    out = Completer(tiny_bundle).run(CompletionRequest(image=portrait, mask=mask, blend=False, use_face=False))
    assert out.image[50:90, 40:80].astype(float).std() == pytest.approx(spreads["resize"])


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


def test_person_box_ignores_stray_pixels():
    from portrait_editor.pipeline.complete import person_box

    labels = np.zeros((400, 300), np.uint8)
    labels[100:300, 120:180] = 5
    labels[5, 5] = 2  # a stray pixel far away
    labels[350:360, 10:20] = UNKNOWN  # unknown is not person
    box = person_box(labels)
    assert (box.y0, box.x0, box.y1, box.x1) == pytest.approx((100, 120, 300, 180), abs=2)
    assert person_box(np.zeros((100, 100), np.uint8)) is None


def test_crops_are_scaled_to_the_person_size_the_networks_were_trained_on(tiny_bundle, monkeypatch):
    image = np.full((900, 600, 3), 128, np.uint8)
    parsing = np.zeros((900, 600), np.uint8)
    parsing[100:700, 200:400] = 5  # a person 600 px tall
    mask = _box_mask(parsing.shape, (300, 250, 400, 330))  # big enough that its 16 px floor does not bind
    monkeypatch.setitem(tiny_bundle.metadata, "completion", {"train_size": [128, 96]})
    result = Completer(tiny_bundle).run(CompletionRequest(image=image, mask=mask, parsing=parsing))
    (region,) = result.regions
    assert region.scale == pytest.approx(0.95 * 128 / 600, rel=0.02)
    monkeypatch.setitem(tiny_bundle.metadata, "completion", {"train_size": [256, 192]})
    (region,) = Completer(tiny_bundle).run(CompletionRequest(image=image, mask=mask, parsing=parsing)).regions
    assert region.scale == pytest.approx(0.95 * 256 / 600, rel=0.02)


def test_a_small_person_is_parsed_again_at_the_networks_scale(tiny_bundle, monkeypatch):
    """Stage I first sees the whole canvas at P's training size; a person far smaller than P
    expects is parsed again in a view around them, scaled so they are as tall as in training."""
    from portrait_editor.models import ParsingOutput
    from portrait_editor.pipeline.complete import PERSON_FILL

    classes = len(tiny_bundle.label_set)
    views = []

    def fake_parse(x, m):
        # A "person" (class 5) in the middle tenth of the width and rows 40-60 % of any view.
        _, _, h, w = x.shape
        logits = torch.zeros(1, classes, h, w)
        logits[:, 0] = 1
        logits[:, 5, int(0.4 * h):int(0.6 * h), int(0.45 * w):int(0.55 * w)] = 2
        views.append((h, w))
        return ParsingOutput(logits, torch.zeros(1, 1, 1, 1), logits)

    monkeypatch.setattr(tiny_bundle.parsing, "forward", fake_parse)
    monkeypatch.setitem(tiny_bundle.metadata, "parsing", {"train_size": [256, 192]})
    image = np.full((2000, 1500, 3), 100, np.uint8)
    mask = _box_mask(image.shape[:2], (950, 700, 1000, 760))
    result = Completer(tiny_bundle).run(CompletionRequest(image=image, mask=mask))
    assert len(views) == 2
    frame_h, frame_w = views[0]
    assert frame_h * frame_w == pytest.approx(256 * 192, rel=0.1)  # the whole canvas at P's size
    # The person is 400 canvas px tall: the second view scales it to PERSON_FILL * 256 px.
    person_h = 400
    scale = views[1][0] / (person_h + 2 * 0.15 * person_h)  # the view holds the person and its margin
    assert scale == pytest.approx(PERSON_FILL * 256 / person_h, rel=0.1)
    assert result.parsing[1000, 750] == 5  # the second view, pasted over the first


def test_border_holes_are_scaled_by_the_canvas_fitted_to_the_training_size(tiny_bundle, monkeypatch):
    """Extrapolation: the grown canvas is the frame the whole person should fill, as in training."""
    monkeypatch.setitem(tiny_bundle.metadata, "extrapolation", {"train_size": [192, 128]})
    image = np.full((800, 600, 3), 120, np.uint8)
    parsing = np.zeros((800 + 200, 600), np.uint8)
    parsing[50:700, 200:400] = 5
    result = Completer(tiny_bundle).run(CompletionRequest(image=image, margins=Margins(0, 0, 200, 0),
                                                          parsing=parsing))
    (region,) = result.regions
    assert region.touches_border and region.outward
    assert region.scale == pytest.approx(min(192 / 1000, 128 / 600), rel=0.02)


def test_a_margins_network_trained_on_crops_sees_the_canvas_at_its_own_factor(tiny_bundle, monkeypatch):
    """An extrapolation network trained on crops ("crop" framing) gets the grown canvas fitted
    to CROP_OUTWARD_FACTOR x its training size."""
    from portrait_editor.pipeline import complete

    monkeypatch.setitem(tiny_bundle.metadata, "extrapolation",
                        {"training": {"resolved": {"framing": "crop", "size": [192, 128]}}})
    monkeypatch.setattr(complete, "CROP_OUTWARD_FACTOR", 1.5)
    image = np.full((800, 600, 3), 120, np.uint8)
    result = Completer(tiny_bundle).run(CompletionRequest(image=image, margins=Margins(0, 0, 200, 0)))
    (region,) = result.regions
    assert region.outward
    assert region.scale == pytest.approx(min(1.5 * 192 / 1000, 1.5 * 128 / 600), rel=0.02)


@pytest.mark.parametrize("turns", [True, False])
def test_a_landscape_canvas_is_fitted_to_the_crop_size_turned_landscape(tiny_bundle, monkeypatch, turns):
    """A margins network trained on upright crops sees a landscape canvas fitted to its training
    size turned on its side (192x128 -> 128x192), not squeezed into the upright one."""
    from portrait_editor.pipeline import complete

    monkeypatch.setitem(tiny_bundle.metadata, "extrapolation",
                        {"training": {"resolved": {"framing": "crop", "size": [192, 128]}}})
    monkeypatch.setattr(complete, "OUTWARD_TURNS", turns)
    image = np.full((500, 900, 3), 120, np.uint8)
    result = Completer(tiny_bundle).run(CompletionRequest(image=image, margins=Margins(100, 0, 0, 0)))
    (region,) = result.regions
    fitted = min(128 / 600, 192 / 900) if turns else min(192 / 600, 128 / 900)
    assert region.outward and region.scale == pytest.approx(fitted, rel=0.02)


def test_unsure_labels_beyond_the_border_are_left_to_the_network(tiny_bundle, monkeypatch):
    """With an extrapolation network trained on unknown labels in its holes, P's low-confidence
    labels in a border hole become UNKNOWN; confident ones and labels inside the photo stay."""
    from portrait_editor.models import ParsingOutput
    from portrait_editor.pipeline.complete import BORDER_MIN_CONFIDENCE

    classes = len(tiny_bundle.label_set)

    def fake_parse(x, m):
        _, _, h, w = x.shape
        logits = torch.zeros(1, classes, h, w)
        logits[:, 5] = 10.0  # sure: a "person" everywhere...
        logits[:, 5, :, : w // 2] = 0.0  # ...except in the left half, where all classes tie
        return ParsingOutput(logits, torch.zeros(1, 1, 1, 1), logits)

    monkeypatch.setattr(tiny_bundle.parsing, "forward", fake_parse)
    monkeypatch.setitem(tiny_bundle.metadata, "extrapolation",
                        {"training": {"resolved": {"unknown_in_hole": 0.5}}})
    completer = Completer(tiny_bundle)
    assert completer.border_min_confidence == BORDER_MIN_CONFIDENCE
    image = np.full((200, 160, 3), 100, np.uint8)
    request = CompletionRequest(image=image, margins=Margins(0, 0, 40, 0))
    result = completer.run(request)
    assert (result.parsing[200:] == UNKNOWN).all()  # the default: no guess of P beyond the border
    assert (result.parsing[:150] != UNKNOWN).all()  # outside the hole P's labels stay as they are
    completer.border_min_confidence = 0.97
    band = completer.run(request).parsing[200:]
    assert (band[:, :60] == UNKNOWN).all() and (band[:, 100:] == 5).all()  # only the unsure ones

    monkeypatch.setitem(tiny_bundle.metadata, "extrapolation", {})
    assert Completer(tiny_bundle).border_min_confidence == 0.0  # the paper's G: always P's labels


def test_a_g_trained_on_crops_works_at_the_photos_scale(tiny_bundle, monkeypatch):
    """A G trained on crops at random zoom gets each hole with its context at the photo's own
    scale (no person-height scaling), shrunk only to fit twice its training side."""
    from portrait_editor.pipeline.complete import CROP_WORK_FACTOR

    image = np.full((900, 600, 3), 128, np.uint8)
    parsing = np.zeros((900, 600), np.uint8)
    parsing[100:700, 200:400] = 5  # a person 600 px tall: "fit" framing would shrink to ~0.2
    crop_trained = {"training": {"resolved": {"framing": "crop", "size": [96, 96]}}}
    monkeypatch.setitem(tiny_bundle.metadata, "completion", crop_trained)
    assert tiny_bundle.trained_framing("completion") == "crop"
    small = _box_mask(parsing.shape, (300, 250, 340, 290))  # 40 px hole: a 120 px crop, kept as it is
    (region,) = Completer(tiny_bundle).run(CompletionRequest(image=image, mask=small, parsing=parsing)).regions
    assert region.scale == 1.0 and region.crop.height == 120
    big = _box_mask(parsing.shape, (300, 250, 400, 330))  # a 300 px crop is shrunk to 2 x 96
    (region,) = Completer(tiny_bundle).run(CompletionRequest(image=image, mask=big, parsing=parsing)).regions
    assert max(region.work_size) <= CROP_WORK_FACTOR * 96
    assert region.scale == pytest.approx(CROP_WORK_FACTOR * 96 / 300, rel=0.05)
    monkeypatch.setitem(tiny_bundle.metadata, "completion", {"training": {"resolved": {"framing": "odd"}}})
    assert tiny_bundle.trained_framing("completion") == "fit"


def test_a_p_trained_on_crops_parses_the_canvas_and_then_each_holes_crop(tiny_bundle, monkeypatch):
    """A P trained on crops at random zoom: one view of the whole canvas shrunk to twice its
    training side, then each hole's crop again at the crop's own (finer) scale, whose labels are
    the ones written into the map there; its labels beyond the border are kept."""
    from portrait_editor.pipeline.complete import CROP_BORDER_MIN_CONFIDENCE, CROP_WORK_FACTOR

    crop_trained = {"training": {"resolved": {"framing": "crop", "size": [96, 96]}}}
    monkeypatch.setitem(tiny_bundle.metadata, "parsing", crop_trained)
    monkeypatch.setitem(tiny_bundle.metadata, "completion", crop_trained)
    completer = Completer(tiny_bundle)
    assert completer.border_min_confidence == CROP_BORDER_MIN_CONFIDENCE
    monkeypatch.setitem(tiny_bundle.metadata, "parsing", {**crop_trained, "border_min_confidence": 0.6})
    assert Completer(tiny_bundle).border_min_confidence == 0.6  # the gate measured for these weights
    monkeypatch.setitem(tiny_bundle.metadata, "parsing", crop_trained)
    views = []
    parse_view = completer._parse_view
    monkeypatch.setattr(completer, "_parse_view", lambda *a: views.append(parse_view(*a)) or views[-1])
    image = np.random.default_rng(0).integers(0, 255, (900, 600, 3), dtype=np.uint8)
    hole = _box_mask((900, 600), (300, 250, 340, 290))
    result = completer.run(CompletionRequest(image=image, mask=hole))
    (region,) = result.regions
    assert len(views) == 2
    whole, local = views
    assert whole.box == Box(0, 0, 900, 600)
    assert whole.scale_y == pytest.approx(CROP_WORK_FACTOR * 96 / 900, rel=0.05)
    assert local.box == region.crop and local.scale_y == pytest.approx(region.scale, rel=0.05)
    assert np.array_equal(result.parsing[region.crop_slices()],
                          from_work(local.sample(region), region, nearest=True))


def test_shoes_are_drawn_into_a_bottom_margin_by_the_body_prior(tiny_bundle, monkeypatch):
    """Stage I finds a head and legs reaching the photo's edge; the grown canvas below gets legs
    and shoes (structure.extend_below) unless the prior is off."""
    from portrait_editor.models import ParsingOutput
    from portrait_editor.pipeline import complete as C

    classes = len(tiny_bundle.label_set)
    ids = tiny_bundle.label_set.id

    def fake_parse(x, m):
        _, _, h, w = x.shape
        logits = torch.zeros(1, classes, h, w)
        logits[:, 0] = 1
        photo_h = int(h * 400 / 700)  # the photo's rows of the canvas view
        logits[:, ids("face"), : int(0.18 * photo_h), int(0.4 * w):int(0.6 * w)] = 3  # feet at 7.5 heads: below
        logits[:, ids("pants"), int(0.5 * photo_h):photo_h, int(0.35 * w):int(0.65 * w)] = 3
        return ParsingOutput(logits, torch.zeros(1, 1, 1, 1), logits)

    monkeypatch.setattr(tiny_bundle.parsing, "forward", fake_parse)
    monkeypatch.setattr(C, "BORDER_MIN_CONFIDENCE", float("inf"))
    image = np.full((400, 200, 3), 120, np.uint8)
    completer = Completer(tiny_bundle)
    completer.border_min_confidence = float("inf")  # P's labels beyond the border are unknown
    result = completer.run(CompletionRequest(image=image, margins=Margins(0, 0, 300, 0)))
    below = result.parsing[400:]
    assert np.isin(below, [ids("left-shoe"), ids("right-shoe")]).any() and (below == ids("pants")).any()
    completer.body_prior = False
    without = completer.run(CompletionRequest(image=image, margins=Margins(0, 0, 300, 0))).parsing[400:]
    assert not np.isin(without, [ids("left-shoe"), ids("right-shoe")]).any()


def test_a_band_below_the_photo_takes_the_colours_of_the_photos_bottom_rows():
    """``diffuse_into_margin``: under an orange and a blue half, a grey fill becomes orange and
    blue, its own pattern kept; hole pixels inside the photo and every known pixel stay as they were."""
    from portrait_editor.pipeline.complete import diffuse_into_margin
    from portrait_editor.pipeline.regions import Region

    h, w, bottom = 120, 160, 80
    image = np.zeros((h, w, 3), np.uint8)
    image[:bottom, : w // 2] = (230, 120, 30)
    image[:bottom, w // 2:] = (30, 60, 220)
    hole = np.zeros((h, w), bool)
    hole[bottom:] = True
    hole[20:40, 20:40] = True  # a hole inside the photo
    fill = image.copy()
    stripes = np.where((np.arange(w) // 4) % 2 == 0, 110, 150).astype(np.uint8)  # the network's pattern
    fill[hole] = 128
    fill[bottom:] = stripes[None, :, None]
    region = Region(hole=Box(0, 0, h, w), crop=Box(0, 0, h, w), scale=0.5, work_size=(64, 80), touches_border=True,
                    image_size=(h, w), outward=True)
    before = fill.copy()
    beyond = np.zeros((h, w), bool)
    beyond[bottom:] = True
    diffuse_into_margin(image, fill, hole, region, beyond, share=1.0)
    np.testing.assert_array_equal(fill[:bottom], before[:bottom])
    band = fill[bottom + 10:, :].astype(float)
    left, right = band[:, 10: w // 2 - 20].mean((0, 1)), band[:, w // 2 + 20: w - 10].mean((0, 1))
    assert np.abs(left - (230, 120, 30)).max() < 25 and np.abs(right - (30, 60, 220)).max() < 25
    # the stripes (finer than the network's resolution) are still there
    row = fill[bottom + 20, 10: w // 2 - 20, 0].astype(float)
    assert row.max() - row.min() > 25
    half = before.copy()
    diffuse_into_margin(image, half, hole, region, beyond, share=0.5)
    mid = half[bottom + 10:, 10: w // 2 - 20].astype(float).mean((0, 1))
    assert np.all(np.abs(mid - (np.array((230, 120, 30)) + 130) / 2) < 25)


def test_the_neck_ends_below_the_photo_only_in_stage_is_labels(tiny_bundle, portrait, monkeypatch):
    """``structure.end_neck_below`` runs on stage I's map when the canvas grows at the bottom; a
    map the user painted is used as it is."""
    import portrait_editor.pipeline.complete as complete

    calls = []
    real = complete.end_neck_below
    monkeypatch.setattr(complete, "end_neck_below", lambda p, b, ls: calls.append(b) or real(p, b, ls))
    completer = Completer(tiny_bundle)
    h, w = portrait.shape[:2]
    completer.run(CompletionRequest(image=portrait, margins=Margins(0, 0, 30, 0)))
    assert calls == [h]
    completer.run(CompletionRequest(image=portrait, margins=Margins(20, 16, 0, 0)))
    assert calls == [h]
    parsing = np.full((h + 30, w), tiny_bundle.label_set.id("background"), np.uint8)
    completer.run(CompletionRequest(image=portrait, margins=Margins(0, 0, 30, 0), parsing=parsing))
    assert calls == [h]


def test_a_class_in_the_band_takes_its_colours_from_that_class_in_the_photo():
    """With ``classes``, the band under a neck labelled as the top takes the top's blue, not the
    neck's skin; unknown pixels (-1) still take what is above them."""
    from portrait_editor.pipeline.complete import diffuse_into_margin
    from portrait_editor.pipeline.regions import Region

    h, w, bottom = 120, 160, 80
    image = np.zeros((h, w, 3), np.uint8)
    image[:bottom] = (40, 60, 200)  # a blue top
    image[:bottom, 60:100] = (230, 170, 140)  # a neck down to the edge
    classes = np.full((h, w), 5, np.int16)  # the top's class
    classes[:bottom, 60:100] = 1000  # skin
    classes[bottom:, 140:] = -1
    hole = np.zeros((h, w), bool)
    hole[bottom:] = True
    region = Region(hole=Box(0, 0, h, w), crop=Box(0, 0, h, w), scale=0.5, work_size=(64, 80), touches_border=True,
                    image_size=(h, w), outward=True)
    beyond = hole.copy()
    fill = image.copy()
    fill[hole] = 128
    plain = fill.copy()
    diffuse_into_margin(image, plain, hole, region, beyond, share=1.0)
    diffuse_into_margin(image, fill, hole, region, beyond, share=1.0, classes=classes)
    under_neck = (slice(bottom + 10, h), slice(70, 90))
    assert np.abs(plain[under_neck].astype(float).mean((0, 1)) - (230, 170, 140)).max() < 30
    assert np.abs(fill[under_neck].astype(float).mean((0, 1)) - (40, 60, 200)).max() < 30
    assert np.abs(fill[bottom:, 150:].astype(int) - plain[bottom:, 150:]).max() <= 2
    np.testing.assert_array_equal(fill[:bottom], image[:bottom])


def test_bands_below_and_beside_the_photo_take_its_colours_unless_the_user_painted_the_labels(tiny_bundle, portrait,
                                                                                              monkeypatch):
    """The photo's colours go on into the bottom and side margins when stage I labelled them,
    never into the top one; with the user's labels the networks' fill is left as it is (those
    labels say what goes there)."""
    import portrait_editor.pipeline.complete as complete

    calls = []
    monkeypatch.setattr(complete, "diffuse_into_margin", lambda *a, **k: calls.append(np.count_nonzero(a[4])))
    completer = Completer(tiny_bundle)
    h, w = portrait.shape[:2]
    completer.run(CompletionRequest(image=portrait, margins=Margins(0, 0, 30, 0)))
    assert calls == [30 * w]
    completer.run(CompletionRequest(image=portrait, margins=Margins(20, 0, 0, 0)))  # above: never
    assert calls == [30 * w]
    completer.run(CompletionRequest(image=portrait, margins=Margins(20, 0, 0, 16)))  # beside: the side band
    assert calls == [30 * w, 16 * (h + 20)]
    parsing = np.full((h + 30, w), tiny_bundle.label_set.id("background"), np.uint8)
    completer.run(CompletionRequest(image=portrait, margins=Margins(0, 0, 30, 0), parsing=parsing))
    assert len(calls) == 2


def _band_below(h: int, w: int, bottom: int):
    """A canvas of ``h`` x ``w`` whose rows from ``bottom`` on were grown below the photo: the hole
    and the crop the networks work on at the photo's own resolution."""
    from portrait_editor.pipeline.regions import Region

    hole = np.zeros((h, w), bool)
    hole[bottom:] = True
    return hole, Region(hole=Box(0, 0, h, w), crop=Box(0, 0, h, w), scale=1.0, work_size=(h, w),
                        touches_border=True, image_size=(h, w), outward=True)


def test_a_person_class_in_the_band_takes_more_of_its_colours_and_none_from_its_outline(monkeypatch):
    """The top's band pixels take their colours from the top's own pixels, not from the pink rows
    where the photo blends the neck into the top at its outline; with ``person_share`` they take
    more of them than the background does."""
    import portrait_editor.pipeline.complete as complete
    from portrait_editor.pipeline.complete import diffuse_into_margin

    h, w, bottom = 120, 160, 80
    image = np.zeros((h, w, 3), np.uint8)
    image[:bottom] = (235, 235, 235)  # a white top
    image[:bottom - 2, 60:100] = (225, 160, 140)  # a neck, ending just above the edge
    image[bottom - 2:bottom, 60:100] = (230, 190, 180)  # the blend at the top's outline, labelled top
    image[:bottom, :20] = (40, 90, 40)  # a green background at the left
    classes = np.full((h, w), 5, np.int16)  # the top's class
    classes[:bottom - 2, 60:100] = 1000  # skin
    classes[:, :20] = 0  # background
    hole, region = _band_below(h, w, bottom)
    fill = image.copy()
    fill[hole] = 128
    fill[bottom:, 60:100] = (200, 150, 130)  # the network paints the top under the neck pink
    under_neck = (slice(bottom + 8, h), slice(70, 90))
    ground = (slice(bottom + 8, h), slice(2, 12))

    def run(**kw) -> np.ndarray:
        out = fill.copy()
        diffuse_into_margin(image, out, hole, region, hole, classes=classes, **kw)
        return out

    assert np.abs(run(share=1.0)[under_neck].astype(float).mean((0, 1)) - 235).max() < 12  # white
    monkeypatch.setattr(complete, "MARGIN_CLASS_OUTLINE", 0)
    assert np.abs(run(share=1.0)[under_neck].astype(float).mean((0, 1)) - 235).max() > 20  # the outline's pink
    monkeypatch.undo()
    out = run(share=0.5, background=0, person_share=0.9)
    plain = run(share=0.5, background=0)
    # the top goes 0.9 of the way to white, not 0.5; the background keeps 0.5 either way
    pink = np.array((200, 150, 130))
    assert np.abs(out[under_neck].astype(float).mean((0, 1)) - (pink + 0.9 * (235 - pink))).max() < 8
    assert np.abs(plain[under_neck].astype(float).mean((0, 1)) - (pink + 0.5 * (235 - pink))).max() < 8
    np.testing.assert_array_equal(out[ground], plain[ground])
    np.testing.assert_array_equal(out[:bottom], image[:bottom])


def test_a_band_under_a_photo_a_few_pixels_wide_is_filled():
    """A crop narrower than the diffusion's least size (8 px) is enlarged for it, not mismatched
    against its hole (OpenCV raised on a 2 x 2 photo grown by 5 px)."""
    from portrait_editor.pipeline.complete import diffuse_into_margin

    h, w, bottom = 7, 2, 2
    image = np.zeros((h, w, 3), np.uint8)
    image[:bottom] = (200, 40, 40)
    hole, region = _band_below(h, w, bottom)
    fill = image.copy()
    fill[hole] = 128
    diffuse_into_margin(image, fill, hole, region, hole, share=1.0)
    assert np.abs(fill[bottom:].astype(float).mean((0, 1)) - (200, 40, 40)).max() < 30
