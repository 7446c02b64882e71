"""Hole generators for training and validation, one small class each (as LaMa's mask generators).

Every generator is called as ``gen(rng, (h, w), person=None, parsing=None) -> H x W bool mask``
(``True`` = hole) with a ``numpy.random.Generator``, so the same seed gives the same hole and a
data loader worker can seed it per sample. ``person`` (H x W bool) lets a generator put the hole
on the person, since the paper trains on holes that overlap the body; without it the person is
taken from ``parsing`` (every id but background and unknown).

Sizes in pixels are given at a reference image *height* of 256 px (the paper's training size)
and scale with the image height, so one config serves 256x192 and 512x384 training alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from portrait_editor.labels import LIP_NECK, UNKNOWN

REFERENCE_HEIGHT = 256


class MaskGenerator(Protocol):
    def __call__(self, rng: np.random.Generator, shape: tuple[int, int], person: np.ndarray | None = None,
                 parsing: np.ndarray | None = None) -> np.ndarray: ...


def person_pixels(person: np.ndarray | None, parsing: np.ndarray | None) -> np.ndarray | None:
    """The person mask to aim holes at: ``person`` if given, else the labelled pixels of ``parsing``."""
    if person is not None:
        return np.asarray(person, bool)
    if parsing is not None:
        return (parsing != 0) & (parsing != UNKNOWN)
    return None


def _scaled(value: float, h: int, reference_height: int | None) -> float:
    """Pixels at the reference height, or a fraction of the height when no reference is given."""
    return value * h / reference_height if reference_height else value * h


def fill_hole(image: np.ndarray, mask: np.ndarray, colour: Sequence[int] | np.ndarray) -> np.ndarray:
    """A copy of ``image`` (H x W x 3 uint8) with the hole set to ``colour`` (the paper's input:
    the dataset mean colour, so the network cannot read anything from the hole)."""
    out = np.array(image, dtype=np.uint8, copy=True)
    out[np.asarray(mask, bool)] = np.clip(np.rint(np.asarray(colour, np.float64)), 0, 255).astype(np.uint8)
    return out


@dataclass
class RandomRectangles:
    """The paper's holes: ``count`` rectangles whose edges are drawn from ``edge_range`` (px at
    ``reference_height``, or fractions of the height when it is ``None``), each over the person.

    A rectangle counts as over the person when at least ``min_overlap`` of it covers person
    pixels; after ``tries`` misses it is centred on a random person pixel instead, so a hole
    always overlaps a person that is present.
    """

    edge_range: tuple[float, float] = (64, 128)
    count: int = 1
    tries: int = 50
    min_overlap: float = 0.2
    reference_height: int | None = REFERENCE_HEIGHT

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int], person: np.ndarray | None = None,
                 parsing: np.ndarray | None = None) -> np.ndarray:
        h, w = shape
        body = person_pixels(person, parsing)
        if body is not None and not body.any():
            body = None
        lo, hi = (max(2, int(round(_scaled(e, h, self.reference_height)))) for e in self.edge_range)
        mask = np.zeros(shape, bool)
        for _ in range(self.count):
            box = None
            for _ in range(self.tries):
                rh, rw = min(int(rng.integers(lo, hi + 1)), h), min(int(rng.integers(lo, hi + 1)), w)
                y, x = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
                if body is None or body[y:y + rh, x:x + rw].mean() >= self.min_overlap:
                    box = (y, x, rh, rw)
                    break
            if box is None:  # small or thin person: centre the rectangle on one of its pixels
                ys, xs = np.nonzero(body)
                i = int(rng.integers(len(ys)))
                y = int(np.clip(ys[i] - rh // 2, 0, h - rh))
                x = int(np.clip(xs[i] - rw // 2, 0, w - rw))
                box = (y, x, rh, rw)
            y, x, rh, rw = box
            mask[y:y + rh, x:x + rw] = True
        return mask


@dataclass
class BrushStrokes:
    """Free-form strokes like those users paint over occluders: random walks of thick lines with
    round caps and joints, added until the hole covers a fraction drawn from ``coverage``.

    Each stroke starts on a person pixel (when there is a person), so the hole overlaps the body.
    A stroke that would push the coverage above ``coverage[1]`` is dropped and another is tried,
    so the coverage stays in range except on images too small for even one stroke.
    Widths and segment lengths are px at ``reference_height``.
    """

    coverage: tuple[float, float] = (0.04, 0.20)
    width_range: tuple[float, float] = (8, 28)
    vertices: tuple[int, int] = (2, 6)
    segment_range: tuple[float, float] = (10, 50)
    tries: int = 100
    reference_height: int = REFERENCE_HEIGHT

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int], person: np.ndarray | None = None,
                 parsing: np.ndarray | None = None) -> np.ndarray:
        h, w = shape
        scale = h / self.reference_height
        area = h * w
        target = rng.uniform(*self.coverage) * area
        most = self.coverage[1] * area
        body = person_pixels(person, parsing)
        ys, xs = np.nonzero(body) if body is not None and body.any() else (None, None)
        canvas = np.zeros(shape, np.uint8)
        covered = 0
        for _ in range(self.tries):
            if covered >= target:
                break
            stroke = canvas.copy()
            if ys is not None:
                i = int(rng.integers(len(ys)))
                y, x = float(ys[i]), float(xs[i])
            else:
                y, x = rng.uniform(0, h - 1), rng.uniform(0, w - 1)
            width = max(1, int(round(rng.uniform(*self.width_range) * scale)))
            angle = rng.uniform(0, 2 * np.pi)
            cv2.circle(stroke, (int(round(x)), int(round(y))), width // 2, 1, -1)
            for _ in range(int(rng.integers(self.vertices[0], self.vertices[1] + 1))):
                angle += rng.normal(0, 0.8)
                length = rng.uniform(*self.segment_range) * scale
                ny = float(np.clip(y + length * np.sin(angle), 0, h - 1))
                nx = float(np.clip(x + length * np.cos(angle), 0, w - 1))
                p0, p1 = (int(round(x)), int(round(y))), (int(round(nx)), int(round(ny)))
                cv2.line(stroke, p0, p1, 1, width, lineType=cv2.LINE_8)
                cv2.circle(stroke, p1, width // 2, 1, -1)  # round joint / cap
                y, x = ny, nx
            new = int(np.count_nonzero(stroke))
            if new > most:
                continue
            canvas, covered = stroke, new
        return canvas > 0


# Band depths as fractions of the image side they cut into. The paper uses 64/256 at the bottom
# (legs and feet) and 32/256 at the top (the head is shorter than the legs); we vary them by a
# quarter either way so the network does not learn one fixed border.
BAND_FRACTIONS: dict[str, tuple[float, float]] = {
    "bottom": (48 / 256, 80 / 256),
    "top": (24 / 256, 40 / 256),
    "left": (24 / 256, 40 / 256),
    "right": (24 / 256, 40 / 256),
}


@dataclass
class ExtrapolationBand:
    """A band along one border (``side`` in top/bottom/left/right) whose depth is a fraction of
    the image height (top/bottom) or width (left/right) drawn from ``fraction``."""

    side: str = "bottom"
    fraction: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.side not in BAND_FRACTIONS:
            raise ValueError(f"unknown side {self.side!r}; known: {', '.join(BAND_FRACTIONS)}")
        if self.fraction is None:
            self.fraction = BAND_FRACTIONS[self.side]

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int], person: np.ndarray | None = None,
                 parsing: np.ndarray | None = None) -> np.ndarray:
        h, w = shape
        side = h if self.side in ("top", "bottom") else w
        size = int(np.clip(round(rng.uniform(*self.fraction) * side), 1, side))
        mask = np.zeros(shape, bool)
        if self.side == "bottom":
            mask[h - size:] = True
        elif self.side == "top":
            mask[:size] = True
        elif self.side == "left":
            mask[:, :size] = True
        else:
            mask[:, w - size:] = True
        return mask


@dataclass
class FaceHole:
    """A square hole (``edge`` px at ``reference_height``; the paper: 32 at 256) inside the face,
    for training the face network F. It is centred on a random face pixel and kept inside the
    face's bounding box where the face is big enough. Without a face in ``parsing`` it returns
    ``fallback``'s hole, or an empty mask when there is no fallback (callers skip those samples)."""

    face_id: int = LIP_NECK.id("face")
    edge: float = 32
    reference_height: int = REFERENCE_HEIGHT
    fallback: MaskGenerator | None = None

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int], person: np.ndarray | None = None,
                 parsing: np.ndarray | None = None) -> np.ndarray:
        h, w = shape
        face = None if parsing is None else parsing == self.face_id
        if face is None or not face.any():
            if self.fallback is not None:
                return self.fallback(rng, shape, person, parsing)
            return np.zeros(shape, bool)
        edge = int(np.clip(round(self.edge * h / self.reference_height), 2, min(h, w)))
        ys, xs = np.nonzero(face)
        i = int(rng.integers(len(ys)))

        def place(centre: int, lo: int, hi: int, limit: int) -> int:
            start = centre - edge // 2
            if hi - lo + 1 >= edge:  # the face is wide enough: stay inside it
                start = int(np.clip(start, lo, hi + 1 - edge))
            return int(np.clip(start, 0, limit - edge))

        y0 = place(int(ys[i]), int(ys.min()), int(ys.max()), h)
        x0 = place(int(xs[i]), int(xs.min()), int(xs.max()), w)
        mask = np.zeros(shape, bool)
        mask[y0:y0 + edge, x0:x0 + edge] = True
        return mask


