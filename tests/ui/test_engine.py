"""The engine with tiny random-weight networks: ordering of signals, cancellation, failures.

Runs are made "long" deterministically by a gate around the completion network: the engine
thread blocks inside stage II until the test opens the gate, so a cancel or a second submit
always lands while a job is running. No sleeps.
"""

import dataclasses
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import QObject, QTimer, Slot

from portrait_editor.pipeline import CompletionRequest, Margins
from portrait_editor.ui.engine import Engine

TIMEOUT = 10_000


class Gate(torch.nn.Module):
    """Wraps a network; its forward waits until the test opens the gate."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner
        self.config = getattr(inner, "config", None)
        self.entered = threading.Event()
        self.open = threading.Event()

    def forward(self, *args):
        self.entered.set()
        assert self.open.wait(TIMEOUT / 1000), "the test never opened the gate"
        return self.inner(*args)


class Recorder(QObject):
    """Collects the engine's signals on the GUI thread, as the window would."""

    def __init__(self, engine: Engine):
        super().__init__()
        self.events: list[tuple] = []
        for name in ("ready", "loadFailed", "stageStarted", "parsingReady", "resultReady", "failed", "cancelled"):
            getattr(engine, name).connect(getattr(self, name))
        self.gui_thread = threading.current_thread()
        self.wrong_thread = False

    def _add(self, *event):
        self.wrong_thread |= threading.current_thread() is not self.gui_thread
        self.events.append(event)

    @Slot(str)
    def ready(self, text):
        self._add("ready", text)

    @Slot(str)
    def loadFailed(self, text):  # noqa: N802 - mirrors the signal
        self._add("loadFailed", text)

    @Slot(int, str)
    def stageStarted(self, job, stage):  # noqa: N802
        self._add("stage", job, stage)

    @Slot(int, object)
    def parsingReady(self, job, labels):  # noqa: N802
        self._add("parsing", job, labels)

    @Slot(int, object)
    def resultReady(self, job, result):  # noqa: N802
        self._add("result", job, result)

    @Slot(int, str)
    def failed(self, job, message):
        self._add("failed", job, message)

    @Slot(int)
    def cancelled(self, job):
        self._add("cancelled", job)

    def of(self, kind, job=None):
        return [e for e in self.events if e[0] == kind and (job is None or e[1] == job)]

    def finished(self, job):
        return any(e[0] in ("result", "failed", "cancelled") and e[1] == job for e in self.events)


@pytest.fixture
def engine(qtbot):
    eng = Engine()
    rec = Recorder(eng)
    eng.start()
    yield eng, rec
    assert eng.shutdown(TIMEOUT)
    assert not rec.wrong_thread, "a signal reached a GUI-thread QObject on another thread"


def _ready(qtbot, eng, rec, bundle):
    eng.use_bundle(bundle, "cpu")
    qtbot.waitUntil(lambda: bool(rec.of("ready") or rec.of("loadFailed")), timeout=TIMEOUT)
    assert rec.of("ready"), rec.events


def _request(portrait, **kw) -> CompletionRequest:
    mask = np.zeros(portrait.shape[:2], bool)
    mask[30:70, 40:80] = True
    return CompletionRequest(image=portrait, mask=mask, **kw)


def _gated(bundle):
    """Gate stage II: G, and G-extrapolation (used when a hole touches the border) on the same events."""
    gate = Gate(bundle.completion)
    extrapolation = Gate(bundle.extrapolation)
    extrapolation.entered, extrapolation.open = gate.entered, gate.open
    return dataclasses.replace(bundle, completion=gate, extrapolation=extrapolation), gate


def test_module_does_not_import_torch():
    code = "import sys\nimport portrait_editor.ui.engine\nassert 'torch' not in sys.modules\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_load_weights_folder(qtbot, engine, tiny_weights, tmp_path):
    # Waits go through the Recorder (a GUI-thread object), never qtbot.waitSignal on a signal
    # emitted from the engine thread: that handler would run on the engine thread and can race.
    eng, rec = engine
    eng.load(str(tiny_weights), "cpu")
    qtbot.waitUntil(lambda: bool(rec.of("ready") or rec.of("loadFailed")), timeout=TIMEOUT)
    assert [e[1] for e in rec.of("ready")] == [f"weights: {tiny_weights} on cpu"], rec.events
    empty = tmp_path / "empty"
    empty.mkdir()
    eng.load(str(empty), "cpu")
    qtbot.waitUntil(lambda: bool(rec.of("loadFailed")), timeout=TIMEOUT)
    message = rec.of("loadFailed")[0][1]
    assert str(empty) in message and "\n" not in message


