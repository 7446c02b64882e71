"""Per-stage and end-to-end latency and peak memory of the pipeline, with OpenCV Telea as reference.

Run by hand: ``python benchmarks/latency.py [--configs lite,paper] [--device cpu] [--repeat 3]``.
Each (config, case) runs in its own process so that its peak memory is its own. Weights are
random (time and memory do not depend on their values); the face network is timed on its own
crop because random parsing rarely puts a face inside the hole.

Cases:
- ``12MP``: a 256x256 hole in a 4000x3000 photo (the crop with context is scaled to <= 512 px);
- ``512``: a 512x512 photo whose working crop is the whole 512x512 image;
- ``12MP-extend``: a 3000x4000 portrait photo extended by 800 px at the bottom (cut-off feet),
  filled by the extrapolation network (no face network: no hole inside the photo).

The ``detail`` column is the full-resolution detail stage (``pipeline/detail.py``; on by default
as in the app, 0 with ``--no-detail``); its cost does not depend on the weights. The photo is
smooth noise with fine grain added, so that stage has texture to copy and noise to match.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

# case -> ((photo height, width), hole box (y0, x0, y1, x1) or None, pixels added at the bottom)
CASES = {"12MP": ((3000, 4000), (1372, 1872, 1628, 2128), 0), "512": ((512, 512), (128, 128, 384, 384), 0),
         "12MP-extend": ((4000, 3000), None, 800)}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(config: str, case: str, device: str, repeat: int, precision: str = "auto", detail: bool = False) -> dict:
    import cv2
    import numpy as np
    import torch

    from portrait_editor.labels import LIP_NECK
    from portrait_editor.models import build_model
    from portrait_editor.pipeline import Completer, CompletionRequest, Margins, ModelBundle, pick_device

    dev = pick_device(device)
    (h, w), box, bottom = CASES[case]
    rng = np.random.default_rng(0)
    image = cv2.resize(rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8), (w, h))
    image = cv2.add(image, rng.integers(0, 12, (h, w, 3), dtype=np.uint8))  # grain for the detail stage
    mask = np.zeros((h, w), bool)
    if box is not None:
        y0, x0, y1, x1 = box
        mask[y0:y1, x0:x1] = True
    torch.manual_seed(0)
    nets = {kind: build_model(kind, preset=config).eval() for kind in ("parsing", "completion", "face")}
    extrapolation = build_model("completion", preset=config).eval()
    # The training sizes of the shipped weights decide the working scales (random weights would
    # otherwise get the default 256 x 192).
    shipped = Path(__file__).resolve().parents[1] / "resources" / "weights"
    metadata = {role: json.loads((shipped / f"{role}.json").read_text())
                for role in ("parsing", "completion", "extrapolation", "face") if (shipped / f"{role}.json").is_file()}
    bundle = ModelBundle(parsing=nets["parsing"], completion=nets["completion"], extrapolation=extrapolation,
                         face=nets["face"], label_set=LIP_NECK, folder=Path("."), metadata=metadata)
    completer = Completer(bundle, dev, precision=precision)
    base_rss = _peak_rss_mb()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    request = CompletionRequest(image=image, mask=mask, margins=Margins(bottom=bottom), use_face=False,
                                use_detail=detail)
    completer.run(request)  # warm-up
    runs = [completer.run(request).timings for _ in range(repeat)]
    timings = {k: min(r[k] for r in runs) for k in runs[0]}
    # F on its own 64x64 crop.
    size = getattr(nets["face"].config, "crop_size", 64)
    x = torch.zeros(1, 3, size, size, device=dev)
    p = torch.zeros(1, size, size, dtype=torch.long, device=dev)
    m = torch.ones(1, 1, size, size, device=dev)
    with torch.inference_mode():
        nets["face"](x, p, m)
        t = time.perf_counter()
        for _ in range(repeat):
            nets["face"](x, p, m)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        timings["face"] = (time.perf_counter() - t) / repeat
    # F runs on a face inside a hole; a band beyond the border has none here.
    face = timings["face"] if box is not None else 0.0
    timings["total"] = timings["parsing"] + timings["completion"] + face + timings["detail"] + timings["blending"]
    peak = (torch.cuda.max_memory_allocated() / 2**20) if dev.type == "cuda" else _peak_rss_mb()
    result = completer.run(request)
    region = result.regions[0]
    # Telea on the same canvas and hole, as the classical reference.
    canvas = np.pad(image, ((0, bottom), (0, 0), (0, 0)), mode="edge")
    t = time.perf_counter()
    cv2.inpaint(canvas, result.mask.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)
    telea = time.perf_counter() - t
    params = {k: sum(p.numel() for p in n.parameters()) / 1e6 for k, n in nets.items()}
    return {"config": config, "case": case, "device": str(dev), "timings": timings, "telea": telea,
            "peak_mb": peak, "base_mb": base_rss, "work_size": list(region.work_size), "params_m": params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="lite,paper")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32"))
    parser.add_argument("--detail", action=argparse.BooleanOptionalAction, default=True,
                        help="run the detail stage (on by default, as in the app; --no-detail: without it)")
    parser.add_argument("--one", nargs=2, metavar=("CONFIG", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one, args.device, args.repeat, args.precision, args.detail)))
        return
    rows = []
    for config in args.configs.split(","):
        for case in args.cases.split(","):
            proc = subprocess.run([sys.executable, __file__, "--one", config, case, "--device", args.device,
                                   "--repeat", str(args.repeat), "--precision", args.precision,
                                   "--detail" if args.detail else "--no-detail"], capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{config}/{case} failed:\n{proc.stderr}", file=sys.stderr)
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    import torch

    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"precision {args.precision}, best of {args.repeat} runs after a warm-up; times in ms\n")
    print("| config | case | work crop | P (M params) | G | F | parsing | completion | face (F, 64x64) "
          "| detail | blending | end to end | peak memory | Telea (same photo) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        t = r["timings"]
        p = r["params_m"]
        print(f"| {r['config']} | {r['case']} | {r['work_size'][1]}x{r['work_size'][0]} | {p['parsing']:.1f} "
              f"| {p['completion']:.1f} | {p['face']:.1f} | {t['parsing'] * 1e3:.0f} | {t['completion'] * 1e3:.0f} "
              f"| {t['face'] * 1e3:.0f} | {t['detail'] * 1e3:.0f} | {t['blending'] * 1e3:.0f} | {t['total'] * 1e3:.0f} "
              f"| {r['peak_mb']:.0f} MB | {r['telea'] * 1e3:.0f} |")


if __name__ == "__main__":
    main()
