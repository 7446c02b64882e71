"""The status-bar run indicator: which stage runs, how far it is, and a Cancel button."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

STAGE_NAMES = {
    "parsing": "Parsing the body",
    "completion": "Completing",
    "face": "Refining the face",
    "detail": "Adding detail",
    "blending": "Blending",
}
STAGES = tuple(STAGE_NAMES)


class RunProgress(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(160)
        self.bar.setFixedHeight(14)
        self.button = QToolButton()
        self.button.setAutoRaise(True)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.button)
        self.stage = ""
        self.hide()

    def set_action(self, cancel: QAction) -> None:
        """The Cancel action, shown as the button beside the bar."""
        self.button.setDefaultAction(cancel)

    def start(self, text: str = "Starting…") -> None:
        self.stage = ""
        self.label.setText(text)
        self.bar.setValue(0)
        self.show()

    def set_stage(self, stage: str, fraction: float = 0.0) -> None:
        """Stages run in pipeline order; the bar spans all of them (a skipped one counts as done)."""
        self.stage = stage
        self.label.setText(STAGE_NAMES.get(stage, stage.capitalize()) + "…")
        index = STAGES.index(stage) if stage in STAGES else 0
        self.bar.setValue(round(1000 * (index + min(max(fraction, 0.0), 1.0)) / len(STAGES)))

    def finish(self) -> None:
        self.stage = ""
        self.hide()
