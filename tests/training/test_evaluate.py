"""training/evaluate.py with tiny random-weight networks on a few validation images."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from portrait_editor.pipeline.regions import expand_canvas
from training import evaluate
from training.evaluate import (
    COMPLETION_COLUMNS,
    DEEP,
    DEEP_GT,
    NS,
    PARSING_COLUMNS,
    TELEA,
    contact_sheet,
    evaluate_completion,
    evaluate_parsing,
    extrapolation_input,
    sheet_size,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "viton").is_dir() or not (DATA / "ccp").is_dir(),
                                reason="../shared/data is not available")


def _photo(h=100, w=60) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("side,fraction,depth", [("bottom", 0.2, 20), ("top", 0.08, 8), ("left", 0.1, 6),
                                                 ("right", 0.1, 6)])
def test_extrapolation_input_grows_back_to_the_photo(side, fraction, depth):
    photo = _photo()
    cropped, margins, band = extrapolation_input(photo, side, fraction)
    assert getattr(margins, side) == depth and sum(margins) == depth
    canvas, hole = expand_canvas(cropped, None, margins)
    assert canvas.shape == photo.shape
    np.testing.assert_array_equal(hole, band)  # the band is the hole
    assert hole.sum() == depth * (photo.shape[1] if side in ("top", "bottom") else photo.shape[0])
    np.testing.assert_array_equal(canvas[~hole], photo[~hole])  # the rest is the photo itself
    edge = {"bottom": hole[-1].all(), "top": hole[0].all(), "left": hole[:, 0].all(), "right": hole[:, -1].all()}
    assert edge[side]


def test_contact_sheet_size_and_byte_limit(tmp_path):
    rows = [[_photo(100, 60), _photo(50, 40)], [_photo(100, 80), _photo(100, 60)]]
    path = contact_sheet(rows, ["a", "b"], tmp_path / "sheet.png", cell_height=64)
    widths = [max(round(60 * 64 / 100), round(80 * 64 / 100)), max(round(40 * 64 / 50), round(60 * 64 / 100))]
    with Image.open(path) as im:
        assert im.size[::-1] == sheet_size(2, widths, 64)
    small = contact_sheet(rows, ["a", "b"], tmp_path / "small.png", cell_height=256, max_bytes=60_000)
    assert small.stat().st_size <= 60_000


def _finite_row(values: dict, columns, blank=()) -> None:
    for column in columns:
        if column in blank:
            assert values[column] is None
        else:
            assert values[column] is not None and math.isfinite(values[column]), (column, values)


@needs_data
@pytest.mark.parametrize("task", ["occlusion", "extrapolation"])
def test_evaluate_completion_table_and_sheet(tiny_weights, tmp_path, task):
    report = evaluate_completion(tiny_weights, task, data_root=DATA, limit=2, lpips=None, sheet_rows=2)
    assert report.images == 2 and report.task == task
    # occlusion also runs with the hole's labels "let the network decide", as an editor user may
    # extrapolation also runs without the body prior below the photo
    blank = [evaluate.DEEP_UNKNOWN] if task == "occlusion" else [evaluate.DEEP_NO_PRIOR]
    assert list(report.rows) == [DEEP, *blank, DEEP_GT, TELEA, NS]
    if task == "occlusion":
        assert report.per_image[evaluate.DEEP_UNKNOWN] != report.per_image[DEEP]
    assert report.columns == COMPLETION_COLUMNS
    for values in report.rows.values():
        _finite_row(values, COMPLETION_COLUMNS, blank=("LPIPS",))
    assert report.rows[TELEA]["L1 hole"] > 0

    again = evaluate_completion(tiny_weights, task, data_root=DATA, limit=2, lpips=None, gt_parsing=False,
                                sheet_rows=0)
    assert list(again.rows) == [DEEP, *blank, TELEA, NS]
    assert again.per_image[TELEA] == report.per_image[TELEA]  # same holes, same numbers
    assert again.per_image[NS] == report.per_image[NS]

    table = evaluate.format_table(report, weights=tiny_weights, command="python -m training.evaluate ...")
    assert f"`{tiny_weights}`" in table and "- images: 2" in table and "python -m training.evaluate" in table
    assert "| method | L1 hole | PSNR | SSIM | BPE | LPIPS |" in table
    assert sum(line.startswith("| ") for line in table.splitlines()) == 1 + len(report.rows)  # header + methods

    assert len(report.sheet) == 2 and all(len(r) == len(report.sheet_titles) == 6 for r in report.sheet)
    path = contact_sheet(report.sheet, report.sheet_titles, tmp_path / f"contact_{task}.png")
    h = 256
    widths = [max(round(r[c].shape[1] * h / r[c].shape[0]) for r in report.sheet) for c in range(6)]
    with Image.open(path) as im:
        assert im.size[::-1] == sheet_size(2, widths, h)
    if task == "extrapolation":
        assert report.sheet[0][4].shape[0] == evaluate.CCP_HEIGHT  # the ground truth is the full photo


@needs_data
def test_extrapolation_cases_alternate_bands():
    cases = evaluate.extrapolation_cases(DATA, limit=2)
    bottom, top = cases
    assert bottom.margins.bottom == round(0.2 * evaluate.CCP_HEIGHT) and not bottom.margins.top
    assert top.margins.top == round(0.08 * evaluate.CCP_HEIGHT) and not top.margins.bottom
    for case in cases:
        assert case.mask is None and case.target.shape[0] == evaluate.CCP_HEIGHT
        assert case.image.shape[0] + sum(case.margins) == case.target.shape[0]
        np.testing.assert_array_equal(case.canvas[~case.hole], case.target[~case.hole])


@needs_data
def test_occlusion_holes_are_seeded_by_index():
    first = evaluate.occlusion_cases(DATA, limit=2)
    again = evaluate.occlusion_cases(DATA, limit=1)
    np.testing.assert_array_equal(first[0].hole, again[0].hole)
    for case in first:
        assert case.image.shape == (256, 192, 3) and case.hole.any() and (case.hole & (case.parsing > 0)).any()


@needs_data
def test_lpips_missing_leaves_a_blank_column(tiny_weights, monkeypatch):
    import training.vgg

    monkeypatch.delenv("PORTRAIT_EDITOR_VGG16", raising=False)
    monkeypatch.setattr(training.vgg, "find_vgg16_weights", lambda: None)
    cases = evaluate.occlusion_cases(DATA, limit=1)
    report = evaluate_completion(tiny_weights, cases=cases, gt_parsing=False, sheet_rows=0)
    assert all(values["LPIPS"] is None for values in report.rows.values())
    assert any("LPIPS" in note for note in report.notes)


@needs_data
def test_evaluate_parsing(tiny_weights):
    report = evaluate_parsing(tiny_weights, data_root=DATA, limit=2, sheet_rows=2)
    assert report.columns == PARSING_COLUMNS and report.images == 4
    assert len(report.rows) == 4  # stage I and whole image, on viton and on ccp
    assert any("viton" in name for name in report.rows) and any("ccp" in name for name in report.rows)
    for values in report.rows.values():
        assert values["images"] == 2
        for column in ("mIoU image", "mIoU hole", "person IoU", "face IoU"):
            assert values[column] is None or 0.0 <= values[column] <= 1.0
        assert values["person IoU"] is not None  # both sets show people
    assert len(report.sheet) == 2
    assert any(n.startswith("Bottom bands (1), P stage I, ccp") for n in report.notes)  # ccp's first band


@needs_data
def test_cli_writes_results_and_sheet(tiny_weights, tmp_path, capsys):
    out = tmp_path / "eval"
    code = evaluate.main(["--weights", str(tiny_weights), "--task", "occlusion", "--limit", "1", "--out", str(out),
                          "--no-lpips", "--no-gt-parsing", "--sheet-rows", "1", "--data-root", str(DATA)])
    assert code == 0
    printed = capsys.readouterr().out
    results = (out / "results.md").read_text()
    assert "| Telea |" in printed and "| Telea |" in results and "- images: 1" in results
    assert "--task occlusion" in results
    assert (out / "contact_occlusion.png").is_file()
    per_image = json.loads((out / "per_image_occlusion.json").read_text())
    assert len(per_image["Telea"]) == 1 and per_image["Telea"][0]["L1 hole"] > 0


@needs_data
def test_faces_task_holes_sit_in_the_face_and_compare_with_and_without_f(tiny_weights):
    from portrait_editor.labels import LIP_NECK

    cases = evaluate.face_cases(DATA, limit=2)
    assert len(cases) == 2
    for case in cases:
        inside = case.hole & (case.parsing == LIP_NECK.id("face"))
        assert case.hole.sum() == evaluate.FACE_HOLE**2 and inside.sum() > 0.5 * case.hole.sum()
    report = evaluate_completion(tiny_weights, "faces", cases=cases, lpips=None, gt_parsing=False, sheet_rows=1)
    assert list(report.rows) == [DEEP, evaluate.DEEP_NO_F, evaluate.DEEP_NO_MIRROR, TELEA, NS]
    # The tiny test F has a random residual: with it the fill differs from G's alone.
    assert report.per_image[DEEP] != report.per_image[evaluate.DEEP_NO_F]
    assert "inside the face" in report.title
    assert len(report.sheet[0]) == len(report.sheet_titles) == 8
    # The sheet zooms in on the face: every panel is the same square around the hole.
    side = round(evaluate.FACE_HOLE * (1 + 2 * evaluate.FACE_SHEET_CONTEXT))
    assert {p.shape for p in report.sheet[0]} == {(side, side, 3)}
    box = evaluate.zoom_box(cases[0].hole, evaluate.FACE_SHEET_CONTEXT)
    assert np.array_equal(report.sheet[0][-2], cases[0].target[box])


def test_zoom_box_centres_on_the_hole_and_stays_inside():
    hole = np.zeros((100, 80), bool)
    hole[40:50, 30:40] = True
    ys, xs = evaluate.zoom_box(hole, 1.0)
    assert (ys.start, ys.stop, xs.start, xs.stop) == (30, 60, 20, 50)
    corner = np.zeros((100, 80), bool)
    corner[:10, 75:] = True  # near the top right corner: the window moves inwards
    ys, xs = evaluate.zoom_box(corner, 1.0)
    assert (ys.start, ys.stop, xs.start, xs.stop) == (0, 30, 50, 80)
    assert evaluate.zoom_box(corner, 20.0) == (slice(0, 80), slice(0, 80))  # no larger than the image
    with pytest.raises(ValueError):
        evaluate.zoom_box(np.zeros((5, 5), bool), 1.0)


@needs_data
def test_stage_one_parsing_scores_p_s_own_labels_beyond_the_border(tiny_bundle):
    from portrait_editor.labels import UNKNOWN
    from portrait_editor.pipeline import Completer

    completer = Completer(tiny_bundle, precision="fp32")
    completer.border_min_confidence = 1.01  # the pipeline would leave every band label unknown
    case = evaluate.extrapolation_cases(DATA, limit=1)[0]
    labels = evaluate.stage_one_parsing(completer, case)
    assert labels.shape == case.hole.shape and not (labels == UNKNOWN).any()
    assert completer.border_min_confidence == 1.01  # restored


def test_band_structure_scores_shoes_and_legs_in_the_band():
    from portrait_editor.labels import LIP_NECK

    L = LIP_NECK.id
    truth = np.zeros((20, 10), np.uint8)
    truth[10:16, 2:8] = L("pants")
    truth[16:20, 2:5] = L("left-shoe")
    truth[16:20, 5:8] = L("right-shoe")
    band = np.zeros((20, 10), bool)
    band[10:] = True
    same = evaluate.band_structure(truth, truth, band, LIP_NECK)
    assert same == {"shoe IoU": 1.0, "leg+shoe mIoU": 1.0, "shoes found": True}
    swapped = truth.copy()  # left and right shoes count as one class
    swapped[16:20, 2:5], swapped[16:20, 5:8] = L("right-shoe"), L("left-shoe")
    assert evaluate.band_structure(swapped, truth, band, LIP_NECK)["shoe IoU"] == 1.0
    empty = evaluate.band_structure(np.zeros_like(truth), truth, band, LIP_NECK)
    assert empty == {"shoe IoU": 0.0, "leg+shoe mIoU": 0.0, "shoes found": False}
    no_shoes = evaluate.band_structure(truth, np.zeros_like(truth), band, LIP_NECK)
    assert no_shoes["shoes found"] is None and no_shoes["shoe IoU"] == 0.0
