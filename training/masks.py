"""Hole generators for training and validation, one small class each (as LaMa's mask generators).

Every generator is called as ``gen(rng, (h, w), person=None, parsing=None) -> bool mask`` with a
``numpy.random.Generator``, so the same seed gives the same hole. Sizes are given at a
reference image height of 256 px (the paper's training size) and scale with the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

REFERENCE_HEIGHT = 256


def _overlaps(mask: np.ndarray, person: np.ndarray | None, min_fraction: float = 0.2) -> bool:
    if person is None or not person.any():
        return True
    return np.count_nonzero(mask & person) >= min_fraction * np.count_nonzero(mask)


@dataclass
class RandomRectangles:
    """The paper's holes: a rectangle with edges in ``edge_range`` (px at 256 high) over the person."""

    edge_range: tuple[int, int] = (64, 128)
    count: int = 1
    tries: int = 50

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int], person: np.ndarray | None = None,
                 parsing: np.ndarray | None = None) -> np.ndarray:
        h, w = shape
        scale = h / REFERENCE_HEIGHT
        lo, hi = (max(2, int(round(e * scale))) for e in self.edge_range)
        mask = np.zeros(shape, bool)
        for _ in range(self.count):
            for _ in range(self.tries):
                rh, rw = (min(int(rng.integers(lo, hi + 1)), n - 1) for n in (h, w))
                y, x = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
                box = np.zeros(shape, bool)
                box[y:y + rh, x:x + rw] = True
                if _overlaps(box, person):
                    break
            mask |= box
        return mask


@dataclass
class BrushStrokes:
    """Free-form strokes like those users paint over occluders, covering ``coverage`` of the image."""

    coverage: tuple[float, float] = (0.04, 0.20)
    width_range: tuple[int, int] = (8, 28)
    tries: int = 20

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int], person: np.ndarray | None = None,
                 parsing: np.ndarray | None = None) -> np.ndarray:
        h, w = shape
        scale = h / REFERENCE_HEIGHT
        target = rng.uniform(*self.coverage) * h * w
        canvas = np.zeros(shape, np.uint8)
        ys, xs = np.nonzero(person) if person is not None and person.any() else (None, None)
        for _ in range(self.tries * 10):
            if np.count_nonzero(canvas) >= target:
                break
            if ys is not None:
                i = int(rng.integers(len(ys)))
                y, x = float(ys[i]), float(xs[i])
            else:
                y, x = rng.uniform(0, h), rng.uniform(0, w)
            width = max(1, int(round(rng.uniform(*self.width_range) * scale)))
            angle = rng.uniform(0, 2 * np.pi)
            for _ in range(int(rng.integers(2, 6))):
                angle += rng.normal(0, 0.7)
                length = rng.uniform(10, 50) * scale
                ny = float(np.clip(y + length * np.sin(angle), 0, h - 1))
                nx = float(np.clip(x + length * np.cos(angle), 0, w - 1))
                cv2.line(canvas, (int(x), int(y)), (int(nx), int(ny)), 1, width, lineType=cv2.LINE_8)
                y, x = ny, nx
        return canvas > 0


@dataclass
class ExtrapolationBand:
    """A band along one border: the paper uses 64/256 at the bottom and 32/256 at the top."""

    side: str = "bottom"
    fraction: tuple[float, float] = (0.1, 0.3)

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int], person: np.ndarray | None = None,
                 parsing: np.ndarray | None = None) -> np.ndarray:
        h, w = shape
        mask = np.zeros(shape, bool)
        size = max(1, int(round(rng.uniform(*self.fraction) * (h if self.side in ("top", "bottom") else w))))
        if self.side == "bottom":
            mask[h - size:] = True
        elif self.side == "top":
            mask[:size] = True
        elif self.side == "left":
            mask[:, :size] = True
        elif self.side == "right":
            mask[:, w - size:] = True
        else:
            raise ValueError(f"unknown side {self.side!r}")
        return mask


@dataclass
class FaceHole:
    """A square hole (32 px at 256 high) inside the face, for training F."""

    face_id: int = 13
    edge: int = 32

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int], person: np.ndarray | None = None,
                 parsing: np.ndarray | None = None) -> np.ndarray:
        h, w = shape
        mask = np.zeros(shape, bool)
        edge = max(4, int(round(self.edge * h / REFERENCE_HEIGHT)))
        if parsing is None or not (parsing == self.face_id).any():
            return mask
        ys, xs = np.nonzero(parsing == self.face_id)
        i = int(rng.integers(len(ys)))
        y0 = int(np.clip(ys[i] - edge // 2, 0, h - edge))
        x0 = int(np.clip(xs[i] - edge // 2, 0, w - edge))
        mask[y0:y0 + edge, x0:x0 + edge] = True
        return mask


@dataclass
class MaskMix:
    """Picks one generator per sample with the given weights."""

    generators: tuple
    weights: tuple[float, ...] | None = None

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
