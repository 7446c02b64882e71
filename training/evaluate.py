"""Validation of the deep pipeline against classical inpainting, and of P's parsing (issue 3).

``python -m training.evaluate --weights DIR [--task occlusion|extrapolation|parsing|wild-parsing|...|all]
[--limit N] [--out DIR] [--data-root DIR] [--device cpu]``

Every method sees the same inputs: the fixed validation split (``make_split(names, 0.05,
seed=0)[1]``, never trained on) and a hole seeded by the image's index in that split, so a
``--limit`` run evaluates the first N images of a full run with the same holes.

- occlusion: viton at 192x256 with ``occlusion_masks(validation=True)`` (rectangles of 40-96 px or
  brush strokes over 4-20% of the photo, over the person);
- extrapolation: ccp photos scaled to 512 px high; even indices lose 20% at the bottom, odd ones
  8% at the top. The pipeline gets the cropped photo plus ``Margins`` that grow it back (as a
  user would extend the canvas); Telea and Navier-Stokes get the edge-replicated canvas with the
  band as the mask; the ground truth is the full photo;
- detail: real photos at their own resolution from ``training.sources.sources_root()`` (Flickr
  portraits 600x800, scene photos up to 1024 px and more, CelebAMask faces 512x512), skipped when
  that folder is absent; the pipeline with and without its detail stage, PyPatchMatch and Telea,
  scored in a window around the hole and by the detail ratio (see :func:`evaluate_detail`);
- parsing: P's stage-I parsing against the ground truth, mean IoU over the image and inside the
  hole (Table II), person and face IoU, from one confusion matrix per data set, and the shoes and
  legs P labels in the bottom bands;
- wild-occlusion, wild-extrapolation, wild-sides, wild-faces, wild-parsing: the same on the validation photos
  of the public sources at their own resolution (``training/wild_eval.py``); wild-parsing frames
  them three ways (as they are, 2x on the person, the person pasted small onto a scene).

Methods: the deep pipeline (``Completer.run``, P's parsing, blending on, float32), the same with
the ground-truth parsing (an upper bound: what a perfect stage I would give), OpenCV Telea and
Navier-Stokes (radius 5). Metrics from ``training/metrics.py``. Writes ``OUT/results.md``,
``OUT/contact_<task>.png`` and ``OUT/per_image_<task>.json`` (each method's metrics per photo)
and prints the tables.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from . import metrics
from .configs import DATA_ROOT
from .datasets import CCPDataset, VitonDataset, make_split
from .masks import ExtrapolationBand, FaceHole, occlusion_masks
from .wild_eval import WILD_PARSING_TASK, WILD_TASKS, has_labels, wild_cases, wild_parsing_cases

TASKS = ("occlusion", "extrapolation", "faces", "parsing", "detail", *WILD_TASKS, WILD_PARSING_TASK)
VAL_FRACTION = 0.05
SPLIT_SEED = 0
HOLE_SEED = 2019
"""Hole of image ``i`` of a split: ``np.random.default_rng([HOLE_SEED, i])``."""
VITON_SIZE = (256, 192)  # (h, w)
CCP_HEIGHT = 512
EXTRAPOLATION_BANDS = (("bottom", 0.20), ("top", 0.08))
"""Alternating per image: index 0 bottom, 1 top, 2 bottom ..."""
INPAINT_RADIUS = 5
BPE_BAND = 5
HOLE_COLOUR = (255, 0, 255)
"""The hole on the contact sheet's input column."""
TITLE_HEIGHT = 20
SHEET_GAP = 2
"""Dark pixels between the contact sheet's rows and columns."""
SHEET_MAX_BYTES = 3_000_000

DEEP = "deep (P parsing)"
DEEP_GT = "deep (GT parsing, upper bound)"
DEEP_NO_F = "deep without F (P parsing)"
DEEP_NO_MIRROR = "deep without the mirrored face (P parsing)"
DEEP_UNKNOWN = "deep (no labels in the hole)"
DEEP_NO_PRIOR = "deep without the body prior (labels below the photo left to G)"
"""Occlusion: P's map with the hole painted "let the network decide", as an editor user may."""
FACE_HOLE = 40
"""Side of the faces task's square hole inside the face, at the 256 px validation height."""
FACE_SHEET_CONTEXT = 0.75
"""The faces sheet shows a square around the hole with this many hole sides of context on each
side, enlarged to the cell height: whole photos would show a 40 px face as a thumbnail."""
TELEA = "Telea"
NS = "Navier-Stokes"
COMPLETION_COLUMNS = ("L1 hole", "PSNR", "SSIM", "BPE", "LPIPS")
PARSING_COLUMNS = ("images", "mIoU image", "mIoU hole", "person IoU", "face IoU")
_DIGITS = {"L1 hole": 2, "PSNR": 2, "SSIM": 4, "BPE": 2, "LPIPS": 4, "mIoU image": 3, "mIoU hole": 3}

Progress = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# Validation inputs


@dataclass
class Case:
    """One validation input, identical for every method.

    ``image``/``mask``/``margins`` are what the pipeline gets (for extrapolation the cropped photo,
    no mask and the margins that grow it back); ``canvas``/``hole`` are the same at the full size
    (the canvas edge-replicated where the band was cut: the classical methods' input);
    ``target`` and ``parsing`` are the ground truth at that size.
    """

    name: str
    dataset: str
    image: np.ndarray
    mask: np.ndarray | None
    margins: Any  # portrait_editor.pipeline.Margins
    canvas: np.ndarray
    hole: np.ndarray
    target: np.ndarray
    parsing: np.ndarray


def validation_names(reader: Any) -> list[str]:
    """The fixed validation split the training scripts hold out."""
    return make_split(reader.names, VAL_FRACTION, seed=SPLIT_SEED)[1]


def hole_rng(index: int) -> np.random.Generator:
    return np.random.default_rng([HOLE_SEED, index])


