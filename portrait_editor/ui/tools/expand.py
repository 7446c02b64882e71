"""Expand canvas: drag any border (or corner) of the canvas outward to add margins to fill,
back towards the photo to shrink them. The margins never cut into the photo itself."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QCursor, QMouseEvent

from ..commands import SetMarginsCommand
from .base import Tool

AUTOSCROLL_PIXELS = 24
"""A border dragged out of the view scrolls the view until the border is this far inside it."""
GRAB_PIXELS = 8
"""How close (in screen pixels) to a border the pointer must be to grab it."""
MAX_GROWTH = 3.0
"""A margin may be at most this many times the photo's size: a runaway drag stays sane."""

_CURSORS = {
    frozenset({"top"}): Qt.CursorShape.SizeVerCursor,
    frozenset({"bottom"}): Qt.CursorShape.SizeVerCursor,
    frozenset({"left"}): Qt.CursorShape.SizeHorCursor,
    frozenset({"right"}): Qt.CursorShape.SizeHorCursor,
    frozenset({"top", "left"}): Qt.CursorShape.SizeFDiagCursor,
    frozenset({"bottom", "right"}): Qt.CursorShape.SizeFDiagCursor,
    frozenset({"top", "right"}): Qt.CursorShape.SizeBDiagCursor,
    frozenset({"bottom", "left"}): Qt.CursorShape.SizeBDiagCursor,
}


class ExpandTool(Tool):
    name = "expand"
    text = "Expand canvas"
    icon = "mdi6.arrow-expand-all"
    shortcut = "C"
    tip = "Drag a border of the canvas outward to add an area to fill, back to shrink it"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self._edges: frozenset[str] = frozenset()
        self._start = None
        self._refit = False

    def activate(self) -> None:
        super().activate()
        self.canvas.show_canvas_frame(True)

    def deactivate(self) -> None:
        super().deactivate()
        self.canvas.show_canvas_frame(False)

    def cursor(self) -> QCursor:
        return QCursor(Qt.CursorShape.ArrowCursor)

    def press(self, pos: QPointF, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self._edges = self.canvas.edges_at(pos, GRAB_PIXELS)
        self._start = self.document.margins if self._edges else None
        # a canvas the user sees whole stays whole after the drag (the view zooms out to it)
        self._refit = self.canvas.canvas_in_view()

    def move(self, pos: QPointF, event: QMouseEvent) -> None:
        if self._start is None:
            edges = self.canvas.edges_at(pos, GRAB_PIXELS)
            shape = _CURSORS.get(edges, Qt.CursorShape.ArrowCursor)
            self.canvas.viewport().setCursor(QCursor(shape))
            return
        margins = self._margins_at(pos, self._start)
        self.canvas.preview_margins(margins)
        # dragging past the edge of the view scrolls it, so the border never runs off screen
        if not self.canvas.viewport().rect().contains(event.position().toPoint()):
            self.canvas.ensureVisible(QRectF(pos, pos), AUTOSCROLL_PIXELS, AUTOSCROLL_PIXELS)
        h, w = self.document.base.shape[:2]
        self.status(
            f"Margins top {margins.top}, right {margins.right}, bottom {margins.bottom}, left {margins.left} px"
            f" — canvas {w + margins.left + margins.right} x {h + margins.top + margins.bottom}"
        )

    def release(self, pos: QPointF, event: QMouseEvent) -> None:
        start, self._start = self._start, None
        if start is None:
            return
        # the margins the user saw last: an auto-scroll may have moved the view under the pointer
        shown = self.canvas.margins()
        margins = shown if shown != start else self._margins_at(pos, start)
        self.canvas.preview_margins(None)
        if margins != start:
            self.undo_stack.push(SetMarginsCommand(self.canvas, margins))
            if self._refit and not self.canvas.canvas_in_view():
                self.canvas.fit()

    def cancel(self) -> None:
        if self._start is not None:
            self._start = None
            self.canvas.preview_margins(None)

    def _margins_at(self, pos: QPointF, start):
        h, w = self.document.base.shape[:2]
        changes = {}
        limit_y, limit_x = round(h * MAX_GROWTH), round(w * MAX_GROWTH)
        if "top" in self._edges:
            changes["top"] = _clamp(round(-pos.y()), limit_y)
        if "bottom" in self._edges:
            changes["bottom"] = _clamp(round(pos.y() - h), limit_y)
        if "left" in self._edges:
            changes["left"] = _clamp(round(-pos.x()), limit_x)
        if "right" in self._edges:
            changes["right"] = _clamp(round(pos.x() - w), limit_x)
        return dataclasses.replace(start, **changes)


def _clamp(value: int, limit: int) -> int:
    return int(min(max(value, 0), limit))
