"""Undo steps. Every edit of the document is one QUndoCommand on the window's one QUndoStack.

Strokes keep only the rectangle they changed (before and after patches, as napari's Labels layer
keeps small history atoms), so a brush stroke on a 24-megapixel photo costs kilobytes of history,
not megabytes. Whole-map changes (a parsing from the network, a loaded parsing file, margins,
accepting a result) keep what the document's ``set_*`` methods hand back for undo.

Commands change the document only through its own methods (``apply_mask_patch``,
``set_margins``, ``accept_result``...) and work through a *host* (the canvas): ``host.document`` is the Document being edited and
``host.document_changed(part, rect)`` redraws what changed ("mask", "parsing", "margins",
"base", "result") and tells the window.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from PySide6.QtGui import QUndoCommand

from .tools.paint import Rect, is_empty, union

MASK = "mask"
PARSING = "parsing"


class Host(Protocol):
    document: Any

    def document_changed(self, part: str, rect: Rect | None = None) -> None: ...


def layer_array(document: Any, layer: str) -> np.ndarray:
    """The array a tool paints into (in place; the command then records the change)."""
    array = document.mask if layer == MASK else document.parsing
    if array is None:
        raise ValueError(f"the document has no {layer}")
    return array


class PatchRecorder:
    """Keeps, tile by tile, what an in-place edit is about to overwrite.

    Call :meth:`save` with a rectangle *before* writing into it; :meth:`patches` then gives the
    smallest rectangle that changed with its before and after pixels. Only touched tiles are
    copied, so long strokes on huge masks stay cheap.
    """

    TILE = 128

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self._tiles: dict[tuple[int, int], np.ndarray] = {}
        self._rect: Rect | None = None

    def save(self, rect: Rect) -> None:
        if is_empty(rect):
            return
        self._rect = union(self._rect, rect)
        t = self.TILE
        y0, x0, y1, x1 = rect
        for ty in range(y0 // t, (y1 - 1) // t + 1):
            for tx in range(x0 // t, (x1 - 1) // t + 1):
                if (ty, tx) not in self._tiles:
                    self._tiles[ty, tx] = self.array[ty * t : (ty + 1) * t, tx * t : (tx + 1) * t].copy()

    def patches(self) -> tuple[Rect, np.ndarray, np.ndarray] | None:
        """``(rect, before, after)`` trimmed to what actually changed, or None if nothing did."""
        if self._rect is None:
            return None
        y0, x0, y1, x1 = self._rect
        after = self.array[y0:y1, x0:x1].copy()
        before = after.copy()
        t = self.TILE
        for (ty, tx), tile in self._tiles.items():
            ty0, tx0 = ty * t, tx * t
            sy0, sx0 = max(ty0, y0), max(tx0, x0)
            sy1, sx1 = min(ty0 + tile.shape[0], y1), min(tx0 + tile.shape[1], x1)
            if sy1 > sy0 and sx1 > sx0:
                before[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = tile[sy0 - ty0 : sy1 - ty0, sx0 - tx0 : sx1 - tx0]
        return trim_patches(self._rect, before, after)


def trim_patches(rect: Rect, before: np.ndarray, after: np.ndarray) -> tuple[Rect, np.ndarray, np.ndarray] | None:
    """Shrink a before/after pair to the bounding box of the pixels that differ."""
    diff = before != after
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    y0, x0 = rect[0], rect[1]
    return (y0 + r0, x0 + c0, y0 + r1, x0 + c1), before[r0:r1, c0:c1].copy(), after[r0:r1, c0:c1].copy()


class PatchCommand(QUndoCommand):
    """A change to a rectangle of the mask or the parsing map (stroke, rectangle, lasso, fill...).

    A tool's edit is already on screen when the command is pushed (``applied=True``), so the
    first ``redo`` only redraws; whole-mask operations push it unapplied.
    """

    def __init__(self, host: Host, layer: str, rect: Rect, before: np.ndarray, after: np.ndarray, text: str,
                 *, applied: bool = True):
        super().__init__(text)
        self.host, self.layer, self.rect = host, layer, rect
        self.before, self.after = before, after
        self._applied = applied
        self._edited_before = bool(host.document.parsing_edited)

    def _write(self, patch: np.ndarray) -> None:
        doc = self.host.document
        y0, x0 = self.rect[:2]
        if self.layer == MASK:
            doc.apply_mask_patch(y0, x0, patch)
        else:
            doc.apply_parsing_patch(y0, x0, patch)

    def redo(self) -> None:
        if not self._applied:
            self._write(self.after)
        self._applied = False
        if self.layer == PARSING:
            self.host.document.parsing_edited = True
        self.host.document_changed(self.layer, self.rect)

    def undo(self) -> None:
        self._write(self.before)
        if self.layer == PARSING:
            self.host.document.parsing_edited = self._edited_before
        self.host.document_changed(self.layer, self.rect)


def mask_command(host: Host, new_mask: np.ndarray, text: str) -> PatchCommand | None:
    """A whole-mask change (clear, grow, shrink, import) stored as the rectangle that changes;
    None when nothing would change. Pushing the command applies it."""
    mask = host.document.mask
    trimmed = trim_patches((0, 0, *mask.shape), mask, np.asarray(new_mask, dtype=bool))
    return None if trimmed is None else PatchCommand(host, MASK, *trimmed, text, applied=False)


class InvertMaskCommand(QUndoCommand):
    """Inverting is its own inverse: nothing to store."""

    def __init__(self, host: Host):
        super().__init__("Invert mask")
        self.host = host

    def _flip(self) -> None:
        mask = self.host.document.mask
        np.logical_not(mask, out=mask)
        self.host.document_changed(MASK, (0, 0, *mask.shape))

    redo = _flip
    undo = _flip


class SetParsingCommand(QUndoCommand):
    """A whole new parsing map: from the network's stage I, or loaded from a file."""

    def __init__(self, host: Host, parsing: np.ndarray | None, text: str, *, edited: bool):
        super().__init__(text)
        self.host = host
        self.new = (parsing, edited)
        self.old: tuple[np.ndarray | None, bool] | None = None

    def redo(self) -> None:
        self.old = self.host.document.set_parsing(*self.new)
        self.new = (self.host.document.parsing, self.new[1])  # the document keeps its own copy
        self.host.document_changed(PARSING)

    def undo(self) -> None:
        self.host.document.set_parsing(*self.old)
        self.host.document_changed(PARSING)