def test_run_delivers_stages_parsing_and_result_while_the_gui_ticks(qtbot, engine, tiny_bundle, portrait):
    eng, rec = engine
    bundle, gate = _gated(tiny_bundle)
    _ready(qtbot, eng, rec, bundle)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)
    job = eng.submit(_request(portrait, margins=Margins(0, 8, 0, 0), use_detail=True))
    qtbot.waitUntil(lambda: bool(rec.of("parsing", job)), timeout=TIMEOUT)
    # The engine thread is now blocked inside stage II; the GUI thread still runs its timer.
    qtbot.waitUntil(gate.entered.is_set, timeout=TIMEOUT)
    n = len(ticks)
    qtbot.waitUntil(lambda: len(ticks) >= n + 3, timeout=TIMEOUT)
    assert not rec.finished(job)
    gate.open.set()
    qtbot.waitUntil(lambda: rec.finished(job), timeout=TIMEOUT)
    timer.stop()
    stages = [e[2] for e in rec.of("stage", job)]
    assert stages == ["parsing", "completion", "face", "detail", "blending"]
    (_, _, labels), = rec.of("parsing", job)
    (_, _, result), = rec.of("result", job)
    assert labels.shape == (160, 128) and labels.dtype == np.uint8
    assert result.image.shape == (160, 128, 3) and result.parsing.shape == (160, 128)
    kinds = [e[0] for e in rec.events if len(e) > 1 and e[1] == job]
    assert kinds.index("parsing") < kinds.index("stage", kinds.index("parsing")) < kinds.index("result")


def test_cancel_while_running(qtbot, engine, tiny_bundle, portrait):
    eng, rec = engine
    bundle, gate = _gated(tiny_bundle)
    _ready(qtbot, eng, rec, bundle)
    job = eng.submit(_request(portrait))
    qtbot.waitUntil(gate.entered.is_set, timeout=TIMEOUT)
    assert eng.is_busy()
    eng.cancel()
    gate.open.set()
    qtbot.waitUntil(lambda: rec.finished(job), timeout=TIMEOUT)
    assert rec.of("cancelled", job) and not rec.of("result", job) and not rec.of("failed", job)
    # stopped at the boundary after stage II: no face, no blending
    assert [e[2] for e in rec.of("stage", job)] == ["parsing", "completion"]
    qtbot.waitUntil(lambda: not eng.is_busy(), timeout=TIMEOUT)


def test_newest_request_wins(qtbot, engine, tiny_bundle, portrait):
    eng, rec = engine
    bundle, gate = _gated(tiny_bundle)
    _ready(qtbot, eng, rec, bundle)
    first = eng.submit(_request(portrait))
    qtbot.waitUntil(gate.entered.is_set, timeout=TIMEOUT)  # first is running
    second = eng.submit(_request(portrait))  # pending, replaced by the third
    third = eng.submit(_request(portrait, use_face=False))
    gate.open.set()
    qtbot.waitUntil(lambda: rec.finished(third), timeout=TIMEOUT)
    assert rec.of("cancelled", first) and rec.of("cancelled", second)
    assert [e[1] for e in rec.of("result")] == [third]
    assert not rec.of("stage", second)  # dropped without ever starting
    # each id ended exactly once
    ends = [e[1] for e in rec.events if e[0] in ("result", "failed", "cancelled")]
    assert sorted(ends) == [first, second, third]


def test_quick_submits_without_a_gate(qtbot, engine, tiny_bundle, portrait):
    eng, rec = engine
    _ready(qtbot, eng, rec, tiny_bundle)
    first = eng.submit(_request(portrait))
    last = eng.submit(_request(portrait))
    qtbot.waitUntil(lambda: rec.finished(last), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: rec.finished(first), timeout=TIMEOUT)
    assert rec.of("cancelled", first) and not rec.of("result", first)
    assert rec.of("result", last)


