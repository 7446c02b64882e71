"""Running completions: from the Run button to the result on the canvas.

The engine does the work in its thread; this object turns a press of Run into a request,
follows the request's stages in the status bar, puts the parsing map and the result into the
document as they arrive (only for the newest request, and only for the document it was made
from), and accepts or discards the result. Everything here runs on the GUI thread: the engine's
signals reach these methods queued, because they are methods of a QObject living there.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QUndoStack

from .canvas import Canvas
from .commands import PARSING, AcceptResultCommand, SetParsingCommand
from .engine import Engine
from .panels.progress import RunProgress


class RunController(QObject):
    message = Signal(str, int)
    """(status bar text, milliseconds to show it; 0 = until replaced)"""
    error = Signal(str)
    """Something failed: shown in the banner until closed."""
    note = Signal(str)
    """A hint ("nothing to fill"): shown in the banner for a few seconds."""
    changed = Signal()
    """Running, result or models changed: the window updates its actions."""
    engineState = Signal(str, str)
    """(short text for the status bar, longer tooltip)"""

    def __init__(self, engine: Engine, canvas: Canvas, undo_stack: QUndoStack, progress: RunProgress,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.canvas = canvas
        self.undo_stack = undo_stack
        self.progress = progress
        self.ready = False
        self._id = 0
        self._document = None
        self._brought_parsing = False
        self.settings = None
        """The editor's settings (``EditorSettings``): which optional stages a run uses."""
        engine.ready.connect(self._on_ready)
        engine.loadFailed.connect(self._on_load_failed)
        engine.stageStarted.connect(self._on_stage_started)
        engine.progress.connect(self._on_progress)
        engine.parsingReady.connect(self._on_parsing_ready)
        engine.resultReady.connect(self._on_result_ready)
        engine.failed.connect(self._on_failed)
        engine.cancelled.connect(self._on_cancelled)

    @property
    def running(self) -> bool:
        return bool(self._id)

    # -- models ---------------------------------------------------------------------------------
    def start_engine(self, weights_dir: str | None, device: str) -> None:
        """Load the networks in the engine's thread (call once the window is visible)."""
        self.ready = False
        self.message.emit("Loading models…", 0)
        self.engineState.emit("Models: loading…", "Loading torch and the networks in the background")
        self.engine.load(weights_dir, device)

    @Slot(str)
    def _on_ready(self, description: str) -> None:
        self.ready = True
        self.message.emit(f"Ready — {description}", 10000)
        device = description.rsplit(" on ", 1)[-1] if " on " in description else "ready"
        self.engineState.emit(f"Models: {device}", description)
        self.changed.emit()

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self.message.emit("The networks could not be loaded", 0)
        self.engineState.emit("Models: none", message)
        self.error.emit(f"The networks could not be loaded: {message}. "
                        "Choose a weights folder in File ▸ Settings.")

    # -- a run ----------------------------------------------------------------------------------
    def run(self, use_parsing: bool | None = None) -> None:
        """Send a snapshot of the document to the engine; a run already going is replaced.

        ``use_parsing`` None: the parsing map goes along when the user edited it (stage I is
        then skipped); True: always (re-run with the map as shown).
        """
        doc = self.canvas.document
        if doc is None:
            return
        if not doc.margins.any() and not doc.mask.any():
            self.note.emit("Nothing to fill: paint over what should go (B), or drag a border outward "
                           "with Expand canvas (C).")
            return
        if use_parsing and doc.parsing is None:
            self.note.emit("There is no parsing map yet: run once first.")
            return
        request = doc.request(use_parsing=use_parsing, use_detail=getattr(self.settings, "texture_from_photo", True),
                              mirror_face=getattr(self.settings, "mirror_faces", True))
        self._brought_parsing = request.parsing is not None
        self._document = doc
        self._id = self.engine.submit(request)
        self.progress.start("Starting…" if self.ready else "Waiting for the models…")
        self.changed.emit()

    def cancel(self) -> None:
        if self._id:
            self.engine.cancel()
            self.message.emit("Cancelling…", 0)

    def forget(self) -> None:
        """A new document: whatever runs now belongs to the old one."""
        if self.engine.is_busy():
            self.engine.cancel()
        self._finish()

    def _current(self, request_id: int) -> bool:
        return request_id == self._id and self.canvas.document is self._document

    def _finish(self) -> None:
        self._id = 0
        self.progress.finish()
        self.changed.emit()

    @Slot(int, str)
    def _on_stage_started(self, request_id: int, stage: str) -> None:
        if self._current(request_id):
            self.progress.set_stage(stage)

    @Slot(int, str, float)
    def _on_progress(self, request_id: int, stage: str, fraction: float) -> None:
        if self._current(request_id):
            self.progress.set_stage(stage, fraction)

    @Slot(int, object)
    def _on_parsing_ready(self, request_id: int, parsing) -> None:
        """Stage I is done: show its map while completion goes on (an undo step, so that a
        parsing the user had edited is never lost)."""
        doc = self.canvas.document
        if not self._current(request_id) or self._brought_parsing:
            return
        w, h = doc.canvas_size
        if parsing.shape != (h, w):
            return  # the margins changed while it ran; the result will say so
        tool = self.canvas.tool()
        if tool is not None and tool.needs_parsing:
            tool.cancel()  # a label stroke on the old map must not land on the new one
        self.undo_stack.push(SetParsingCommand(self.canvas, parsing, "Parsing from the network", edited=False))
        self.canvas.set_parsing_visible(True)

    @Slot(int, object)
    def _on_result_ready(self, request_id: int, result) -> None:
        if not self._current(request_id):
            return
        self._finish()
        try:
            self.canvas.document.set_result(result)
        except ValueError as exc:
            self.error.emit(f"The result no longer fits: {exc}. Press Run again.")
            return
        self.canvas.document_changed("result")
        self.canvas.document_changed(PARSING)
        self.canvas.set_mask_visible(False)
        self.canvas.set_parsing_visible(False)
        seconds = result.timings.get("total", 0.0)
        self.message.emit(f"Result ready in {seconds:.1f} s — Enter accepts, Backspace discards, "
                          "hold \\ to compare, O shows the parsing", 15000)
        self.changed.emit()

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if self._current(request_id):
            self._finish()
            self.message.emit("Completion failed", 10000)
            self.error.emit(f"Completion failed: {message}")

    @Slot(int)
    def _on_cancelled(self, request_id: int) -> None:
        if self._current(request_id):
            self._finish()
            self.message.emit("Cancelled", 5000)

    # -- the result -----------------------------------------------------------------------------
    def accept(self) -> bool:
        """The result becomes the photo (one undo step). False when there is none that fits."""
        doc = self.canvas.document
        if doc is None or doc.result is None:
            return False
        w, h = doc.canvas_size
        if doc.result.image.shape[:2] != (h, w):
            self.error.emit("The margins changed since this result was made: press Run again.")
            return False
        self.undo_stack.push(AcceptResultCommand(self.canvas))
        self.canvas.set_mask_visible(True)
        self.message.emit("Result accepted: keep editing, or save", 5000)
        self.changed.emit()
        return True

    def discard(self) -> None:
        doc = self.canvas.document
        if doc is not None and doc.result is not None:
            doc.discard_result()
            self.canvas.document_changed("result")
            self.canvas.set_mask_visible(True)
            self.message.emit("Result discarded", 3000)
            self.changed.emit()
