"""The tool options bar: brush size (1 px and up; ``[`` and ``]``), hardness, and the label
that the label tools paint (shown only while one of them is active)."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QSlider, QSpinBox, QToolBar, QWidget

from ...labels import UNKNOWN
from ..tools.base import MAX_BRUSH, MIN_BRUSH, ToolOptions
from .legend import UNKNOWN_TEXT

_LOG_STEPS = 1000


class ToolOptionsBar(QToolBar):
    def __init__(self, options: ToolOptions, parent: QWidget | None = None) -> None:
        super().__init__("Tool options", parent)
        self.setObjectName("tool_options")
        self.options = options

        self.addWidget(QLabel(" Size "))
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(0, _LOG_STEPS)
        self.size_slider.setFixedWidth(140)
        self.size_slider.setToolTip("Brush diameter ([ smaller, ] bigger)")
        self.addWidget(self.size_slider)
        self.size_box = QSpinBox()
        self.size_box.setRange(MIN_BRUSH, MAX_BRUSH)
        self.size_box.setSuffix(" px")
        self.size_box.setToolTip("Brush diameter in photo pixels")
        self.addWidget(self.size_box)

        self.addWidget(QLabel("  Hardness "))
        self.hardness = QSlider(Qt.Orientation.Horizontal)
        self.hardness.setRange(0, 100)
        self.hardness.setFixedWidth(100)
        self.hardness.setToolTip("100%: a sharp edge; lower: the rim thins out")
        self.addWidget(self.hardness)
        self.hardness_text = QLabel()
        self.hardness_text.setMinimumWidth(36)
        self.addWidget(self.hardness_text)

        self.label_swatch = QLabel()
        self.label_swatch.setFixedSize(14, 14)
        self.label_name = QLabel()
        self._label_actions = [self.addSeparator(), self.addWidget(QLabel(" Label ")),
                               self.addWidget(self.label_swatch), self.addWidget(self.label_name)]
        self.label_set = None

        self.size_slider.valueChanged.connect(lambda v: setattr(options, "size", _from_slider(v)))
        self.size_box.valueChanged.connect(lambda v: setattr(options, "size", v))
        self.hardness.valueChanged.connect(lambda v: setattr(options, "hardness", v / 100))
        options.sizeChanged.connect(self._show_size)
        options.hardnessChanged.connect(self._show_hardness)
        options.labelChanged.connect(self._show_label)
        self._show_size(options.size)
        self._show_hardness(options.hardness)

    def show_for(self, tool) -> None:
        """Size and hardness only mean something for the brushes, the label only for the tools
        that paint or pick parsing labels."""
        for widget in (self.size_slider, self.size_box, self.hardness, self.hardness_text):
            widget.setEnabled(tool.uses_brush)
        for action in self._label_actions:
            action.setVisible(tool.needs_parsing)

    def set_label_set(self, label_set) -> None:
        self.label_set = label_set
        self._show_label(self.options.label)

    def _show_size(self, size: int) -> None:
        for widget, value in ((self.size_box, size), (self.size_slider, _to_slider(size))):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)

    def _show_hardness(self, hardness: float) -> None:
        self.hardness.blockSignals(True)
        self.hardness.setValue(round(hardness * 100))
        self.hardness.blockSignals(False)
        self.hardness_text.setText(f"{round(hardness * 100)}%")

    def _show_label(self, value: int) -> None:
        if self.label_set is None:
            return
        if value == UNKNOWN or value >= len(self.label_set):
            colour, name = QColor(0, 0, 0, 0), UNKNOWN_TEXT
        else:
            colour, name = QColor(*self.label_set.colours[value]), self.label_set.names[value]
        self.label_swatch.setStyleSheet(
            f"background: {colour.name(QColor.NameFormat.HexArgb)}; border: 1px solid #888;")
        self.label_name.setText(name)


def _to_slider(size: int) -> int:
    return round(_LOG_STEPS * math.log(size / MIN_BRUSH) / math.log(MAX_BRUSH / MIN_BRUSH))


def _from_slider(value: int) -> int:
    return round(MIN_BRUSH * (MAX_BRUSH / MIN_BRUSH) ** (value / _LOG_STEPS))
