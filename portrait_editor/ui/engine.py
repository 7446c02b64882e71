"""The one bridge between the GUI and the pipeline: a worker thread that owns torch and the networks.

Why a worker thread with a request slot rather than one Qt worker per run: the networks are
loaded once and are not thread-safe, a photographer presses Run again long before a 12-megapixel
job ends, and only the newest request matters. So there is one thread, one loaded ``Completer``
and at most one pending request (napari's ``_qt/qthreading.py`` workers are the model for the
signals and for cancelling at each step).

Life cycle::

    engine = Engine()
    engine.resultReady.connect(window.on_result)   # connect to QObject methods: see below
    engine.start()                                  # optional: load() and submit() start it too
    engine.load(settings.weights_dir, settings.device)   # after the window is shown
    request_id = engine.submit(document.request())
    ...
    engine.shutdown()                               # on close; waits for the thread

Guarantees:

* Nothing heavy runs on the calling thread: ``load``/``submit``/``cancel`` only record what to do
  and wake the worker. torch is imported in the worker (importing the pipeline takes seconds),
  never by importing this module.
* Every submitted id ends with exactly one of ``resultReady``, ``failed`` or ``cancelled``.
  A newer ``submit`` replaces a pending request (its id gets ``cancelled``) and cancels a running
  one at its next stage boundary. Requests submitted before the weights are loaded wait for
  ``load``; if loading fails they get ``failed`` with the reason.
* All signals are emitted from the engine thread. Bound methods of QObjects living on the GUI
  thread (widgets, the window) are therefore called on the GUI thread through the event loop;
  a plain function or lambda would run on the engine thread, so do not touch widgets from one.
* ``load`` while a job runs lets the job finish with the old networks, then swaps them.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import traceback
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal

if TYPE_CHECKING:
    from ..pipeline import CompletionRequest, ModelBundle

__all__ = ["Engine"]

log = logging.getLogger(__name__)

_MAX_MESSAGE = 300


@dataclass
class _Job:
    id: int
    request: CompletionRequest
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Load:
    weights_dir: str | None
    device: str
    bundle: ModelBundle | None = None


class _EngineThread(QThread):
    """Runs the engine's loop as the thread's body (no Qt event loop is needed in it)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.setObjectName("portrait-editor engine")
        self._engine = engine

    def run(self) -> None:
        self._engine._loop()


