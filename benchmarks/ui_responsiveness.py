"""Does the window stay responsive? GUI event-loop gaps while the engine works, and brush cost.

Run by hand: ``QT_QPA_PLATFORM=offscreen python benchmarks/ui_responsiveness.py [--weights DIR]
[--device cpu] [--runs 3] [--torch-threads N]``. Prints a markdown table.

1. A 5 ms QTimer heartbeat runs on the GUI thread while the :class:`~portrait_editor.ui.engine.Engine`
   (a) imports torch and loads the weights, and (b) completes a 12-megapixel photo (4000x3000)
   with a 256x256 hole. The longest gap between two ticks is how long the window would have
   been frozen. Without ``--weights`` the "lite" networks get random weights (speed does not
   depend on the values), written to a temporary folder by a child process, so that this process
   imports torch only in the engine thread, as the app does.
2. One brush stroke segment on a 24-megapixel (6000x4000) mask, through the GUI's own painting
   function (``portrait_editor.ui.tools.brush.paint_segment``, or ``...tools.paint``).

Targets (issue 4): no gap over 50 ms; a stroke segment under 16 ms.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

PHOTO = (3000, 4000)  # H, W: 12 megapixels
HOLE = 256
MASK_24MP = (4000, 6000)


def make_random_weights(folder: str) -> None:
    """Child process: lite P, G, F with random weights, saved like real ones."""
    import torch

    from portrait_editor.models import build_model
    from portrait_editor.pipeline import save_weights

    torch.manual_seed(0)
    for role in ("parsing", "completion", "face"):
        save_weights(build_model(role, preset="lite"), role, folder,
                     metadata={"training": {"data": "none (random benchmark weights)"}})


class Heartbeat:
    """Ticks every 5 ms on the GUI thread and remembers when."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))
        self.timer.start(5)

    def longest_gap_ms(self, t0: float, t1: float) -> tuple[float, int]:
        """Longest interval without a tick in [t0, t1] (the ends count as ticks) and the tick count."""
        ticks = [t0] + [t for t in self.times if t0 <= t <= t1] + [t1]
        return max(b - a for a, b in zip(ticks, ticks[1:], strict=False)) * 1000, len(ticks) - 2


