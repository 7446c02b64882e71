"""Before/after 100% crops of the mirrored face (face-mirror.png).

    python docs/screenshots/mirror.py                  # into runs/docs/ (not kept in the repository)
    python docs/screenshots/mirror.py --out /tmp/shots

The sample portrait (resources/sample.png, 512 px) with a hole over one eye and one over the
mouth, at the photo's size and enlarged 3x. Each row: the hole, the pipeline without the
mirrored face (``--no-mirror-face``), with it, and the photo; crops of the face at 100%. The
eye comes back from the other one; the mouth, which the hole covers on both sides of the face's
line of symmetry, is left to the networks either way. Runs the shipped weights on the CPU.
"""

from __future__ import annotations

import cv2
import numpy as np
from detail import crop_row, setup, write_sheet  # the figure helpers beside this script

CROP = 120
"""Half the crop's side on the 512 px sample (times the enlargement)."""
HOLES = {"eye": (90, 183, 122, 220), "mouth": (125, 195, 160, 250)}
"""Hole boxes (y0, x0, y1, x1) on the 512 px sample."""


def main() -> None:
    from portrait_editor.pipeline import CompletionRequest

    args, completer, sample = setup(__doc__.splitlines()[0])
    rows = []
    for factor in (1, 3):
        photo = sample if factor == 1 else cv2.resize(sample, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        for name, (y0, x0, y1, x1) in HOLES.items():
            hole = np.zeros(photo.shape[:2], bool)
            hole[y0 * factor:y1 * factor, x0 * factor:x1 * factor] = True
            results = [completer.run(CompletionRequest(image=photo, mask=hole, mirror_face=mirror)).image
                       for mirror in (False, True)]
            cy, cx, r = (y0 + y1) // 2 * factor, (x0 + x1) // 2 * factor, CROP // 2 * factor
            top = int(np.clip(cy - r, 0, photo.shape[0] - 2 * r))
            left = int(np.clip(cx - r, 0, photo.shape[1] - 2 * r))
            crop = (slice(top, top + 2 * r), slice(left, left + 2 * r))
            rows.append(crop_row(f"{name}, {photo.shape[1]} px", photo, hole, crop,
                                 {"without the mirror": results[0], "with it": results[1]}))
    write_sheet(rows, args.out, "face-mirror.png")


if __name__ == "__main__":
    main()
