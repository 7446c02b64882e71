"""The canvas: a QGraphicsView showing the document, with zoom, pan and the active tool.

Scene coordinates are the base photo's pixel grid: the photo sits at ``(0, 0)``, the margins
extend to negative coordinates (top, left) and beyond the photo's size (bottom, right). Layers,
bottom to top: photo, margins (hatched: the area to fill), result, parsing overlay, mask overlay,
then the tools' previews.

The mask and parsing overlays are 8-bit indexed images drawn through a colour table. A brush
stroke copies only its rectangle into the overlay's buffer and repaints only that rectangle, so a
24-megapixel photo paints as smoothly as a small one: no full-size image is rebuilt per mouse
move, and changing the opacity or the colours only touches the 256-entry colour table.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QCursor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from .. import labels as label_sets
from .commands import MASK, PARSING
from .tools.base import Tool
from .tools.paint import Rect, is_empty

MIN_ZOOM, MAX_ZOOM = 1 / 64, 64.0
WHEEL_STEP = 1.25
"""Zoom factor per wheel notch (120 units)."""

Z_PHOTO, Z_MARGINS, Z_RESULT, Z_PARSING, Z_MASK, Z_FRAME, Z_PREVIEW = range(7)


def rgb_to_qimage(pixels: np.ndarray) -> QImage:
    """H x W x 3 uint8 RGB -> a QImage that owns a copy of the pixels."""
    pixels = np.ascontiguousarray(pixels)
    h, w = pixels.shape[:2]
    return QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class IndexedLayer(QGraphicsItem):
    """An H x W uint8 array shown through a colour table (mask: 0/1, parsing: label ids).

    The layer keeps its own copy of the array, with rows padded to 4 bytes as QImage wants, and
    updates it rectangle by rectangle.
    """

    def __init__(self, z: int) -> None:
        super().__init__()
        self.setZValue(z)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self._buffer: np.ndarray | None = None
        self._image: QImage | None = None
        self._colours: list[int] = [0] * 256
        self._size = (0, 0)

    def set_array(self, array: np.ndarray | None) -> None:
        self.prepareGeometryChange()
        if array is None:
            self._buffer, self._image, self._size = None, None, (0, 0)
            self.update()
            return
        h, w = array.shape
        stride = (w + 3) // 4 * 4
        self._buffer = np.zeros((h, stride), np.uint8)
        self._buffer[:, :w] = array
        self._image = QImage(self._buffer.data, w, h, stride, QImage.Format.Format_Indexed8)
        self._image.setColorTable(self._colours)
        self._size = (w, h)
        self.update()

    def update_rect(self, array: np.ndarray, rect: Rect) -> None:
        """Copy ``rect`` (y0, x0, y1, x1) of ``array`` into the overlay and repaint just that."""
        if self._buffer is None or array.shape != (self._size[1], self._size[0]):
            self.set_array(array)
            return
        if is_empty(rect):
            return
        y0, x0, y1, x1 = rect
        self._buffer[y0:y1, x0:x1] = array[y0:y1, x0:x1]
        self.update(QRectF(x0, y0, x1 - x0, y1 - y0))

    def set_colours(self, colours: list[int]) -> None:
        """256 ARGB values (QColor.rgba()), index = value in the array."""
        self._colours = list(colours)
        if self._image is not None:
            self._image.setColorTable(self._colours)
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, *self._size)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self._image is None:
            return
        exposed = option.exposedRect.intersected(self.boundingRect())
        if exposed.isEmpty():
            return
        # Whole pixels only: a fractional source rectangle would resample the mask's edges.
        x0, y0 = math.floor(exposed.left()), math.floor(exposed.top())
        x1, y1 = math.ceil(exposed.right()), math.ceil(exposed.bottom())
        area = QRectF(x0, y0, x1 - x0, y1 - y0)
        painter.drawImage(area, self._image, area)


class ResultItem(QGraphicsPixmapItem):
    """The completed canvas over the photo; ``split`` < 1 shows it only left of a divider."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(Z_RESULT)
        self.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.split = 1.0

    def set_split(self, fraction: float) -> None:
        self.split = min(max(fraction, 0.0), 1.0)
        self.update()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self.split >= 1.0:
            super().paint(painter, option, widget)
            return
        w, h = self.pixmap().width(), self.pixmap().height()
        x = w * self.split
        painter.save()
        painter.setClipRect(QRectF(0, 0, x, h))
        super().paint(painter, option, widget)
        painter.restore()
        pen = QPen(QColor(255, 255, 255), 0)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawLine(QPointF(x, 0), QPointF(x, h))


