"""Copy a run's inference weights (no optimiser state) into the packaged ``resources/weights``.

    python -m training.export runs/g-occlusion/best --note "128x96, 3k steps"
    python -m training.export runs/p-lite/best runs/g-occlusion/best --dest resources/weights

Each source folder holds ``ROLE.safetensors`` + ``ROLE.json`` written by a training script; the
tensors are re-saved in float16 and the metadata gains an ``export`` entry (date, source, note).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from portrait_editor.paths import resources_dir
from portrait_editor.pipeline.weights import ROLES, load_network, save_weights


def export_folder(source: Path, dest: Path, note: str = "") -> list[str]:
    roles = [role for role in ROLES if (source / f"{role}.safetensors").is_file()]
    if not roles:
        raise SystemExit(f"no weights (*.safetensors + *.json) in {source}")
    for role in roles:
        net, info = load_network(source, role)
        meta = {k: v for k, v in info.items() if k not in ("config", "kind", "role", "dtype", "format")}
        meta["export"] = {"date": dt.date.today().isoformat(), "source": str(source), "note": note}
        save_weights(net, role, dest, metadata=meta, half=True)
        print(f"{role}: {source} -> {dest / (role + '.safetensors')}")
    return roles


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path, help="folders with exported weights (a run's best/)")
    parser.add_argument("--dest", type=Path, default=None, help="default: the packaged resources/weights")
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)
    dest = args.dest or resources_dir() / "weights"
    for source in args.sources:
        export_folder(source, dest, args.note)


if __name__ == "__main__":
    main()
