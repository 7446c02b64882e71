"""How well the body prior below the photo places legs and shoes (``pipeline/structure.py``).

Run by hand: ``python benchmarks/body_prior.py [--weights resources/weights] [--limit 40]
[--gates 0,0.9,inf]``. Stage I runs on the CCP validation photos whose bottom 20% was cut
(``training.evaluate``'s extrapolation cases), keeping P's labels below the photo from each
``--gates`` softmax probability up (``Completer.border_min_confidence``; ``inf``: none, the
default of a P trained on whole photos); the prior then fills the unknown labels below the
photo, where the feet go by the proportions alone, by the grown canvas alone, or by both (the
default), and the band's labels are scored against the hand labels
(``training.evaluate.band_structure``).
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="resources/weights")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--gates", default="", help="comma list of P's confidence gates below the photo "
                        "(default: the pipeline's for these weights)")
    args = parser.parse_args()

    import torch

    from portrait_editor.pipeline import Completer, load_bundle
    from training.configs import DATA_ROOT
    from training.evaluate import _request, band_structure, extrapolation_cases

    torch.set_num_threads(2)
    bundle = load_bundle(args.weights)
    completer = Completer(bundle, "cpu", precision="fp32")
    completer.body_prior = False
    cases = [c for c in extrapolation_cases(DATA_ROOT, args.limit) if c.margins.bottom > 0]
    gates = [float(g) for g in args.gates.split(",")] if args.gates else [completer.border_min_confidence]
    print(f"{len(cases)} CCP validation bands (bottom 20%), P's parsing of {args.weights}\n")
    print("| P's labels below the photo kept from | feet placed by | shoe IoU | leg+shoe mIoU | bands with shoes drawn |")
    print("|---|---|---:|---:|---:|")
    for gate in gates:
        completer.border_min_confidence = gate
        maps = [_stage_one(completer, _request(case)) for case in cases]
        _table(f"{gate:g}" if np.isfinite(gate) else "never", maps, cases, bundle.label_set, band_structure)


def _stage_one(completer, request) -> np.ndarray:
    from portrait_editor.pipeline import Cancelled

    got: list[np.ndarray] = []

    def stop(parsing: np.ndarray) -> None:
        got.append(parsing)
        raise Cancelled()

    try:
        completer.run(request, on_parsing=stop)
    except Cancelled:
        pass
    return got[0]


def _table(gate: str, maps, cases, label_set, band_structure) -> None:
    from portrait_editor.pipeline import structure as S

    defaults = (S.CANVAS_GAP, S.REACH_HEADS)
    variants = {"proportions only": (0.0, 0.0), "canvas only": (S.CANVAS_GAP, 1e9),
                "both (default)": defaults, "labels left to G (no prior)": None}
    for name, setting in variants.items():
        scores = []
        for parsing, case in zip(maps, cases, strict=True):
            bottom = case.hole.shape[0] - case.margins.bottom
            if setting is not None:
                S.CANVAS_GAP, S.REACH_HEADS = setting
                if name == "proportions only":  # the canvas ignored: no clamp towards it
                    S.REACH_HEADS = 0.0
                parsing = S.extend_below(parsing, bottom, label_set)
            scores.append(band_structure(parsing, case.parsing, case.hole, label_set))
        S.CANVAS_GAP, S.REACH_HEADS = defaults
        shoe = np.mean([s["shoe IoU"] for s in scores if s["shoe IoU"] is not None])
        legs = np.mean([s["leg+shoe mIoU"] for s in scores if s["leg+shoe mIoU"] is not None])
        found = sum(bool(s["shoes found"]) for s in scores if s["shoes found"] is not None)
        total = sum(s["shoes found"] is not None for s in scores)
        print(f"| {gate} | {name} | {shoe:.3f} | {legs:.3f} | {found} of {total} |", flush=True)

if __name__ == "__main__":
    main()
