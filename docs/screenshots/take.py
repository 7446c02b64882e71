"""Retake the four editor screenshots of the README (docs/screenshots/editor-*.png).

    python docs/screenshots/take.py                   # all four, over docs/screenshots/
    python docs/screenshots/take.py --out /tmp/shots  # somewhere else
    python docs/screenshots/take.py --only parsing    # one (the steps before it still run)
    QT_QPA_PLATFORM=xcb xvfb-run -a python docs/screenshots/take.py   # on a virtual X display

It drives the real editor window as a user would (the menu actions, mouse drags on the canvas, a
click in the legend, the Split slider) on the sample portrait, with whatever weights are in
resources/weights: retake the screenshots whenever those change. Two completions run, so it
takes a minute or two on a CPU. It runs offscreen unless QT_QPA_PLATFORM says otherwise and uses a
throwaway settings file, never yours. On failure it says which step failed and exits with 1.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QObject, QPoint, QPointF, QSettings, Qt, Slot
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSlider

from portrait_editor.ui.main_window import MainWindow

SHOTS = ("mask", "expand", "parsing", "compare")
HERE = Path(__file__).resolve().parent
WEIGHTS = HERE.parents[1] / "resources" / "weights"
WINDOW_SIZE = (1280, 800)
SPLIT = 75
"""Split slider position in the compare shot: the result left of 75% of the canvas."""


class Failed(Exception):
    """A step did not do what it should: the message says which and why."""


class Recorder(QObject):
    """The engine's answers, collected on the GUI thread (the engine emits from its own thread)."""

    def __init__(self, engine) -> None:
        super().__init__()
        self.events: list[tuple[str, object]] = []
        queued = Qt.ConnectionType.QueuedConnection
        engine.ready.connect(self._ready, queued)
        engine.loadFailed.connect(self._load_failed, queued)
        engine.resultReady.connect(self._result, queued)
        engine.failed.connect(self._failed, queued)
        engine.cancelled.connect(self._cancelled, queued)

    @Slot(str)
    def _ready(self, description: str) -> None:
        self.events.append(("ready", description))

    @Slot(str)
    def _load_failed(self, message: str) -> None:
        self.events.append(("failed", message))

    @Slot(int, object)
    def _result(self, _id: int, result) -> None:
        self.events.append(("result", result))

    @Slot(int, str)
    def _failed(self, _id: int, message: str) -> None:
        self.events.append(("failed", message))

    @Slot(int)
    def _cancelled(self, _id: int) -> None:
        self.events.append(("failed", "cancelled"))

    def after(self, start, wanted: str, what: str, timeout: float):
        """Call ``start()``, then wait for the engine's ``wanted`` answer and return its value."""
        self.events.clear()
        start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, value in self.events:
                if name == wanted:
                    return value
                if name == "failed":
                    raise Failed(f"{what} failed: {value}")
            QTest.qWait(50)
        raise Failed(f"{what}: no answer from the engine within {timeout:.0f} s")


