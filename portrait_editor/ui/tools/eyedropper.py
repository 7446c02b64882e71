"""Eyedropper: click the parsing map to make the label under the pointer the one to paint."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent

from ...labels import UNKNOWN
from ..commands import PARSING
from .base import Tool
from .label_brush import NO_PARSING


class EyedropperTool(Tool):
    name = "eyedropper"
    text = "Pick label"
    icon = "mdi6.eyedropper"
    shortcut = "I"
    tip = "Click the parsing map to pick the label to paint with"
    needs_parsing = True

    def press(self, pos: QPointF, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        labels = self.document.parsing
        if labels is None:
            self.status(NO_PARSING)
            return
        x, y = self.canvas.to_layer(PARSING, pos)
        col, row = math.floor(x), math.floor(y)
        if not (0 <= row < labels.shape[0] and 0 <= col < labels.shape[1]):
            return
        value = int(labels[row, col])
        self.options.label = value
        self.status(f"Painting with '{self.canvas.label_name(value)}'" if value != UNKNOWN
                    else "Painting with 'let the network decide'")