@dataclass
class MaskMix:
    """Picks one generator per sample with the given weights (uniform when ``None``)."""

    generators: tuple[MaskGenerator, ...]
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        self.generators = tuple(self.generators)
        if not self.generators:
            raise ValueError("MaskMix needs at least one generator")
        if self.weights is not None and len(self.weights) != len(self.generators):
            raise ValueError(f"{len(self.generators)} generators but {len(self.weights)} weights")

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int], person: np.ndarray | None = None,
                 parsing: np.ndarray | None = None) -> np.ndarray:
        p = None if self.weights is None else np.asarray(self.weights, float) / sum(self.weights)
        gen = self.generators[int(rng.choice(len(self.generators), p=p))]
        return gen(rng, shape, person, parsing)


def occlusion_masks(validation: bool = False) -> MaskMix:
    """Training: the paper's rectangles and brush strokes. Validation: the issue's protocol
    (rectangles with edges 40-96 px at 256 high, strokes over 4-20% of the photo)."""
    if validation:
        return MaskMix((RandomRectangles((40, 96)), BrushStrokes((0.04, 0.20))))
    return MaskMix((RandomRectangles((40, 128)), BrushStrokes((0.04, 0.25))), (0.5, 0.5))


def extrapolation_masks(validation: bool = False) -> MaskMix:
    """Training: bottom bands (feet) and top bands (forehead) of varied height.
    Validation: 20% off the bottom or 8% off the top."""
    if validation:
        return MaskMix((ExtrapolationBand("bottom", (0.2, 0.2)), ExtrapolationBand("top", (0.08, 0.08))))
    return MaskMix((ExtrapolationBand("bottom", (0.1, 0.35)), ExtrapolationBand("top", (0.05, 0.15))), (0.7, 0.3))


