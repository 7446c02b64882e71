"""Rectangle: drag a box to add it to the mask (right button removes it)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QMouseEvent

from ..commands import MASK, PatchCommand, PatchRecorder
from .base import Tool
from .paint import fill_rect, is_empty, rect_from_points


class RectangleTool(Tool):
    name = "rectangle"
    text = "Rectangle"
    icon = "mdi6.vector-square"
    shortcut = "M"
    tip = "Drag a rectangle to add to the mask (right button removes)"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self._start: QPointF | None = None
        self._value = True

    def press(self, pos: QPointF, event: QMouseEvent) -> None:
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._start = pos
            self._value = event.button() == Qt.MouseButton.LeftButton

    def move(self, pos: QPointF, event: QMouseEvent) -> None:
        if self._start is not None:
            self.canvas.show_preview_rect(QRectF(self._start, pos).normalized())

    def release(self, pos: QPointF, event: QMouseEvent) -> None:
        start, self._start = self._start, None
        self.canvas.hide_previews()
        if start is None:
            return
        mask = self.document.mask
        rect = rect_from_points(mask.shape, (start.x(), start.y()), (pos.x(), pos.y()))
        if is_empty(rect):
            return
        recorder = PatchRecorder(mask)
        recorder.save(rect)
        fill_rect(mask, rect, self._value)
        patches = recorder.patches()
        if patches is not None:
            self.undo_stack.push(PatchCommand(self.canvas, MASK, *patches, "Rectangle"))

    def cancel(self) -> None:
        self._start = None
        self.canvas.hide_previews()
