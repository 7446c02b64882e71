"""How much of P's parsing should G trust? A table per threshold, on the evaluation's cases.

Run by hand: ``python benchmarks/label_gates.py --weights resources/weights [--limit 40]``.

- Extrapolation (CCP bands): P's labels beyond the photo's border below each softmax probability
  are left UNKNOWN (``Completer.border_min_confidence``; ``inf``: none of them is used). L1 and
  BPE over all bands and split by side, with Telea's for reference.
- Occlusion (VITON holes): the same gate applied inside the hole (the pipeline does not: this
  is the measurement behind that choice).

Every value is the pipeline's result scored as ``training/evaluate.py`` scores it.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training import evaluate as E  # noqa: E402
from training import metrics  # noqa: E402

BORDER_GATES = (0.0, 0.9, 0.97, 0.995, math.inf)
HOLE_GATES = (0.0, 0.5, 0.8, 0.95)


def _scores(pred: np.ndarray, case: E.Case) -> tuple[float, float]:
    return metrics.l1_in_hole(pred, case.target, case.hole), metrics.bpe(pred, case.target, case.hole, band=E.BPE_BAND)


def border_table(completer, cases: list[E.Case]) -> list[str]:
    side = ["bottom" if c.margins.bottom else "top" for c in cases]
    rows = ["| beyond the border, P's labels used above | L1 | BPE | L1 bottom | L1 top |", "|---|---:|---:|---:|---:|"]
    telea = [_scores(E.classical_inpaint(c.canvas, c.hole, E.TELEA), c) for c in cases]
    saved = completer.border_min_confidence
    try:
        for gate in BORDER_GATES:
            completer.border_min_confidence = gate
            scores = [_scores(completer.run(E._request(c)).image, c) for c in cases]
            rows.append(_row(f"{gate:g}" if math.isfinite(gate) else "never", scores, side))
    finally:
        completer.border_min_confidence = saved
    rows.append(_row("(Telea)", telea, side))
    return rows


def _row(name: str, scores: list[tuple[float, float]], side: list[str]) -> str:
    a = np.array(scores)
    by = {s: a[[i for i, x in enumerate(side) if x == s], 0].mean() if s in side else float("nan")
          for s in ("bottom", "top")}
    return f"| {name} | {a[:, 0].mean():.2f} | {a[:, 1].mean():.2f} | {by['bottom']:.2f} | {by['top']:.2f} |"


def hole_table(completer, cases: list[E.Case]) -> list[str]:
    from portrait_editor.pipeline import complete

    rows = ["| inside the hole, P's labels used above | L1 | BPE |", "|---|---:|---:|"]
    original = complete._ParseView.sample
    for gate in HOLE_GATES:
        def gated(self, region, hole=None, min_confidence=0.0, _gate=gate):
            return original(self, region, hole, max(min_confidence, _gate))

        complete._ParseView.sample = gated
        try:
            a = np.array([_scores(completer.run(E._request(c)).image, c) for c in cases])
        finally:
            complete._ParseView.sample = original
        rows.append(f"| {gate:g} | {a[:, 0].mean():.2f} | {a[:, 1].mean():.2f} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--data-root", default=E.DATA_ROOT)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    _, completer = E._bundle_and_completer(args.weights, "cpu")
    print("\n".join(border_table(completer, E.extrapolation_cases(args.data_root, args.limit))))
    print()
    print("\n".join(hole_table(completer, E.occlusion_cases(args.data_root, args.limit))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
