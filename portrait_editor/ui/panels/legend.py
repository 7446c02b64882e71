"""The parsing legend: label names and colours, click one to paint with it; overlay on/off and
opacity; buttons for the parsing actions (re-run with it, load, save)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...labels import UNKNOWN, LabelSet
from ..tools.base import ToolOptions

UNKNOWN_TEXT = "let the network decide"


def swatch(colour: QColor, size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(colour)
    return QIcon(pixmap)


class LegendPanel(QWidget):
    def __init__(self, options: ToolOptions, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.options = options
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        top = QHBoxLayout()
        self.visible = QCheckBox("Show parsing")
        top.addWidget(self.visible)
        top.addStretch(1)
        layout.addLayout(top)

        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("How strongly the parsing colours cover the photo")
        row.addWidget(self.opacity, 1)
        layout.addLayout(row)

        self.list = QListWidget()
        self.list.setIconSize(QSize(14, 14))
        self.list.setToolTip("Click a label to paint with it (label brush P, fill G)")
        self.list.itemClicked.connect(self._picked)
        self.list.currentItemChanged.connect(lambda item, _: item is not None and self._picked(item))
        layout.addWidget(self.list, 1)

        buttons = QHBoxLayout()
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

        options.labelChanged.connect(self._select)
        self.canvas = None

    def bind(self, canvas) -> None:
        """Follow and drive the canvas's parsing overlay (visibility, opacity, label set)."""
        self.canvas = canvas
        self.visible.toggled.connect(canvas.set_parsing_visible)
        self.opacity.valueChanged.connect(lambda v: canvas.set_parsing_opacity(v / 100))
        canvas.overlaysChanged.connect(self.sync)
        self.set_label_set(canvas.label_set)
        self.sync()

    def sync(self) -> None:
        self.visible.blockSignals(True)
        self.visible.setChecked(self.canvas.parsing_visible())
        self.visible.blockSignals(False)
        self.opacity.blockSignals(True)
        self.opacity.setValue(round(self.canvas.parsing_opacity() * 100))
        self.opacity.blockSignals(False)

    def set_label_set(self, label_set: LabelSet) -> None:
        self.list.blockSignals(True)  # rebuilding moves the current row: not the user picking a label
        self.list.clear()
        for i, (name, (r, g, b)) in enumerate(zip(label_set.names, label_set.colours, strict=True)):
            item = QListWidgetItem(swatch(QColor(r, g, b)), name)
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.list.addItem(item)
        item = QListWidgetItem(swatch(QColor(0, 0, 0, 0)), UNKNOWN_TEXT)
        item.setData(Qt.ItemDataRole.UserRole, UNKNOWN)
        item.setToolTip("Erase labels: the network fills these pixels as it sees fit")
        self.list.addItem(item)
        self.list.blockSignals(False)
        self._select(self.options.label)

    def _picked(self, item: QListWidgetItem) -> None:
        self.options.label = int(item.data(Qt.ItemDataRole.UserRole))

    def _select(self, value: int) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == value:
                if self.list.currentItem() is not item:
                    self.list.setCurrentItem(item)
                return
