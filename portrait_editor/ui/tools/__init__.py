"""Canvas tools: one small class per tool behind the :class:`~.base.Tool` interface.

The tool modules import the undo commands, which import the painting primitives from this
package, so the tool classes are gathered on demand by :func:`tool_classes`.
"""

from __future__ import annotations

from .base import Tool, ToolOptions


def tool_classes() -> tuple[type[Tool], ...]:
    """In toolbar order: the mask tools, the canvas tool, then the parsing tools."""
    from .brush import BrushTool, EraserTool
    from .expand import ExpandTool
    from .eyedropper import EyedropperTool
    from .fill import FillTool
    from .label_brush import LabelBrushTool
    from .lasso import LassoTool
    from .rectangle import RectangleTool

    return (BrushTool, EraserTool, RectangleTool, LassoTool, ExpandTool, LabelBrushTool, FillTool,
            EyedropperTool)


__all__ = ["Tool", "ToolOptions", "tool_classes"]
