"""Small modal questions: canvas margins, grow/shrink the mask, export quality.

Each is one function returning the answer or None (cancelled), so the window's code reads as
``if (value := ask_x(...)) is not None``, and tests can replace one function.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QInputDialog,
    QLabel,
    QSlider,
    QSpinBox,
    QWidget,
)

MAX_MARGIN = 20000


def _buttons(dialog: QDialog) -> QDialogButtonBox:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


def ask_margins(parent: QWidget | None, current: tuple[int, int, int, int],
                photo_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Top, right, bottom, left in pixels (the area to fill around the photo)."""
    dialog = QDialog(parent)
    dialog.setWindowTitle("Canvas margins")
    form = QFormLayout(dialog)
    w, h = photo_size
    form.addRow(QLabel(f"Pixels to add around the {w} x {h} photo; the new area is filled by Run."))
    boxes = []
    for name, value in zip(("Top", "Right", "Bottom", "Left"), current, strict=True):
        box = QSpinBox()
        box.setRange(0, MAX_MARGIN)
        box.setSuffix(" px")
        box.setValue(int(value))
        form.addRow(name, box)
        boxes.append(box)
    form.addRow(_buttons(dialog))
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return tuple(b.value() for b in boxes)  # type: ignore[return-value]


def ask_grow(parent: QWidget | None) -> int | None:
    """Pixels to grow the mask by (negative: shrink)."""
    value, ok = QInputDialog.getInt(parent, "Grow or shrink the mask",
                                    "Pixels (negative values shrink the mask):", 8, -500, 500, 1)
    return value if ok and value else None


def ask_quality(parent: QWidget | None, fmt: str, quality: int) -> int | None:
    """Quality for JPEG and WebP (100 = lossless WebP); other formats are always lossless."""
    if fmt not in ("JPEG", "WEBP"):
        return quality
    dialog = QDialog(parent)
    dialog.setWindowTitle(f"{'JPEG' if fmt == 'JPEG' else 'WebP'} quality")
    form = QFormLayout(dialog)
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(1, 100)
    box = QSpinBox()
    box.setRange(1, 100)
    slider.valueChanged.connect(box.setValue)
    box.valueChanged.connect(slider.setValue)
    box.setValue(int(quality))
    form.addRow("Quality", slider)
    form.addRow("", box)
    note = ("90 and above keep full colour resolution." if fmt == "JPEG"
            else "100 saves losslessly.")
    form.addRow(QLabel(note))
    form.addRow(_buttons(dialog))
    return box.value() if dialog.exec() == QDialog.DialogCode.Accepted else None