class SetMarginsCommand(QUndoCommand):
    """New canvas margins. The document moves a parsing map along with the canvas (new area:
    "let the network decide"), so label edits survive a change of margins."""

    def __init__(self, host: Host, margins: Any):
        sides = [f"{name} {value}" for name, value in zip(("top", "right", "bottom", "left"), margins, strict=True)
                 if value]
        super().__init__(f"Canvas margins: {', '.join(sides)}" if sides else "No canvas margins")
        self.host = host
        self.margins = margins
        self.new_parsing: Any = None
        self.old: tuple[Any, np.ndarray | None] | None = None

    def redo(self) -> None:
        doc = self.host.document
        if self.old is None:
            self.old = doc.set_margins(self.margins)
            self.new_parsing = doc.parsing
        else:
            doc.set_margins(self.margins, self.new_parsing)
        self._changed()

    def undo(self) -> None:
        self.host.document.set_margins(*self.old)
        self._changed()

    def _changed(self) -> None:
        self.host.document_changed("margins")
        self.host.document_changed(PARSING)


class AcceptResultCommand(QUndoCommand):
    """The result becomes the new base photo (mask cleared, margins zero)."""

    def __init__(self, host: Host):
        super().__init__("Accept result")
        self.host = host
        self.before: Any = None
        self.after: Any = None

    def redo(self) -> None:
        doc = self.host.document
        if self.after is None:
            self.before = doc.accept_result()
            self.after = doc.snapshot()
        else:
            doc.restore(self.after)
        self._changed()

    def undo(self) -> None:
        self.host.document.restore(self.before)
        self._changed()

    def _changed(self) -> None:
        for part in ("base", "margins", MASK, PARSING, "result"):
            self.host.document_changed(part)