def wait_for(condition, timeout_s: float = 600.0) -> None:
    """Spin the GUI event loop (as the app would) until ``condition()`` holds."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: condition() and loop.quit())
    poll.start(1)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    poll.stop()
    if not condition():
        raise TimeoutError("the engine did not answer in time")


def photo_and_mask() -> tuple[np.ndarray, np.ndarray]:
    import cv2

    h, w = PHOTO
    rng = np.random.default_rng(0)
    image = cv2.resize(rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8), (w, h))
    mask = np.zeros((h, w), bool)
    y0, x0 = (h - HOLE) // 2, (w - HOLE) // 2
    mask[y0 : y0 + HOLE, x0 : x0 + HOLE] = True
    return image, mask


def engine_rows(weights: str | None, device: str, runs: int, torch_threads: int | None) -> list[tuple[str, str]]:
    from PySide6.QtCore import QObject, Slot
    from PySide6.QtWidgets import QApplication

    from portrait_editor.document import Document
    from portrait_editor.ui.engine import Engine

    app = QApplication.instance() or QApplication([])
    rows: list[tuple[str, str]] = []
    tmp = None
    if weights is None:
        tmp = tempfile.TemporaryDirectory(prefix="ui-bench-weights-")
        subprocess.run([sys.executable, __file__, "--make-weights", tmp.name], check=True)
        weights = tmp.name
    assert "torch" not in sys.modules, "the GUI thread must not import torch"

    class Events(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.log: list[tuple] = []

        @Slot(str)
        def on_ready(self, text: str) -> None:
            self.log.append(("ready", text, time.perf_counter()))

        @Slot(str)
        def on_load_failed(self, text: str) -> None:
            self.log.append(("loadFailed", text, time.perf_counter()))

        @Slot(int, object)
        def on_result(self, job: int, result: object) -> None:
            self.log.append(("result", job, time.perf_counter(), result))

        @Slot(int, str)
        def on_failed(self, job: int, message: str) -> None:
            self.log.append(("failed", job, time.perf_counter(), message))

        def done(self, job: int) -> bool:
            return any(e[0] in ("result", "failed") and e[1] == job for e in self.log)

    events = Events()
    engine = Engine(torch_threads=torch_threads)
    engine.ready.connect(events.on_ready)
    engine.loadFailed.connect(events.on_load_failed)
    engine.resultReady.connect(events.on_result)
    engine.failed.connect(events.on_failed)
    beat = Heartbeat()
    try:
        t0 = time.perf_counter()
        engine.load(weights, device)
        wait_for(lambda: any(e[0] in ("ready", "loadFailed") for e in events.log))
        kind, text, t1 = events.log[-1][:3]
        if kind != "ready":
            raise SystemExit(f"load failed: {text}")
        gap, _ = beat.longest_gap_ms(t0, t1)
        rows.append(("load: import torch + weights (engine thread)", f"{t1 - t0:.2f} s, longest GUI gap {gap:.0f} ms"))
        rows.append(("  networks", text))

        image, mask = photo_and_mask()
        document = Document(image)
        document.set_mask(mask)
        for run in range(runs):
            t0 = time.perf_counter()
            request = document.request()
            job = engine.submit(request)
            t_submit = time.perf_counter()
            wait_for(lambda job=job: events.done(job))
            entry = next(e for e in events.log if e[1] == job and e[0] in ("result", "failed"))
            if entry[0] == "failed":
                raise SystemExit(f"completion failed: {entry[3]}")
            t1 = entry[2]
            gap, ticks = beat.longest_gap_ms(t0, t1)
            timings = entry[3].timings
            label = "cold" if run == 0 else "warm"
            stages = ", ".join(f"{k} {v * 1000:.0f}" for k, v in timings.items() if k != "total")
            rows.append((f"completion 12 MP, 256x256 hole, run {run + 1} ({label})",
                         f"{t1 - t0:.2f} s to resultReady (pipeline {timings['total']:.2f} s: {stages} ms); "
                         f"longest GUI gap {gap:.0f} ms over {ticks} ticks"))
            if run == 0:
                rows.append(("  request() + submit() on the GUI thread", f"{(t_submit - t0) * 1000:.1f} ms"))
    finally:
        beat.timer.stop()
        engine.shutdown()
        if tmp is not None:
            tmp.cleanup()
    del app
    return rows


def find_paint_segment():
    for name in ("portrait_editor.ui.tools.brush", "portrait_editor.ui.tools.paint"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "paint_segment"):
            return module.paint_segment, name
    return None, None


def brush_rows(repeat: int = 30) -> list[tuple[str, str]]:
    paint_segment, where = find_paint_segment()
    if paint_segment is None:
        return [("brush segment, 24 MP mask", "n/a (brush not found)")]
    mask = np.zeros(MASK_24MP, bool)
    h, w = MASK_24MP
    rows = []
    for radius in (0.5, 25.0, 200.0):
        times = []
        for i in range(repeat):
            # a typical mouse-move segment: ~12 px between two events, somewhere new each time
            x, y = 1000 + 97 * i, 1000 + 61 * i
            t = time.perf_counter()
            paint_segment(mask, (x, y), (x + 10, y + 7), radius, bool(i % 2 == 0))
            times.append(time.perf_counter() - t)
        rows.append((f"brush segment, 24 MP mask, radius {radius:g} px ({where}.paint_segment)",
                     f"median {statistics.median(times) * 1000:.2f} ms, max {max(times) * 1000:.2f} ms"))
    assert mask.shape == (h, w)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a weights folder (default: random 'lite' networks)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=None, help="cap torch's CPU threads")
    parser.add_argument("--make-weights", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make_weights:
        make_random_weights(args.make_weights)
        return
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    rows = engine_rows(args.weights, args.device, args.runs, args.torch_threads)
    rows += brush_rows()
    print(f"\nUI responsiveness ({os.cpu_count()} CPUs, device {args.device}, "
          f"torch threads {args.torch_threads or 'default'}; targets: gap <= 50 ms, segment < 16 ms)\n")
    print("| measurement | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
