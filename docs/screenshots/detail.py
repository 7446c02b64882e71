"""Before/after 100% crops of the detail stage (detail-before-after.png).

    python docs/screenshots/detail.py                  # into runs/docs/ (not kept in the repository)
    python docs/screenshots/detail.py --out /tmp/shots

The sample portrait (resources/sample.png, 512 px) with two holes: the space shuttle model on the
backdrop (background) and a patch of the suit below the collar (the person); once at the photo's
size and once enlarged 3x with sensor-like grain added (1536 px, where the networks work at about
a third of the photo's resolution). Each row: the hole, the pipeline without the detail stage,
with it, and the photo; 100% crops, no scaling. Runs the shipped weights on the CPU in a minute.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CROP = 224
HOLES = {"shuttle": (20, 350, 280, 470), "suit": (300, 40, 380, 130)}
"""Hole boxes (y0, x0, y1, x1) on the 512 px sample."""


def label(panel: np.ndarray, text: str) -> np.ndarray:
    """``panel`` with ``text`` in a dark strip along its top."""
    out = panel.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 18), (20, 20, 20), -1)
    cv2.putText(out, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (235, 235, 235), 1, cv2.LINE_AA)
    return out


def setup(description: str):
    """The figure scripts' command line (``--out``, ``--weights``), the shipped weights on the
    CPU and the sample portrait: ``(args, completer, sample)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "docs")
    parser.add_argument("--weights", type=Path, default=ROOT / "resources" / "weights")
    args = parser.parse_args()

    import torch

    from portrait_editor.imageio import load_image
    from portrait_editor.pipeline import Completer, load_bundle

    torch.set_num_threads(2)
    completer = Completer(load_bundle(args.weights), "cpu")
    return args, completer, load_image(ROOT / "resources" / "sample.png").pixels


def crop_row(title: str, photo: np.ndarray, hole: np.ndarray, crop: tuple[slice, slice],
             results: dict[str, np.ndarray]) -> np.ndarray:
    """One row of a figure: the hole (magenta), each result and the photo, cropped to ``crop``."""
    shown = photo.copy()
    shown[hole] = (255, 0, 255)
    panels = [label(shown[crop], f"{title}: hole")] + [label(r[crop], t) for t, r in results.items()]
    return np.concatenate(panels + [label(photo[crop], "photo")], axis=1)


def write_sheet(rows: list[np.ndarray], out: Path, name: str) -> None:
    """The rows one under the other (narrower ones padded) as ``out / name``."""
    width = max(row.shape[1] for row in rows)
    sheet = np.concatenate([np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0))) for row in rows], axis=0)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {path} ({sheet.shape[1]}x{sheet.shape[0]})")


def main() -> None:
    from portrait_editor.pipeline import CompletionRequest

    args, completer, sample = setup(__doc__.splitlines()[0])
    rows = []
    for factor in (1, 3):
        photo = sample
        if factor > 1:
            h, w = sample.shape[:2]
            photo = cv2.resize(sample, (w * factor, h * factor), interpolation=cv2.INTER_CUBIC)
            grain = np.random.default_rng(0).normal(0, 4, photo.shape[:2] + (1,))
            photo = np.clip(photo + grain, 0, 255).astype(np.uint8)
        for name, (y0, x0, y1, x1) in HOLES.items():
            hole = np.zeros(photo.shape[:2], bool)
            hole[y0 * factor:y1 * factor, x0 * factor:x1 * factor] = True
            results = [completer.run(CompletionRequest(image=photo, mask=hole, use_detail=use)).image
                       for use in (False, True)]
            cy, cx = y0 * factor, (x0 + x1) * factor // 2  # the middle of the hole's top edge
            top = int(np.clip(cy - CROP // 3, 0, photo.shape[0] - CROP))
            left = int(np.clip(cx - CROP // 2, 0, photo.shape[1] - CROP))
            crop = (slice(top, top + CROP), slice(left, left + CROP))
            rows.append(crop_row(f"{name}, {photo.shape[1]} px", photo, hole, crop,
                                 {"without detail": results[0], "with detail": results[1]}))
    write_sheet(rows, args.out, "detail-before-after.png")


if __name__ == "__main__":
    main()
