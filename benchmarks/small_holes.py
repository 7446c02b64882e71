"""Small holes in larger photos: the detail stage's texture where the networks fill at scale 1.

Run by hand: ``python benchmarks/small_holes.py [--weights resources/weights] [--limit 4]``.
The detail task's photos (``training.evaluate.detail_cases``: portraits, scenes and close-ups
at their own resolution, 512-1024 px) each get two square holes of 48-96 px (seeded), small
enough that the networks fill them at the photo's own resolution (scale 1). The pipeline runs
with the shipped ``detail.SMALL_PHOTO_SIDE`` (PatchMatch's texture in every photo larger than
that) and with it out of reach (scale-1 fills get the grain only, as before session 17); L1 and
BPE in the hole, LPIPS in the window around it and the detail ratio against the ground truth's,
as in ``--task detail``. Needs the photos from the wild (``$PORTRAIT_EDITOR_SOURCES``).
"""

from __future__ import annotations

import argparse
import math

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="resources/weights")
    parser.add_argument("--limit", type=int, default=4, help="photos per group of the detail task")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()

    import torch

    from portrait_editor.pipeline import CompletionRequest, detail
    from training import evaluate as ev
    from training import metrics

    if args.threads:
        torch.set_num_threads(args.threads)
    cases = [case for case in ev.detail_cases(None, args.limit) if case.mask is not None]
    if not cases:
        raise SystemExit("no photos from the wild: set PORTRAIT_EDITOR_SOURCES")
    _, completer = ev._bundle_and_completer(args.weights, "cpu")
    lpips = metrics.LPIPSMetric(device="cpu")
    shipped = detail.SMALL_PHOTO_SIDE
    rows: dict[str, list[tuple[float, float, float, float]]] = {"shipped": [], "grain only at scale 1": []}
    for index, case in enumerate(cases):
        photo = case.target
        h, w = photo.shape[:2]
        rng = np.random.default_rng(100 + index)
        for _ in range(2):
            side = int(rng.integers(48, 97))
            y, x = int(rng.integers(side, h - 2 * side)), int(rng.integers(side, w - 2 * side))
            hole = np.zeros((h, w), bool)
            hole[y:y + side, x:x + side] = True
            for name, limit in (("shipped", shipped), ("grain only at scale 1", 10**9)):
                detail.SMALL_PHOTO_SIDE = limit
                try:
                    result = completer.run(CompletionRequest(image=photo, mask=hole))
                finally:
                    detail.SMALL_PHOTO_SIDE = shipped
                out, window = result.image, ev.detail_window(hole)
                ratio = ev.detail_ratio(out, hole) / max(ev.detail_ratio(photo, hole), 1e-6)
                rows[name].append((metrics.l1_in_hole(out, photo, hole), metrics.bpe(out, photo, hole),
                                   lpips(out[window], photo[window]), math.log(max(ratio, 1e-6))))
        print(f"{index + 1}/{len(cases)} {case.name}", flush=True)
    print(f"\n{len(rows['shipped'])} holes in {len(cases)} photos, SMALL_PHOTO_SIDE = {shipped}\n")
    print("| detail at scale 1 | L1 hole | BPE | LPIPS window | detail / GT |")
    print("|---|---:|---:|---:|---:|")
    for name, values in rows.items():
        a = np.array(values)
        print(f"| {name} | {a[:, 0].mean():.2f} | {a[:, 1].mean():.2f} | {a[:, 2].mean():.4f} | "
              f"{math.exp(a[:, 3].mean()):.3f} |")


if __name__ == "__main__":
    main()
