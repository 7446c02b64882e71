"""Parsing maps for the CCP photos that have none, from P run on the whole (uncut) photo.

CCP is the only source whose people show their legs and feet, and only 854 of its 1,798 photos
have hand-labelled maps. P sees the feet in an uncut photo far better than it guesses them
beyond a border, so its maps of the other 944 photos can teach it (and G) the bands below cut
ones, as issue 13 asks. Where P is unsure of a body part (softmax below ``--gate``), the pixel
is ``UNKNOWN``: the partial-label loss reads it as "some body part" (``training.losses``).
The maps go outside the repository, with the photos, as source ``ccp-pseudo``::

    python -m training.pseudo_labels --weights resources/weights --out ../sources/ccp-pseudo
    python -m training.pseudo_labels --weights resources/weights --check 40

``--check N`` instead scores the maps P would make on N hand-labelled CCP validation photos:
the share of pixels kept and their accuracy and mean IoU (legs and shoes too).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from portrait_editor.labels import UNKNOWN
from portrait_editor.pipeline import Completer
from portrait_editor.pipeline.complete import CROP_WORK_FACTOR
from portrait_editor.pipeline.regions import Box

from .configs import DATA_ROOT
from .datasets import IMAGE_SUFFIXES, _read_rgb, _stems

GATE = 0.6
"""Body-part pixels whose softmax probability is below this are left ``UNKNOWN``."""
VIEW_FACTOR = CROP_WORK_FACTOR
"""P parses each photo fitted into this many times its training side (never enlarged), as the
pipeline's stage I views a whole canvas (512 px for the shipped P)."""


def pseudo_map(completer: Completer, image: np.ndarray, gate: float = GATE) -> np.ndarray:
    """P's labels of ``image`` (H x W x 3 uint8) at full size, from the pipeline's view of a
    whole canvas (``Completer._parse_view``); unsure body parts ``UNKNOWN``."""
    import torch

    h, w = image.shape[:2]
    scale = min(1.0, VIEW_FACTOR * max(completer.bundle.trained_size("parsing")) / max(h, w))
    view = completer._parse_view(image, np.zeros((h, w), bool), Box(0, 0, h, w), scale)
    prob = torch.nn.functional.interpolate(view.logits, size=(h, w), mode="bilinear",
                                           align_corners=False).softmax(1)
    best, labels = prob.max(1)
    labels, best = labels[0].to(torch.uint8).numpy(), best[0].numpy()
    background = completer.bundle.label_set.id("background")
    labels[(labels != background) & (best < gate)] = UNKNOWN
    return labels


def unlabelled_ccp(data_root: str | Path) -> dict[str, Path]:
    """The CCP photos without a hand-labelled map, by name."""
    root = Path(data_root) / "ccp"
    images = _stems(root / "images", IMAGE_SUFFIXES)
    labelled = _stems(root / "parsing", (".png",))
    return {n: p for n, p in sorted(images.items()) if n not in labelled}


def write_maps(completer: Completer, weights: str, data_root: str | Path, out: Path, gate: float) -> int:
    """Photos (hard-linked where possible) and maps of the unlabelled CCP photos into ``out``;
    photos whose map is already there are skipped. Returns how many were written."""
    photos = unlabelled_ccp(data_root)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    written = 0
    for i, (name, path) in enumerate(photos.items()):
        target = out / "labels" / f"{name}.png"
        if target.exists():
            continue
        image_copy = out / "images" / path.name
        if not image_copy.exists():
            try:
                os.link(path, image_copy)
            except OSError:
                shutil.copyfile(path, image_copy)
        labels = pseudo_map(completer, _read_rgb(path), gate)
        partial = target.with_suffix(".tmp.png")
        cv2.imwrite(str(partial), labels)
        os.replace(partial, target)
        written += 1
        if (i + 1) % 50 == 0:
            print(f"{i + 1}/{len(photos)}", flush=True)
    (out / "source.json").write_text(json.dumps(
        {"what": "P's parsing of the CCP photos without hand-labelled maps (training.pseudo_labels)",
         "weights": str(weights), "gate": gate, "view_factor": VIEW_FACTOR, "photos": len(photos)}, indent=1))
    return written


def check(completer: Completer, data_root: str | Path, limit: int, gate: float) -> None:
    """How good the maps are, on hand-labelled CCP validation photos."""
    from . import metrics
    from .datasets import CCPDataset
    from .evaluate import validation_names

    reader = CCPDataset(Path(data_root) / "ccp")
    names = validation_names(reader)[:limit]
    label_set = completer.bundle.label_set
    n = len(label_set)
    cm, kept, total = np.zeros((n, n), np.int64), 0, 0
    for name in names:
        sample = reader.load(name)
        labels = pseudo_map(completer, sample["image"], gate)
        kept += int(np.count_nonzero(labels != UNKNOWN))
        total += labels.size
        cm += metrics.confusion_matrix(labels, sample["parsing"], n)  # UNKNOWN pixels are left out
    ids = [label_set.id(k) for k in ("left-shoe", "right-shoe", "left-leg", "right-leg", "pants") if label_set.has(k)]
    ious = {label_set.names[i]: metrics.class_iou(cm, i) for i in ids}
    print(f"{len(names)} CCP validation photos, gate {gate:g}: {kept / max(total, 1):.1%} of pixels kept, "
          f"accuracy {np.trace(cm) / max(cm.sum(), 1):.3f}, mIoU {metrics.iou_from_confusion(cm):.3f}; "
          + ", ".join(f"{k} {v:.3f}" for k, v in ious.items() if v is not None))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="resources/weights")
    parser.add_argument("--data-root", default=DATA_ROOT)
    parser.add_argument("--out", type=Path, help="folder for images/ and labels/ (outside the repository)")
    parser.add_argument("--gate", type=float, default=GATE)
    parser.add_argument("--check", type=int, default=0, help="score the maps on N labelled validation photos instead")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    import torch

    from portrait_editor.pipeline import load_bundle

    if args.threads:
        torch.set_num_threads(args.threads)
    completer = Completer(load_bundle(args.weights), "cpu", precision="fp32")
    if args.check:
        check(completer, args.data_root, args.check, args.gate)
        return
    if args.out is None:
        parser.error("--out is required (or --check N)")
    print(f"wrote {write_maps(completer, args.weights, args.data_root, args.out, args.gate)} maps into {args.out}")


if __name__ == "__main__":
    main()
