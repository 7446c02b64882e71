"""Label sets for human parsing maps: ids, names, colours and left/right pairs.

This module is the one place that knows label ids. Everything else asks a
:class:`LabelSet` (for example ``labels.id("face")``) instead of hard-coding numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNKNOWN = 255
"""Label value meaning "no guidance here, let the network decide" in a user-edited map."""


@dataclass(frozen=True)
class LabelSet:
    name: str
    names: tuple[str, ...]
    colours: tuple[tuple[int, int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if len(self.names) != len(self.colours):
            raise ValueError(f"label set {self.name}: {len(self.names)} names but {len(self.colours)} colours")

    def __len__(self) -> int:
        return len(self.names)

    def id(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"label set {self.name!r} has no label {name!r}") from None

    def has(self, name: str) -> bool:
        return name in self.names

    def flip_permutation(self) -> np.ndarray:
        """Index array mapping each id to its mirror id (left-arm <-> right-arm ...)."""
        perm = np.arange(len(self), dtype=np.int64)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def palette(self) -> np.ndarray:
        """256x3 uint8 lookup table; ids outside the set (and UNKNOWN) are grey."""
        lut = np.full((256, 3), 128, dtype=np.uint8)
        lut[: len(self)] = np.asarray(self.colours, dtype=np.uint8)
        return lut

    def colourize(self, labels: np.ndarray) -> np.ndarray:
        """Label map (H, W) of ids -> RGB preview (H, W, 3) uint8."""
        return self.palette()[np.asarray(labels, dtype=np.uint8)]


# LIP's 20 labels (Gong et al. 2017) plus "neck", as in the VITON / CP-VTON+ parsing maps.
LIP_NECK = LabelSet(
    name="lip+neck",
    names=(
        "background", "hat", "hair", "glove", "sunglasses", "upper-clothes", "dress", "coat",
        "socks", "pants", "jumpsuits", "scarf", "skirt", "face", "left-arm", "right-arm",
        "left-leg", "right-leg", "left-shoe", "right-shoe", "neck",
    ),
    colours=(
        (0, 0, 0), (128, 0, 0), (255, 0, 0), (0, 85, 0), (170, 0, 51), (255, 85, 0),
        (0, 0, 85), (0, 119, 221), (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128),
        (0, 128, 0), (0, 0, 255), (51, 170, 221), (0, 255, 255), (85, 255, 170),
        (170, 255, 85), (255, 255, 0), (255, 170, 0), (200, 120, 200),
    ),
    flip_pairs=((14, 15), (16, 17), (18, 19)),
)

# ATR's 18 labels (Liang et al. 2015).
ATR = LabelSet(
    name="atr",
    names=(
        "background", "hat", "hair", "sunglasses", "upper-clothes", "skirt", "pants", "dress",
        "belt", "left-shoe", "right-shoe", "face", "left-leg", "right-leg", "left-arm",
        "right-arm", "bag", "scarf",
    ),
    colours=(
        (0, 0, 0), (128, 0, 0), (255, 0, 0), (170, 0, 51), (255, 85, 0), (0, 128, 0),
        (0, 85, 85), (0, 0, 85), (85, 51, 0), (255, 255, 0), (255, 170, 0), (0, 0, 255),
        (85, 255, 170), (170, 255, 85), (51, 170, 221), (0, 255, 255), (170, 170, 50),
        (52, 86, 128),
    ),
    flip_pairs=((9, 10), (12, 13), (14, 15)),
)

LABEL_SETS: dict[str, LabelSet] = {s.name: s for s in (LIP_NECK, ATR)}


def get_label_set(name: str) -> LabelSet:
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise KeyError(f"unknown label set {name!r}; known: {', '.join(LABEL_SETS)}") from None
