"""The history panel: every undo step, click one to go back to it."""

from __future__ import annotations

from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QUndoView, QWidget


class HistoryPanel(QUndoView):
    def __init__(self, stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(stack, parent)
        self.setEmptyLabel("Opened photo")
        self.setToolTip("Click a step to go back to it; Ctrl+Z / Ctrl+Shift+Z step through")