def parsing_masks(validation: bool = False) -> MaskMix:
    """P must recover structure under both kinds of hole: occluders and missing borders."""
    return MaskMix((occlusion_masks(validation), extrapolation_masks(validation)), (0.6, 0.4))


def face_masks(validation: bool = False) -> FaceHole:
    """F: the paper's 32x32 (at 256 high) hole in the face; a rectangle where no face shows."""
    return FaceHole(fallback=RandomRectangles((32, 32)))


def _bands_on_every_side(bottom: float) -> MaskMix:
    """A band along any side of the crop; ``bottom`` of them at the bottom, the rest shared."""
    side = (1.0 - bottom) / 3
    return MaskMix((ExtrapolationBand("bottom", (0.1, 0.35)), ExtrapolationBand("top", (0.05, 0.2)),
                    ExtrapolationBand("left", (0.05, 0.25)), ExtrapolationBand("right", (0.05, 0.25))),
                   (bottom, side, side, side))


def wild_masks(validation: bool = False) -> MaskMix:
    """G in the wild removes objects and grows borders with one network (as LaMa): occlusion
    holes, and in a quarter of the crops a band along any side (the bottom most often)."""
    if validation:
        return MaskMix((occlusion_masks(True), extrapolation_masks(True)), (0.75, 0.25))
    return MaskMix((occlusion_masks(False), _bands_on_every_side(0.4)), (0.75, 0.25))


def wild_extrapolation_masks(validation: bool = False) -> MaskMix:
    """The margins network in the wild: a band along any side of the crop, the bottom in 60%
    (dragged borders give back feet most often). Validation: as :func:`extrapolation_masks`."""
    if validation:
        return extrapolation_masks(True)
    return _bands_on_every_side(0.6)


def band_parsing_masks(validation: bool = False) -> MaskMix:
    """P for the margins: a band along a side in 70% of the crops (the bottom in 3 of 4: the
    feet), occluders in the rest so that holes inside the photo are not forgotten."""
    if validation:
        return extrapolation_masks(True)
    return MaskMix((occlusion_masks(False), _bands_on_every_side(0.75)), (0.3, 0.7))


def wild_parsing_masks(validation: bool = False) -> MaskMix:
    """P in the wild: occluders, and in 40% of the crops a band along any side, the bottom most
    often (legs and shoes below a dragged border are what the structure is most needed for)."""
    if validation:
        return MaskMix((occlusion_masks(True), extrapolation_masks(True)), (0.6, 0.4))
    return MaskMix((occlusion_masks(False), _bands_on_every_side(0.55)), (0.6, 0.4))
