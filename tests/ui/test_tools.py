"""The painting primitives and undo patches (no window needed), and the menu edits of the mask."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from portrait_editor import imageio
from portrait_editor.ui.commands import PatchRecorder, trim_patches
from portrait_editor.ui.tools.brush import paint_segment
from portrait_editor.ui.tools.paint import fill_polygon, flood_fill, grow_mask, segment_rect

from .conftest import key, open_photo

Ctrl = Qt.KeyboardModifier.ControlModifier
Shift = Qt.KeyboardModifier.ShiftModifier


def test_paint_segment_touches_only_its_rectangle():
    mask = np.zeros((100, 200), bool)
    rect = paint_segment(mask, (50.0, 40.0), (80.0, 60.0), 5, True)
    y0, x0, y1, x1 = rect
    assert (y0, x0, y1, x1) == segment_rect(mask.shape, (50.0, 40.0), (80.0, 60.0), 5)
    assert mask[y0:y1, x0:x1].any()
    outside = mask.copy()
    outside[y0:y1, x0:x1] = False
    assert not outside.any()
    assert mask[40, 50] and mask[60, 80] and mask[50, 65]  # both ends and the middle
    assert not mask[40, 80]


def test_one_pixel_brush_draws_an_unbroken_line():
    mask = np.zeros((20, 20), bool)
    paint_segment(mask, (2.5, 2.5), (17.5, 9.5), 0.5, True)
    assert mask[2, 2] and mask[9, 17]
    assert mask.any(axis=0)[2:18].all()  # no gap in any column along the way
    assert mask.sum() < 40


def test_paint_segment_outside_and_on_labels():
    labels = np.zeros((10, 10), np.uint8)
    y0, x0, y1, x1 = paint_segment(labels, (-50.0, -50.0), (-40.0, -45.0), 3, 7)
    assert y1 <= y0 or x1 <= x0
    paint_segment(labels, (5.0, 5.0), (5.0, 5.0), 2, 7)
    assert labels[5, 5] == 7 and labels[0, 0] == 0


def test_soft_brush_thins_out_towards_the_rim():
    hard = np.zeros((80, 80), bool)
    soft = np.zeros((80, 80), bool)
    paint_segment(hard, (40.0, 40.0), (40.0, 40.0), 30, True)
    paint_segment(soft, (40.0, 40.0), (40.0, 40.0), 30, True, hardness=0.3)
    assert soft[40, 40] and soft.sum() < hard.sum()
    assert not (soft & ~hard).any()


def test_stroke_segment_on_24_megapixels_is_fast():
    mask = np.zeros((4000, 6000), bool)
    times = []
    for i in range(50):
        t = time.perf_counter()
        paint_segment(mask, (3000.0 + 4 * i, 2000.0 + 3 * i), (3004.0 + 4 * i, 2003.0 + 3 * i), 40, True, 0.8)
        times.append(time.perf_counter() - t)
    assert np.median(times) < 0.016


def test_patch_recorder_keeps_only_what_changed():
    mask = np.zeros((1000, 1000), bool)
    recorder = PatchRecorder(mask)
    for p0, p1 in (((100.0, 100.0), (300.0, 120.0)), ((300.0, 120.0), (310.0, 400.0))):
        rect = segment_rect(mask.shape, p0, p1, 4)
        recorder.save(rect)
        paint_segment(mask, p0, p1, 4, True)
    (y0, x0, y1, x1), before, after = recorder.patches()
    assert not before.any() and after.any()
    assert (y0, x0) == (96, 96) and y1 <= 405 and x1 <= 315  # trimmed to the painted pixels
    np.testing.assert_array_equal(mask[y0:y1, x0:x1], after)
    assert trim_patches((0, 0, 5, 5), np.zeros((5, 5)), np.zeros((5, 5))) is None


def test_lasso_flood_fill_and_grow():
    mask = np.zeros((50, 50), bool)
    fill_polygon(mask, [(10, 10), (40, 10), (40, 40), (10, 40)], True)
    assert mask[11:39, 11:39].all() and not mask[:9].any()
    labels = np.zeros((20, 20), np.uint8)
    labels[5:10, 5:10] = 3
    rect, inside = flood_fill(labels, 6, 6, 9)
    assert rect == (5, 5, 10, 10) and inside.all() and (labels == 9).sum() == 25
    assert flood_fill(labels, 6, 6, 9) is None  # already that label
    within = np.zeros((20, 20), bool)
    within[:, :12] = True  # the fill of the background may not leave the left part
    rect, inside = flood_fill(labels, 0, 0, 4, within)
    assert (labels[:, :12][labels[:, :12] != 9] == 4).all() and (labels[:, 12:] == 0).all()
    assert rect == (0, 0, 20, 12) and inside.sum() == 20 * 12 - 25
    assert flood_fill(labels, 15, 0, 4, within) is None  # a click outside the area fills nothing
    grown = grow_mask(mask, 3)
    assert grown[8:42, 8:42].all() and grow_mask(grown, -3).sum() <= grown.sum()


@pytest.fixture
def opened(qtbot, window, photo_path):
    open_photo(qtbot, window, photo_path)
    return window


def test_mask_export_import_invert_and_grow(qtbot, opened, tmp_path, monkeypatch):
    win = opened
    key(win, Qt.Key.Key_M)
    from .conftest import drag

    drag(win, [(20, 30), (60, 70)])
    painted = win.document.mask.copy()
    out = tmp_path / "mask.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(out), "")))
    win.actions_by_name["export_mask"].trigger()
    np.testing.assert_array_equal(imageio.load_mask(out), painted)

    key(win, Qt.Key.Key_I, Ctrl)
    np.testing.assert_array_equal(win.document.mask, ~painted)
    key(win, Qt.Key.Key_Z, Ctrl)
    key(win, Qt.Key.Key_Delete)
    assert not win.document.mask.any()
    win.actions_by_name["import_mask"].trigger()
    np.testing.assert_array_equal(win.document.mask, painted)

    monkeypatch.setattr("portrait_editor.ui.main_window.ask_grow", lambda parent: 5)
    win.actions_by_name["grow_mask"].trigger()
    assert win.document.mask.sum() > painted.sum()
    key(win, Qt.Key.Key_Z, Ctrl)
    np.testing.assert_array_equal(win.document.mask, painted)


def test_typed_margins_and_parsing_files(qtbot, opened, tmp_path, monkeypatch):
    from .conftest import paint_hole, run_and_wait

    win = opened
    monkeypatch.setattr("portrait_editor.ui.main_window.ask_margins", lambda parent, current, size: (10, 0, 20, 5))
    key(win, Qt.Key.Key_M, Ctrl | Shift)
    assert tuple(win.document.margins) == (10, 0, 20, 5)
    paint_hole(qtbot, win)
    run_and_wait(qtbot, win)
    parsing = win.document.parsing.copy()
    h, w = win.document.base.shape[:2]
    assert parsing.shape == (h + 30, w + 5)

    out = tmp_path / "parsing.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(out), "")))
    win.actions_by_name["save_parsing"].trigger()
    np.testing.assert_array_equal(imageio.load_label_map(out), parsing)
    edited = parsing.copy()
    edited[:5] = 2
    imageio.save_label_map(out, edited, win.label_set)
    win.actions_by_name["load_parsing"].trigger()
    np.testing.assert_array_equal(win.document.parsing, edited)
    assert win.document.parsing_edited and win.canvas.parsing_visible()
    key(win, Qt.Key.Key_Z, Ctrl)
    np.testing.assert_array_equal(win.document.parsing, parsing)