class Engine(QObject):
    """Runs completions one at a time on its own QThread; see the module docstring."""

    ready = Signal(str)
    """Weights loaded: a one-line description, e.g. ``"weights: /path on cpu"``."""
    labelSetLoaded = Signal(object)
    """The loaded weights' ``LabelSet`` (what the parsing ids mean); sent just before ``ready``."""
    loadFailed = Signal(str)
    """Weights or device could not be loaded: a one-line message naming what was looked for."""
    stageStarted = Signal(int, str)
    """(request id, stage) with stage one of ``pipeline.STAGES``, in pipeline order."""
    progress = Signal(int, str, float)
    """(request id, stage, fraction of that stage done)."""
    parsingReady = Signal(int, object)
    """(request id, H x W uint8 labels at canvas size) right after stage I; not sent when the
    request brought its own parsing (stage I skipped)."""
    resultReady = Signal(int, object)
    """(request id, ``CompletionResult``)."""
    failed = Signal(int, str)
    """(request id, one-line message): out of memory, missing weights, bad request, ..."""
    cancelled = Signal(int)
    """(request id): cancelled, replaced by a newer request, or dropped at shutdown."""

    def __init__(self, *, torch_threads: int | None = None) -> None:
        """``torch_threads`` caps torch's CPU threads (None: torch's default)."""
        super().__init__()  # no parent: a QObject with a parent cannot move to another thread
        self._torch_threads = torch_threads
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._thread: _EngineThread | None = None
        self._stopping = False
        self._load: _Load | None = None
        self._pending: _Job | None = None
        self._running: _Job | None = None
        self._dropped: list[int] = []
        self._completer: Any = None  # touched only by the engine thread, read under the lock
        self._load_error: str | None = None

    # -- called from the GUI thread ---------------------------------------------------------------
    def start(self) -> None:
        """Create the engine thread and move this object to it (idempotent)."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("the engine has been shut down")
            if self._thread is not None:
                return
            self._thread = _EngineThread(self)
        self.moveToThread(self._thread)
        self._thread.start()
        app = QCoreApplication.instance()
        if app is not None:  # a safety net: a QThread destroyed while running aborts the process
            ref = weakref.ref(self)
            app.aboutToQuit.connect(lambda: (engine := ref()) is not None and engine.shutdown())

    def load(self, weights_dir: str | None, device: str = "auto") -> None:
        """Load the networks in the engine thread; answers with ``ready`` or ``loadFailed``.

        ``weights_dir`` None searches the usual places (``$PORTRAIT_EDITOR_WEIGHTS``, the user's
        config folder, the packaged weights). Call again when the settings change.
        """
        self._queue_load(_Load(weights_dir, device))

    def use_bundle(self, bundle: ModelBundle, device: str = "cpu") -> None:
        """Like :meth:`load` with networks already built (tests, benchmarks, training previews)."""
        self._queue_load(_Load(None, device, bundle))

    def submit(self, request: CompletionRequest) -> int:
        """Queue ``request`` as the next job and return its id; replaces any pending one."""
        self.start()
        with self._cond:
            if self._stopping:
                raise RuntimeError("the engine has been shut down")
            job = _Job(next(self._ids), request)
            if self._pending is not None:
                self._dropped.append(self._pending.id)
            self._pending = job
            if self._running is not None:
                self._running.cancel.set()
            self._cond.notify_all()
        return job.id

    def cancel(self) -> None:
        """Cancel the running job (at its next stage boundary) and drop the pending one."""
        with self._cond:
            if self._running is not None:
                self._running.cancel.set()
            if self._pending is not None:
                self._dropped.append(self._pending.id)
                self._pending = None
            self._cond.notify_all()

    def is_busy(self) -> bool:
        """True while a job runs or waits."""
        with self._cond:
            return self._running is not None or self._pending is not None

    def shutdown(self, timeout_ms: int | None = None) -> bool:
        """Stop the thread: cancels the work, waits for the current stage (or a load) to end.

        Returns False only when ``timeout_ms`` passed first (then keep this object alive until
        the thread ends). Safe to call more than once.
        """
        with self._cond:
            self._stopping = True
            if self._running is not None:
                self._running.cancel.set()
            if self._pending is not None:
                self._dropped.append(self._pending.id)
                self._pending = None
            self._load = None
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            return True
        return thread.wait() if timeout_ms is None else thread.wait(int(timeout_ms))

    def _queue_load(self, task: _Load) -> None:
        self.start()
        with self._cond:
            if self._stopping:
                raise RuntimeError("the engine has been shut down")
            self._load = task  # a newer load replaces one that has not started
            self._cond.notify_all()

    # -- the engine thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            while True:
                task, dropped = self._next_task()
                for job_id in dropped:
                    self.cancelled.emit(job_id)
                if task is None:
                    break
                if isinstance(task, _Load):
                    self._do_load(task)
                elif isinstance(task, _Job):
                    self._do_job(task)
        finally:
            self._completer = None
            app = QCoreApplication.instance()
            if app is not None:  # hand the object back so it can be deleted from the GUI thread
                self.moveToThread(app.thread())

    def _next_task(self) -> tuple[_Load | _Job | str | None, list[int]]:
        """Wait for something to do: (None = stop | a load | a job | "" = only ids to cancel)."""
        with self._cond:
            while True:
                dropped, self._dropped = self._dropped, []
                if self._stopping:
                    if self._pending is not None:
                        dropped.append(self._pending.id)
                        self._pending = None
                    return None, dropped
                if self._load is not None:
                    task, self._load = self._load, None
                    return task, dropped
                if self._pending is not None and (self._completer is not None or self._load_error is not None):
                    self._running, self._pending = self._pending, None
                    return self._running, dropped
                if dropped:
                    return "", dropped
                self._cond.wait()

    def _emit_dropped(self) -> None:
        with self._cond:
            dropped, self._dropped = self._dropped, []
        for job_id in dropped:
            self.cancelled.emit(job_id)

    def _do_load(self, task: _Load) -> None:
        with self._cond:
            self._completer = None  # free the old networks (GPU memory) before loading new ones
        try:
            import torch

            from ..pipeline import Completer, load_bundle, pick_device

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if self._torch_threads:
                torch.set_num_threads(int(self._torch_threads))
            device = pick_device(task.device)
            bundle = task.bundle if task.bundle is not None else load_bundle(task.weights_dir, device)
            completer = Completer(bundle, device)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message in the window
            message = _one_line(exc)
            if not _is_weights_error(exc):
                log.error("loading the networks failed:\n%s", traceback.format_exc())
                message = f"cannot load the networks: {type(exc).__name__}: {message}"
            with self._cond:
                self._load_error = message
            self.loadFailed.emit(_clip(message))
            return
        with self._cond:
            self._completer = completer
            self._load_error = None
        self.labelSetLoaded.emit(bundle.label_set)
        self.ready.emit(f"weights: {bundle.folder} on {device}")

    def _do_job(self, job: _Job) -> None:
        from ..pipeline import Cancelled

        try:
            completer = self._completer
            if completer is None:
                self.failed.emit(job.id, _clip(f"no weights loaded: {self._load_error}"))
                return
            current: list[str] = []

            def progress(stage: str, fraction: float) -> None:
                if not current or current[-1] != stage:
                    current.append(stage)
                    self.stageStarted.emit(job.id, stage)
                self.progress.emit(job.id, stage, float(fraction))
                self._emit_dropped()

            def is_cancelled() -> bool:
                self._emit_dropped()
                return job.cancel.is_set()

            def on_parsing(labels: Any) -> None:
                if job.request.parsing is None and not job.cancel.is_set():
                    self.parsingReady.emit(job.id, labels)

            try:
                result = completer.run(job.request, progress, is_cancelled, on_parsing)
            except Cancelled:
                self.cancelled.emit(job.id)
            except Exception as exc:  # noqa: BLE001 - reported as a message, the engine lives on
                if job.cancel.is_set():
                    self.cancelled.emit(job.id)
                else:
                    self.failed.emit(job.id, _clip(self._describe_failure(exc)))
            else:
                if job.cancel.is_set():  # finished after the last boundary, but no longer wanted
                    self.cancelled.emit(job.id)
                else:
                    self.resultReady.emit(job.id, result)
        finally:
            with self._cond:
                self._running = None

    def _describe_failure(self, exc: BaseException) -> str:
        import torch

        device = getattr(self._completer, "device", "the device")
        oom_types: tuple[type[BaseException], ...] = (MemoryError,)
        for owner in (torch, torch.cuda):
            oom = getattr(owner, "OutOfMemoryError", None)
            if isinstance(oom, type):
                oom_types += (oom,)
        if _is_weights_error(exc):
            return f"missing weights: {_one_line(exc)}"
        if isinstance(exc, oom_types) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()):
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            return (f"out of memory on {device}: make the hole or the margins smaller, "
                    "or choose another device in the settings")
        if isinstance(exc, ValueError):
            return f"bad request: {_one_line(exc)}"
        log.error("completion failed:\n%s", "".join(traceback.format_exception(exc)))
        return f"completion failed: {type(exc).__name__}: {_one_line(exc)}"


def _is_weights_error(exc: BaseException) -> bool:
    weights = sys.modules.get("portrait_editor.pipeline.weights")  # absent if importing it failed
    return weights is not None and isinstance(exc, weights.WeightsError)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _clip(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."
