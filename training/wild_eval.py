"""Validation cases on photos from the wild (issue 10): the validation splits of the public
sources (``training.wild_data.source_split``), at the photos' own resolution up to
``WILD_MAX_SIDE``, with holes scaled to the photo.

- ``wild-occlusion``: rectangles and brush strokes (the validation recipes of
  ``training.masks.occlusion_masks``, scaled to the photo's height) over the person in the Flickr
  portraits and the close-ups, and anywhere in the scenes (a passer-by against a wall);
- ``wild-extrapolation``: 20% cut off the bottom or 8% off the top (alternating) and grown back
  with canvas margins, as the editor does it, on the portraits and the scenes;
- ``wild-faces``: holes over large faces (the close-ups: faces of 200-350 px).

The sources rotate (portraits, close-ups, scenes), so ``limit`` photos of each source are used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .masks import FaceHole, occlusion_masks
from .wild_data import WILD_READERS, round_robin, source_split

WILD_TASKS = ("wild-occlusion", "wild-extrapolation", "wild-faces")
WILD_MAX_SIDE = 1024
WILD_SOURCES = {"wild-occlusion": ("portraits", "celebamask", "scenes"),
                "wild-extrapolation": ("portraits", "scenes"),
                "wild-faces": ("celebamask",)}
WILD_BANDS = (("bottom", 0.20), ("top", 0.08))
WILD_FACE_HOLE = 56
"""The face hole's side at a 256 px reference height: 112 px on a 512 px close-up, about a third
to a half of the face."""


def _fit(image: np.ndarray, parsing: np.ndarray, person: np.ndarray | None,
         max_side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    h, w = image.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return image.copy(), parsing.copy(), None if person is None else person.copy()
    size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    parsing = cv2.resize(parsing, size, interpolation=cv2.INTER_NEAREST)
    if person is not None:
        person = cv2.resize(person.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    return image, parsing, person


def wild_cases(task: str, sources_root: str | Path, limit: int | None = None,
               max_side: int = WILD_MAX_SIDE) -> list[Any]:
    """The cases of a wild task (``training.evaluate.Case``); empty when the sources are absent."""
    from portrait_editor.pipeline import Margins
    from portrait_editor.pipeline.regions import expand_canvas

    from .evaluate import Case, extrapolation_input, hole_rng

    if task not in WILD_TASKS:
        raise ValueError(f"unknown wild task {task!r}; known: {', '.join(WILD_TASKS)}")
    per_source: dict[str, list[tuple[Any, str]]] = {}
    for key in WILD_SOURCES[task]:
        folder = Path(sources_root) / key
        if not folder.is_dir():
            continue
        reader = WILD_READERS[key](folder)
        names = source_split(key, reader, 0.05)[1]
        if key == "scenes":  # every kind of scene, not the first folder's
            folders: dict[str, list[str]] = {}
            for n in names:
                folders.setdefault(n.rsplit("/", 1)[0], []).append(n)
            names = round_robin(list(folders.values()))
        per_source[key] = [(reader, n) for n in names[:limit]]
    order = round_robin(list(per_source.values()))
    masks = occlusion_masks(validation=True)
    faces = FaceHole(edge=WILD_FACE_HOLE)
    cases = []
    for index, (reader, name) in enumerate(order):
        sample = reader.load(name)
        key = next(k for k, v in WILD_READERS.items() if isinstance(reader, v))
        photo, parsing, person = _fit(sample["image"], sample["parsing"], sample.get("person"), max_side)
        rng = hole_rng(index)
        label = f"{key}/{name}"
        if task == "wild-extrapolation":
            side, fraction = WILD_BANDS[index % len(WILD_BANDS)]
            cropped, margins, band = extrapolation_input(photo, side, fraction, rng)
            canvas, hole = expand_canvas(cropped, None, margins)
            cases.append(Case(name=label, dataset=key, image=cropped, mask=None, margins=margins, canvas=canvas,
                              hole=hole, target=photo, parsing=parsing))
            continue
        if task == "wild-faces":
            hole = faces(rng, photo.shape[:2], person, parsing)
            if not hole.any():
                continue
        else:
            body = person if person is not None and person.any() else None
            hole = masks(rng, photo.shape[:2], body, None if body is not None else _no_person(parsing))
        cases.append(Case(name=label, dataset=key, image=photo, mask=hole, margins=Margins(), canvas=photo,
                          hole=hole, target=photo, parsing=parsing))
    return cases


def _no_person(parsing: np.ndarray) -> np.ndarray:
    """A map with no person in it, so a hole may go anywhere (scenes)."""
    return np.zeros_like(parsing)


def has_labels(task: str) -> bool:
    """Whether the task's ground-truth parsing is worth a "GT parsing" row (portraits and scenes
    have only person vs background)."""
    return task == "wild-faces"

