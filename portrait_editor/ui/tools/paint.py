"""Pure NumPy painting primitives shared by the brush, eraser, label brush, rectangle and lasso.

Everything here works on the bounding rectangle of what is painted and never on the whole
array, so that a stroke on a 24-megapixel mask costs the same as on a small one. Rectangles are
``(y0, x0, y1, x1)`` with exclusive ends, like Python slices; points are ``(x, y)`` in pixel
coordinates where pixel ``(row, col)`` covers ``[col, col + 1) x [row, row + 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

Rect = tuple[int, int, int, int]
Point = tuple[float, float]

# Ordered (Bayer) dither thresholds: a soft brush on a binary mask thins out towards its rim in
# a fixed pattern, so overlapping dabs never flicker and a repeated stroke changes nothing.
_BAYER4 = (np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], np.float32) + 0.5) / 16


def clip_rect(rect: Rect, shape: Sequence[int]) -> Rect:
    """``rect`` clipped to an array of ``shape``; may come back empty (y1 <= y0 or x1 <= x0)."""
    h, w = int(shape[0]), int(shape[1])
    y0, x0, y1, x1 = rect
    return max(0, y0), max(0, x0), min(h, y1), min(w, x1)


def is_empty(rect: Rect) -> bool:
    return rect[2] <= rect[0] or rect[3] <= rect[1]


def union(a: Rect | None, b: Rect) -> Rect:
    if a is None or is_empty(a):
        return b
    if is_empty(b):
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def segment_rect(shape: Sequence[int], p0: Point, p1: Point, radius: float) -> Rect:
    """The pixels a round brush of ``radius`` can touch moving from ``p0`` to ``p1``, clipped."""
    r = max(float(radius), 0.5)
    xs = (p0[0], p1[0])
    ys = (p0[1], p1[1])
    rect = (
        math.floor(min(ys) - r),
        math.floor(min(xs) - r),
        math.floor(max(ys) + r) + 1,
        math.floor(max(xs) + r) + 1,
    )
    return clip_rect(rect, shape)


def paint_segment(
    mask: np.ndarray, p0: Point, p1: Point, radius: float, value, hardness: float = 1.0
) -> Rect:
    """Paint a round brush of ``radius`` pixels along ``p0 -> p1`` (both ``(x, y)``) into ``mask``.

    Works in place on a 2-D array (a bool mask or a uint8 label map) and only inside the
    segment's bounding rectangle, which is returned as ``(y0, x0, y1, x1)`` (empty when the
    segment lies outside the array). A pixel is painted when its centre is within ``radius`` of
    the segment; the pixels under both end points are always painted, so a 1-pixel brush
    (``radius=0.5``) draws an unbroken line. ``hardness < 1`` makes the outer ``1 - hardness``
    of the radius a dithered fall-off (the mask is binary, so softness is a density).
    """
    rect = segment_rect(mask.shape, p0, p1, radius)
    if is_empty(rect):
        return rect
    y0, x0, y1, x1 = rect
    r = max(float(radius), 0.5)
    ax, ay = float(p0[0]), float(p0[1])
    dx, dy = float(p1[0]) - ax, float(p1[1]) - ay
    px = np.arange(x0, x1, dtype=np.float32)[None, :] + (0.5 - ax)
    py = np.arange(y0, y1, dtype=np.float32)[:, None] + (0.5 - ay)
    length2 = dx * dx + dy * dy
    if length2 > 1e-12:
        t = np.clip((px * dx + py * dy) * (1.0 / length2), 0.0, 1.0)
        ex = px - t * dx
        ey = py - t * dy
    else:
        ex, ey = px, py
    d2 = ex * ex + ey * ey
    hardness = float(min(max(hardness, 0.0), 1.0))
    if hardness >= 1.0:
        inside = d2 <= r * r
    else:
        d = np.sqrt(d2)
        falloff = np.clip((r - d) / (r * (1.0 - hardness)), 0.0, 1.0)
        inside = falloff > _dither(rect)
    for x, y in (p0, p1):
        col, row = math.floor(x) - x0, math.floor(y) - y0
        if 0 <= row < y1 - y0 and 0 <= col < x1 - x0:
            inside[row, col] = True
    mask[y0:y1, x0:x1][inside] = value
    return rect


def _dither(rect: Rect) -> np.ndarray:
    """Bayer thresholds for ``rect``, anchored to absolute pixel positions."""
    y0, x0, y1, x1 = rect
    rows = np.arange(y0, y1) % 4
    cols = np.arange(x0, x1) % 4
    return _BAYER4[rows[:, None], cols[None, :]]


def rect_from_points(shape: Sequence[int], p0: Point, p1: Point) -> Rect:
    """The pixels whose centres lie inside the rectangle spanned by two corner points, clipped."""
    xa, xb = sorted((p0[0], p1[0]))
    ya, yb = sorted((p0[1], p1[1]))
    rect = (round(ya), round(xa), max(round(yb), round(ya) + 1), max(round(xb), round(xa) + 1))
    return clip_rect(rect, shape)


def fill_rect(mask: np.ndarray, rect: Rect, value) -> Rect:
    rect = clip_rect(rect, mask.shape)
    if not is_empty(rect):
        y0, x0, y1, x1 = rect
        mask[y0:y1, x0:x1] = value
    return rect


def polygon_rect(shape: Sequence[int], points: Sequence[Point]) -> Rect:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    rect = (math.floor(min(ys)), math.floor(min(xs)), math.floor(max(ys)) + 1, math.floor(max(xs)) + 1)
    return clip_rect(rect, shape)


def fill_polygon(mask: np.ndarray, points: Sequence[Point], value) -> Rect:
    """Fill the closed polygon through ``points`` (a lasso), working on its bounding box only."""
    if len(points) < 3:
        return 0, 0, 0, 0
    rect = polygon_rect(mask.shape, points)
    if is_empty(rect):
        return rect
    y0, x0, y1, x1 = rect
    # cv2 fills pixel centres at integer coordinates: shift by half a pixel, in 1/16 px precision.
    shift = 4
    pts = np.array([[(x - 0.5 - x0) * 16, (y - 0.5 - y0) * 16] for x, y in points], np.float64)
    stamp = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(stamp, [np.round(pts).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=shift)
    mask[y0:y1, x0:x1][stamp.astype(bool)] = value
    return rect


def flood_fill(labels: np.ndarray, x: int, y: int, value: int,
               within: np.ndarray | None = None) -> tuple[Rect, np.ndarray] | None:
    """Repaint the 4-connected region of equal labels containing ``(x, y)`` with ``value``,
    not leaving ``within`` (a bool array like ``labels``) when it is given.

    Returns the region's bounding rectangle and the region as a bool array of that rectangle
    (what an undo needs), or None when there is nothing to change.
    """
    h, w = labels.shape
    if not (0 <= x < w and 0 <= y < h) or int(labels[y, x]) == int(value):
        return None
    if within is not None and not within[y, x]:
        return None
    region = np.zeros((h + 2, w + 2), np.uint8)
    if within is not None:
        region[1:-1, 1:-1] = ~within  # non-zero mask pixels stop cv2's fill
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (_FILLED << 8)
    _, _, _, (rx, ry, rw, rh) = cv2.floodFill(labels, region, (int(x), int(y)), 0, 0, 0, flags)
    rect = (ry, rx, ry + rh, rx + rw)
    inside = region[1 + ry : 1 + ry + rh, 1 + rx : 1 + rx + rw] == _FILLED
    labels[ry : ry + rh, rx : rx + rw][inside] = value
    return rect, inside


_FILLED = 2  # the value cv2.floodFill writes into its mask (1 marks the barrier)


def grow_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """The mask grown by ``pixels`` (shrunk when negative), as a new array.

    Uses a distance transform, so the cost does not depend on how far it grows.
    """
    if pixels == 0:
        return mask.copy()
    if pixels > 0:
        if not mask.any():
            return mask.copy()
        distance = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        return distance <= pixels
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return distance > -pixels
