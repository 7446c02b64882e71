"""Copy a run's inference weights (no optimiser state) into the packaged ``resources/weights``.

    python -m training.export runs/g-occlusion/best --note "128x96, 3k steps"
    python -m training.export runs/p-lite/best runs/g-occlusion/best --dest resources/weights
    python -m training.export resources/weights --only extrapolation --as extrapolation_body --dest W
    python -m training.export runs/g-margins --checkpoint --dest W    # G (or F) at its last.pt's step

Each source folder holds ``ROLE.safetensors`` + ``ROLE.json`` written by a training script; the
tensors are re-saved in float16 and the metadata gains an ``export`` entry (date, source, note).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from pathlib import Path

from portrait_editor.paths import resources_dir
from portrait_editor.pipeline.weights import ROLES, load_network, save_weights


def export_folder(source: Path, dest: Path, note: str = "", only: str | None = None,
                  as_role: str | None = None, recorded_source: Path | None = None) -> list[str]:
    """Export every role in ``source`` (or ``only`` that one, saved as ``as_role`` if given); the
    metadata names ``recorded_source`` (default ``source``) as where the weights came from."""
    roles = [role for role in ROLES if (source / f"{role}.safetensors").is_file() and only in (None, role)]
    if not roles:
        raise SystemExit(f"no weights (*.safetensors + *.json{'' if only is None else ' for ' + only}) in {source}")
    if as_role is not None and (only is None or ROLES.get(as_role) != ROLES[only]):
        raise SystemExit(f"--as needs --only, and a role of the same kind: {as_role!r} for {only!r}")
    for role in roles:
        net, info = load_network(source, role)
        meta = {k: v for k, v in info.items() if k not in ("config", "kind", "role", "dtype", "format")}
        meta["export"] = {"date": dt.date.today().isoformat(), "source": str(recorded_source or source),
                          "note": note}
        out = as_role or role
        save_weights(net, out, dest, metadata=meta, half=True)
        print(f"{role}: {source} -> {dest / (out + '.safetensors')}")
    return roles


def _checkpoint_exporter(run_dir: Path):
    """The ``export_checkpoint`` of the script that wrote ``run_dir``: an F run (train_face)
    names the frozen G it trains beside (``g_from``), a G run does not."""
    from . import train_completion, train_face

    return train_face.export_checkpoint if "g_from" in json.loads((run_dir / "config.json").read_text()) \
        else train_completion.export_checkpoint


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path, help="folders with exported weights (a run's best/)")
    parser.add_argument("--dest", type=Path, default=None, help="default: the packaged resources/weights")
    parser.add_argument("--note", default="")
    parser.add_argument("--only", choices=list(ROLES), default=None, help="export this role alone")
    parser.add_argument("--as", dest="as_role", choices=list(ROLES), default=None,
                        help="save the --only role under this role (e.g. extrapolation as extrapolation_body)")
    parser.add_argument("--checkpoint", action="store_true",
                        help="sources are G or F runs: export the step in their last.pt")
    args = parser.parse_args(argv)
    dest = args.dest or resources_dir() / "weights"
    if args.checkpoint:
        for source in args.sources:
            if not (source / "last.pt").is_file():
                raise SystemExit(f"no last.pt in {source}")
            with tempfile.TemporaryDirectory() as tmp:
                step = _checkpoint_exporter(source)(source, Path(tmp))
                export_folder(Path(tmp), dest, args.note or f"step {step}", args.only, args.as_role, source)
        return
    for source in args.sources:
        export_folder(source, dest, args.note, args.only, args.as_role)


if __name__ == "__main__":
    main()
