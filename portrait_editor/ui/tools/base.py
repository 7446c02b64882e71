"""The one interface every canvas tool implements, and the options the tools share.

The canvas turns mouse events into calls on the active tool with positions in *scene*
coordinates (the photo's pixel grid: pixel ``(row, col)`` covers ``[col, col+1) x [row, row+1)``;
the added margins lie at negative coordinates and beyond the photo's width and height). Tools
edit the document in place for immediate feedback and push one undo command when a gesture ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QCursor, QMouseEvent, QUndoStack

from ... import labels as label_sets

if TYPE_CHECKING:
    from ..canvas import Canvas

MIN_BRUSH, MAX_BRUSH = 1, 1000


class ToolOptions(QObject):
    """Brush size and hardness and the label to paint, shared by the tools and the option bars."""

    sizeChanged = Signal(int)
    hardnessChanged = Signal(float)
    labelChanged = Signal(int)

    def __init__(self, size: int = 40, hardness: float = 1.0, label: int | None = None):
        super().__init__()
        self._size = size
        self._hardness = hardness
        self._label = label_sets.LIP_NECK.id("hair") if label is None else label

    @property
    def size(self) -> int:
        """Brush diameter in photo pixels."""
        return self._size

    @size.setter
    def size(self, value: int) -> None:
        value = int(min(max(value, MIN_BRUSH), MAX_BRUSH))
        if value != self._size:
            self._size = value
            self.sizeChanged.emit(value)

    @property
    def hardness(self) -> float:
        return self._hardness

    @hardness.setter
    def hardness(self, value: float) -> None:
        value = float(min(max(value, 0.0), 1.0))
        if value != self._hardness:
            self._hardness = value
            self.hardnessChanged.emit(value)

    @property
    def label(self) -> int:
        return self._label

    @label.setter
    def label(self, value: int) -> None:
        if int(value) != self._label:
            self._label = int(value)
            self.labelChanged.emit(self._label)

    def grow(self) -> None:
        """``]``: bigger steps for bigger brushes, so 1 px and 500 px are both a few presses away."""
        self.size = self.size + max(1, round(self.size * 0.15))

    def shrink(self) -> None:
        self.size = self.size - max(1, round(self.size * 0.15))


class Tool:
    """Base class: override the gestures you need. Class attributes describe the tool's action."""

    name = "tool"
    text = "Tool"
    icon = "mdi6.cursor-default"
    shortcut = ""
    tip = ""
    needs_parsing = False
    """Label tools only make sense once a parsing map exists."""
    uses_brush = False
    """Whether the brush size/hardness options apply (shown in the tool options bar)."""

    def __init__(self, canvas: Canvas, undo_stack: QUndoStack, options: ToolOptions):
        self.canvas = canvas
        self.undo_stack = undo_stack
        self.options = options

    # -- life cycle ---------------------------------------------------------------------------
    def activate(self) -> None:
        self.canvas.viewport().setCursor(self.cursor())

    def deactivate(self) -> None:
        self.cancel()
        self.canvas.hide_previews()

    def cursor(self) -> QCursor:
        return QCursor(Qt.CursorShape.CrossCursor)

    # -- gestures -----------------------------------------------------------------------------
    def press(self, pos: QPointF, event: QMouseEvent) -> None:
        """A mouse button went down on the canvas (not a pan)."""

    def move(self, pos: QPointF, event: QMouseEvent) -> None:
        """The mouse moved, with or without a button held."""

    def release(self, pos: QPointF, event: QMouseEvent) -> None:
        """The button went up: finish the gesture and push its undo command."""

    def cancel(self) -> None:
        """Abandon a gesture in progress (Esc, tool switch, document closed)."""

    def leave(self) -> None:
        """The mouse left the canvas."""
        self.canvas.hide_previews()

    # -- helpers ------------------------------------------------------------------------------
    @property
    def document(self):
        return self.canvas.document

    def status(self, text: str) -> None:
        self.canvas.statusMessage.emit(text)
