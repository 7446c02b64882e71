"""Plot training logs: every value in each run's ``log.jsonl`` against the step.

    python -m training.plot runs/g-occlusion runs/g-extrapolation -o curves.png
    python -m training.plot runs/p-lite --keys p,val_miou_hole --smooth 10

One panel per value (losses and the ``val_*`` validation numbers), one line per run. Training
values are smoothed with a moving average over ``--smooth`` logged points; validation points are
drawn as they are. Needs matplotlib (``pip install -e ".[train]"``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

SKIP = {"step", "time", "sec_per_step"}


def read_log(run: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{key: (steps, values)}`` from ``run/log.jsonl`` (or a log file given directly); a torn
    last line (the run was killed while writing) is ignored."""
    path = run / "log.jsonl" if run.is_dir() else run
    if not path.is_file():
        raise FileNotFoundError(f"no training log at {path}")
    series: dict[str, list[tuple[int, float]]] = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        step = row.get("step")
        for key, value in row.items():
            if key in SKIP or not isinstance(value, (int, float)) or not isinstance(step, int):
                continue
            if math.isfinite(value):
                series.setdefault(key, []).append((step, float(value)))
    out = {}
    for key, points in series.items():
        points.sort()
        steps, values = zip(*points, strict=True)
        out[key] = (np.asarray(steps), np.asarray(values))
    return out


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` points (shorter at the start), same length as ``values``."""
    if window <= 1 or len(values) == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - window)
    return (cumulative[idx] - cumulative[lo]) / (idx - lo)


def plot(runs: list[Path], out: Path, keys: list[str] | None = None, smooth: int = 5) -> list[str]:
    """Write the figure to ``out`` and return the keys plotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logs = {run: read_log(run) for run in runs}
    found = sorted({k for log in logs.values() for k in log}, key=lambda k: (k.startswith("val_"), k))
    if keys:
        missing = [k for k in keys if k not in found]
        if missing:
            raise ValueError(f"no {', '.join(missing)} in the logs; they hold {', '.join(found)}")
        found = keys
    if not found:
        raise ValueError("the logs hold no values to plot")
    cols = min(3, len(found))
    rows = -(-len(found) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, key in zip(axes.flat, found, strict=False):
        for run, log in logs.items():
            if key not in log:
                continue
            steps, values = log[key]
            label = run.name if run.is_dir() else run.parent.name
            if key.startswith("val_"):
                ax.plot(steps, values, marker="o", markersize=3, label=label)
            else:
                ax.plot(steps, moving_average(values, smooth), label=label)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(found):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize="small")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.plot", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (or log.jsonl files)")
    parser.add_argument("-o", "--out", type=Path, default=Path("training-curves.png"))
    parser.add_argument("--keys", default="", help="comma list of values to plot (default: all)")
    parser.add_argument("--smooth", type=int, default=5, help="moving average over this many logged points")
    args = parser.parse_args(argv)
    try:
        keys = plot(args.runs, args.out, [k for k in args.keys.split(",") if k] or None, args.smooth)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({', '.join(keys)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
