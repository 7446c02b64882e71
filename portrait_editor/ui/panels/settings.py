"""The editor's preferences: what they are, how they persist (QSettings), and the dialog.

Every key lives in :class:`EditorSettings`; unknown or malformed stored values fall back to the
defaults instead of breaking start-up (a settings file edited by hand must not stop the editor).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from ..tools.base import MAX_BRUSH, MIN_BRUSH

DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_RECENT = 10


@dataclass
class EditorSettings:
    device: str = "auto"
    weights_dir: str = ""
    """Empty: the usual places ($PORTRAIT_EDITOR_WEIGHTS, the user's config folder, packaged)."""
    brush_size: int = 40
    mask_colour: str = "#73ff2850"
    """#AARRGGBB: the mask tint (alpha = how strongly it covers the photo)."""
    margin_colour: str = "#3c8cff"
    parsing_opacity: float = 0.55
    jpeg_quality: int = 95
    texture_from_photo: bool = True
    """Run the full-resolution detail stage (texture and grain from the photo). On by default since
    it measures better (docs/MODELS.md, session 14); a new key, because every saved settings file
    holds the old ``detail = false`` default."""
    mirror_faces: bool = True
    """A hole over one side of a face takes the other side, mirrored (``pipeline.face``)."""
    recent_files: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, store: QSettings) -> EditorSettings:
        settings = cls()
        for f in dataclasses.fields(cls):
            if not store.contains(f.name):
                continue
            default = getattr(settings, f.name)
            value = store.value(f.name)
            try:
                if isinstance(default, list):
                    value = [str(v) for v in (value if isinstance(value, list) else [value] if value else [])]
                elif isinstance(default, bool):  # QSettings may hand back "true" / "false"
                    value = value if isinstance(value, bool) else str(value).lower() in ("true", "1")
                else:
                    value = type(default)(value)
            except (TypeError, ValueError):
                continue
            setattr(settings, f.name, value)
        return settings.checked()

    def save(self, store: QSettings) -> None:
        for f in dataclasses.fields(self):
            store.setValue(f.name, getattr(self, f.name))
        store.sync()

    def checked(self) -> EditorSettings:
        """Values outside their range back to the defaults (or clamped)."""
        defaults = EditorSettings()
        if self.device not in DEVICES:
            self.device = defaults.device
        self.brush_size = int(min(max(self.brush_size, MIN_BRUSH), MAX_BRUSH))
        self.jpeg_quality = int(min(max(self.jpeg_quality, 1), 100))
        self.parsing_opacity = float(min(max(self.parsing_opacity, 0.0), 1.0))
        for name in ("mask_colour", "margin_colour"):
            if not QColor(getattr(self, name)).isValid():
                setattr(self, name, getattr(defaults, name))
        self.recent_files = self.recent_files[:MAX_RECENT]
        return self

    def add_recent(self, path: str) -> None:
        self.recent_files = [path] + [p for p in self.recent_files if p != path]
        self.recent_files = self.recent_files[:MAX_RECENT]


class _ColourButton(QToolButton):
    """Shows a colour; click to choose another (with alpha)."""

    def __init__(self, colour: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colour = QColor(colour)
        self.setMinimumWidth(64)
        self.clicked.connect(self._choose)
        self._show()

    def _choose(self) -> None:
        colour = QColorDialog.getColor(self.colour, self, "Choose a colour",
                                       QColorDialog.ColorDialogOption.ShowAlphaChannel)
        if colour.isValid():
            self.colour = colour
            self._show()

    def _show(self) -> None:
        self.setStyleSheet(f"background-color: {self.colour.name(QColor.NameFormat.HexRgb)};")
        self.setToolTip(self.colour.name(QColor.NameFormat.HexArgb))


class SettingsDialog(QDialog):
    """Device, weights folder, default brush and overlay colours."""

    def __init__(self, settings: EditorSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        form = QFormLayout(self)

        self.device = QComboBox()
        self.device.addItems(["auto (GPU if there is one)", "cpu", "cuda (NVIDIA GPU)", "mps (Apple GPU)"])
        self.device.setCurrentIndex(DEVICES.index(settings.device))
        form.addRow("Device", self.device)

        self.weights = QLineEdit(settings.weights_dir)
        self.weights.setPlaceholderText("default: $PORTRAIT_EDITOR_WEIGHTS, then the shipped weights")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.weights, 1)
        row.addWidget(browse)
        form.addRow("Weights folder", row)

        self.brush = QSpinBox()
        self.brush.setRange(MIN_BRUSH, MAX_BRUSH)
        self.brush.setSuffix(" px")
        self.brush.setValue(settings.brush_size)
        form.addRow("Default brush size", self.brush)

        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(settings.jpeg_quality)
        form.addRow("JPEG/WebP quality", self.quality)

        self.detail = QCheckBox("Add texture and grain from the photo to fills")
        self.detail.setToolTip("The networks fill at low resolution; this copies fine detail from the "
                               "photo around the hole into the fill at full resolution.")
        self.detail.setChecked(settings.texture_from_photo)
        form.addRow("Detail", self.detail)

        self.mirror = QCheckBox("Bring back a covered eye from the other side of the face")
        self.mirror.setToolTip("When the hole covers one side of a face that faces the camera, that side is "
                               "filled with the other side, mirrored. Paint the face label out of the hole "
                               "in the parsing overlay to keep it from one face only.")
        self.mirror.setChecked(settings.mirror_faces)
        form.addRow("Faces", self.mirror)

        self.mask_colour = _ColourButton(settings.mask_colour)
        form.addRow("Mask colour", self.mask_colour)
        self.margin_colour = _ColourButton(settings.margin_colour)
        form.addRow("Margin colour", self.margin_colour)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Weights folder", self.weights.text())
        if folder:
            self.weights.setText(folder)

    def values(self) -> EditorSettings:
        """The settings as edited (a new object; the original is untouched)."""
        return dataclasses.replace(
            self._settings,
            device=DEVICES[self.device.currentIndex()],
            weights_dir=self.weights.text().strip(),
            brush_size=self.brush.value(),
            jpeg_quality=self.quality.value(),
            texture_from_photo=self.detail.isChecked(),
            mirror_faces=self.mirror.isChecked(),
            mask_colour=self.mask_colour.colour.name(QColor.NameFormat.HexArgb),
            margin_colour=self.margin_colour.colour.name(QColor.NameFormat.HexRgb),
            recent_files=list(self._settings.recent_files),
        )
