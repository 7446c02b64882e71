"""The edit state of one photo as plain data (no Qt, no torch), so undo commands and tests can drive it.

Who changes what, and how (the rules that make cheap undo possible):

* ``base`` is **never modified in place**: it is stored read-only and only ever *replaced*
  (by :meth:`Document.accept_result` or :meth:`Document.restore`). So a request, a snapshot and an
  undo command may share it without copying 36-72 MB per step.
* ``mask`` and ``parsing`` are edited **in place** by small patches (a brush dab changes a few
  thousand pixels of a 24-megapixel mask); every patch method returns the pixels it overwrote,
  the undo atom, as napari's Labels layer keeps its history. Whole-array operations (clear,
  invert, import, margins) *replace* the array and return the old one, again without a copy.
* Every ``set_*``/``apply_*`` method returns exactly what passing back to the same method undoes:
  ``old = doc.set_mask(new)`` ... ``doc.set_mask(old)``.

The pipeline package imports torch (seconds), so this module imports it only inside the methods
that need its types (``pipeline.Margins``, ``pipeline.CompletionRequest``). NOTE: as long as
``portrait_editor/pipeline/__init__.py`` imports ``complete.py`` (and so torch) eagerly, creating
a Document still imports torch on the calling thread (~3 s); once the package exports those two
names lazily (PEP 562) from torch-free modules, nothing here needs to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .labels import UNKNOWN

if TYPE_CHECKING:
    from .imageio import LoadedImage
    from .pipeline.complete import CompletionRequest, CompletionResult
    from .pipeline.regions import Margins

__all__ = ["Document", "Snapshot", "Source"]


def _margins(*values: int) -> Margins:
    from .pipeline import Margins

    return Margins(*values)


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True)
class Source:
    """Where the photo came from: what saving needs to keep (the fields of ``imageio.LoadedImage``)."""

    path: Path | None = None
    exif: bytes | None = None
    icc: bytes | None = None
    format: str = "PNG"
    bit_depth: int = 8


@dataclass(frozen=True)
class Snapshot:
    """The whole edit state, for coarse undo (accept a result). Restorable any number of times."""

    base: np.ndarray
    mask: np.ndarray
    margins: Margins
    parsing: np.ndarray | None
    parsing_edited: bool
    result: CompletionResult | None


_ADJUST: Any = object()  # set_margins: pad/crop the current parsing (the default)


class Document:
    """The photo being repaired: base image, mask, canvas margins, parsing map and latest result.

    ``mask`` is on the *base* size; ``parsing`` and ``result`` are on the *canvas* size (the
    base grown by ``margins``), because the pipeline parses and completes the expanded canvas.
    """

    def __init__(
        self,
        base: np.ndarray,
        *,
        source: Source | None = None,
        mask: np.ndarray | None = None,
        margins: Margins | None = None,
        parsing: np.ndarray | None = None,
        parsing_edited: bool = False,
    ) -> None:
        base = np.asarray(base)
        if base.ndim != 3 or base.shape[2] != 3 or base.dtype != np.uint8 or 0 in base.shape:
            raise ValueError(f"base must be H x W x 3 uint8, got {base.shape} {base.dtype}")
        self.base: np.ndarray = _read_only(base)
        self.source: Source = source or Source()
        self.mask: np.ndarray = np.zeros(base.shape[:2], bool)
        if mask is not None:
            self.set_mask(mask)
        self.margins: Margins = margins if margins is not None else _margins()
        self.parsing: np.ndarray | None = None
        self.parsing_edited: bool = False
        if parsing is not None:
            self.set_parsing(parsing, parsing_edited)
        self.result: CompletionResult | None = None

    @classmethod
    def from_loaded(cls, loaded: LoadedImage) -> Document:
        """A fresh document for a photo from ``imageio.load_image`` (takes over its pixels)."""
        source = Source(path=loaded.path, exif=loaded.exif, icc=loaded.icc, format=loaded.format,
                        bit_depth=loaded.bit_depth)
        return cls(loaded.pixels, source=source)

    # -- sizes ------------------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the base photo."""
        return int(self.base.shape[1]), int(self.base.shape[0])

    @property
    def canvas_size(self) -> tuple[int, int]:
        """(width, height) of the canvas: the base grown by the margins."""
        m = self.margins
        return self.size[0] + m.left + m.right, self.size[1] + m.top + m.bottom

    def _canvas_shape(self) -> tuple[int, int]:
        w, h = self.canvas_size
        return h, w

    def canvas_hole(self) -> np.ndarray:
        """What a run fills, on the canvas grid: the mask and the margins."""
        hole = np.ones(self._canvas_shape(), bool)
        m, (w, h) = self.margins, self.size
        hole[m.top : m.top + h, m.left : m.left + w] = self.mask
        return hole

    # -- the request ------------------------------------------------------------------------------
    def request(self, *, use_face: bool = True, blend: bool = True, use_detail: bool = True,
                mirror_face: bool = True, use_parsing: bool | None = None) -> CompletionRequest:
        """Snapshot the document for the engine; later edits never reach a running job.

        ``use_parsing`` (default: only when the user edited the parsing) hands the current
        parsing map to the pipeline, which then skips stage I. An unedited map is stale once the
        mask changes, so it is not reused unless asked for. Mask and parsing are copied; the
        base is shared, which is safe because it is read-only and only ever replaced.
        """
        from .pipeline import CompletionRequest

        if use_parsing is None:
            use_parsing = self.parsing_edited and self.parsing is not None
        if use_parsing and self.parsing is None:
            raise ValueError("there is no parsing map to run with (run stage I first or load one)")
        return CompletionRequest(
            image=self.base,
            mask=self.mask.copy(),
            margins=self.margins,
            parsing=self.parsing.copy() if use_parsing else None,
            use_face=use_face,
            mirror_face=mirror_face,
            use_detail=use_detail,
            blend=blend,
        )

    # -- mask -------------------------------------------------------------------------------------
    def set_mask(self, mask: np.ndarray) -> np.ndarray:
        """Replace the whole mask (clear, invert, grow, import); returns the old one for undo."""
        mask = np.asarray(mask)
        if mask.shape != self.base.shape[:2]:
            raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the photo is "
                             f"{self.size[0]}x{self.size[1]}")
        old, self.mask = self.mask, np.array(mask, dtype=bool)  # always our own copy
        return old

    def apply_mask_patch(self, y0: int, x0: int, patch: np.ndarray) -> np.ndarray:
        """Write ``patch`` into the mask at (y0, x0); returns the overwritten pixels (the undo atom)."""
        return _apply_patch(self.mask, y0, x0, np.asarray(patch, dtype=bool), "mask")

    # -- parsing ----------------------------------------------------------------------------------
    def set_parsing(self, parsing: np.ndarray | None, edited: bool = False) -> tuple[np.ndarray | None, bool]:
        """Replace the parsing map (stage I output, a loaded map, undo); returns the old (map, edited)."""
        if parsing is not None:
            parsing = np.asarray(parsing)
            if parsing.shape != self._canvas_shape():
                w, h = self.canvas_size
                raise ValueError(f"parsing map is {parsing.shape[1] if parsing.ndim > 1 else '?'}x"
                                 f"{parsing.shape[0]} but the canvas is {w}x{h}")
            parsing = np.array(parsing, dtype=np.uint8)
        old = (self.parsing, self.parsing_edited)
        self.parsing, self.parsing_edited = parsing, bool(edited and parsing is not None)
        return old

    def apply_parsing_patch(self, y0: int, x0: int, patch: np.ndarray) -> np.ndarray:
        """Write label ids at (y0, x0) in canvas coordinates; returns the overwritten ids.

        Marks the parsing as edited, so that the next run reuses it and skips stage I.
        """
        if self.parsing is None:
            raise ValueError("there is no parsing map to edit")
        old = _apply_patch(self.parsing, y0, x0, np.asarray(patch, dtype=np.uint8), "parsing map")
        self.parsing_edited = True
        return old

    # -- margins ----------------------------------------------------------------------------------
    def set_margins(self, margins: Margins, parsing: np.ndarray | None = _ADJUST) -> tuple[Margins, np.ndarray | None]:
        """Grow or shrink the canvas; returns the old (margins, parsing) for undo.

        The parsing map follows the canvas: labels stay on the pixels they describe, the new
        area is ``labels.UNKNOWN`` (let the network decide), a removed area is cropped away. To
        undo, pass both old values back (``doc.set_margins(*old)``), which restores the labels
        a shrink cropped off. The result stays; :meth:`accept_result` refuses it if its size no
        longer matches the canvas.
        """
        old = (self.margins, self.parsing)
        if parsing is _ADJUST:
            parsing = self.parsing
            if parsing is not None:
                parsing = _move_canvas(parsing, self.margins, margins, self.size)
        self.margins = margins
        try:
            self.set_parsing(parsing, self.parsing_edited)
        except ValueError:
            self.margins = old[0]
            raise
        return old

    # -- result -----------------------------------------------------------------------------------
    def set_result(self, result: CompletionResult) -> None:
        """Show a finished completion; an unedited parsing map is replaced by the one it used."""
        if result.image.shape[:2] != self._canvas_shape():
            raise ValueError(f"the result is {result.image.shape[1]}x{result.image.shape[0]} but the "
                             f"canvas is {self.canvas_size[0]}x{self.canvas_size[1]}: it is out of date")
        self.result = result
        if not self.parsing_edited and result.parsing.shape == self._canvas_shape():
            self.parsing = np.array(result.parsing, dtype=np.uint8)

    def discard_result(self) -> None:
        self.result = None

    def accept_result(self) -> Snapshot:
        """Make the result the new base (mask cleared, margins zero); returns the state before, for undo.

        The parsing map already has the canvas size, which is the new base's size, so it is kept.
        """
        if self.result is None:
            raise ValueError("there is no result to accept")
        image = np.asarray(self.result.image)
        if image.shape[:2] != self._canvas_shape():
            raise ValueError(f"the result is {image.shape[1]}x{image.shape[0]} but the canvas is "
                             f"{self.canvas_size[0]}x{self.canvas_size[1]}: it is out of date")
        before = self.snapshot()
        self.base = _read_only(image)
        self.mask = np.zeros(image.shape[:2], bool)
        self.margins = _margins()
        self.result = None
        return before

    # -- whole state ------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The whole state; mask and parsing are copied (they are edited in place), the rest shared."""
        return Snapshot(
            base=self.base,
            mask=self.mask.copy(),
            margins=self.margins,
            parsing=None if self.parsing is None else self.parsing.copy(),
            parsing_edited=self.parsing_edited,
            result=self.result,
        )

    def restore(self, snapshot: Snapshot) -> None:
        """Go back to ``snapshot``; copies again, so the same snapshot serves every undo/redo cycle."""
        self.base = snapshot.base
        self.mask = snapshot.mask.copy()
        self.margins = snapshot.margins
        self.parsing = None if snapshot.parsing is None else snapshot.parsing.copy()
        self.parsing_edited = snapshot.parsing_edited
        self.result = snapshot.result


