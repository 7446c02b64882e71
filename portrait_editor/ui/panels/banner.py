"""An inline message above the canvas: errors stay until closed, notes go away by themselves.

Used instead of modal message boxes for engine failures and unreadable files, so that a message
never blocks the window (or a test) and the document underneath stays as it was.
"""

from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

_STYLES = {
    "error": ("mdi6.alert-circle", "#5c1f24", "#ffb4b4"),
    "info": ("mdi6.information", "#1f3a5c", "#cfe3ff"),
}


class MessageBanner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.icon = QLabel()
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setIcon(qta.icon("mdi6.close", color="white"))
        close.setAutoRaise(True)
        close.setToolTip("Close")
        close.clicked.connect(self.hide)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(close)
        self._timer = QTimer(self, singleShot=True, timeout=self.hide)
        self.kind = ""
        self.hide()

    def show_message(self, text: str, kind: str = "error", timeout_ms: int = 0) -> None:
        icon, background, foreground = _STYLES[kind]
        self.kind = kind
        self.icon.setPixmap(qta.icon(icon, color=foreground).pixmap(QSize(18, 18)))
        self.text.setText(text)
        self.setStyleSheet(f"#banner {{ background: {background}; border-radius: 4px; }}"
                           f"#banner QLabel {{ color: {foreground}; }}")
        self._timer.stop()
        if timeout_ms:
            self._timer.start(timeout_ms)
        self.show()

    def message(self) -> str:
        return self.text.text() if self.isVisible() else ""
