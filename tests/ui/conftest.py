"""Fixtures for driving the real editor window offscreen with the real engine and tiny networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QObject, QPoint, QPointF, QSettings, Qt, Signal
from PySide6.QtTest import QTest

from portrait_editor import imageio


class Relay(QObject):
    """Re-emits a signal on the GUI thread.

    The engine and the file worker emit from their own threads. ``qtbot.waitSignal`` on such a
    signal calls its handler on that thread, which can race with the wait starting (and miss
    it); a queued hop through an object living on the GUI thread cannot.
    """

    fired = Signal(object)

    def __init__(self, signal) -> None:
        super().__init__()
        signal.connect(self._forward, Qt.ConnectionType.QueuedConnection)

    def _forward(self, *args) -> None:
        self.fired.emit(args)


def gui(signal) -> Signal:
    """``with qtbot.waitSignal(gui(engine.resultReady)) as blocker:`` -- blocker.args[0] is the tuple."""
    relay = Relay(signal)
    _relays.append(relay)
    return relay.fired


_relays: list[Relay] = []


@pytest.fixture
def store(tmp_path, tiny_weights) -> QSettings:
    """Settings in a private file (never the user's), pointing at the tiny test networks."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("weights_dir", str(tiny_weights))
    settings.setValue("device", "cpu")
    settings.setValue("brush_size", 12)
    return settings


@pytest.fixture
def window(qtbot, store):
    """The main window, shown, with its engine loaded (tiny weights on the CPU)."""
    from portrait_editor.ui.main_window import MainWindow

    win = MainWindow(store)
    win.resize(1000, 760)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    with qtbot.waitSignal(gui(win.engine.ready), timeout=60_000):
        win.start_engine()
    yield win
    win.undo_stack.setClean()  # no "save changes?" question at teardown
    win.close()


@pytest.fixture
def photo_path(tmp_path, portrait) -> Path:
    path = tmp_path / "photo.png"
    imageio.save_image(path, portrait)
    return path


def open_photo(qtbot, win, path) -> None:
    with qtbot.waitSignal(gui(win.files.worker.opened), timeout=30_000):
        win.open_path(path)
    qtbot.waitUntil(lambda: win.document is not None and win.document.source.path == Path(path))
    qtbot.wait(20)  # let the layout settle (panels enabled by the new photo resize the view) as a user would


def viewport_point(win, x: float, y: float) -> QPoint:
    """The viewport pixel showing scene point (x, y) (photo pixel coordinates)."""
    return win.canvas.mapFromScene(QPointF(x, y))


def drag(win, points, button=Qt.MouseButton.LeftButton, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """Press at the first scene point, move through the others, release at the last."""
    viewport = win.canvas.viewport()
    pts = [viewport_point(win, x, y) for x, y in points]
    QTest.mouseMove(viewport, pts[0])
    QTest.mousePress(viewport, button, modifiers, pts[0])
    for p in pts[1:]:
        QTest.mouseMove(viewport, p)
    QTest.mouseRelease(viewport, button, modifiers, pts[-1])


def key(win, key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press as the user makes it: to the widget that has the focus (the canvas)."""
    target = win.focusWidget() or win.canvas
    QTest.keyClick(target, key, modifiers)


def run_and_wait(qtbot, win, *, keys=(Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier), timeout=60_000):
    with qtbot.waitSignal(gui(win.engine.resultReady), timeout=timeout) as blocker:
        key(win, *keys)
    qtbot.waitUntil(lambda: win.document.result is not None)
    return blocker.args[0][1]


def paint_hole(qtbot, win) -> np.ndarray:
    """A brush stroke across the middle of the portrait; returns the mask before it."""
    before = win.document.mask.copy()
    h, w = win.document.base.shape[:2]
    drag(win, [(w * 0.35, h * 0.45), (w * 0.5, h * 0.5), (w * 0.65, h * 0.55)])
    assert (win.document.mask != before).any()
    return before