def _resize_photo(image: np.ndarray, parsing: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = size
    if image.shape[:2] == (h, w):
        return image.copy(), parsing.copy()  # writable (PIL's arrays are read-only)
    shrink = h * w < image.shape[0] * image.shape[1]
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    parsing = cv2.resize(parsing, (w, h), interpolation=cv2.INTER_NEAREST)
    return image, parsing


def occlusion_cases(data_root: str | Path, limit: int | None = None) -> list[Case]:
    """viton validation photos at 192x256 with the validation occlusion holes."""
    from portrait_editor.pipeline import Margins

    reader = VitonDataset(Path(data_root) / "viton")
    gen = occlusion_masks(validation=True)
    cases = []
    for index, name in enumerate(validation_names(reader)[:limit]):
        sample = reader.load(name)
        image, parsing = _resize_photo(sample["image"], sample["parsing"], VITON_SIZE)
        person = sample.get("person")
        if person is not None and person.shape != parsing.shape:
            person = cv2.resize(person.astype(np.uint8), parsing.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
        hole = gen(hole_rng(index), parsing.shape, person=person, parsing=parsing)
        cases.append(Case(name=name, dataset="viton", image=image, mask=hole, margins=Margins(),
                          canvas=image, hole=hole, target=image, parsing=parsing))
    return cases


def face_cases(data_root: str | Path, limit: int | None = None) -> list[Case]:
    """viton validation photos at 192x256 that show a face, each with a 40x40 hole inside the
    face (the face network's job; the paper trains F with 32x32 holes at 256 px)."""
    from portrait_editor.labels import LIP_NECK
    from portrait_editor.pipeline import Margins

    reader = VitonDataset(Path(data_root) / "viton")
    face_id = LIP_NECK.id("face")
    gen = FaceHole(face_id=face_id, edge=FACE_HOLE)
    cases = []
    for index, name in enumerate(validation_names(reader)):
        if limit is not None and len(cases) >= limit:
            break
        sample = reader.load(name)
        image, parsing = _resize_photo(sample["image"], sample["parsing"], VITON_SIZE)
        if np.count_nonzero(parsing == face_id) < FACE_HOLE * FACE_HOLE // 2:
            continue
        hole = gen(hole_rng(index), parsing.shape, parsing=parsing)
        cases.append(Case(name=name, dataset="viton", image=image, mask=hole, margins=Margins(),
                          canvas=image, hole=hole, target=image, parsing=parsing))
    return cases


def extrapolation_input(photo: np.ndarray, side: str, fraction: float,
                        rng: np.random.Generator | None = None) -> tuple[np.ndarray, Any, np.ndarray]:
    """``(cropped photo, margins, band)``: the photo with a band of ``fraction`` of its height
    (width for left/right) cut off at ``side``, the ``Margins`` that grow it back to the photo's
    size, and the band as a hole mask at that size."""
    from portrait_editor.pipeline import Margins

    band = ExtrapolationBand(side, (fraction, fraction))(rng or np.random.default_rng(0), photo.shape[:2])
    rows, cols = np.nonzero(band.any(1))[0], np.nonzero(band.any(0))[0]
    depth = len(rows) if side in ("top", "bottom") else len(cols)
    h, w = photo.shape[:2]
    if side == "bottom":
        return photo[: h - depth], Margins(bottom=depth), band
    if side == "top":
        return photo[depth:], Margins(top=depth), band
    if side == "left":
        return photo[:, depth:], Margins(left=depth), band
    return photo[:, : w - depth], Margins(right=depth), band


def extrapolation_cases(data_root: str | Path, limit: int | None = None) -> list[Case]:
    """ccp validation photos at 512 px high, alternately cut 20% at the bottom and 8% at the top."""
    from portrait_editor.pipeline.regions import expand_canvas

    reader = CCPDataset(Path(data_root) / "ccp")
    cases = []
    for index, name in enumerate(validation_names(reader)[:limit]):
        sample = reader.load(name)
        h, w = sample["image"].shape[:2]
        size = (CCP_HEIGHT, max(1, int(round(w * CCP_HEIGHT / h))))
        photo, parsing = _resize_photo(sample["image"], sample["parsing"], size)
        side, fraction = EXTRAPOLATION_BANDS[index % len(EXTRAPOLATION_BANDS)]
        cropped, margins, band = extrapolation_input(photo, side, fraction, hole_rng(index))
        canvas, hole = expand_canvas(cropped, None, margins)
        assert canvas.shape == photo.shape and np.array_equal(hole, band)
        cases.append(Case(name=name, dataset="ccp", image=cropped, mask=None, margins=margins,
                          canvas=canvas, hole=hole, target=photo, parsing=parsing))
    return cases


def task_cases(task: str, data_root: str | Path, limit: int | None = None) -> list[Case]:
    if task == "occlusion":
        return occlusion_cases(data_root, limit)
    if task == "extrapolation":
        return extrapolation_cases(data_root, limit)
    if task == "faces":
        return face_cases(data_root, limit)
    if task in WILD_TASKS:
        from .sources import sources_root

        return wild_cases(task, sources_root(), limit)
    raise ValueError(f"unknown completion task {task!r}; known: occlusion, extrapolation, faces, "
                     f"{', '.join(WILD_TASKS)}")


# --------------------------------------------------------------------------------------------
# Methods


def classical_inpaint(canvas: np.ndarray, hole: np.ndarray, method: str) -> np.ndarray:
    """OpenCV Telea ("Telea") or Navier-Stokes ("Navier-Stokes"), radius 5, on the full canvas."""
    flag = {TELEA: cv2.INPAINT_TELEA, NS: cv2.INPAINT_NS}[method]
    return cv2.inpaint(np.ascontiguousarray(canvas), hole.astype(np.uint8) * 255, INPAINT_RADIUS, flag)


def _bundle_and_completer(weights: Any, device: str) -> tuple[Any, Any]:
    """Accepts a weights folder, a ``ModelBundle`` or a ``Completer``; float32 for reproducible numbers."""
    from portrait_editor.pipeline import Completer, ModelBundle, load_bundle, pick_device

    if isinstance(weights, Completer):
        if weights.precision != "fp32":
            raise ValueError("evaluate with a Completer(precision='fp32') for reproducible numbers")
        return weights.bundle, weights
    bundle = weights if isinstance(weights, ModelBundle) else load_bundle(weights, device=pick_device(device))
    dev = next(bundle.completion.parameters()).device
    return bundle, Completer(bundle, dev, precision="fp32")


def _request(case: Case, parsing: np.ndarray | None = None, use_face: bool = True, mirror_face: bool = True) -> Any:
    from portrait_editor.pipeline import CompletionRequest

    return CompletionRequest(image=case.image, mask=case.mask, margins=case.margins, parsing=parsing,
                             use_face=use_face, mirror_face=mirror_face)


def stage_one_parsing(completer: Any, case: Case) -> np.ndarray:
    """P's parsing as the pipeline makes it: runs ``Completer.run`` and cancels it as soon as
    stage I is done. Every pixel keeps P's best label: the pipeline's "unsure beyond the
    border" rule (``UNKNOWN``) would drop exactly the hard pixels from the score."""
    from portrait_editor.pipeline import Cancelled

    got: list[np.ndarray] = []
    gate, completer.border_min_confidence = completer.border_min_confidence, 0.0
    try:
        completer.run(_request(case), on_parsing=got.append, is_cancelled=lambda: bool(got))
    except Cancelled:
        pass
    finally:
        completer.border_min_confidence = gate
    if not got:
        raise RuntimeError(f"stage I gave no parsing for {case.name}")
    return got[0]


def whole_image_parsing(bundle: Any, case: Case) -> np.ndarray:
    """P run once on the whole canvas with the hole filled with the training mean colour (the
    paper's Table II protocol; the pipeline itself parses crops around the holes)."""
    import torch

    device = next(bundle.parsing.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(case.canvas)).to(device).permute(2, 0, 1).float()[None] / 127.5 - 1
    m = torch.from_numpy(case.hole).to(device).float()[None, None]
    fill = torch.tensor(bundle.hole_fill, device=device).view(1, 3, 1, 1) * 2 - 1
    with torch.inference_mode():
        out = bundle.parsing(x * (1 - m) + fill * m, m)
    return out.p.argmax(1)[0].to(torch.uint8).cpu().numpy()


def _load_lpips(lpips: Any, device: str, notes: list[str]) -> Any:
    if lpips != "auto":
        return lpips
    try:
        return metrics.LPIPSMetric(device=device)
    except FileNotFoundError as exc:
        note = f"LPIPS left blank: {exc}"
        print(f"note: {note}", file=sys.stderr)
        notes.append(note)
        return None


def completion_metrics(pred: np.ndarray, target: np.ndarray, hole: np.ndarray, lpips: Any = None,
                       window: tuple[slice, slice] | None = None) -> dict[str, float | None]:
    """``window``: LPIPS only there (photos from the wild: the hole's surroundings, not a 1000 px
    photo whose untouched pixels would water the difference down)."""
    lp = None
    if lpips is not None:
        lp = lpips(pred[window], target[window]) if window is not None else lpips(pred, target)
    return {
        "L1 hole": metrics.l1_in_hole(pred, target, hole),
        "PSNR": metrics.psnr(pred, target),
        "SSIM": metrics.ssim(pred, target),
        "BPE": metrics.bpe(pred, target, hole, band=BPE_BAND),
        "LPIPS": lp,
    }


# --------------------------------------------------------------------------------------------
# Reports


@dataclass
class TaskReport:
    """One table: ``rows[method][column]`` (None = blank), plus the contact sheet's panels."""

    task: str
    title: str
    columns: tuple[str, ...]
    rows: dict[str, dict[str, float | None]]
    images: int
    per_image: dict[str, list[dict[str, float | None]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sheet_titles: tuple[str, ...] = ()
    sheet: list[list[np.ndarray]] = field(default_factory=list)


def _mean(values: list[float | None]) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return float(np.mean(values))


def _hole_panel(case: Case) -> np.ndarray:
    panel = case.canvas.copy()
    panel[case.hole] = HOLE_COLOUR
    return panel


def zoom_box(hole: np.ndarray, context: float) -> tuple[slice, slice]:
    """A square window around the hole's bounding box with ``context`` times its longer side on
    each side, moved (not shrunk) to stay inside the image, and no larger than the image."""
    ys, xs = np.nonzero(hole)
    if len(ys) == 0:
        raise ValueError("zoom_box needs a non-empty hole")
    h, w = hole.shape
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = min(h, w, int(round(max(y1 - y0, x1 - x0) * (1 + 2 * context))))
    top = int(np.clip((y0 + y1 - side) // 2, 0, h - side))
    left = int(np.clip((x0 + x1 - side) // 2, 0, w - side))
    return slice(top, top + side), slice(left, left + side)


def _sheet_picks(cases: Sequence[Case], count: int, face_id: int | None) -> list[int]:
    """Up to ``count`` cases for the contact sheet: half of them with the hole over the face
    (where the issue asks for faces, not smudges), the rest the first others, in split order."""
    if count <= 0:
        return []
    faces = [i for i, c in enumerate(cases) if face_id is not None
             and np.count_nonzero(c.hole & (c.parsing == face_id)) >= 100]
    picks = faces[: count // 2]
    picks += [i for i in range(len(cases)) if i not in picks][: count - len(picks)]
    return sorted(picks)


def evaluate_completion(weights: Any, task: str = "occlusion", *, data_root: str | Path = DATA_ROOT,
                        limit: int | None = None, cases: Sequence[Case] | None = None, device: str = "cpu",
                        lpips: Any = "auto", gt_parsing: bool = True, sheet_rows: int = 6,
                        progress: Progress | None = None) -> TaskReport:
    """The completion table of ``task`` (occlusion or extrapolation) for the deep pipeline and
    OpenCV Telea / Navier-Stokes on the same inputs.

    ``weights``: a weights folder, a ``ModelBundle`` or a ``Completer(precision="fp32")``.
    ``lpips``: "auto" (load the offline VGG-16; a note and a blank column when it is missing), an
    ``LPIPSMetric``, or None (blank). ``cases`` overrides the validation inputs (tests).
    """
    bundle, completer = _bundle_and_completer(weights, device)
    cases = list(cases) if cases is not None else task_cases(task, data_root, limit)
    if not cases:
        raise ValueError(f"no validation images for {task} under {data_root}")
    notes: list[str] = []
    lpips = _load_lpips(lpips, device, notes)
    labels = bundle.label_set
    without_f = task in ("faces", "wild-faces") and bundle.face is not None  # what F adds
    from portrait_editor.labels import UNKNOWN

    wild = task in WILD_TASKS
    unknown = task in ("occlusion", "wild-occlusion")
    gt_parsing = gt_parsing and (not wild or has_labels(task))
    patchmatch = wild and patchmatch_inpaint(cases[0].canvas[:32, :32], cases[0].hole[:32, :32]) is not None
    prior = task in ("extrapolation", "wild-extrapolation") and getattr(completer, "body_prior", False)
    mirror = task in ("faces", "wild-faces")
    methods = ([DEEP] + ([DEEP_NO_F] if without_f else []) + ([DEEP_NO_MIRROR] if mirror else [])
               + ([DEEP_UNKNOWN] if unknown else [])
               + ([DEEP_NO_PRIOR] if prior else [])
               + ([DEEP_GT] if gt_parsing else []) + [TELEA, NS] + ([PATCHMATCH] if patchmatch else []))
    bands: list[dict[str, float | None]] = []  # the structure below the photo (bottom bands)
    per_image: dict[str, list[dict[str, float | None]]] = {m: [] for m in methods}
    picks = set(_sheet_picks(cases, sheet_rows, labels.id("face") if labels.has("face") else None))
    sheet: list[list[np.ndarray]] = []
    started = time.perf_counter()
    for i, case in enumerate(cases):
        deep = completer.run(_request(case))
        if deep.image.shape != case.target.shape or not np.array_equal(deep.mask, case.hole):
            raise RuntimeError(f"{case.name}: the pipeline filled another hole than the one evaluated")
        outputs = {DEEP: deep.image}
        if without_f:
            outputs[DEEP_NO_F] = completer.run(_request(case, use_face=False)).image
        if mirror:  # F without the other side of the face (pipeline/face.py)
            outputs[DEEP_NO_MIRROR] = completer.run(_request(case, mirror_face=False)).image
        if unknown:
            blank = np.where(deep.mask, UNKNOWN, deep.parsing).astype(np.uint8)
            outputs[DEEP_UNKNOWN] = completer.run(_request(case, parsing=blank)).image
        if prior:
            completer.body_prior = False
            without = completer.run(_request(case))
            completer.body_prior = True
            outputs[DEEP_NO_PRIOR] = without.image
            if case.margins.bottom > 0 and has_person_labels(case):
                bands.append({"with": band_structure(deep.parsing, case.parsing, case.hole, labels),
                              "without": band_structure(without.parsing, case.parsing, case.hole, labels)})
        if gt_parsing:
            outputs[DEEP_GT] = completer.run(_request(case, parsing=case.parsing)).image
        outputs[TELEA] = classical_inpaint(case.canvas, case.hole, TELEA)
        outputs[NS] = classical_inpaint(case.canvas, case.hole, NS)
        if patchmatch:
            outputs[PATCHMATCH] = patchmatch_inpaint(case.canvas, case.hole)
        window = detail_window(case.hole) if wild else None
        for method, pred in outputs.items():
            per_image[method].append(completion_metrics(pred, case.target, case.hole, lpips, window))
        if i in picks:
            row = ([_hole_panel(case), outputs[DEEP]] + ([outputs[DEEP_NO_F]] if without_f else [])
                   + ([outputs[DEEP_NO_MIRROR]] if mirror else [])
                   + [outputs[TELEA], outputs[NS]] + ([outputs[PATCHMATCH]] if patchmatch else [])
                   + [case.target, labels.colourize(deep.parsing)])
            if task in ("faces", "wild-faces"):
                box = zoom_box(case.hole, FACE_SHEET_CONTEXT)
                row = [panel[box] for panel in row]
            sheet.append(row)
        if progress is not None:
            progress(f"{task} {i + 1}/{len(cases)} {case.name} ({time.perf_counter() - started:.0f} s)")
    rows = {m: {c: _mean([r[c] for r in per_image[m]]) for c in COMPLETION_COLUMNS} for m in methods}
    first = cases[0]
    where = {"occlusion": f"viton validation, {first.target.shape[1]}x{first.target.shape[0]}, occlusion holes",
             "faces": f"viton validation, {first.target.shape[1]}x{first.target.shape[0]}, "
                      f"{FACE_HOLE}x{FACE_HOLE} holes inside the face",
             "wild-occlusion": _wild_where(cases, "occlusion holes over the person (anywhere in scenes)"),
             "wild-extrapolation": _wild_where(cases, "20% cut at the bottom / 8% at the top, grown back "
                                                      "with margins"),
             "wild-sides": _wild_where(cases, "15% cut at the left / right, grown back with margins"),
             "wild-faces": _wild_where(cases, "square holes over the face")}.get(
        task, f"ccp validation, {CCP_HEIGHT} px high, 20% cut at the bottom / 8% at the top, alternating")
    if bands:
        for key, what in (("with", "stage I with the body prior"), ("without", "stage I without the body prior")):
            notes.append(_band_note([b[key] for b in bands], what))
    notes.append("L1 hole and BPE (5-px band inside the hole) on 0-255, lower is better; PSNR, SSIM over the "
                 "image, higher is better; LPIPS (VGG-16, v0.1) lower is better"
                 + (f", on the hole's bounding box grown by {DETAIL_WINDOW:.0%} of its longer side" if wild else "")
                 + ". Means over the images.")
    return TaskReport(task=task, title=f"{task.capitalize()} ({where})", columns=COMPLETION_COLUMNS, rows=rows,
                      images=len(cases), per_image=per_image, notes=notes,
                      sheet_titles=("input (hole)", "deep") + (("deep without F",) if without_f else ())
                      + (("deep without the mirror",) if mirror else ()) + ("Telea", "Navier-Stokes") + (("PatchMatch",) if patchmatch else ())
                      + ("ground truth", "P parsing (stage I)"),
                      sheet=sheet)


def has_person_labels(case: Case) -> bool:
    """Whether the case's ground-truth map labels body parts (not only person vs background)."""
    from portrait_editor.labels import UNKNOWN

    return bool(((case.parsing != 0) & (case.parsing != UNKNOWN)).any())


def _band_note(bands: Sequence[dict[str, float | None]], what: str) -> str:
    """One line on the structure in the bottom bands (:func:`band_structure` of each band)."""
    shoe = _mean([b["shoe IoU"] for b in bands if b["shoe IoU"] is not None])
    legs = _mean([b["leg+shoe mIoU"] for b in bands if b["leg+shoe mIoU"] is not None])
    found = sum(bool(b["shoes found"]) for b in bands if b["shoes found"] is not None)
    with_shoes = sum(b["shoes found"] is not None for b in bands)
    return (f"Bottom bands ({len(bands)}), {what}: shoe IoU {_cell(shoe, 'mIoU hole')}, leg+shoe mIoU "
            f"{_cell(legs, 'mIoU hole')}, shoes drawn in {found} of the {with_shoes} bands whose photo has "
            "shoes there.")


def band_structure(pred: np.ndarray, truth: np.ndarray, hole: np.ndarray, labels: Any) -> dict[str, float | None]:
    """The body structure grown below the photo against the truth, inside the band ``hole``:
    shoe IoU (both shoes as one class), the mean IoU of legs (both legs, socks, pants) and
    shoes, and whether shoes were drawn in a band whose photo has shoes there (None if not)."""
    def group(names: tuple[str, ...]) -> list[int]:
        return [labels.id(n) for n in names if labels.has(n)]

    shoes = group(("left-shoe", "right-shoe"))
    legs = group(("left-leg", "right-leg", "socks", "pants"))

    def iou(ids: list[int]) -> float | None:
        p, t = np.isin(pred, ids) & hole, np.isin(truth, ids) & hole
        union = np.count_nonzero(p | t)
        return None if union == 0 else np.count_nonzero(p & t) / union

    shoe, leg = iou(shoes), iou(legs)
    truth_shoes = bool((np.isin(truth, shoes) & hole).any())
    return {"shoe IoU": 0.0 if shoe is None and truth_shoes else shoe,
            "leg+shoe mIoU": _mean([v for v in (shoe, leg) if v is not None]),
            "shoes found": bool((np.isin(pred, shoes) & hole).any()) if truth_shoes else None}


def _wild_where(cases: Sequence[Case], holes: str) -> str:
    sources = ", ".join(f"{k} {sum(c.dataset == k for c in cases)}" for k in dict.fromkeys(c.dataset for c in cases))
    sides = [max(c.target.shape[:2]) for c in cases]
    return f"validation photos from the wild: {sources}; own resolution, {min(sides)}-{max(sides)} px; {holes}"


def _miou(cm: np.ndarray) -> float | None:
    """Mean IoU of a confusion matrix; None when the truth labels nothing there (a portrait's
    person has no part labels)."""
    return metrics.iou_from_confusion(cm) if cm.sum() else None


def evaluate_parsing(weights: Any, *, data_root: str | Path = DATA_ROOT, limit: int | None = None,
                     cases: dict[str, Sequence[Case]] | None = None, device: str = "cpu", sheet_rows: int = 6,
                     progress: Progress | None = None, task: str = "parsing") -> TaskReport:
    """Mean IoU of P's parsing against the ground truth over the image and inside the hole,
    from one confusion matrix per data set: viton with occlusion holes, ccp with extrapolation
    bands (``limit`` images of each). Two rows per data set: stage I as the pipeline runs it
    (views scaled to the size P was trained on) and P on the whole image at the evaluation
    size (Table II). ``cases`` maps a row label to its inputs (tests)."""
    from portrait_editor.labels import UNKNOWN

    bundle, completer = _bundle_and_completer(weights, device)
    if cases is None:
        cases = {"viton, occlusion holes": occlusion_cases(data_root, limit),
                 "ccp, extrapolation bands": extrapolation_cases(data_root, limit)}
    labels = bundle.label_set
    n = len(labels)
    rows: dict[str, dict[str, float | None]] = {}
    sheet: list[list[np.ndarray]] = []
    per_set_sheet = max(1, sheet_rows // max(1, len(cases))) if sheet_rows > 0 else 0
    total = 0
    bands: dict[str, list[dict[str, float | None]]] = {}  # stage I in the bottom bands, per group
    started = time.perf_counter()
    for label, group in cases.items():
        group = list(group)
        if not group:
            raise ValueError(f"no validation images for {label} under {data_root}")
        picks = set(_sheet_picks(group, per_set_sheet, labels.id("face") if labels.has("face") else None))
        cms = {k: {"image": np.zeros((n, n), np.int64), "hole": np.zeros((n, n), np.int64),
                   "person": np.zeros((2, 2), np.int64)} for k in ("stage", "whole")}
        for i, case in enumerate(group):
            maps = {"stage": stage_one_parsing(completer, case), "whole": whole_image_parsing(bundle, case)}
            truth_person = (case.parsing != 0).astype(np.int64)  # a portrait's person (UNKNOWN parts) too
            if case.margins.bottom > 0:
                bands.setdefault(label, []).append(band_structure(maps["stage"], case.parsing, case.hole, labels))
            for k, pred in maps.items():
                cms[k]["image"] += metrics.confusion_matrix(pred, case.parsing, n)
                cms[k]["hole"] += metrics.confusion_matrix(pred, case.parsing, n, region=case.hole)
                cms[k]["person"] += metrics.confusion_matrix(((pred != 0) & (pred != UNKNOWN)).astype(np.int64),
                                                             truth_person, 2)
            if i in picks:
                sheet.append([_hole_panel(case), labels.colourize(maps["stage"]), labels.colourize(maps["whole"]),
                              labels.colourize(case.parsing), case.target])
            if progress is not None:
                progress(f"parsing {label} {i + 1}/{len(group)} {case.name} ({time.perf_counter() - started:.0f} s)")
        face = labels.id("face") if labels.has("face") else None
        for k, what in (("stage", "P stage I"), ("whole", "P whole image")):
            image_cm = cms[k]["image"]
            rows[f"{what}, {label}"] = {
                "images": len(group),
                "mIoU image": _miou(image_cm),
                "mIoU hole": _miou(cms[k]["hole"]),
                "person IoU": metrics.class_iou(cms[k]["person"], 1),
                "face IoU": None if face is None else metrics.class_iou(image_cm, face)}
        total += len(group)
    notes = ["Mean IoU over the classes present in the truth or the prediction, from one confusion matrix "
             "over each data set; ground truth: viton's CP-VTON+ maps, ccp's hand labels mapped to LIP+neck.",
             "\"P stage I\" is the pipeline's stage I: P parses the canvas at its training size and again "
             "around the person when the person's size is far from what P was trained on (a P trained on crops: "
             "the canvas, then each hole's crop at the photo's scale). \"P whole image\" "
             "runs P once on the whole canvas at the evaluation size (Table II).",
             "person IoU: everything P does not call background against the person in the truth (the "
             "portraits label only person and background); face IoU: LIP's face class. Blank where the "
             "truth has none."]
    notes += [_band_note(b, f"P stage I, {label}, P's own labels (no confidence gate, so the body prior "
                            "adds nothing; benchmarks/body_prior.py scores the pipeline's map)")
              for label, b in bands.items()]
    return TaskReport(task=task, title="Parsing (P against the ground truth)", columns=PARSING_COLUMNS,
                      rows=rows, images=total, notes=notes,
                      sheet_titles=("input (hole)", "P stage I", "P whole image", "ground truth", "photo"),
                      sheet=sheet)


# --------------------------------------------------------------------------------------------
# Detail at full resolution (issue 11): real photos at their own resolution


DETAIL_SETS = {
    "portraits": ("portraits/images",),
    "scenes": ("scenes/urban100", "scenes/sunhays80", "scenes/imagenet"),
    "faces": ("celebamask/images",),
}
"""Groups of the detail task and their folders under ``training.sources.sources_root()``."""
DETAIL_HOLES = ("rectangle", "strokes", "band")
"""Image ``i`` of a group gets ``DETAIL_HOLES[i % 3]``: a rectangle of 15-30% of the height
(over the person where there is a person mask), brush strokes, or the bottom 15% cut off and
grown back with canvas margins (extrapolation)."""
DETAIL_BAND = 0.15
DETAIL_WINDOW = 0.25
"""The metrics' window: the hole's bounding box grown by this much of its longer side (>= 16 px)."""
DETAIL_RING = 24
"""The detail ratio's ring: known pixels within this many px of the hole."""
DETAIL_CROP = 256
"""Side of the contact sheet's 100% crops, centred on the top edge of the hole."""
DEEP_DETAIL = "deep + detail (exemplar)"
DEEP_DETAIL_PIECES = "deep + detail (pieces)"
DEEP_DETAIL_CELLS = "deep + detail (cell copies)"
DEEP_DETAIL_CRA = "deep + detail (CRA attention)"
DEEP_NO_DETAIL = "deep without detail"
PATCHMATCH = "PatchMatch alone"
GROUND_TRUTH = "ground truth"
DETAIL_COLUMNS = ("L1 hole", "BPE", "LPIPS window", "detail ratio", "detail / GT")
_DIGITS.update({"LPIPS window": 4, "detail ratio": 3, "detail / GT": 3})


def _image_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))


def _portrait_person(root: Path, photo: Path) -> np.ndarray | None:
    """The Flickr portrait's person mask: ``masks/ID.png`` (``training.sources``) or the original
    ``masks/ID_mask.mat`` (needs scipy); None when neither can be read."""
    for folder in ("masks-png", "masks"):  # training.sources writes masks-png/
        png = root / "portraits" / folder / f"{photo.stem}.png"
        if png.is_file():
            return np.asarray(Image.open(png).convert("L")) > 127
    mat = root / "portraits" / "masks" / f"{photo.stem}_mask.mat"
    try:
        from scipy.io import loadmat

        return np.asarray(loadmat(mat)["mask"]) > 0
    except (ImportError, OSError, KeyError, ValueError):
        return None


def detail_cases(root: str | Path | None = None, limit: int | None = None) -> list[Case]:
    """The first ``limit`` validation photos (``make_split(names, 0.05, seed=0)[1]``) of each
    group of :data:`DETAIL_SETS` at their own resolution; scenes largest first. Empty when the
    sources folder is absent. ``parsing`` is left empty (255): these sets have no LIP labels."""
    from portrait_editor.imageio import load_image
    from portrait_editor.labels import UNKNOWN
    from portrait_editor.pipeline import Margins
    from portrait_editor.pipeline.regions import expand_canvas

    from .masks import BrushStrokes, RandomRectangles
    from .sources import sources_root

    root = Path(root) if root is not None else sources_root()
    cases: list[Case] = []
    for group, folders in DETAIL_SETS.items():
        paths = []
        for folder in folders:
            if (root / folder).is_dir():
                paths += [root / folder / n for n in make_split(_image_names(root / folder), VAL_FRACTION,
                                                                  seed=SPLIT_SEED)[1]]
        if group == "scenes":
            paths.sort(key=lambda p: -np.prod(Image.open(p).size))
        for index, path in enumerate(paths[:limit]):
            photo = load_image(path).pixels
            h, w = photo.shape[:2]
            rng = hole_rng(index)
            kind = DETAIL_HOLES[index % len(DETAIL_HOLES)]
            person = _portrait_person(root, path) if group == "portraits" else None
            person = person if person is not None and person.shape == (h, w) else None
            parsing = np.full((h, w), UNKNOWN, np.uint8)
            name = f"{group}/{path.name}"
            if kind == "band":
                cropped, margins, band = extrapolation_input(photo, "bottom", DETAIL_BAND, rng)
                canvas, hole = expand_canvas(cropped, None, margins)
                cases.append(Case(name=name, dataset=group, image=cropped, mask=None, margins=margins,
                                  canvas=canvas, hole=hole, target=photo, parsing=parsing))
                continue
            if kind == "rectangle":
                hole = RandomRectangles(edge_range=(0.15, 0.30), reference_height=None)(rng, (h, w), person=person)
            else:
                hole = BrushStrokes(coverage=(0.03, 0.08))(rng, (h, w), person=person)
            cases.append(Case(name=name, dataset=group, image=photo, mask=hole, margins=Margins(),
                              canvas=photo, hole=hole, target=photo, parsing=parsing))
    return cases


def detail_window(hole: np.ndarray) -> tuple[slice, slice]:
    """The hole's bounding box grown by :data:`DETAIL_WINDOW` of its longer side, in the image."""
    ys, xs = np.nonzero(hole.any(1))[0], np.nonzero(hole.any(0))[0]
    pad = max(16, int(round(DETAIL_WINDOW * max(ys[-1] - ys[0] + 1, xs[-1] - xs[0] + 1))))
    h, w = hole.shape
    return (slice(max(0, ys[0] - pad), min(h, ys[-1] + 1 + pad)),
            slice(max(0, xs[0] - pad), min(w, xs[-1] + 1 + pad)))


def detail_ratio(image: np.ndarray, hole: np.ndarray, ring: int = DETAIL_RING) -> float:
    """High-frequency energy inside the hole over that of a ring of known pixels around it: the
    variance of the Laplacian of the grey image. 1 means as sharp as the surroundings."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(grey, cv2.CV_32F, borderType=cv2.BORDER_REFLECT)
    dist = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
    around = ~hole & (dist <= ring) & (dist > 1)  # not the first row next to the hole: blend seam
    inside = hole & (cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3) > 1)
    if not inside.any():
        inside = hole
    return float(lap[inside].var() / max(lap[around].var(), 1e-6))


def patchmatch_inpaint(canvas: np.ndarray, hole: np.ndarray) -> np.ndarray | None:
    """PyPatchMatch (``pip install pypatchmatch``, 7 x 7 patches, seed 0); None when it is missing."""
    try:
        from patchmatch import patch_match
    except ImportError:
        return None
    if not patch_match.patchmatch_available:
        return None
    patch_match.set_random_seed(0)
    return patch_match.inpaint(np.ascontiguousarray(canvas), hole.astype(np.uint8) * 255, patch_size=3)


def detail_crop_box(hole: np.ndarray, side: int = DETAIL_CROP) -> tuple[slice, slice]:
    """A ``side`` square (100%, no scaling) centred on the middle of the hole's top edge."""
    ys, xs = np.nonzero(hole.any(1))[0], np.nonzero(hole.any(0))[0]
    h, w = hole.shape
    side = min(side, h, w)
    cy, cx = int(ys[0]), int((xs[0] + xs[-1]) // 2)
    top, left = int(np.clip(cy - side // 2, 0, h - side)), int(np.clip(cx - side // 2, 0, w - side))
    return slice(top, top + side), slice(left, left + side)


def evaluate_detail(weights: Any, *, root: str | Path | None = None, limit: int | None = None,
                    cases: Sequence[Case] | None = None, device: str = "cpu", lpips: Any = "auto",
                    sheet_rows: int = 6, progress: Progress | None = None) -> TaskReport | None:
    """The detail stage (``pipeline/detail.py``) on real photos at their own resolution: the
    pipeline without and with it (and with HiFill-style attention instead of coherent copies),
    PyPatchMatch alone and Telea, on the same holes. L1 and BPE in the hole, LPIPS on the
    window around it, and the detail ratio (:func:`detail_ratio`) next to the ground truth's.
    Returns None when there are no photos (the sources folder is absent)."""
    bundle, completer = _bundle_and_completer(weights, device)
    cases = list(cases) if cases is not None else detail_cases(root, limit)
    if not cases:
        return None
    notes: list[str] = []
    lpips = _load_lpips(lpips, device, notes)
    methods = [DEEP_DETAIL, DEEP_DETAIL_PIECES, DEEP_DETAIL_CELLS, DEEP_DETAIL_CRA, DEEP_NO_DETAIL, PATCHMATCH, TELEA,
               GROUND_TRUTH]
    per_image: dict[str, list[dict[str, float | None]]] = {m: [] for m in methods}
    picks = set(np.linspace(0, len(cases) - 1, min(sheet_rows, len(cases))).round().astype(int).tolist()) \
        if sheet_rows > 0 else set()
    sheet: list[list[np.ndarray]] = []
    started = time.perf_counter()
    missing_patchmatch = False
    for i, case in enumerate(cases):
        outputs: dict[str, np.ndarray | None] = {}
        for method, use, how in ((DEEP_DETAIL, True, "exemplar"), (DEEP_DETAIL_PIECES, True, "pieces"),
                                 (DEEP_DETAIL_CELLS, True, "patch"), (DEEP_DETAIL_CRA, True, "cra"),
                                 (DEEP_NO_DETAIL, False, "pieces")):
            completer.detail_method = how
            request = _request(case)
            request.use_detail = use
            result = completer.run(request)
            if not np.array_equal(result.mask, case.hole):
                raise RuntimeError(f"{case.name}: the pipeline filled another hole than the one evaluated")
            outputs[method] = result.image
        completer.detail_method = "pieces"
        outputs[PATCHMATCH] = patchmatch_inpaint(case.canvas, case.hole)
        missing_patchmatch |= outputs[PATCHMATCH] is None
        outputs[TELEA] = classical_inpaint(case.canvas, case.hole, TELEA)
        outputs[GROUND_TRUTH] = case.target
        window = detail_window(case.hole)
        truth_ratio = detail_ratio(case.target, case.hole)
        for method in methods:
            pred = outputs[method]
            if pred is None:
                per_image[method].append(dict.fromkeys(DETAIL_COLUMNS))
                continue
            ratio = detail_ratio(pred, case.hole)
            per_image[method].append({
                "L1 hole": metrics.l1_in_hole(pred, case.target, case.hole),
                "BPE": metrics.bpe(pred, case.target, case.hole, band=BPE_BAND),
                "LPIPS window": lpips(pred[window], case.target[window]) if lpips is not None else None,
                "detail ratio": ratio,
                "detail / GT": math.log(max(ratio, 1e-6) / max(truth_ratio, 1e-6)),
            })
        if i in picks:
            crop = detail_crop_box(case.hole)
            sheet.append([_hole_panel(case)[crop]] + [outputs[m][crop] for m in
                                                     (DEEP_DETAIL, DEEP_NO_DETAIL, PATCHMATCH, TELEA, GROUND_TRUTH)
                                                     if outputs[m] is not None])
        if progress is not None:
            progress(f"detail {i + 1}/{len(cases)} {case.name} {case.target.shape[1]}x{case.target.shape[0]} "
                     f"({time.perf_counter() - started:.0f} s)")
    rows = {}
    for m in methods:
        row = {c: _mean([r[c] for r in per_image[m]]) for c in DETAIL_COLUMNS}
        if row["detail / GT"] is not None:  # geometric mean of the per-photo ratios
            row["detail / GT"] = math.exp(row["detail / GT"])
        rows[m] = row
    sizes = sorted({f"{c.target.shape[1]}x{c.target.shape[0]}" for c in cases})
    groups = ", ".join(f"{g} {sum(c.dataset == g for c in cases)}" for g in DETAIL_SETS)
    notes.append(f"Photos at their own resolution ({groups}; {len(sizes)} sizes from {sizes[0]} to {sizes[-1]}), "
                 "holes cycling through a rectangle (15-30% of the height), brush strokes and a 15% band cut "
                 "off the bottom. L1 and BPE (5-px band) in the hole on 0-255; LPIPS on the hole's bounding box "
                 f"grown by {DETAIL_WINDOW:.0%} of its side. Detail ratio: variance of the Laplacian inside the "
                 f"hole / in a {DETAIL_RING}-px ring around it (mean over photos); detail / GT: the geometric "
                 "mean over photos of that ratio over the ground truth's (1 = as much detail as the photo had).")
    if missing_patchmatch:
        notes.append("PatchMatch alone left blank: `pip install pypatchmatch` (prebuilt wheels for Linux, "
                     "macOS and Windows).")
    titles = ("input (hole)", "deep + detail", "deep without detail") + \
        (() if missing_patchmatch else ("PatchMatch",)) + ("Telea", "ground truth")
    return TaskReport(task="detail", title="Detail at full resolution (real photos, 100%)", columns=DETAIL_COLUMNS,
                      rows=rows, images=len(cases), per_image=per_image, notes=notes, sheet_titles=titles,
                      sheet=sheet)


def _cell(value: float | int | None, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if math.isinf(value):
        return "inf"
    return f"{value:.{_DIGITS.get(column, 3)}f}"


def format_table(report: TaskReport, *, weights: str | Path | None = None, command: str | None = None) -> str:
    """Markdown: a header naming the weights, the number of images and the command, then the table."""
    lines = [f"## {report.title}", ""]
    if weights is not None:
        lines.append(f"- weights: `{weights}`")
    lines.append(f"- images: {report.images}")
    if command is not None:
        lines.append(f"- command: `{command}`")
    lines += ["", "| method | " + " | ".join(report.columns) + " |",
              "|---|" + "---:|" * len(report.columns)]
    for method, values in report.rows.items():
        lines.append(f"| {method} | " + " | ".join(_cell(values.get(c), c) for c in report.columns) + " |")
    lines.append("")
    lines += [f"{note}" for note in report.notes]
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------------------------
# Contact sheet


def _fit_height(panel: np.ndarray, height: int) -> np.ndarray:
    h, w = panel.shape[:2]
    if h == height:
        return panel
    width = max(1, int(round(w * height / h)))
    return cv2.resize(panel, (width, height), interpolation=cv2.INTER_AREA if height < h else cv2.INTER_LINEAR)


def _png_bytes(sheet: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(sheet).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def sheet_size(rows: int, column_widths: Sequence[int], cell_height: int = 256) -> tuple[int, int]:
    """(height, width) of a contact sheet before any scaling down for ``max_bytes``."""
    return (TITLE_HEIGHT + rows * cell_height + (rows - 1) * SHEET_GAP,
            sum(column_widths) + (len(column_widths) - 1) * SHEET_GAP)


def contact_sheet(rows: Sequence[Sequence[np.ndarray]], titles: Sequence[str], path: str | Path, *,
                  cell_height: int = 256, max_bytes: int = SHEET_MAX_BYTES) -> Path:
    """A PNG grid: one row per image, one column per ``titles`` entry (named in a strip on top).

    Every panel (H x W x 3 uint8 RGB) is scaled to ``cell_height``; a column is as wide as its
    widest panel (narrower ones are centred on dark grey). The size is :func:`sheet_size`, unless
    the PNG would exceed ``max_bytes``: then the whole sheet is scaled down until it fits.
    """
    if not rows:
        raise ValueError("a contact sheet needs at least one row")
    if any(len(r) != len(titles) for r in rows):
        raise ValueError(f"every row needs {len(titles)} panels (one per title)")
    cells = [[_fit_height(np.asarray(p, np.uint8), cell_height) for p in r] for r in rows]
    widths = [max(r[c].shape[1] for r in cells) for c in range(len(titles))]
    sheet = np.full((*sheet_size(len(rows), widths, cell_height), 3), 24, np.uint8)
    x = 0
    for c, (title, width) in enumerate(zip(titles, widths, strict=True)):
        cv2.putText(sheet, title, (x + 4, TITLE_HEIGHT - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1,
                    cv2.LINE_AA)
        for r, row in enumerate(cells):
            panel = row[c]
            y0 = TITLE_HEIGHT + r * (cell_height + SHEET_GAP)
            x0 = x + (width - panel.shape[1]) // 2
            sheet[y0:y0 + cell_height, x0:x0 + panel.shape[1]] = panel
        x += width + SHEET_GAP
    data = _png_bytes(sheet)
    while len(data) > max_bytes and min(sheet.shape[:2]) > 16:
        factor = math.sqrt(max_bytes / len(data)) * 0.95
        size = (max(1, int(sheet.shape[1] * factor)), max(1, int(sheet.shape[0] * factor)))
        sheet = cv2.resize(sheet, size, interpolation=cv2.INTER_AREA)
        data = _png_bytes(sheet)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------------------------
# Command line


def parse_tasks(text: str) -> list[str]:
    tasks = []
    for item in text.split(","):
        item = item.strip()
        if item == "all":
            tasks.extend(TASKS)
        elif item in TASKS:
            tasks.append(item)
        else:
            raise argparse.ArgumentTypeError(f"unknown task {item!r}; use {', '.join(TASKS)} or all")
    return list(dict.fromkeys(tasks))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="weights folder (ROLE.safetensors + ROLE.json)")
    parser.add_argument("--task", type=parse_tasks, default=list(TASKS),
                        help="occlusion, extrapolation, parsing, all, or a comma list (default: all)")
    parser.add_argument("--limit", type=int, default=None, help="the first N validation images of each set")
    parser.add_argument("--out", default="runs/eval", help="folder for results.md and contact_TASK.png")
    parser.add_argument("--data-root", default=DATA_ROOT, help=f"folder holding viton/ and ccp/ (default {DATA_ROOT})")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--no-gt-parsing", action="store_true", help="skip the deep run with ground-truth parsing")
    parser.add_argument("--no-lpips", action="store_true", help="leave the LPIPS column blank")
    parser.add_argument("--sheet-rows", type=int, default=6, help="images on each contact sheet")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")

    import torch

    from portrait_editor.pipeline import Completer, WeightsError, load_bundle, pick_device

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        device = pick_device(args.device)
        bundle = load_bundle(args.weights, device=device)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    completer = Completer(bundle, device, precision="fp32")
    command = "python -m training.evaluate " + shlex.join(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    lpips, lpips_notes = None, []  # loaded once for every completion task
    if not args.no_lpips and any(t not in ("parsing", WILD_PARSING_TASK) for t in args.task):
        lpips = _load_lpips("auto", str(device), lpips_notes)
    sections = ["# Portrait Editor validation\n"]
    for task in args.task:
        if task == "parsing":
            report = evaluate_parsing(completer, data_root=args.data_root, limit=args.limit,
                                      sheet_rows=args.sheet_rows, progress=progress)
        elif task == WILD_PARSING_TASK:
            from .sources import sources_root

            groups = wild_parsing_cases(sources_root(), args.limit)
            if not groups:
                print(f"{task}: no photos under the sources folder ($PORTRAIT_EDITOR_SOURCES, ../sources); "
                      "skipped", file=sys.stderr)
                continue
            report = evaluate_parsing(completer, cases=groups, sheet_rows=args.sheet_rows, progress=progress,
                                      task=task)
        elif task == "detail":
            report = evaluate_detail(completer, limit=args.limit, lpips=lpips, sheet_rows=args.sheet_rows,
                                     progress=progress)
            if report is None:
                print("detail: no photos under the sources folder ($PORTRAIT_EDITOR_SOURCES, ../sources); "
                      "skipped", file=sys.stderr)
                continue
            report.notes[:0] = lpips_notes
        else:
            if task in WILD_TASKS and not task_cases(task, args.data_root, 1):
                print(f"{task}: no photos under the sources folder ($PORTRAIT_EDITOR_SOURCES, ../sources); "
                      "skipped", file=sys.stderr)
                continue
            report = evaluate_completion(completer, task, data_root=args.data_root, limit=args.limit,
                                         lpips=lpips, gt_parsing=not args.no_gt_parsing,
                                         sheet_rows=args.sheet_rows, progress=progress)
            report.notes[:0] = lpips_notes
        table = format_table(report, weights=bundle.folder, command=command)
        print(table, flush=True)
        sections.append(table)
        if report.sheet:
            # the detail sheet shows 100% crops: never scaled
            full = {"cell_height": DETAIL_CROP, "max_bytes": 1 << 30} if task == "detail" else {}
            sheet = contact_sheet(report.sheet, report.sheet_titles, out / f"contact_{task}.png", **full)
            sections.append(f"![{task}]({sheet.name})\n")
        (out / "results.md").write_text("\n".join(sections))
        if report.per_image:  # each method's metrics per photo, in the order the progress lines name them
            (out / f"per_image_{task}.json").write_text(json.dumps(report.per_image, indent=1))
    print(f"wrote {out / 'results.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
