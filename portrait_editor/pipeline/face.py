"""The face stage's symmetry step: a hole over one side of a face takes the other side, mirrored.

G paints a face at a few dozen pixels and F (``models/face.py``) refines it at 64-128 px, but
neither brings back an eye, an eyebrow or a nostril that the hole covers: on the close-ups of
``training.evaluate --task wild-faces`` a hole over an eye comes back as smooth skin. Faces are
close to mirror-symmetric, and the photo usually shows the other side at full resolution:

1. **The axis.** On a copy of the face shrunk to ``WORK_SIDE`` px, every line near the face's
   middle (tilted up to ``MAX_TILT`` degrees) reflects the known face onto itself; its score is
   the normalised cross-correlation of the face's band-pass detail (eyes, brows, nostrils,
   mouth corners; lighting cancels out) with its reflection, over the known face pixels whose
   reflection is known face too and that lie off the line (a pixel next to the line is its own
   reflection).
2. **The gate.** A face turned aside, half in shadow or not a face at all scores low: below
   ``MIN_SCORE``, or with too little of the face seen on both sides (``MIN_OVERLAP``), nothing
   changes. Nor when the hole's surroundings do not look like their reflection
   (``MAX_RING_DIFFERENCE``): the hole lies over hair beside the face, or the reflection of a
   face turned aside puts the mouth beside the mouth.
3. **The copy.** Hole pixels labelled face (or hair: P often calls a covered eye at the face's
   edge hair) whose reflection is a known face pixel take the photo's pixel there (bilinear),
   at full resolution. Where they meet hole pixels without one (G's and
   F's fill), the copy fades in over ``FEATHER`` of the face's width. Colours at the hole's edge
   are left to the blend (a membrane matches them to the photo, so a darker side comes out
   matched to the lit one).

NumPy and OpenCV only; pixels outside the hole never change.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .regions import Box, bounding_box

WORK_SIDE = 128
"""The axis is searched on the face shrunk to this many px (its longer side)."""
MAX_TILT = 20.0
"""Degrees the axis may lean from the vertical (a tilted head)."""
OFFSET_RANGE = 0.2
"""The axis may lie this fraction of the face's width either side of its middle."""
MIN_SCORE = 0.62
"""The least score: the normalised cross-correlation of the face's detail with its reflection,
less that of the same line moved ``SHIFT`` of the face's width sideways. On 60 close-ups with
holes (``training.evaluate --task wild-faces``) the copy made LPIPS worse below about 0.53 and
better above; two portraits of the detail task at 0.59 and 0.60 (a face turned away, a hole
over half an eye) came out worse too (docs/MODELS.md, session 15)."""
SHIFT = 0.16
MIN_OVERLAP = 0.3
"""The least share of the known face that must be seen on both sides of the axis."""
NEAR_AXIS = 0.06
"""Pixels closer to the axis than this fraction of the face's width do not count in the score."""
RING = 0.08
"""The ring around the hole whose reflection is checked, as a fraction of the face's width."""
MAX_RING_DIFFERENCE = 45.0
"""The most the ring and its reflection may differ (mean absolute grey levels, lightly blurred).
On the close-ups, occlusions and detail photos of session 15, the copies that differed by more
(46-58: hair beside a face reflected onto skin, a second mouth beside the first) all came out
worse or no better; those that helped differed by 8-44 (docs/MODELS.md)."""
FEATHER = 0.06
"""The copy fades in over this fraction of the face's width where the hole goes on without it."""
OUTLINE = 5
"""Known face pixels closer than this (px, at ``WORK_SIDE``) to the face's outline or the hole do
not count in the score (the band-pass's wider blur reaches about that far)."""
MIN_FACE_SIDE = 24
"""Faces smaller than this (px, their longer side) are left to F."""


@dataclass(frozen=True)
class Axis:
    """A line of symmetry: through (``x``, ``y``), ``angle`` radians from the vertical (positive
    when its lower end lies right of its upper end), with its ``score`` (normalised
    cross-correlation)."""

    x: float
    y: float
    angle: float
    score: float


