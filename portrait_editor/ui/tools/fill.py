"""Fill: click a region of the parsing map to repaint all of it (4-connected, same label) with
the chosen label; the right button makes it "let the network decide". A click inside the area to
fill (mask and margins) stays inside it, since that is where the labels steer the result; Shift
fills the whole connected region."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent

from ...labels import UNKNOWN
from ..commands import PARSING, PatchCommand
from .base import Tool
from .label_brush import NO_PARSING
from .paint import flood_fill


class FillTool(Tool):
    name = "fill"
    text = "Fill"
    icon = "mdi6.format-color-fill"
    shortcut = "G"
    tip = "Click a region of the parsing map to fill it with the chosen label (inside the hole only; Shift: all of it)"
    needs_parsing = True

    def press(self, pos: QPointF, event: QMouseEvent) -> None:
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        labels = self.document.parsing
        if labels is None:
            self.status(NO_PARSING)
            return
        value = UNKNOWN if event.button() == Qt.MouseButton.RightButton else self.options.label
        x, y = self.canvas.to_layer(PARSING, pos)
        col, row = math.floor(x), math.floor(y)
        if not (0 <= row < labels.shape[0] and 0 <= col < labels.shape[1]):
            return
        old = int(labels[row, col])
        whole = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        hole = None if whole else self.document.canvas_hole()  # on the parsing map's grid (the canvas)
        within = hole if hole is not None and hole[row, col] else None
        filled = flood_fill(labels, col, row, value, within)
        if filled is None:
            return
        rect, inside = filled
        y0, x0, y1, x1 = rect
        after = labels[y0:y1, x0:x1].copy()
        before = after.copy()
        before[inside] = old
        self.canvas.set_parsing_visible(True)
        self.undo_stack.push(PatchCommand(self.canvas, PARSING, rect, before, after, "Fill"))