def _apply_patch(target: np.ndarray, y0: int, x0: int, patch: np.ndarray, what: str) -> np.ndarray:
    if patch.ndim != 2:
        raise ValueError(f"a {what} patch must be 2-D, got shape {patch.shape}")
    h, w = patch.shape
    y0, x0 = int(y0), int(x0)
    if y0 < 0 or x0 < 0 or y0 + h > target.shape[0] or x0 + w > target.shape[1]:
        raise ValueError(f"a {w}x{h} {what} patch at x={x0}, y={y0} does not fit in "
                         f"{target.shape[1]}x{target.shape[0]}")
    region = target[y0 : y0 + h, x0 : x0 + w]
    old = region.copy()
    region[...] = patch
    return old


def _move_canvas(parsing: np.ndarray, old: Margins, new: Margins, base_size: tuple[int, int]) -> np.ndarray:
    """Re-frame a canvas-sized label map for new margins; the base stays on the same labels."""
    w, h = base_size
    out = np.full((h + new.top + new.bottom, w + new.left + new.right), UNKNOWN, dtype=np.uint8)
    # Shift from old canvas coordinates to new ones, then copy where both canvases overlap.
    dy, dx = new.top - old.top, new.left - old.left
    sy0, sx0 = max(0, -dy), max(0, -dx)
    sy1 = min(parsing.shape[0], out.shape[0] - dy)
    sx1 = min(parsing.shape[1], out.shape[1] - dx)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 + dy : sy1 + dy, sx0 + dx : sx1 + dx] = parsing[sy0:sy1, sx0:sx1]
    return out
