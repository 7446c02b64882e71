"""Label brush: paint the parsing map with the label picked in the legend (or with the
eyedropper); the right button paints "let the network decide" (labels.UNKNOWN)."""

from __future__ import annotations

from ...labels import UNKNOWN
from ..commands import PARSING
from .brush import StrokeTool

NO_PARSING = "There is no parsing map yet: press Run once, then correct the labels it shows."


class LabelBrushTool(StrokeTool):
    name = "label_brush"
    text = "Label brush"
    icon = "mdi6.format-paint"
    shortcut = "P"
    tip = "Paint the parsing map with the chosen label (right button: let the network decide)"
    layer = PARSING
    needs_parsing = True
    undo_text = "Label stroke"

    def ready(self) -> bool:
        if self.document.parsing is None:
            self.status(NO_PARSING)
            return False
        self.canvas.set_parsing_visible(True)
        return True

    def paint_value(self, erase: bool):
        return UNKNOWN if erase else self.options.label