def test_given_parsing_skips_stage_one(qtbot, engine, tiny_bundle, portrait):
    eng, rec = engine
    _ready(qtbot, eng, rec, tiny_bundle)
    parsing = np.full(portrait.shape[:2], 255, np.uint8)
    parsing[:, :60] = 13
    job = eng.submit(_request(portrait, parsing=parsing))
    qtbot.waitUntil(lambda: rec.finished(job), timeout=TIMEOUT)
    assert rec.of("result", job), rec.events
    assert not rec.of("parsing", job)
    assert "parsing" not in [e[2] for e in rec.of("stage", job)]


def test_bad_request_fails_and_the_engine_lives_on(qtbot, engine, tiny_bundle, portrait):
    eng, rec = engine
    _ready(qtbot, eng, rec, tiny_bundle)
    bad = eng.submit(CompletionRequest(image=portrait, mask=np.ones((10, 10), bool)))
    qtbot.waitUntil(lambda: rec.finished(bad), timeout=TIMEOUT)
    (_, _, message), = rec.of("failed", bad)
    assert message.startswith("bad request: ") and "10x10" in message and "\n" not in message
    good = eng.submit(_request(portrait))
    qtbot.waitUntil(lambda: rec.finished(good), timeout=TIMEOUT)
    assert rec.of("result", good)


def test_submit_before_load_waits_for_the_weights(qtbot, engine, tiny_bundle, tmp_path, portrait):
    eng, rec = engine
    job = eng.submit(_request(portrait))
    eng.use_bundle(tiny_bundle, "cpu")
    qtbot.waitUntil(lambda: rec.finished(job), timeout=TIMEOUT)
    assert rec.of("result", job)
    # after a failed load, waiting requests fail with the reason
    eng.load(str(tmp_path), "cpu")
    qtbot.waitUntil(lambda: bool(rec.of("loadFailed")), timeout=TIMEOUT)
    job = eng.submit(_request(portrait))
    qtbot.waitUntil(lambda: rec.finished(job), timeout=TIMEOUT)
    (_, _, message), = rec.of("failed", job)
    assert message.startswith("no weights loaded: ") and str(tmp_path) in message


def test_failures_are_classified(qtbot, engine, tiny_bundle, portrait):
    eng, rec = engine

    class Broken(torch.nn.Module):
        def __init__(self, error):
            super().__init__()
            self.error = error

        def forward(self, *args):
            raise self.error

    for error, expected in (
        (RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB"), "out of memory on cpu"),
        (torch.OutOfMemoryError("boom"), "out of memory on cpu"),
        (KeyError("weird"), "completion failed: KeyError"),
    ):
        rec.events.clear()
        _ready(qtbot, eng, rec, dataclasses.replace(tiny_bundle, completion=Broken(error)))
        job = eng.submit(_request(portrait))
        qtbot.waitUntil(lambda job=job: rec.finished(job), timeout=TIMEOUT)
        (_, _, message), = rec.of("failed", job)
        assert message.startswith(expected) and "\n" not in message


def test_shutdown_joins_the_thread(qtbot, tiny_bundle, portrait):
    eng = Engine()
    rec = Recorder(eng)
    bundle, gate = _gated(tiny_bundle)
    try:
        _ready(qtbot, eng, rec, bundle)
        job = eng.submit(_request(portrait))
        qtbot.waitUntil(gate.entered.is_set, timeout=TIMEOUT)
        waiting = eng.submit(_request(portrait))
    finally:
        gate.open.set()
        assert eng.shutdown(TIMEOUT)
    assert eng._thread.isFinished()
    assert eng.thread() is QObject().thread()  # handed back to the GUI thread
    assert eng.shutdown()  # twice is fine
    with pytest.raises(RuntimeError, match="shut down"):
        eng.submit(_request(portrait))
    qtbot.waitUntil(lambda: rec.finished(job) and rec.finished(waiting), timeout=TIMEOUT)
    assert rec.of("cancelled", waiting) and not rec.of("result", waiting)