class MarginsItem(QGraphicsPathItem):
    """The added canvas area, tinted and hatched: "this will be filled"."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(Z_MARGINS)
        self.setPen(QPen(Qt.PenStyle.NoPen))
        self._colour = QColor(60, 140, 255)

    def set_colour(self, colour: QColor) -> None:
        self._colour = QColor(colour)
        self.update()

    def set_area(self, photo: QRectF, canvas: QRectF) -> None:
        path = QPainterPath()
        path.setFillRule(Qt.FillRule.OddEvenFill)
        path.addRect(canvas)
        path.addRect(photo)
        self.setPath(path)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        tint = QColor(self._colour)
        tint.setAlpha(70)
        painter.fillPath(self.path(), tint)
        hatch = QColor(self._colour)
        hatch.setAlpha(200)
        brush = QBrush(hatch, Qt.BrushStyle.BDiagPattern)
        # Hatch lines a fixed number of screen pixels apart, whatever the zoom.
        brush.setTransform(QTransform.fromScale(2 / max(painter.transform().m11(), 1e-6),
                                                2 / max(painter.transform().m22(), 1e-6)))
        painter.fillPath(self.path(), brush)


class CanvasFrame(QGraphicsRectItem):
    """The canvas border with grab handles, shown while the expand tool is active."""

    HANDLE = 7  # screen pixels

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(Z_FRAME)
        self.setPen(_cosmetic_pen(QColor(255, 255, 255), Qt.PenStyle.DashLine, 2))

    def boundingRect(self) -> QRectF:
        r = 4 * self.HANDLE / max(self.scene_scale(), 1e-6)  # room for the handles at any zoom
        return self.rect().adjusted(-r, -r, r, r)

    def scene_scale(self) -> float:
        views = self.scene().views() if self.scene() is not None else []
        return views[0].transform().m11() if views else 1.0

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        super().paint(painter, option, widget)
        rect = self.rect()
        size = self.HANDLE / max(painter.transform().m11(), 1e-6)
        painter.setPen(_cosmetic_pen(QColor(30, 30, 30), Qt.PenStyle.SolidLine, 1))
        painter.setBrush(QColor(255, 255, 255))
        xs = (rect.left(), rect.center().x(), rect.right())
        ys = (rect.top(), rect.center().y(), rect.bottom())
        for i, x in enumerate(xs):
            for j, y in enumerate(ys):
                if (i, j) != (1, 1):
                    painter.drawRect(QRectF(x - size / 2, y - size / 2, size, size))


class Canvas(QGraphicsView):
    """Shows a Document and routes the mouse to the active tool (or to panning)."""

    documentEdited = Signal(str)
    """A part of the document changed: "mask", "parsing", "margins", "base" or "result"."""
    cursorMoved = Signal(object)
    """(x, y) photo pixel under the pointer, or None when it left the canvas."""
    zoomChanged = Signal(float)
    statusMessage = Signal(str)
    overlaysChanged = Signal()
    """The mask or parsing overlay was shown or hidden, or the original shown instead of the result."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = None
        self.label_set = label_sets.LIP_NECK
        self._tool: Tool | None = None
        self._zoom = 1.0
        self._panning: QPoint | None = None
        self._space_held = False
        self._show_original = False
        self._preview_margins = None
        self._parsing_opacity = 0.55
        self._mask_colour = QColor(255, 40, 80)

        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QColor(46, 46, 50))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(False)  # the window takes dropped files

        self.photo = QGraphicsPixmapItem()
        self.photo.setZValue(Z_PHOTO)
        self.margins_item = MarginsItem()
        self.result_item = ResultItem()
        self.parsing_layer = IndexedLayer(Z_PARSING)
        self.mask_layer = IndexedLayer(Z_MASK)
        self.frame = CanvasFrame()
        self.frame.setVisible(False)
        self.brush_outline = QGraphicsEllipseItem()
        self.brush_outline.setPen(_cosmetic_pen(QColor(255, 255, 255), Qt.PenStyle.SolidLine, 1))
        self.brush_inner = QGraphicsEllipseItem()
        self.brush_inner.setPen(_cosmetic_pen(QColor(0, 0, 0), Qt.PenStyle.DotLine, 1))
        self.shape_preview = QGraphicsPathItem()
        self.shape_preview.setPen(_cosmetic_pen(QColor(255, 255, 255), Qt.PenStyle.DashLine, 1))
        self.shape_preview.setBrush(QColor(255, 40, 80, 60))
        for item in (self.brush_outline, self.brush_inner, self.shape_preview):
            item.setZValue(Z_PREVIEW)
            item.setVisible(False)
        for item in (self.photo, self.margins_item, self.result_item, self.parsing_layer,
                     self.mask_layer, self.frame, self.brush_outline, self.brush_inner, self.shape_preview):
            self.scene().addItem(item)
        self.result_item.setVisible(False)
        self.parsing_layer.setVisible(False)
        self._apply_mask_colours()
        self._apply_parsing_colours()

    # -- the document -------------------------------------------------------------------------
    def set_document(self, document) -> None:
        if self._tool is not None:
            self._tool.cancel()
        self.document = document
        self._preview_margins = None
        for part in ("base", "margins", MASK, PARSING, "result"):
            self._refresh(part, None)
        self.set_parsing_visible(False)
        self.set_mask_visible(True)
        self.fit()

    def document_changed(self, part: str, rect: Rect | None = None) -> None:
        """Redraw ``part`` ("mask", "parsing", "margins", "base", "result"), only ``rect`` of it
        if given (in that layer's own coordinates), and tell the window."""
        self._refresh(part, rect)
        self.documentEdited.emit(part)

    def _refresh(self, part: str, rect: Rect | None) -> None:
        doc = self.document
        if part == MASK:
            if doc is None:
                self.mask_layer.set_array(None)
            elif rect is None:
                self.mask_layer.set_array(doc.mask)
            else:
                self.mask_layer.update_rect(doc.mask, rect)
        elif part == PARSING:
            parsing = None if doc is None else doc.parsing
            if parsing is None or rect is None:
                self.parsing_layer.set_array(parsing)
            else:
                self.parsing_layer.update_rect(parsing, rect)
            self._place_canvas_items()
        elif part == "base":
            if doc is None:
                self.photo.setPixmap(QPixmap())
            else:
                self.photo.setPixmap(QPixmap.fromImage(rgb_to_qimage(doc.base)))
            self._refresh_margins()
        elif part == "margins":
            self._refresh_margins()
        elif part == "result":
            result = None if doc is None else doc.result
            if result is None:
                self.result_item.setPixmap(QPixmap())
                self.result_item.setVisible(False)
            else:
                self.result_item.setPixmap(QPixmap.fromImage(rgb_to_qimage(result.image)))
                self.result_item.setVisible(not self._show_original)
            self._place_canvas_items()

    def margins(self):
        """The margins on screen: the document's, or the ones being dragged."""
        if self._preview_margins is not None:
            return self._preview_margins
        return None if self.document is None else self.document.margins

    def photo_rect(self) -> QRectF:
        if self.document is None:
            return QRectF()
        h, w = self.document.base.shape[:2]
        return QRectF(0, 0, w, h)

    def canvas_rect(self) -> QRectF:
        """The photo plus its margins, in scene coordinates."""
        m = self.margins()
        if m is None:
            return QRectF()
        return self.photo_rect().adjusted(-m.left, -m.top, m.right, m.bottom)

    def preview_margins(self, margins) -> None:
        """Show ``margins`` while a border is dragged (None: back to the document's)."""
        self._preview_margins = margins
        self._refresh_margins()

    def _refresh_margins(self) -> None:
        photo, canvas = self.photo_rect(), self.canvas_rect()
        self.margins_item.set_area(photo, canvas)
        self.frame.setRect(canvas)
        self._place_canvas_items()
        self._update_scene_rect()

    def _place_canvas_items(self) -> None:
        """Parsing and result live on the canvas of the run: put their origin on the canvas's."""
        doc = self.document
        m = None if doc is None else doc.margins
        origin = QPointF(0, 0) if m is None else QPointF(-m.left, -m.top)
        self.parsing_layer.setPos(origin)
        self.result_item.setPos(origin)

    def _update_scene_rect(self) -> None:
        """Room around the canvas, so that at any zoom every edge can be brought to the middle of
        the view and borders can be dragged far outward."""
        canvas = self.canvas_rect()
        if canvas.isEmpty():
            self.setSceneRect(QRectF(0, 0, 1, 1))
            return
        view = self.viewport().size()
        pad_x = max(canvas.width(), view.width() / self._zoom)
        pad_y = max(canvas.height(), view.height() / self._zoom)
        self.setSceneRect(canvas.adjusted(-pad_x, -pad_y, pad_x, pad_y))

    # -- overlays -----------------------------------------------------------------------------
    def set_mask_colour(self, colour: QColor) -> None:
        self._mask_colour = QColor(colour)
        self._apply_mask_colours()

    def _apply_mask_colours(self) -> None:
        colours = [0] * 256
        colours[1] = self._mask_colour.rgba()
        self.mask_layer.set_colours(colours)
        fill = QColor(self._mask_colour)
        fill.setAlpha(60)
        self.shape_preview.setBrush(fill)

    def set_margin_colour(self, colour: QColor) -> None:
        self.margins_item.set_colour(colour)

    def set_label_set(self, label_set) -> None:
        self.label_set = label_set
        self._apply_parsing_colours()

    def label_name(self, value: int) -> str:
        if value == label_sets.UNKNOWN:
            return "let the network decide"
        return self.label_set.names[value] if value < len(self.label_set) else f"label {value}"

    def set_parsing_opacity(self, opacity: float) -> None:
        self._parsing_opacity = min(max(opacity, 0.0), 1.0)
        self._apply_parsing_colours()

    def parsing_opacity(self) -> float:
        return self._parsing_opacity

    def _apply_parsing_colours(self) -> None:
        alpha = round(255 * self._parsing_opacity)
        colours = [0] * 256  # UNKNOWN and ids outside the set: transparent
        for i, (r, g, b) in enumerate(self.label_set.colours):
            colours[i] = QColor(r, g, b, alpha).rgba()
        self.parsing_layer.set_colours(colours)

    def set_parsing_visible(self, visible: bool) -> None:
        self.parsing_layer.setVisible(visible)
        self.overlaysChanged.emit()

    def parsing_visible(self) -> bool:
        return self.parsing_layer.isVisible()

    def set_mask_visible(self, visible: bool) -> None:
        self.mask_layer.setVisible(visible)
        self.overlaysChanged.emit()

    def mask_visible(self) -> bool:
        return self.mask_layer.isVisible()

    def set_show_original(self, show: bool) -> None:
        """Hide the result (hold ``\\``) to compare with the photo underneath."""
        if show == self._show_original:
            return
        self._show_original = show
        has_result = self.document is not None and self.document.result is not None
        self.result_item.setVisible(has_result and not show)
        self.overlaysChanged.emit()

    def showing_original(self) -> bool:
        return self._show_original

    def set_split(self, fraction: float) -> None:
        self.result_item.set_split(fraction)

    # -- tool support -------------------------------------------------------------------------
    def set_tool(self, tool: Tool | None) -> None:
        if self._tool is not None:
            self._tool.deactivate()
        self._tool = tool
        if tool is not None:
            tool.activate()
        else:
            self.viewport().setCursor(QCursor(Qt.CursorShape.ArrowCursor))

    def tool(self) -> Tool | None:
        return self._tool

    def to_layer(self, layer: str, pos: QPointF) -> tuple[float, float]:
        """A scene position in the pixel coordinates of the mask (photo) or parsing (canvas)."""
        if layer == PARSING and self.document is not None:
            m = self.document.margins
            return pos.x() + m.left, pos.y() + m.top
        return pos.x(), pos.y()

    def show_brush_outline(self, pos: QPointF, diameter: float) -> None:
        r = diameter / 2
        for item in (self.brush_outline, self.brush_inner):
            item.setRect(QRectF(pos.x() - r, pos.y() - r, diameter, diameter))
            item.setVisible(True)

    def show_preview_rect(self, rect: QRectF) -> None:
        path = QPainterPath()
        path.addRect(rect)
        self.shape_preview.setPath(path)
        self.shape_preview.setVisible(True)

    def show_preview_polygon(self, polygon: QPolygonF) -> None:
        path = QPainterPath()
        path.addPolygon(polygon)
        path.closeSubpath()
        self.shape_preview.setPath(path)
        self.shape_preview.setVisible(True)

    def hide_previews(self) -> None:
        for item in (self.brush_outline, self.brush_inner, self.shape_preview):
            item.setVisible(False)

    def show_canvas_frame(self, visible: bool) -> None:
        self.frame.setVisible(visible)

    def edges_at(self, pos: QPointF, grab_pixels: float) -> frozenset[str]:
        """Which borders of the canvas lie within ``grab_pixels`` screen pixels of ``pos``."""
        canvas = self.canvas_rect()
        if canvas.isEmpty():
            return frozenset()
        tol = grab_pixels / self._zoom
        x, y = pos.x(), pos.y()
        within_x = canvas.left() - tol <= x <= canvas.right() + tol
        within_y = canvas.top() - tol <= y <= canvas.bottom() + tol
        edges = set()
        if within_x and abs(y - canvas.top()) <= tol:
            edges.add("top")
        if within_x and abs(y - canvas.bottom()) <= tol:
            edges.add("bottom")
        if within_y and abs(x - canvas.left()) <= tol:
            edges.add("left")
        if within_y and abs(x - canvas.right()) <= tol:
            edges.add("right")
        return frozenset(edges)

    # -- zoom ---------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self._zoom

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the scene point under ``anchor`` (viewport position; default: centre) still."""
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        before = self._viewport_to_scene(anchor)
        self._zoom = zoom
        self._update_scene_rect()
        self.setTransform(QTransform.fromScale(zoom, zoom))
        after = self.viewportTransform().map(before)
        delta = after - anchor
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + round(delta.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + round(delta.y()))
        # Fine detail when zoomed in (see the pixels), smooth when zoomed out.
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoom < 1.0)
        self.photo.setTransformationMode(
            Qt.TransformationMode.SmoothTransformation if zoom < 1.0 else Qt.TransformationMode.FastTransformation
        )
        self.zoomChanged.emit(zoom)

    def zoom_in(self) -> None:
        self.set_zoom(self._zoom * WHEEL_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self._zoom / WHEEL_STEP)

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def fit(self) -> None:
        """The whole canvas (photo and margins) in view, with a little room around it."""
        canvas = self.canvas_rect()
        if canvas.isEmpty():
            return
        view = self.viewport().rect()
        margin = 24
        zoom = min((view.width() - 2 * margin) / canvas.width(), (view.height() - 2 * margin) / canvas.height())
        self.set_zoom(max(zoom, MIN_ZOOM))
        self.centerOn(canvas.center())

    def canvas_in_view(self) -> bool:
        """Whether the whole canvas (photo and margins) is visible in the view."""
        canvas = self.canvas_rect()
        visible = self.mapToScene(self.viewport().rect()).boundingRect()
        return not canvas.isEmpty() and visible.contains(canvas)

    def _viewport_to_scene(self, pos: QPointF) -> QPointF:
        return self.viewportTransform().inverted()[0].map(QPointF(pos))

    # -- events -------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._update_scene_rect()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self._zoom * WHEEL_STEP**steps, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        pan = event.button() == Qt.MouseButton.MiddleButton or (
            self._space_held and event.button() == Qt.MouseButton.LeftButton
        )
        if pan:
            self._panning = event.position().toPoint()
            self.viewport().setCursor(QCursor(Qt.CursorShape.ClosedHandCursor))
        elif self._tool is not None and self.document is not None:
            self._tool.press(self._viewport_to_scene(event.position()), event)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = self._viewport_to_scene(event.position())
        if self._panning is not None:
            delta = event.position().toPoint() - self._panning
            self._panning = event.position().toPoint()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
        elif self._tool is not None and self.document is not None:
            self._tool.move(pos, event)
        if self.document is not None:
            self.cursorMoved.emit((math.floor(pos.x()), math.floor(pos.y())))
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._panning is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._panning = None
            self._restore_cursor()
        elif self._tool is not None and self.document is not None:
            self._tool.release(self._viewport_to_scene(event.position()), event)
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.mousePressEvent(event)  # a quick second click is just another click for the tools

    def leaveEvent(self, event) -> None:
        if self._tool is not None:
            self._tool.leave()
        self.cursorMoved.emit(None)
        super().leaveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.isAutoRepeat():
            event.accept()
            return
        if event.key() == Qt.Key.Key_Space:
            self._space_held = True
            self.viewport().setCursor(QCursor(Qt.CursorShape.OpenHandCursor))
        elif event.key() == Qt.Key.Key_Backslash:
            self.set_show_original(True)
        elif event.key() == Qt.Key.Key_Escape and self._tool is not None:
            self._tool.cancel()  # (when a run is going, the window's Cancel takes Esc first)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.isAutoRepeat():
            event.accept()
            return
        if event.key() == Qt.Key.Key_Space:
            self._space_held = False
            self._restore_cursor()
        elif event.key() == Qt.Key.Key_Backslash:
            self.set_show_original(False)
        else:
            super().keyReleaseEvent(event)
            return
        event.accept()

    def focusOutEvent(self, event) -> None:
        # A key released while another widget has focus never reaches us: do not stay stuck.
        self._space_held = False
        self.set_show_original(False)
        super().focusOutEvent(event)

    def _restore_cursor(self) -> None:
        if self._space_held:
            self.viewport().setCursor(QCursor(Qt.CursorShape.OpenHandCursor))
        elif self._tool is not None:
            self.viewport().setCursor(self._tool.cursor())
        else:
            self.viewport().setCursor(QCursor(Qt.CursorShape.ArrowCursor))


def _cosmetic_pen(colour: QColor, style: Qt.PenStyle, width: int) -> QPen:
    pen = QPen(colour, width, style)
    pen.setCosmetic(True)
    return pen
