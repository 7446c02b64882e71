"""Lasso: draw a free outline; the enclosed area is added to the mask (right button removes it)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent, QPolygonF

from ..commands import MASK, PatchCommand, PatchRecorder
from .base import Tool
from .paint import fill_polygon, polygon_rect


class LassoTool(Tool):
    name = "lasso"
    text = "Lasso"
    icon = "mdi6.lasso"
    shortcut = "L"
    tip = "Draw around an area to add it to the mask (right button removes)"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self._points: list[QPointF] = []
        self._value = True

    def press(self, pos: QPointF, event: QMouseEvent) -> None:
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._points = [pos]
            self._value = event.button() == Qt.MouseButton.LeftButton

    def move(self, pos: QPointF, event: QMouseEvent) -> None:
        if not self._points:
            return
        last = self._points[-1]
        # One point per screen pixel is plenty; keeps huge outlines light.
        if (pos - last).manhattanLength() * self.canvas.zoom() >= 1.0:
            self._points.append(pos)
            self.canvas.show_preview_polygon(QPolygonF(self._points))

    def release(self, pos: QPointF, event: QMouseEvent) -> None:
        points, self._points = self._points, []
        self.canvas.hide_previews()
        if len(points) < 3:
            return
        mask = self.document.mask
        outline = [(p.x(), p.y()) for p in points]
        recorder = PatchRecorder(mask)
        recorder.save(polygon_rect(mask.shape, outline))
        fill_polygon(mask, outline, self._value)
        patches = recorder.patches()
        if patches is not None:
            self.undo_stack.push(PatchCommand(self.canvas, MASK, *patches, "Lasso"))

    def cancel(self) -> None:
        self._points = []
        self.canvas.hide_previews()
