"""Round brushes: the mask brush and eraser, and the base class the label brush shares.

A stroke paints segment by segment into the document's array (only each segment's bounding
rectangle is touched, see :func:`paint_segment`), redraws just that rectangle, and becomes one
undo step holding the changed rectangle when the button goes up. The right button paints the
opposite value; Shift+click draws a straight line from where the last stroke ended.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent

from ..commands import MASK, PatchCommand, PatchRecorder, layer_array
from .base import Tool
from .paint import Point, paint_segment, segment_rect

__all__ = ["BrushTool", "EraserTool", "StrokeTool", "paint_segment"]


class StrokeTool(Tool):
    """A round brush on one layer of the document; subclasses say what value it paints."""

    layer = MASK
    uses_brush = True
    undo_text = "Brush stroke"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self._recorder: PatchRecorder | None = None
        self._last: Point | None = None
        self._stroke_end: Point | None = None
        self._value = None

    def paint_value(self, erase: bool):
        raise NotImplementedError

    @property
    def radius(self) -> float:
        return self.options.size / 2.0

    def press(self, pos: QPointF, event: QMouseEvent) -> None:
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        if self.ready() is False:
            return
        self._value = self.paint_value(erase=event.button() == Qt.MouseButton.RightButton)
        self._recorder = PatchRecorder(layer_array(self.document, self.layer))
        p = self.canvas.to_layer(self.layer, pos)
        start = p
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier and self._stroke_end is not None:
            start = self._stroke_end
        self._last = p
        self._paint(start, p)

    def ready(self) -> bool:
        return True

    def move(self, pos: QPointF, event: QMouseEvent) -> None:
        self.canvas.show_brush_outline(pos, self.options.size)
        if self._recorder is None or self._last is None:
            return
        p = self.canvas.to_layer(self.layer, pos)
        if p != self._last:
            self._paint(self._last, p)
            self._last = p

    def release(self, pos: QPointF, event: QMouseEvent) -> None:
        recorder, self._recorder = self._recorder, None
        self._stroke_end = self._last
        if recorder is None:
            return
        patches = recorder.patches()
        if patches is not None:
            self.undo_stack.push(PatchCommand(self.canvas, self.layer, *patches, self.undo_text))

    def cancel(self) -> None:
        """Put back what the unfinished stroke painted."""
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        patches = recorder.patches()
        if patches is not None:
            (y0, x0, y1, x1), before, _ = patches
            recorder.array[y0:y1, x0:x1] = before
            self.canvas.document_changed(self.layer, (y0, x0, y1, x1))

    def _paint(self, p0: Point, p1: Point) -> None:
        array = self._recorder.array
        rect = segment_rect(array.shape, p0, p1, self.radius)
        self._recorder.save(rect)
        paint_segment(array, p0, p1, self.radius, self._value, self.options.hardness)
        self.canvas.document_changed(self.layer, rect)


class BrushTool(StrokeTool):
    name = "brush"
    text = "Brush"
    icon = "mdi6.brush"
    shortcut = "B"
    tip = "Paint over what should be filled (right button erases; Shift+click draws a line)"

    def paint_value(self, erase: bool):
        return not erase


class EraserTool(StrokeTool):
    name = "eraser"
    text = "Eraser"
    icon = "mdi6.eraser"
    shortcut = "E"
    tip = "Erase the mask (right button paints)"
    undo_text = "Erase"

    def paint_value(self, erase: bool):
        return erase