class Shooter:
    def __init__(self, window: MainWindow, out: Path, wanted: list[str], timeout: float) -> None:
        self.window = window
        self.out = out
        self.wanted = wanted
        self.timeout = timeout
        self.recorder = Recorder(window.engine)

    # -- driving the window ----------------------------------------------------------------------
    def act(self, name: str) -> None:
        action = self.window.actions_by_name[name]
        if not action.isEnabled():
            raise Failed(f"the action {action.text().replace('&', '')!r} is disabled")
        action.trigger()

    def point(self, x: float, y: float):
        """The viewport pixel showing photo pixel coordinates (x, y)."""
        return self.window.canvas.mapFromScene(QPointF(x, y))

    def drag(self, points, steps: int = 6) -> None:
        """A left-button drag through ``points`` (photo coordinates), with moves in between."""
        viewport = self.window.canvas.viewport()
        path = [points[0]]
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            path += [(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps) for i in range(1, steps + 1)]
        left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        QTest.mouseMove(viewport, self.point(*path[0]))
        QTest.mousePress(viewport, left, none, self.point(*path[0]))
        for p in path[1:]:
            QTest.mouseMove(viewport, self.point(*p))
        QTest.mouseRelease(viewport, left, none, self.point(*path[-1]))

    def click(self, x: float, y: float) -> None:
        QTest.mouseClick(self.window.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         self.point(x, y))

    def pick_label(self, name: str) -> None:
        """Click the label in the Parsing panel's legend."""
        legend = self.window.legend.list
        items = [legend.item(i) for i in range(legend.count()) if legend.item(i).text() == name]
        if not items:
            raise Failed(f"no label {name!r} in the legend")
        legend.scrollToItem(items[0])
        QTest.mouseClick(legend.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         legend.visualItemRect(items[0]).center())

    def drag_slider(self, slider, value: int) -> None:
        """Drag the slider's handle with the mouse until it shows ``value``."""
        option = QStyleOptionSlider()
        slider.initStyleOption(option)
        style, cc = slider.style(), QStyle.ComplexControl.CC_Slider
        handle = style.subControlRect(cc, option, QStyle.SubControl.SC_SliderHandle, slider)
        groove = style.subControlRect(cc, option, QStyle.SubControl.SC_SliderGroove, slider)
        span = groove.width() - handle.width()
        dx = (QStyle.sliderPositionFromValue(slider.minimum(), slider.maximum(), value, span)
              - QStyle.sliderPositionFromValue(slider.minimum(), slider.maximum(), slider.value(), span))
        start, end = handle.center(), handle.center() + QPoint(dx, 0)
        left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        QTest.mouseMove(slider, start)  # the pointer leaves the canvas: its brush outline goes
        QTest.mousePress(slider, left, none, start)
        QTest.mouseMove(slider, end)
        QTest.mouseRelease(slider, left, none, end)
        if abs(slider.value() - value) > 1:
            raise Failed(f"dragging the slider left it at {slider.value()}, not {value}")

    def wait_until(self, condition, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not condition():
            if self.window.banner.kind == "error" and self.window.banner.message():
                raise Failed(f"{what}: {self.window.banner.message()}")
            if time.monotonic() > deadline:
                raise Failed(f"{what}: not done within {self.timeout:.0f} s")
            QTest.qWait(50)

    def run(self, action: str, what: str) -> None:
        """Press Run (or Re-run) and wait until the result lies on the canvas."""
        window = self.window

        def start() -> None:
            self.act(action)
            if not window.runs.running:
                raise Failed(f"{what} did not start: {window.banner.message() or 'no reason given'}")

        result = self.recorder.after(start, "result", what, self.timeout)
        self.wait_until(lambda: window.document.result is result and not window.runs.running, what)

    def shoot(self, name: str) -> bool:
        """Save the window as editor-NAME.png if wanted; True once the last wanted one is saved."""
        if name in self.wanted:
            QTest.qWait(100)  # let the last repaints land
            path = self.out / f"editor-{name}.png"
            if not self.window.grab().save(str(path)):
                raise Failed(f"cannot write {path}")
            print(f"wrote {path}", flush=True)
        return name == self.wanted[-1]

    # -- the story the four screenshots tell -----------------------------------------------------
    def take(self) -> None:
        window = self.window
        self.recorder.after(window.start_engine, "ready", f"loading the weights in {WEIGHTS}", self.timeout)
        self.act("open_sample")
        self.wait_until(lambda: window.document is not None, "opening the sample portrait")
        self.act("fit")  # the first photo opened is fitted to the canvas's size before it was shown
        h, w = window.document.base.shape[:2]

        # 1. The helmet (bottom right): lasso around it, a brush stroke over its clasp.
        self.act("tool_lasso")
        cx, cy, r = 0.775 * w, 0.88 * h, 0.235 * w
        outline = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in (2 * math.pi * i / 48 for i in range(49))]
        self.drag([(min(max(x, -1), w + 1), min(max(y, -1), h + 1)) for x, y in outline], steps=1)
        self.act("tool_brush")
        self.drag([(0.97 * w, 0.86 * h), (0.975 * w, 0.93 * h), (0.97 * w, 0.99 * h)])
        if not window.document.mask.any():
            raise Failed("painting did not change the mask")
        if self.shoot("mask"):
            return

        # 2. Expand canvas: zoom out for room, drag the bottom then the left border outward, fit.
        self.act("tool_expand")
        self.act("zoom_out")
        self.act("zoom_out")
        self.drag([(w / 2, h), (w / 2, h + 0.2 * h)])
        self.drag([(0, h / 2), (-0.12 * w, h / 2)])
        margins = window.document.margins
        if not (margins.bottom and margins.left):
            raise Failed(f"dragging the borders did not add margins: {margins}")
        self.act("fit")
        if self.shoot("expand"):
            return

        # 3. Run, then correct the parsing map: fill the chest (on the suit) with "coat", paint the
        # suit on down into the bottom margin and the hair around the face with the label brush.
        self.run("run", "the run")
        self.pick_label("coat")
        self.act("tool_fill")
        self.click(0.5 * w, 0.74 * h)
        self.act("tool_label_brush")
        for _ in range(4):
            self.act("brush_bigger")
        self.drag([(0.04 * w, h + 0.045 * h), (0.68 * w, h + 0.045 * h), (0.68 * w, h + 0.14 * h),
                   (0.04 * w, h + 0.14 * h)])
        self.pick_label("hair")
        self.drag([(0.32 * w, 0.21 * h), (0.34 * w, 0.1 * h), (0.44 * w, 0.04 * h), (0.55 * w, 0.1 * h),
                   (0.57 * w, 0.2 * h)])
        if not (window.document.parsing_edited and window.canvas.parsing_visible()):
            raise Failed("the fill and the label brush did not edit the parsing map")
        if self.shoot("parsing"):
            return

        # 4. Re-run with the edited parsing, then drag the Split slider part way.
        self.run("rerun_parsing", "the re-run with the edited parsing")
        self.drag_slider(window.split_slider, SPLIT)
        self.shoot("compare")


def take(out: Path, wanted: list[str], device: str, timeout: float) -> None:
    """Open the editor window with throwaway settings and take the ``wanted`` screenshots."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    with tempfile.TemporaryDirectory() as tmp:
        store = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        store.setValue("weights_dir", str(WEIGHTS))
        store.setValue("device", device)
        store.setValue("brush_size", 28)
        window = MainWindow(store)
        window.resize(*WINDOW_SIZE)
        window.show()
        try:
            if not QTest.qWaitForWindowExposed(window):
                raise Failed("the editor window did not appear")
            window.activateWindow()
            Shooter(window, out, wanted, timeout).take()
        finally:
            window.undo_stack.setClean()  # no "save changes?" question
            window.close()
            app.processEvents()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Retake the README's editor screenshots.")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the PNGs (default: docs/screenshots)")
    parser.add_argument("--only", help=f"retake one: {', '.join(SHOTS)}")
    parser.add_argument("--device", default="cpu", help="device for the networks (default: cpu)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for each step (default: 600)")
    args = parser.parse_args(argv)
    only = args.only and args.only.removeprefix("editor-").removesuffix(".png")
    if only and only not in SHOTS:
        parser.error(f"--only takes one of {', '.join(SHOTS)}")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        take(args.out, [only] if only else list(SHOTS), args.device, args.timeout)
    except (Failed, OSError) as exc:
        print(f"take.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
