"""The editor window driven with real mouse and key events, the real engine and tiny networks."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from portrait_editor.labels import UNKNOWN
from portrait_editor.ui.tools.paint import flood_fill

from .conftest import drag, gui, key, open_photo, paint_hole, run_and_wait, viewport_point

Ctrl = Qt.KeyboardModifier.ControlModifier
Shift = Qt.KeyboardModifier.ShiftModifier


def test_window_appears_before_torch_is_imported():
    code = (
        "import sys, time\n"
        "t, cpu = time.perf_counter(), time.process_time()\n"
        "from PySide6.QtCore import QSettings\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from portrait_editor.ui.main_window import MainWindow\n"
        "w = MainWindow(QSettings(sys.argv[1], QSettings.Format.IniFormat))\n"
        "w.show(); app.processEvents()\n"
        "shown, shown_cpu = time.perf_counter() - t, time.process_time() - cpu\n"
        "assert 'torch' not in sys.modules, 'torch imported on the GUI thread'\n"
        "w.start_engine()\n"
        "assert w.statusBar().currentMessage() == 'Loading models…', w.statusBar().currentMessage()\n"
        "print(f'{shown:.2f} {shown_cpu:.2f}', flush=True)\n"
        "import os; os._exit(0)  # do not wait for torch to finish loading\n"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.run([sys.executable, "-c", code, f"{folder}/s.ini"], capture_output=True, text=True,
                              env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    wall, cpu = map(float, proc.stdout.split()[-2:])
    # The window must be up within about 2 s of CPU time (what this code controls: no torch, no
    # weights). The wall clock depends on whatever else the machine is doing, so it is not
    # asserted here; benchmarks/ui_responsiveness.py measures it.
    assert cpu < 2.0, (wall, cpu)


def test_brush_stroke_changes_mask_and_undo_restores_it(qtbot, window, photo_path):
    open_photo(qtbot, window, photo_path)
    before = paint_hole(qtbot, window)
    assert window.undo_stack.count() == 1
    assert window.isWindowModified()
    painted = window.document.mask.copy()
    key(window, Qt.Key.Key_Z, Ctrl)
    np.testing.assert_array_equal(window.document.mask, before)
    key(window, Qt.Key.Key_Z, Ctrl | Shift)
    np.testing.assert_array_equal(window.document.mask, painted)


def test_eraser_and_right_button_erase(qtbot, window, photo_path):
    open_photo(qtbot, window, photo_path)
    paint_hole(qtbot, window)
    count = window.document.mask.sum()
    h, w = window.document.base.shape[:2]
    drag(window, [(w * 0.5, h * 0.5), (w * 0.52, h * 0.5)], button=Qt.MouseButton.RightButton)
    assert window.document.mask.sum() < count
    key(window, Qt.Key.Key_E)
    assert window.canvas.tool().name == "eraser"
    drag(window, [(w * 0.3, h * 0.45), (w * 0.7, h * 0.55)])
    assert window.document.mask.sum() < count - 10


def test_brush_size_keys(qtbot, window, photo_path):
    open_photo(qtbot, window, photo_path)
    size = window.options.size
    key(window, Qt.Key.Key_BracketRight)
    assert window.options.size > size
    for _ in range(40):
        key(window, Qt.Key.Key_BracketLeft)
    assert window.options.size == 1
    assert window.tool_options.size_box.value() == 1


def test_rectangle_and_lasso(qtbot, window, photo_path):
    open_photo(qtbot, window, photo_path)
    key(window, Qt.Key.Key_M)
    drag(window, [(10, 20), (30, 25), (50, 60)])
    mask = window.document.mask
    assert mask[20:60, 10:50].all() and mask.sum() == 40 * 40
    key(window, Qt.Key.Key_Delete)
    assert not window.document.mask.any()
    key(window, Qt.Key.Key_L)
    drag(window, [(60, 60), (100, 60), (100, 100), (60, 100), (60, 61)])
    assert window.document.mask[70:90, 70:90].all()
    assert not window.document.mask[:50].any()
    key(window, Qt.Key.Key_Z, Ctrl)
    key(window, Qt.Key.Key_Z, Ctrl)  # undo the lasso, then the clear: the rectangle is back
    assert window.document.mask.sum() == 40 * 40


def test_dragging_the_bottom_border_adds_margins_and_undo_removes_them(qtbot, window, photo_path):
    open_photo(qtbot, window, photo_path)
    h, w = window.document.base.shape[:2]
    key(window, Qt.Key.Key_C)
    assert window.canvas.tool().name == "expand"
    window.canvas.set_zoom(window.canvas.zoom() / 2)  # room below the photo: the drag stays in the view
    drag(window, [(w / 2, h), (w / 2, h + 20), (w / 2, h + 40)])
    margins = window.document.margins
    assert (margins.top, margins.right, margins.left) == (0, 0, 0)
    assert abs(margins.bottom - 40) <= 2
    assert window.canvas.canvas_rect().height() == h + margins.bottom
    # Dragging back shrinks, never below the photo.
    drag(window, [(w / 2, h + margins.bottom), (w / 2, h - 30)])
    assert window.document.margins.bottom == 0
    key(window, Qt.Key.Key_Z, Ctrl)
    assert window.document.margins.bottom == margins.bottom
    key(window, Qt.Key.Key_Z, Ctrl)
    assert not window.document.margins.any()


def test_a_border_dragged_out_of_the_view_scrolls_it_and_the_canvas_is_refitted(qtbot, window, photo_path):
    open_photo(qtbot, window, photo_path)
    h, w = window.document.base.shape[:2]
    canvas = window.canvas
    assert canvas.canvas_in_view()
    key(window, Qt.Key.Key_C)
    bottom_of_view = canvas.mapToScene(canvas.viewport().rect().bottomLeft()).y()
    far = bottom_of_view + 60  # the pointer leaves the view below
    scroll = canvas.verticalScrollBar()
    before = scroll.value()
    viewport = canvas.viewport()
    start, out = viewport_point(window, w / 2, h), viewport_point(window, w / 2, far)
    QTest.mouseMove(viewport, start)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(viewport, out)
    assert scroll.value() > before  # the view followed the border
    assert abs(canvas.margins().bottom - (far - h)) <= 2
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, out)
    assert abs(window.document.margins.bottom - (far - h)) <= 2  # what was shown, not the scrolled pointer
    assert canvas.canvas_in_view()  # zoomed out to show the whole new canvas


def test_run_extends_the_canvas_without_blocking(qtbot, window, photo_path):
    open_photo(qtbot, window, photo_path)
    h, w = window.document.base.shape[:2]
    key(window, Qt.Key.Key_C)
    drag(window, [(w / 2, h), (w / 2, h + 30)])
    bottom = window.document.margins.bottom
    assert bottom > 0

    ticks = []
    heartbeat = QTimer(interval=10, timeout=lambda: ticks.append(time.perf_counter()))
    heartbeat.start()
    started = time.perf_counter()
    with qtbot.waitSignal(gui(window.engine.resultReady), timeout=60_000) as blocker:
        key(window, Qt.Key.Key_F5)
        assert time.perf_counter() - started < 0.5  # the key press returned at once
        assert window.progress.isVisible()
    heartbeat.stop()
    qtbot.waitUntil(lambda: window.document.result is not None)
    assert len(ticks) >= 3, "the event loop did not run while the engine worked"
    result = blocker.args[0][1]
    assert result.image.shape == (h + bottom, w, 3)
    assert not window.progress.isVisible()
    assert window.actions_by_name["accept"].isEnabled()


def test_cancel_stops_the_run(qtbot, window, photo_path, monkeypatch):
    from portrait_editor.pipeline.complete import Completer

    # Make stage I take long enough to press Esc while it runs, as with a big photo.
    parse = Completer._parse_view
    monkeypatch.setattr(Completer, "_parse_view", lambda self, *a: (time.sleep(0.5), parse(self, *a))[1])
    open_photo(qtbot, window, photo_path)
    paint_hole(qtbot, window)
    with qtbot.waitSignal(gui(window.engine.stageStarted), timeout=30_000):
        key(window, Qt.Key.Key_R, Ctrl)
    with qtbot.waitSignal(gui(window.engine.cancelled), timeout=30_000):
        key(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.progress.isVisible())
    assert window.document.result is None
    assert not window.actions_by_name["cancel"].isEnabled()


def test_parsing_overlay_label_brush_and_rerun_skip_stage_one(qtbot, window, photo_path):
    open_photo(qtbot, window, photo_path)
    paint_hole(qtbot, window)
    stages: list[str] = []
    window.engine.stageStarted.connect(lambda _id, stage: stages.append(stage))
    run_and_wait(qtbot, window)
    assert "parsing" in stages
    doc = window.document
    assert doc.parsing is not None and not doc.parsing_edited

    # The overlay shows the labels on screen.
    hole = np.argwhere(doc.parsing != UNKNOWN)
    y, x = hole[len(hole) // 2]
    window.canvas.set_show_original(True)  # compare overlay against the plain photo
    point = viewport_point(window, x + 0.5, y + 0.5)
    off = window.canvas.viewport().grab().toImage().pixelColor(point)
    key(window, Qt.Key.Key_O)
    assert window.canvas.parsing_visible()
    on = window.canvas.viewport().grab().toImage().pixelColor(point)
    assert on != off

    # Pick "scarf" in the legend with a click, then paint it with the label brush.
    legend = window.legend.list
    scarf = next(legend.item(i) for i in range(legend.count()) if legend.item(i).text() == "scarf")
    legend.scrollToItem(scarf)
    qtbot.mouseClick(legend.viewport(), Qt.MouseButton.LeftButton, pos=legend.visualItemRect(scarf).center())
    assert window.options.label == window.label_set.id("scarf")
    key(window, Qt.Key.Key_P)
    assert window.canvas.tool().name == "label_brush"
    before = doc.parsing.copy()
    h, w = doc.base.shape[:2]
    drag(window, [(w * 0.45, h * 0.5), (w * 0.55, h * 0.5)])
    assert (doc.parsing != before).any()
    assert (doc.parsing[doc.parsing != before] == window.label_set.id("scarf")).all()
    assert doc.parsing_edited

    # Run again: the edited parsing goes with the request and stage I is skipped.
    stages.clear()
    run_and_wait(qtbot, window, keys=(Qt.Key.Key_R, Ctrl | Shift))
    assert stages and "parsing" not in stages
    assert doc.parsing_edited

    # Undo the label stroke.
    edited = doc.parsing.copy()
    key(window, Qt.Key.Key_Z, Ctrl)
    assert (doc.parsing != edited).any()


def test_fill_and_eyedropper(qtbot, window, photo_path):
    open_photo(qtbot, window, photo_path)
    paint_hole(qtbot, window)
    run_and_wait(qtbot, window)
    doc = window.document
    known = np.argwhere(doc.parsing != UNKNOWN)
    y, x = known[0]
    label_shown = window.tool_options.label_name.isVisibleTo
    assert window.canvas.tool().name == "brush" and not label_shown(window)  # the mask brush paints no label
    key(window, Qt.Key.Key_I)
    qtbot.waitUntil(lambda: label_shown(window), timeout=2000)  # the tool bar lays out on the next event
    drag(window, [(x + 0.5, y + 0.5)])
    assert window.options.label == int(doc.parsing[y, x])

    target = (window.options.label + 1) % len(window.label_set)
    window.options.label = target
    key(window, Qt.Key.Key_G)
    old = int(doc.parsing[y, x])
    drag(window, [(x + 0.5, y + 0.5)])
    assert doc.parsing[y, x] == target
    assert not (doc.parsing == old).all()
    key(window, Qt.Key.Key_Z, Ctrl)
    assert doc.parsing[y, x] == old

    # A click inside the hole fills inside the hole only; Shift fills the whole region.
    hole = doc.canvas_hole()
    y, x = np.argwhere(hole)[len(np.argwhere(hole)) // 2]
    old = int(doc.parsing[y, x])
    window.options.label = target = (old + 1) % len(window.label_set)
    before = doc.parsing.copy()
    drag(window, [(x + 0.5, y + 0.5)])
    changed = doc.parsing != before
    assert changed[y, x] and not changed[~hole].any()
    key(window, Qt.Key.Key_Z, Ctrl)
    np.testing.assert_array_equal(doc.parsing, before)
    (y0, x0, y1, x1), inside = flood_fill(before.copy(), int(x), int(y), 255)  # the whole region
    region = np.zeros_like(hole)
    region[y0:y1, x0:x1] = inside
    assert (region & ~hole).any()  # it reaches out of the hole here ...
    drag(window, [(x + 0.5, y + 0.5)], modifiers=Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(doc.parsing != before, region)  # ... and Shift fills all of it


def test_accept_makes_the_result_the_photo_and_undo_brings_it_back(qtbot, window, photo_path):
    open_photo(qtbot, window, photo_path)
    original = window.document.base.copy()
    paint_hole(qtbot, window)
    result = run_and_wait(qtbot, window)
    key(window, Qt.Key.Key_Return)
    doc = window.document
    np.testing.assert_array_equal(doc.base, result.image)
    assert doc.result is None and not doc.mask.any()
    key(window, Qt.Key.Key_Z, Ctrl)
    np.testing.assert_array_equal(doc.base, original)
    assert doc.result is result and doc.mask.any()


def test_discard_and_show_original(qtbot, window, photo_path):
    open_photo(qtbot, window, photo_path)
    paint_hole(qtbot, window)
    run_and_wait(qtbot, window)
    canvas = window.canvas
    assert canvas.result_item.isVisible()
    qtbot.keyPress(canvas, Qt.Key.Key_Backslash)
    assert not canvas.result_item.isVisible()
    qtbot.keyRelease(canvas, Qt.Key.Key_Backslash)
    assert canvas.result_item.isVisible()
    key(window, Qt.Key.Key_Backspace)
    assert window.document.result is None and not canvas.result_item.isVisible()


def _jpeg_with_exif(path, pixels) -> None:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0112] = 1
    Image.fromarray(pixels).save(path, quality=95, exif=exif.tobytes())


def test_save_writes_a_new_file_and_keeps_exif(qtbot, window, tmp_path, portrait, monkeypatch):
    source = tmp_path / "holiday.jpg"
    _jpeg_with_exif(source, portrait)
    original_bytes = source.read_bytes()
    open_photo(qtbot, window, source)
    paint_hole(qtbot, window)
    run_and_wait(qtbot, window)
    key(window, Qt.Key.Key_Return)  # accept

    asked = {}
    target = tmp_path / "holiday-edited.jpg"

    def question(parent, title, text, *args, **kwargs):
        asked["question"] = text
        return QMessageBox.StandardButton.No  # "not over the original": save under a new name

    def get_save_file_name(parent, caption, suggested, filters, *args, **kwargs):
        asked["suggested"] = suggested
        return str(target), filters.split(";;")[0]

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(get_save_file_name))
    monkeypatch.setattr("portrait_editor.ui.files.ask_quality", lambda parent, fmt, quality: 90)
    with qtbot.waitSignal(gui(window.files.worker.saved), timeout=30_000):
        key(window, Qt.Key.Key_S, Ctrl)
    assert "holiday.jpg" in asked["question"]
    assert asked["suggested"].endswith("holiday-edited.jpg")
    assert source.read_bytes() == original_bytes
    with Image.open(target) as saved:
        assert saved.getexif().get(0x010F) == "TestCam"
        assert saved.size == (portrait.shape[1], portrait.shape[0])
    assert not window.isWindowModified()

    # Ctrl+S now writes to the new file without asking again.
    asked.clear()
    paint_hole(qtbot, window)
    with qtbot.waitSignal(gui(window.files.worker.saved), timeout=30_000):
        key(window, Qt.Key.Key_S, Ctrl)
    assert asked == {}


def test_opening_a_corrupt_file_shows_an_error_and_keeps_the_document(qtbot, window, photo_path, tmp_path):
    open_photo(qtbot, window, photo_path)
    paint_hole(qtbot, window)
    document, mask = window.document, window.document.mask.copy()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    window.undo_stack.setClean()
    with qtbot.waitSignal(gui(window.files.worker.failed), timeout=30_000):
        window.open_path(broken)
    assert window.banner.isVisible()
    assert "broken.jpg" in window.banner.message()
    assert window.document is document
    np.testing.assert_array_equal(window.document.mask, mask)
    assert window.pages.currentWidget() is window.canvas


def test_open_with_the_file_dialog_and_recent_files(qtbot, window, photo_path, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *args, **kwargs: (str(photo_path), "")))
    with qtbot.waitSignal(gui(window.files.worker.opened), timeout=30_000):
        key(window, Qt.Key.Key_O, Ctrl)
    qtbot.waitUntil(lambda: window.document is not None)
    assert window.settings.recent_files[0] == str(photo_path)
    assert "photo.png" in window.windowTitle()


def test_closing_with_unsaved_changes_asks(qtbot, window, photo_path, monkeypatch):
    open_photo(qtbot, window, photo_path)
    paint_hole(qtbot, window)
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Discard]
    asked = []

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    window.close()
    assert window.isVisible() and len(asked) == 1
    window.close()
    assert not window.isVisible() and len(asked) == 2


def test_missing_weights_are_reported_and_the_document_is_kept(qtbot, window, photo_path, tmp_path):
    open_photo(qtbot, window, photo_path)
    empty = tmp_path / "no-weights"
    empty.mkdir()
    window.settings.weights_dir = str(empty)
    with qtbot.waitSignal(gui(window.engine.loadFailed), timeout=30_000):
        window.start_engine()
    qtbot.waitUntil(window.banner.isVisible)
    assert "weights" in window.banner.message().lower()
    before = paint_hole(qtbot, window)
    with qtbot.waitSignal(gui(window.engine.failed), timeout=30_000):
        key(window, Qt.Key.Key_R, Ctrl)
    qtbot.waitUntil(lambda: "Completion failed" in window.banner.message())
    assert window.document.result is None
    assert not np.array_equal(window.document.mask, before)  # the stroke is still there


def test_zoom_and_pan(qtbot, window, photo_path):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    open_photo(qtbot, window, photo_path)
    canvas = window.canvas
    key(window, Qt.Key.Key_1, Ctrl)
    assert canvas.zoom() == 1.0
    viewport = canvas.viewport()
    centre = QPointF(viewport.rect().center())
    under = canvas.mapToScene(centre.toPoint())
    wheel = QWheelEvent(centre, viewport.mapToGlobal(centre), QPoint(), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, wheel)
    assert canvas.zoom() > 1.0
    assert (canvas.mapToScene(centre.toPoint()) - under).manhattanLength() < 2  # zoomed around the pointer
    h_scroll = canvas.horizontalScrollBar().value()
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=centre.toPoint())
    qtbot.mouseMove(viewport, centre.toPoint() + QPoint(-40, 0))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=centre.toPoint() + QPoint(-40, 0))
    assert canvas.horizontalScrollBar().value() == h_scroll + 40
    key(window, Qt.Key.Key_0, Ctrl)
    assert canvas.zoom() > 1.0  # the 160 px tall portrait fits the window enlarged
    assert not window.document.mask.any()  # panning never paints


def test_help_lists_shortcuts(qtbot, window):
    from portrait_editor.ui.help import shortcut_rows

    rows = dict((text, keys) for keys, text in shortcut_rows(list(window.actions_by_name.values())))
    assert rows["Run"] == "Ctrl+R, F5"
    assert rows["Brush"] == "B"
    assert "Cancel" in rows and "Accept result" in rows


def test_dropping_a_photo_opens_it(qtbot, window, photo_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(photo_path))])
    pos = QPointF(window.width() / 2, window.height() / 2)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(gui(window.files.worker.opened), timeout=30_000):
        QApplication.sendEvent(window, drop)
    qtbot.waitUntil(lambda: window.document is not None)
    assert window.document.source.path == photo_path


def test_space_drag_pans_and_settings_persist(qtbot, window, photo_path, store):
    from portrait_editor.ui.panels.settings import EditorSettings

    open_photo(qtbot, window, photo_path)
    canvas = window.canvas
    key(window, Qt.Key.Key_1, Ctrl)
    scroll = canvas.verticalScrollBar().value()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    drag(window, [(60, 80), (60, 60)])  # the photo moves up with the pointer: 20 px down in the view
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.verticalScrollBar().value() == scroll + 20
    assert not window.document.mask.any()

    window.options.size = 33
    window.settings.add_recent("/photos/a.jpg")
    window.undo_stack.setClean()
    window.close()
    saved = EditorSettings.load(store)
    assert saved.brush_size == 33 and saved.recent_files[0] == "/photos/a.jpg"
    assert saved.weights_dir and saved.device == "cpu"


def test_first_photo_is_fitted_to_the_visible_view(qtbot, window, photo_path):
    """The canvas page is hidden until a photo opens: the fit must use the size it shows at."""
    open_photo(qtbot, window, photo_path)
    qtbot.wait(50)
    canvas = window.canvas
    view = canvas.viewport().rect()
    shown = canvas.mapFromScene(canvas.canvas_rect()).boundingRect()
    assert view.contains(shown)
    # It fills the view along one side (up to the 24 px margin), not a default-sized hidden page.
    assert max(shown.width() / view.width(), shown.height() / view.height()) > 0.85


def test_settings_dialog_turns_the_mirrored_face_off(qtbot):
    from portrait_editor.ui.panels.settings import EditorSettings, SettingsDialog

    dialog = SettingsDialog(EditorSettings())
    qtbot.addWidget(dialog)
    assert dialog.mirror.isChecked() and dialog.values().mirror_faces
    dialog.mirror.setChecked(False)
    assert not dialog.values().mirror_faces
    assert not SettingsDialog(EditorSettings(mirror_faces=False)).mirror.isChecked()


def test_opening_and_overwriting_a_16_bit_photo_say_it_is_saved_with_8_bits(qtbot, window, tmp_path, portrait,
                                                                             monkeypatch):
    source = tmp_path / "scan.png"
    Image.fromarray(portrait[..., 1].astype(np.uint16) * 257).save(source)
    messages = []
    window.files.message.connect(lambda text, timeout: messages.append(text))
    open_photo(qtbot, window, source)
    assert "Opened scan.png (120 x 160, 16 bits per channel: the edited photo is saved with 8)" in messages
    paint_hole(qtbot, window)
    run_and_wait(qtbot, window)
    key(window, Qt.Key.Key_Return)  # accept
    asked = {}

    def question(parent, title, text, *args, **kwargs):
        asked["question"] = text
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    key(window, Qt.Key.Key_S, Ctrl)
    assert "“scan.png”" in asked["question"]
    assert "It has 16 bits per channel: the edited photo is saved with 8." in asked["question"]
