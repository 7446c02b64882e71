"""The history panel: every undo step, click one to go back to it."""

from __future__ import annotations

from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QUndoView, QWidget


class HistoryPanel(QUndoView):
    """Lists "Opened photo" and the steps after it, and nothing while no photo is open.

    QUndoView always shows its "empty" row (the state before the first command) while it has a
    stack, so the panel holds no stack until a photo is open.
    """

    def __init__(self, stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stack = stack
        self.setEmptyLabel("Opened photo")
        self.setToolTip("Click a step to go back to it; Ctrl+Z / Ctrl+Shift+Z step through")

    def set_photo_open(self, is_open: bool) -> None:
        self.setStack(self._stack if is_open else None)
