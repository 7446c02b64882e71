"""Validation cases on photos from the wild (issue 10): the validation splits of the public
sources (``training.wild_data.source_split``), at the photos' own resolution up to
``WILD_MAX_SIDE``, with holes scaled to the photo.

- ``wild-occlusion``: rectangles and brush strokes (the validation recipes of
  ``training.masks.occlusion_masks``, scaled to the photo's height) over the person in the Flickr
  portraits and the close-ups, and anywhere in the scenes (a passer-by against a wall);
- ``wild-extrapolation``: 20% cut off the bottom or 8% off the top (alternating) and grown back
  with canvas margins, as the editor does it, on the portraits and the scenes;
- ``wild-sides``: 15% cut off the left or the right (alternating) and grown back, on the same
  photos (widening a photo's frame);
- ``wild-faces``: holes over large faces (the close-ups: faces of 200-350 px);
- ``wild-parsing`` (P only, :func:`wild_parsing_cases`): the close-ups and the portraits with
  occlusion holes at several framings: the photo, a 2x zoom on the person, and the portraits'
  people pasted small onto the scenes.

The sources rotate (portraits, close-ups, scenes), so ``limit`` photos of each source are used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .masks import FaceHole, occlusion_masks
from .wild_data import WILD_READERS, composite, round_robin, source_split

WILD_TASKS = ("wild-occlusion", "wild-extrapolation", "wild-sides", "wild-faces")
WILD_PARSING_TASK = "wild-parsing"
SMALL_PERSON_HEIGHT = (0.25, 0.5)
"""People pasted onto scenes for the parsing task are this fraction of the scene's height."""
WILD_MAX_SIDE = 1024
WILD_SOURCES = {"wild-occlusion": ("portraits", "celebamask", "scenes"),
                "wild-extrapolation": ("portraits", "scenes"),
                "wild-sides": ("portraits", "scenes"),
                "wild-faces": ("celebamask",)}
WILD_BANDS = (("bottom", 0.20), ("top", 0.08))
"""The bands of the extrapolation task, taken in turn by the photos of each source (so portraits
and scenes each get both: feet and ground below, heads and sky above)."""
WILD_SIDE_BANDS = (("left", 0.15), ("right", 0.15))
"""The bands of the ``wild-sides`` task, taken in turn the same way."""
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
    seen: dict[str, int] = {}  # photos of each source so far
    for index, (reader, name) in enumerate(order):
        sample = reader.load(name)
        key = next(k for k, v in WILD_READERS.items() if isinstance(reader, v))
        turn = seen.get(key, 0)
        seen[key] = turn + 1
        photo, parsing, person = _fit(sample["image"], sample["parsing"], sample.get("person"), max_side)
        rng = hole_rng(index)
        label = f"{key}/{name}"
        if task in ("wild-extrapolation", "wild-sides"):
            bands = WILD_BANDS if task == "wild-extrapolation" else WILD_SIDE_BANDS
            side, fraction = bands[turn % len(bands)]
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


def wild_parsing_cases(sources_root: str | Path, limit: int | None = None,
                       max_side: int = WILD_MAX_SIDE) -> dict[str, list[Any]]:
    """P's validation groups at several framings (row label -> cases), from the occlusion cases
    of the close-ups and the portraits: each photo as it is, the same photo cropped to half its
    size around the person (a 2x zoom, a new hole), and each portrait's person pasted onto a
    validation scene at a quarter to half its height. Empty groups are left out."""
    from .evaluate import Case, hole_rng

    base = wild_cases("wild-occlusion", sources_root, limit, max_side)
    masks = occlusion_masks(validation=True)
    groups: dict[str, list[Any]] = {}
    names = {"celebamask": "close-ups", "portraits": "portraits"}
    for i, case in enumerate(base):
        if case.dataset not in names:
            continue
        groups.setdefault(f"{names[case.dataset]}, photo", []).append(case)
        zoom = _zoomed(case.target, case.parsing)
        hole = masks(hole_rng(10_000 + i), zoom[0].shape[:2], zoom[1] != 0, None)
        groups.setdefault(f"{names[case.dataset]}, 2x zoom", []).append(
            Case(name=case.name + " (2x)", dataset=case.dataset, image=zoom[0], mask=hole, margins=case.margins,
                 canvas=zoom[0], hole=hole, target=zoom[0], parsing=zoom[1]))
    scenes_dir = Path(sources_root) / "scenes"
    portraits = [c for c in base if c.dataset == "portraits"]
    if scenes_dir.is_dir() and portraits:
        reader = WILD_READERS["scenes"](scenes_dir)
        scene_names = source_split("scenes", reader, 0.05)[1]
        for i, case in enumerate(portraits):
            rng = hole_rng(20_000 + i)
            scene = reader.load(scene_names[int(rng.integers(len(scene_names)))])
            person = {"image": case.target, "parsing": case.parsing, "person": case.parsing != 0,
                      "name": case.name}
            pasted = composite(person, scene, rng, SMALL_PERSON_HEIGHT)
            photo, parsing, body = _fit(pasted["image"], pasted["parsing"], pasted["parsing"] != 0, max_side)
            hole = masks(rng, photo.shape[:2], body, None)
            groups.setdefault("portraits small on scenes", []).append(
                Case(name=pasted["name"], dataset="composite", image=photo, mask=hole, margins=case.margins,
                     canvas=photo, hole=hole, target=photo, parsing=parsing))
    return groups


def _zoomed(photo: np.ndarray, parsing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half the photo's height and width around the person's centre (the middle without one)."""
    h, w = parsing.shape
    ys, xs = np.nonzero(parsing != 0)
    cy, cx = (ys.mean(), xs.mean()) if len(ys) else (h / 2, w / 2)
    ch, cw = h // 2, w // 2
    y = int(np.clip(round(cy - ch / 2), 0, h - ch))
    x = int(np.clip(round(cx - cw / 2), 0, w - cw))
    return photo[y:y + ch, x:x + cw].copy(), parsing[y:y + ch, x:x + cw].copy()
