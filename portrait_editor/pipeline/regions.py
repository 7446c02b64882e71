"""Where the networks work: canvas margins, hole regions, crops and working scales.

Photos can have 50+ megapixels while the networks were trained near 256 px. We never shrink the
whole photo: each hole gets a crop with context around it, scaled so that the longer side fits
the networks (``max_work_side``), and the result is pasted back into the full-resolution photo.

Boxes are ``(y0, x0, y1, x1)`` with exclusive ends, like Python slices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

MAX_UPSCALE = 2.0
"""Small crops are enlarged at most this much: beyond 2x the network only sees interpolation blur,
and a fully convolutional network copes with a small input better than with a smeared one."""


# --------------------------------------------------------------------------------------------
# Canvas margins


@dataclass(frozen=True)
class Margins:
    """Pixels added to each side of the canvas (extrapolation); the new area is hole."""

    top: int = 0
    right: int = 0
    bottom: int = 0
    left: int = 0

    def __post_init__(self) -> None:
        for name in ("top", "right", "bottom", "left"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"margin {name} must be a whole number of pixels, got {value!r}")
            if value < 0:
                raise ValueError(f"margin {name} must not be negative, got {value}")
            object.__setattr__(self, name, int(value))

    @classmethod
    def parse(cls, text: str) -> Margins:
        """Read ``"T,R,B,L"`` (CSS order, as typed on the command line)."""
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) != 4:
            raise ValueError(f"margins must be 4 numbers 'top,right,bottom,left', got {text!r}")
        values = []
        for name, part in zip(("top", "right", "bottom", "left"), parts, strict=True):
            try:
                value = int(part)
            except ValueError:
                raise ValueError(f"margin {name} in {text!r} is not a whole number: {part!r}") from None
            if value < 0:
                raise ValueError(f"margin {name} in {text!r} must not be negative")
            values.append(value)
        return cls(*values)

    def any(self) -> bool:
        """True when the canvas grows at all."""
        return bool(self.top or self.right or self.bottom or self.left)

    def __iter__(self) -> Iterator[int]:
        return iter((self.top, self.right, self.bottom, self.left))

    def __str__(self) -> str:
        return f"{self.top},{self.right},{self.bottom},{self.left}"


def expand_canvas(
    image: np.ndarray, mask: np.ndarray | None, margins: Margins
) -> tuple[np.ndarray, np.ndarray]:
    """Grow the canvas by ``margins``; the new area becomes hole.

    New pixels repeat the nearest edge pixel: a neutral start for the networks (no black frame
    whose colour would leak into the completion). The original pixels keep their values at
    offset ``(margins.top, margins.left)``. With ``mask=None`` the returned mask is only the new
    border. Without margins the inputs are returned as they are (no copy).
    """
    h, w = image.shape[:2]
    if mask is None:
        mask = np.zeros((h, w), dtype=bool)
    elif mask.shape != (h, w):
        raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is {w}x{h}")
    mask = mask.astype(bool, copy=False)
    if not margins.any():
        return image, mask
    t, r, b, left = margins
    grown = cv2.copyMakeBorder(image, t, b, left, r, cv2.BORDER_REPLICATE)
    if image.ndim == 3 and grown.ndim == 2:  # cv2 drops a single channel axis
        grown = grown[:, :, None]
    new_mask = np.ones(grown.shape[:2], dtype=bool)
    new_mask[t : t + h, left : left + w] = mask
    return grown, new_mask


# --------------------------------------------------------------------------------------------
# Boxes and hole components

_MAX_CUTS = 256


class Box(NamedTuple):
    """``(y0, x0, y1, x1)``, exclusive ends."""

    y0: int
    x0: int
    y1: int
    x1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def grow(self, by: int, shape: tuple[int, ...]) -> Box:
        """Grown by ``by`` px on each side, clipped to an image of ``shape`` (H, W, ...)."""
        return Box(
            max(0, self.y0 - by),
            max(0, self.x0 - by),
            min(shape[0], self.y1 + by),
            min(shape[1], self.x1 + by),
        )

    def union(self, other: Box) -> Box:
        return Box(
            min(self.y0, other.y0), min(self.x0, other.x0), max(self.y1, other.y1), max(self.x1, other.x1)
        )

    def intersects(self, other: Box) -> bool:
        return self.y0 < other.y1 and other.y0 < self.y1 and self.x0 < other.x1 and other.x0 < self.x1

    def within(self, other: Box) -> tuple[slice, slice]:
        """Slices of ``self`` in the coordinates of ``other`` (which must contain it)."""
        return slice(self.y0 - other.y0, self.y1 - other.y0), slice(self.x0 - other.x0, self.x1 - other.x0)


def bounding_box(mask: np.ndarray) -> Box:
    """The smallest box holding every set pixel of ``mask`` (which must hold one)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return Box(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Half-open runs of True in a 1-D bool array."""
    padded = np.concatenate(([False], flags, [False])).view(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def hole_boxes(mask: np.ndarray) -> list[Box]:
    """Bounding boxes of the 8-connected components of the hole.

    A 50 MP mask has only a few small holes, so first the empty rows and columns are cut away
    recursively (an 8-connected component cannot cross an empty row or column: a few vectorised
    ``any`` scans), then ``cv2.connectedComponentsWithStats`` runs only on the small boxes that
    are left. That is exact and ~30x faster than labelling the whole photo (8 ms instead of
    0.25 s on 8000 x 6000 with a few holes). A speckled mask falls back to one labelling.
    """
    mask = np.asarray(mask)
    if mask.dtype != bool:
        mask = mask != 0
    if mask.ndim != 2:
        raise ValueError(f"mask must be H x W, got shape {mask.shape}")
    as_u8 = mask.view(np.uint8)
    leaves: list[Box] = []
    stack = [Box(0, 0, *mask.shape)]
    while stack:
        if len(leaves) + len(stack) > _MAX_CUTS:  # speckled mask: cutting costs more than it saves
            leaves, stack = [Box(0, 0, *mask.shape)], []
            break
        box = stack.pop()
        sub = mask[box.slices()]
        row_runs = _runs(sub.any(axis=1))
        if len(row_runs) != 1:
            stack.extend(Box(box.y0 + a, box.x0, box.y0 + b, box.x1) for a, b in row_runs)
            continue
        ry0, ry1 = row_runs[0]
        col_runs = _runs(sub[ry0:ry1].any(axis=0))
        trimmed = [Box(box.y0 + ry0, box.x0 + a, box.y0 + ry1, box.x0 + b) for a, b in col_runs]
        if len(trimmed) == 1 and trimmed[0] == box:
            leaves.append(box)  # no empty row or column left to cut at
        else:
            stack.extend(trimmed)
    boxes: list[Box] = []
    for leaf in leaves:
        count, _, stats, _ = cv2.connectedComponentsWithStats(
            np.ascontiguousarray(as_u8[leaf.slices()]), connectivity=8, ltype=cv2.CV_32S
        )
        for x, y, w, h, _area in stats[1:count]:
            boxes.append(Box(leaf.y0 + int(y), leaf.x0 + int(x), leaf.y0 + int(y + h), leaf.x0 + int(x + w)))
    boxes.sort()
    return boxes


def _connected_groups(adjacent: np.ndarray) -> list[list[int]]:
    """Connected groups of a symmetric boolean adjacency matrix (union-find)."""
    parent = list(range(len(adjacent)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(adjacent)), strict=True):
        parent[find(int(i))] = find(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(len(parent)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def merge_overlapping(boxes: list[Box], grow: Callable[[Box], Box]) -> list[tuple[Box, Box]]:
    """Merge hole boxes whose grown boxes overlap, until no two overlap.

    ``grow(hole_box) -> Box`` gives the area a hole needs around it. Returns ``(hole, grown)``
    pairs whose grown boxes are pairwise disjoint, so every hole pixel is handled by exactly one
    of them and no two crops write the same pixels. A merged hole is grown again as one (a bigger
    hole gets more context), which may make it reach another box; hence the loop.
    """
    holes = list(boxes)
    while True:
        grown = [grow(b) for b in holes]
        if len(holes) <= 1:
            return list(zip(holes, grown, strict=True))
        g = np.array(grown, dtype=np.int64)
        overlap = (
            (g[:, None, 0] < g[None, :, 2])
            & (g[None, :, 0] < g[:, None, 2])
            & (g[:, None, 1] < g[None, :, 3])
            & (g[None, :, 1] < g[:, None, 3])
        )
        np.fill_diagonal(overlap, False)
        if not overlap.any():
            return list(zip(holes, grown, strict=True))
        merged = []
        for group in _connected_groups(overlap):
            box = holes[group[0]]
            for i in group[1:]:
                box = box.union(holes[i])
            merged.append(box)
        holes = sorted(merged)


# --------------------------------------------------------------------------------------------
# Regions


@dataclass(frozen=True)
class Region:
    """One crop the networks work on: a group of hole components with context around them."""

    hole: Box
    """Bounding box of the hole pixels of this region (the union of its merged components)."""
    crop: Box
    """The hole box grown by its context, clipped to the image."""
    scale: float
    """Working size / crop size (< 1 shrinks a big crop, up to ``MAX_UPSCALE`` enlarges a tiny one)."""
    work_size: tuple[int, int]
    """(h, w) of the crop at working scale, multiples of 8."""
    touches_border: bool
    """The hole reaches the image edge: this is extrapolation, the solve has no pixels beyond."""
    image_size: tuple[int, int]
    """(h, w) of the whole image the boxes refer to."""
    outward: bool = False
    """The hole reaches into canvas margins (area added beyond the photo): extrapolation, for the
    extrapolation network. A mask that merely touches the photo's edge is an occluder."""

    @property
    def crop_size(self) -> tuple[int, int]:
        return self.crop.height, self.crop.width

    def crop_slices(self) -> tuple[slice, slice]:
        """``image[region.crop_slices()]`` is the crop (a view)."""
        return self.crop.slices()

    def hole_slices(self) -> tuple[slice, slice]:
        return self.hole.slices()

    def hole_in_crop(self) -> Box:
        """The hole box in crop coordinates."""
        c = self.crop
        return Box(self.hole.y0 - c.y0, self.hole.x0 - c.x0, self.hole.y1 - c.y0, self.hole.x1 - c.x0)

    def border_sides(self) -> frozenset[str]:
        """Which image edges the hole reaches ("top", "right", "bottom", "left")."""
        h, w = self.image_size
        sides = {
            "top": self.hole.y0 == 0,
            "right": self.hole.x1 == w,
            "bottom": self.hole.y1 == h,
            "left": self.hole.x0 == 0,
        }
        return frozenset(name for name, hit in sides.items() if hit)


def _multiple_of_8(length: float, limit: int) -> int:
    n = max(8, int(length / 8.0 + 0.5) * 8)
    cap = max(8, limit // 8 * 8)
    return min(n, cap)


def working_scale(crop_h: int, crop_w: int, max_work_side: int = 512, min_work_side: int = 128) -> float:
    """Scale for a crop: the longer side fits ``max_work_side``; a small crop is enlarged until
    its shorter side reaches ``min_work_side`` but at most ``MAX_UPSCALE`` times."""
    longer, shorter = max(crop_h, crop_w), min(crop_h, crop_w)
    if longer > max_work_side:
        return max_work_side / longer
    if shorter >= min_work_side:
        return 1.0
    return max(1.0, min(MAX_UPSCALE, min_work_side / shorter, max_work_side / longer))


def person_working_scale(crop_h: int, crop_w: int, hole_side: int, target: float, max_work_side: int = 512,
                         min_hole_work: int = 16) -> float:
    """Scale for a crop when the networks should see the person at the size they were trained on
    (``target`` = trained person height / person height in the photo).

    A small hole on a big photo is not shrunk below ``min_hole_work`` px (a 4 px fill blown up
    20x is a flat smear; the networks continue local texture well enough when the person is
    larger than in training), the longer side fits ``max_work_side`` and nothing is enlarged
    more than ``MAX_UPSCALE``."""
    if target <= 0:
        raise ValueError(f"target scale must be positive, got {target}")
    scale = max(target, min(1.0, min_hole_work / max(1, hole_side)))
    return min(scale, MAX_UPSCALE, max_work_side / max(crop_h, crop_w))


def find_regions(
    mask: np.ndarray,
    *,
    context: float = 1.0,
    min_context: int = 32,
    max_work_side: int = 512,
    min_work_side: int = 128,
    target_scale: float | None = None,
    outward_target_scale: float | None = None,
    outward: np.ndarray | None = None,
) -> list[Region]:
    """Regions of the hole for the networks, sorted top to bottom, left to right.

    Each 8-connected hole component gets ``context * max(hole h, hole w)`` px of context (at
    least ``min_context``) on each side, clipped to the image; a hole at the border therefore
    only gets context inward. Components whose crops overlap are merged (until stable), so each
    hole pixel is completed exactly once and crops never fight over pixels.

    Without ``target_scale`` a crop keeps the photo's scale (shrunk to fit ``max_work_side``,
    a small one enlarged towards ``min_work_side``). With it (see :func:`person_working_scale`)
    crops are scaled so the person has the size the networks were trained on, and a crop gets
    enough context to be at least ``min_work_side`` px at that scale where the photo allows:
    the networks were trained on whole photos, not on keyholes. ``outward`` marks the canvas
    margins (pixels beyond the photo): regions whose hole reaches into them are ``outward`` and
    use ``outward_target_scale`` when given (the extrapolation network may have been trained at
    another size).
    """
    if context < 0 or min_context < 0:
        raise ValueError("context and min_context must not be negative")
    if max_work_side < 8 or min_work_side < 1:
        raise ValueError("max_work_side must be >= 8 and min_work_side >= 1")
    shape = mask.shape[:2]
    least_crop = 0 if target_scale is None else min(min_work_side, max_work_side) / target_scale

    def grow(hole: Box) -> Box:
        side = max(hole.height, hole.width)
        pad = max(int(min_context), int(math.ceil(context * side)), int(math.ceil((least_crop - side) / 2)))
        return hole.grow(pad, shape)

    regions = []
    for hole, crop in merge_overlapping(hole_boxes(mask), grow):
        touches = hole.y0 == 0 or hole.x0 == 0 or hole.y1 == shape[0] or hole.x1 == shape[1]
        beyond = bool(outward is not None and (outward[hole.slices()] & mask[hole.slices()]).any())
        target = outward_target_scale if beyond and outward_target_scale is not None else target_scale
        if target is None:
            scale = working_scale(crop.height, crop.width, max_work_side, min_work_side)
        else:
            scale = person_working_scale(crop.height, crop.width, max(hole.height, hole.width), target,
                                         max_work_side)
        work = (
            _multiple_of_8(crop.height * scale, max_work_side),
            _multiple_of_8(crop.width * scale, max_work_side),
        )
        regions.append(Region(hole, crop, float(scale), work, touches, (int(shape[0]), int(shape[1])), beyond))
    return regions


# --------------------------------------------------------------------------------------------
# Resizing between crop and working scale


def _resize(pixels: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    h, w = size
    if pixels.shape[:2] == (h, w):
        return pixels.copy()
    is_bool = pixels.dtype == bool
    src = pixels.view(np.uint8) if is_bool else pixels
    out = cv2.resize(src, (w, h), interpolation=interpolation)
    if pixels.ndim == 3 and out.ndim == 2:  # cv2 drops a single channel axis
        out = out[:, :, None]
    return out.astype(bool) if is_bool else out


def _interpolation(shrinking: bool, nearest: bool) -> int:
    if nearest:
        return cv2.INTER_NEAREST
    # INTER_AREA averages when shrinking (no aliasing); cubic keeps edges when enlarging
    return cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC


def to_work(crop_pixels: np.ndarray, region: Region, *, nearest: bool = False) -> np.ndarray:
    """Resize a crop (image, mask or label map) to ``region.work_size``.

    Use ``nearest=True`` for masks and label maps: ids must not be averaged into other ids.
    """
    if crop_pixels.shape[:2] != region.crop_size:
        raise ValueError(f"crop is {crop_pixels.shape[:2]}, region crop is {region.crop_size}")
    shrinking = region.work_size[0] * region.work_size[1] < region.crop_size[0] * region.crop_size[1]
    return _resize(crop_pixels, region.work_size, _interpolation(shrinking, nearest))


def from_work(
    work_pixels: np.ndarray, region: Region, *, nearest: bool = False, interpolation: int | None = None
) -> np.ndarray:
    """Resize a working-scale result back to the crop size (``interpolation`` overrides the
    automatic choice: INTER_AREA when shrinking, INTER_CUBIC when enlarging, nearest for labels)."""
    if work_pixels.shape[:2] != region.work_size:
        raise ValueError(f"work array is {work_pixels.shape[:2]}, region work size is {region.work_size}")
    shrinking = region.work_size[0] * region.work_size[1] > region.crop_size[0] * region.crop_size[1]
    flag = interpolation if interpolation is not None else _interpolation(shrinking, nearest)
    return _resize(work_pixels, region.crop_size, flag)


def enlarge_box(small: np.ndarray, shape: tuple[int, int], box: Box, interpolation: int = cv2.INTER_LINEAR,
                border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """The pixels of ``box`` of an image of ``shape`` (h, w), sampled from ``small``, a resized copy
    of that whole image (pixel centres aligned as ``cv2.resize`` aligns them): only the box is
    enlarged, not the whole image."""
    sy, sx = small.shape[0] / shape[0], small.shape[1] / shape[1]
    matrix = np.float32([[sx, 0, (box.x0 + 0.5) * sx - 0.5], [0, sy, (box.y0 + 0.5) * sy - 0.5]])
    return cv2.warpAffine(small, matrix, (box.width, box.height), flags=interpolation | cv2.WARP_INVERSE_MAP,
                          borderMode=border)


def shrink_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``mask`` (bool) at ``size`` (h, w), a pixel set when any pixel it covers is set: a hole
    never leaks into the context of a shrunk copy. The same as ``cv2.resize(mask.astype(float32),
    INTER_AREA) > 0`` when shrinking, but it reads only the mask's bounding box (a 12 MP canvas
    took 22 ms that way, a 256 px hole in it takes well under 1 ms this way)."""
    h, w = size
    rows, cols = mask.shape
    if h > rows or w > cols:  # enlarging: any covered pixel is the bilinear weight's business
        return cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0
    out = np.zeros((h, w), bool)
    if not mask.any():
        return out
    box = bounding_box(mask)

    def spans(lo: int, hi: int, n: int, total: int) -> tuple[int, np.ndarray, np.ndarray]:
        """The shrunk pixels covering source pixels [lo, hi), and the source span of each."""
        step = total / n
        first, last = int(lo // step), min(n, int(math.ceil(hi / step)))
        k = np.arange(first, last + 1, dtype=np.float64)
        # OpenCV's INTER_AREA drops overlaps under 0.001 px
        starts = np.floor(k * step + 1e-3).astype(np.int64)
        ends = np.minimum(total, np.ceil((k + 1) * step - 1e-3)).astype(np.int64)
        return first, starts[: last - first], ends[: last - first]

    y_first, y_starts, y_ends = spans(box.y0, box.y1, h, rows)
    x_first, x_starts, x_ends = spans(box.x0, box.x1, w, cols)
    y0, y1 = int(y_starts[0]), int(y_ends[-1])
    x0, x1 = int(x_starts[0]), int(x_ends[-1])
    counts = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.int32)  # summed-area table of the covered box
    counts[1:, 1:] = mask[y0:y1, x0:x1].cumsum(0, dtype=np.int32).cumsum(1, dtype=np.int32)
    ya, yb = (y_starts - y0)[:, None], (y_ends - y0)[:, None]
    xa, xb = (x_starts - x0)[None, :], (x_ends - x0)[None, :]
    inside = counts[yb, xb] - counts[ya, xb] - counts[yb, xa] + counts[ya, xa]
    out[y_first:y_first + len(y_starts), x_first:x_first + len(x_starts)] = inside > 0
    return out
