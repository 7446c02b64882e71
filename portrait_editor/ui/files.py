"""Files: opening and saving photos (in the background), masks and parsing maps, and the
questions around them (overwrite the original? save the changes first?).

Decoding a 24-megapixel JPEG takes about a second and writing a PNG of it several, and the first
``Document`` imports the pipeline package, which imports torch (seconds). None of that may
freeze the window, so photos are read and written by :class:`FileWorker` on one worker thread
(one, so that saves happen in order), and the answers come back as signals, queued to the GUI
thread. Masks and parsing maps are read and written at once: they are single-channel files.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from .. import imageio
from ..paths import resources_dir
from .canvas import Canvas
from .commands import SetParsingCommand, mask_command
from .panels.dialogs import ask_quality
from .panels.settings import EditorSettings

IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.tif *.tiff *.webp *.bmp)"
SAVE_FILTERS = "PNG (*.png);;JPEG (*.jpg *.jpeg);;TIFF (*.tif *.tiff);;WebP (*.webp)"
LOSSY_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
"""Formats whose quality the user chooses when saving; the others are always lossless."""

Buttons = QMessageBox.StandardButton


class FileWorker(QObject):
    """Reads and writes photos on one worker thread; each call returns a token that its answer
    carries, so that the window can ignore answers it no longer waits for."""

    opened = Signal(int, object)
    """(token, Document)"""
    saved = Signal(int, str)
    """(token, path)"""
    failed = Signal(int, str)
    """(token, one-line message naming the file)"""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portrait-editor files")
        self._tokens = itertools.count(1)

    def open(self, path: str | os.PathLike[str]) -> int:
        token = next(self._tokens)
        self._pool.submit(self._open, token, Path(path))
        return token

    def save(self, path: str | os.PathLike[str], pixels: np.ndarray, *, exif: bytes | None,
             icc: bytes | None, quality: int) -> int:
        """``pixels`` must not change while the save runs (the document's base never does)."""
        token = next(self._tokens)
        self._pool.submit(self._save, token, Path(path), pixels, exif, icc, quality)
        return token

    def shutdown(self) -> None:
        """Waits for a save under way: closing the window must not lose it."""
        self._pool.shutdown(wait=True, cancel_futures=False)

    def _open(self, token: int, path: Path) -> None:
        try:
            from ..document import Document

            document = Document.from_loaded(imageio.load_image(path))
        except imageio.ImageError as exc:
            self.failed.emit(token, str(exc))
        except Exception as exc:  # noqa: BLE001 - anything else is still a message, not a crash
            self.failed.emit(token, f"cannot open '{path}': {type(exc).__name__}: {exc}")
        else:
            self.opened.emit(token, document)

    def _save(self, token: int, path: Path, pixels: np.ndarray, exif, icc, quality: int) -> None:
        try:
            imageio.save_image(path, pixels, exif=exif, icc=icc, quality=quality)
        except imageio.ImageError as exc:
            self.failed.emit(token, str(exc))
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(token, f"cannot save '{path}': {type(exc).__name__}: {exc}")
        else:
            self.saved.emit(token, str(path))


class FileController(QObject):
    documentOpened = Signal(object)
    message = Signal(str, int)
    """(status bar text, milliseconds; 0 = until replaced)"""
    error = Signal(str)
    pathChanged = Signal()
    """Where Ctrl+S writes changed (the window title shows it)."""

    def __init__(self, window: QWidget, canvas: Canvas, undo_stack: QUndoStack, settings: EditorSettings,
                 accept_result: Callable[[], bool]) -> None:
        super().__init__(window)
        self.window = window
        self.canvas = canvas
        self.undo_stack = undo_stack
        self.settings = settings
        self.accept_result = accept_result
        self.worker = FileWorker(self)
        self.save_path: Path | None = None
        """Where Ctrl+S writes without asking (set by Save As, or once overwriting was allowed)."""
        self._open_token = 0
        self._save_token = 0
        self._save_index = -1
        self._after_save: Callable[[], None] | None = None
        self.worker.opened.connect(self._on_opened)
        self.worker.saved.connect(self._on_saved)
        self.worker.failed.connect(self._on_failed)

    @property
    def document(self):
        return self.canvas.document

    # -- opening --------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        doc = self.document
        start = str(doc.source.path.parent) if doc is not None and doc.source.path else ""
        path, _ = QFileDialog.getOpenFileName(self.window, "Open photo", start, f"{IMAGE_FILTER};;All files (*)")
        if path:
            self.open_path(path)

    def open_sample(self) -> None:
        self.open_path(resources_dir() / "sample.png")

    def open_path(self, path: str | Path) -> None:
        """Read the photo in the background; the current document stays until it has loaded."""
        if not self.can_discard(then=lambda: self.open_path(path)):
            return
        self._open_token = self.worker.open(path)
        self.message.emit(f"Opening {Path(path).name}…", 0)

    @Slot(int, object)
    def _on_opened(self, token: int, document) -> None:
        if token != self._open_token:
            return
        self.save_path = None
        path = document.source.path
        if path is not None and Path(path).resolve().parent != resources_dir().resolve():
            self.settings.add_recent(str(path))
        self.documentOpened.emit(document)
        w, h = document.size
        note = imageio.depth_note(document.source.bit_depth)
        self.message.emit(f"Opened {path.name if path else 'photo'} ({w} x {h}" + (f", {note})" if note else ")"),
                          10000 if note else 5000)

    # -- saving ---------------------------------------------------------------------------------
    def save(self) -> bool:
        """Write to the file of the last Save As; the original only after asking. False if cancelled."""
        doc = self.document
        if doc is None:
            return False
        if self.save_path is not None:
            return self._write(self.save_path)
        original = doc.source.path
        if original is None or not imageio.is_supported(original):
            return self.save_as()
        note = imageio.depth_note(doc.source.bit_depth)
        answer = QMessageBox.question(
            self.window, "Overwrite the original?",
            f"Overwrite the original photo “{original.name}”?\n\n" + (f"It has {note}.\n\n" if note else "")
            + "Choose No to save under a new name.",
            Buttons.Yes | Buttons.No | Buttons.Cancel, Buttons.No)
        if answer == Buttons.No:
            return self.save_as()
        return answer == Buttons.Yes and self._write(Path(original))

    def save_as(self) -> bool:
        if self.document is None:
            return False
        suggested = self.suggested_path()
        path, _ = QFileDialog.getSaveFileName(self.window, "Save as", str(suggested), SAVE_FILTERS)
        if not path:
            return False
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(suggested.suffix)
        if not imageio.is_supported(path):
            self.error.emit(f"cannot save '{path.name}': choose .png, .jpg, .tif or .webp")
            return False
        return self._write(path)

    def suggested_path(self) -> Path:
        """``name-edited.ext`` beside the original, so that nothing is overwritten by accident."""
        source = self.document.source.path if self.document is not None else None
        if source is None:
            return Path.home() / "portrait-edited.png"
        suffix = source.suffix.lower() if imageio.is_supported(source) else ".png"
        return source.with_name(f"{source.stem}-edited{suffix}")

    def _write(self, path: Path) -> bool:
        doc = self.document
        if doc.result is not None:
            answer = QMessageBox.question(
                self.window, "Save the result?",
                "Accept the result before saving? Choose No to save the photo without it.",
                Buttons.Yes | Buttons.No | Buttons.Cancel, Buttons.Yes)
            if answer == Buttons.Cancel or (answer == Buttons.Yes and not self.accept_result()):
                return False
        fmt = LOSSY_FORMATS.get(path.suffix.lower(), "lossless")
        quality = ask_quality(self.window, fmt, self.settings.jpeg_quality)
        if quality is None:
            return False
        if fmt != "lossless":
            self.settings.jpeg_quality = quality
        self.save_path = path
        self._save_index = self.undo_stack.index()
        self._save_token = self.worker.save(path, doc.base, exif=doc.source.exif, icc=doc.source.icc,
                                            quality=quality)
        self.message.emit(f"Saving {path.name}…", 0)
        self.pathChanged.emit()
        return True

    @Slot(int, str)
    def _on_saved(self, token: int, path: str) -> None:
        if token != self._save_token:
            return
        if self.undo_stack.index() == self._save_index:  # not if edited while it was written
            self.undo_stack.setClean()
        self.message.emit(f"Saved {path}", 5000)
        then, self._after_save = self._after_save, None
        if then is not None:
            then()

    @Slot(int, str)
    def _on_failed(self, token: int, message: str) -> None:
        if token == self._save_token:
            self._after_save = None
        elif token != self._open_token:
            return
        self.message.emit(message, 10000)
        self.error.emit(message)

    def can_discard(self, then: Callable[[], None]) -> bool:
        """True when there are no unsaved changes or the user lets them go. When the user chooses
        to save, the save runs in the background and ``then`` is called once it is written."""
        if self.document is None or self.undo_stack.isClean():
            return True
        answer = QMessageBox.question(
            self.window, "Unsaved changes", "Save the changes to this photo first?",
            Buttons.Save | Buttons.Discard | Buttons.Cancel, Buttons.Save)
        if answer == Buttons.Discard:
            return True
        if answer == Buttons.Save and self.save():
            self._after_save = then
        return False

    def shutdown(self) -> None:
        self.worker.shutdown()

    # -- masks and parsing maps -----------------------------------------------------------------
    def import_mask(self) -> None:
        doc = self.document
        if doc is None:
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "Import mask", "", f"{IMAGE_FILTER};;All files (*)")
        if not path:
            return
        try:
            mask = imageio.load_mask(path, size=doc.size)
        except imageio.ImageError as exc:
            self.error.emit(str(exc))
            return
        command = mask_command(self.canvas, mask, f"Import mask {Path(path).name}")
        if command is not None:
            self.undo_stack.push(command)
        self.canvas.set_mask_visible(True)

    def export_mask(self) -> None:
        doc = self.document
        if doc is None:
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Export mask", self._beside("mask.png"), "PNG (*.png)")
        if path:
            grey = np.where(doc.mask, np.uint8(255), np.uint8(0))
            self._write_now(lambda: imageio.save_image(path, np.repeat(grey[..., None], 3, axis=2)), path)

    def load_parsing(self) -> None:
        doc = self.document
        if doc is None:
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "Load parsing map", "",
                                              "PNG label maps (*.png);;All files (*)")
        if not path:
            return
        try:
            parsing = imageio.load_label_map(path, size=doc.canvas_size, label_set=self.canvas.label_set)
        except imageio.ImageError as exc:
            self.error.emit(str(exc))
            return
        self.undo_stack.push(SetParsingCommand(self.canvas, parsing, f"Load parsing {Path(path).name}", edited=True))
        self.canvas.set_parsing_visible(True)

    def save_parsing(self) -> None:
        doc = self.document
        if doc is None or doc.parsing is None:
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Save parsing map", self._beside("parsing.png"),
                                              "PNG (*.png)")
        if path:
            parsing = doc.parsing.copy()
            self._write_now(lambda: imageio.save_label_map(path, parsing, self.canvas.label_set), path)

    def _beside(self, suffix: str) -> str:
        source = self.document.source.path
        return str(source.with_name(f"{source.stem}-{suffix}")) if source else suffix

    def _write_now(self, write: Callable[[], None], path: str) -> None:
        try:
            write()
        except imageio.ImageError as exc:
            self.error.emit(str(exc))
        else:
            self.message.emit(f"Saved {path}", 5000)