def reflection_maps(shape: tuple[int, int], axis: Axis, y0: float = 0.0, x0: float = 0.0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every pixel of an ``shape`` array whose top-left corner lies at (``y0``, ``x0``) in
    the axis's coordinates: where its reflection lies (``map_x``, ``map_y``, in the array's
    coordinates, for ``cv2.remap``) and its signed distance to the axis."""
    h, w = shape
    dx, dy = np.float32(np.sin(axis.angle)), np.float32(np.cos(axis.angle))  # the line's direction (vertical at 0)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    vx, vy = xs + np.float32(x0 - axis.x), ys + np.float32(y0 - axis.y)
    distance = vx * dy - vy * dx  # along the normal (dy, -dx)
    map_x = (xs - 2 * distance * dy).astype(np.float32)
    map_y = (ys + 2 * distance * dx).astype(np.float32)
    return map_x, map_y, distance


def _band(grey: np.ndarray) -> np.ndarray:
    """Detail at the scale of eyes and brows on a ``WORK_SIDE`` face: a difference of Gaussians."""
    return cv2.GaussianBlur(grey, (0, 0), 1.0) - cv2.GaussianBlur(grey, (0, 0), 5.0)


def _score(band: np.ndarray, known: np.ndarray, axis: Axis, width: float, minimum: int) -> float:
    map_x, map_y, distance = reflection_maps(band.shape, axis)
    mirrored = cv2.remap(band, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    seen = cv2.remap(known.view(np.uint8), map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0) > 0
    both = known & seen & (np.abs(distance) > NEAR_AXIS * width)
    if np.count_nonzero(both) < minimum:
        return -1.0
    a, b = band[both], mirrored[both]
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / max(np.sqrt((a * a).sum() * (b * b).sum()), 1e-6))


def find_axis(grey: np.ndarray, known: np.ndarray, face_box: Box) -> Axis | None:
    """The best line of symmetry of the face in ``grey`` (float32, small), from its ``known``
    face pixels; ``face_box`` is the face's extent (hole included). None when too little of the
    face is seen on both sides of any line, or when the best line lies at the search's edge
    (no symmetry peak within it). The score is less that of the line moved sideways."""
    band = _band(grey)
    width = float(face_box.width)
    minimum = max(32, int(MIN_OVERLAP * np.count_nonzero(known)))
    cx, cy = (face_box.x0 + face_box.x1) / 2, (face_box.y0 + face_box.y1) / 2
    best = Axis(cx, cy, 0.0, -1.0)

    def search(xs: np.ndarray, angles: np.ndarray) -> None:
        nonlocal best
        for angle in angles:
            for x in xs:
                axis = Axis(float(x), cy, float(np.radians(angle)), 0.0)
                score = _score(band, known, axis, width, minimum)
                if score > best.score:
                    best = Axis(axis.x, axis.y, axis.angle, score)

    reach = OFFSET_RANGE * width
    search(np.arange(cx - reach, cx + reach + 1e-3, max(1.0, width / 48)), np.arange(-MAX_TILT, MAX_TILT + 1e-3, 4.0))
    if best.score < 0:
        return None
    step = max(1.0, width / 48)
    search(np.arange(best.x - step, best.x + step + 1e-3, step / 4),
           np.degrees(best.angle) + np.arange(-3.0, 3.0 + 1e-3, 1.0))
    if abs(np.degrees(best.angle)) >= MAX_TILT or abs(best.x - cx) >= reach:
        return None  # the best line at the search's edge: no symmetry peak within it
    # A face's symmetry holds at one place only: the same line moved sideways by a sixth of the
    # face maps an eye onto a cheek. Rows of stripes or a hairline match at any offset.
    shift = SHIFT * width
    aside = max(_score(band, known, Axis(best.x + side * shift, best.y, best.angle, 0.0), width, minimum)
                for side in (-1, 1))
    return Axis(best.x, best.y, best.angle, best.score - max(aside, 0.0))


def ring_difference(grey: np.ndarray, hole: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, width: int) -> float:
    """How differently the hole's surroundings and their reflections look: the mean absolute
    difference (grey levels) of the lightly blurred photo between the known pixels within
    ``RING`` of the face's ``width`` around the hole and their reflections (any label; 0 when
    too few reflections are known). A hole over hair beside a face reflects onto skin, one over a
    face turned aside onto the wrong part of the face."""
    sigma = max(1.0, width / 64)
    k = int(np.ceil(2 * sigma))  # the blur reads no hole pixel (whatever the photo holds there)
    r = max(3, int(RING * width)) + k
    ring = (cv2.dilate(hole.view(np.uint8), np.ones((2 * r + 1,) * 2, np.uint8)) > 0)
    known = cv2.erode((~hole).view(np.uint8), np.ones((2 * k + 1,) * 2, np.uint8))
    ring &= known > 0
    seen = cv2.remap(known, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
    both = ring & seen
    if np.count_nonzero(both) < 50:
        return 0.0
    low = cv2.GaussianBlur(grey, (0, 0), sigma)
    mirrored = cv2.remap(low, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return float(np.abs(low[both] - mirrored[both]).mean())


def mirror_face(image: np.ndarray, fill: np.ndarray, hole: np.ndarray, face: np.ndarray,
                paintable: np.ndarray | None = None) -> Axis | None:
    """In place on ``fill``: hole pixels of ``paintable`` (the parsing map's face label, hole
    included, by default) whose reflection in the face's line of symmetry is a known pixel of
    ``face`` take the photo's (``image``) pixel there. The pipeline passes face and hair as
    ``paintable``: P often calls a covered eye at the face's edge hair. Returns the axis used
    (canvas coordinates), or None when nothing changed (no face at the hole, too small, or no
    convincing symmetry)."""
    paintable = face if paintable is None else paintable | face
    known = face & ~hole
    if np.count_nonzero(paintable & hole) < 16 or np.count_nonzero(known) < 64:
        return None
    # the face the hole is over or beside: the face component with the most pixels at the hole,
    # searched within the face label's extent (a small part of a 12 MP canvas)
    extent = bounding_box(face)
    count, components, stats, _ = cv2.connectedComponentsWithStats(face[extent.slices()].view(np.uint8),
                                                                   connectivity=8)
    reach = extent.grow(2, hole.shape)  # the hole pixels that a 5 x 5 dilation brings into the extent
    grown = cv2.dilate(hole[reach.slices()].view(np.uint8), np.ones((5, 5), np.uint8)).view(bool)
    near = grown[extent.within(reach)] & face[extent.slices()]
    hits = np.bincount(components[near], minlength=count)
    hits[0] = 0
    if not hits.any():
        return None
    label = int(np.argmax(hits))
    x, y, w, h = (int(v) for v in stats[label, :4])
    x, y = x + extent.x0, y + extent.y0
    if max(w, h) < MIN_FACE_SIDE:
        return None
    grow = int(round(0.1 * max(w, h)))
    box = Box(y, x, y + h, x + w).grow(grow, hole.shape)
    mine = np.zeros((box.height, box.width), bool)  # the component, in the box (beyond the extent: no face)
    both = Box(max(box.y0, extent.y0), max(box.x0, extent.x0), min(box.y1, extent.y1), min(box.x1, extent.x1))
    mine[both.within(box)] = components[both.within(extent)] == label
    scale = min(1.0, WORK_SIDE / max(box.height, box.width))
    size = (max(8, round(box.width * scale)), max(8, round(box.height * scale)))
    grey = cv2.cvtColor(image[box.slices()], cv2.COLOR_RGB2GRAY).astype(np.float32)
    small_grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    small_known = cv2.resize((mine & known[box.slices()]).astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.99
    # off the face's outline (and the hole's edge): the detail there is the outline's own, as
    # symmetric for a patch of noise as for a face
    small_known = cv2.erode(small_known.view(np.uint8), np.ones((2 * OUTLINE + 1,) * 2, np.uint8)) > 0
    sy, sx = size[1] / box.height, size[0] / box.width
    small_face = Box(int((y - box.y0) * sy), int((x - box.x0) * sx),
                     int(np.ceil((y + h - box.y0) * sy)), int(np.ceil((x + w - box.x0) * sx)))
    axis = find_axis(small_grey, small_known, small_face)
    if axis is None or axis.score < MIN_SCORE:
        return None
    axis = Axis(axis.x / sx + box.x0, axis.y / sy + box.y0, axis.angle, axis.score)  # canvas coordinates
    sl = box.slices()
    map_x, map_y, _ = reflection_maps((box.height, box.width), axis, box.y0, box.x0)
    if ring_difference(grey, hole[sl], map_x, map_y, w) > MAX_RING_DIFFERENCE:
        return None
    # sources one pixel inside the known face: bilinear sampling never reads a hole pixel
    source = cv2.erode((mine & known[sl]).view(np.uint8), np.ones((3, 3), np.uint8))
    take = cv2.remap(source, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
    take &= paintable[sl] & hole[sl]
    if np.count_nonzero(take) < 16:
        return None
    mirrored = cv2.remap(image[sl], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # fade in from the hole pixels that have no reflection to take (G's and F's fill goes on there)
    rest = hole[sl] & ~take
    feather = max(2.0, FEATHER * w)
    if rest.any():
        distance = cv2.distanceTransform((~rest).view(np.uint8), cv2.DIST_L2, 3)
        weight = np.clip(distance / feather, 0.0, 1.0)[..., None]
    else:
        weight = np.ones((box.height, box.width, 1), np.float32)
    region = fill[sl]
    mixed = weight * mirrored.astype(np.float32) + (1 - weight) * region.astype(np.float32)
    np.copyto(region, np.clip(np.rint(mixed), 0, 255).astype(np.uint8), where=take[..., None])
    return axis
