"""What every training script shares: run folders, resolved configs, checkpoints that resume,
a plain JSONL log, a progress line, bf16/channels_last on capable CPUs, and torchrun/DDP.

A run folder holds ``config.json`` (the resolved config), ``log.jsonl`` (one line per logged
step), ``last.pt`` (model + optimiser + RNG state, written atomically every ``checkpoint_every``
steps and on Ctrl-C / SIGTERM) and ``best/`` or exported weights. Checkpoints are our own files,
yet they are read with ``torch.load(weights_only=True)`` all the same.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from portrait_editor.pipeline.weights import cpu_supports_bf16


# -- distributed --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Dist:
    """Join the torchrun group when launched by torchrun (gloo on CPU, nccl on CUDA)."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return Dist()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def wrap_ddp(model: nn.Module, ctx: Dist, device: torch.device) -> nn.Module:
    if ctx.world == 1:
        return model
    ids = [device.index if device.index is not None else ctx.local_rank] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def pick_training_device(name: str, ctx: Dist | None = None) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device(name)


# -- speed ---------------------------------------------------------------------------------------
def autocast(device: torch.device, precision: str):
    """``precision``: "fp32", "bf16" or "auto" (bf16 on CPUs with native bf16, fp16 on CUDA)."""
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
    if device.type == "cpu" and (precision == "bf16" or cpu_supports_bf16()):
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


# -- run folder ------------------------------------------------------------------------------------
def save_json_atomic(path: Path, data: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def prepare_run(run_dir: Path, config: Any, ctx: Dist) -> None:
    """Create the run folder and write the resolved config; a resumed run must match it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if not ctx.main:
        return
    resolved = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    resolved = json.loads(json.dumps(resolved, default=str))  # tuples -> lists, as read back
    path = run_dir / "config.json"
    if path.exists():
        old = json.loads(path.read_text())
        added = _new_defaults(config, old)  # options added since the run began, left at their default
        changed = {k for k in set(old) | set(resolved) if old.get(k) != resolved.get(k) and k not in added
                   and k not in ("steps", "log_every", "checkpoint_every", "eval_every", "threads")}
        if changed:
            raise SystemExit(f"{path} differs from this run's config in {sorted(changed)}; use a new --run folder")
    save_json_atomic(path, resolved)


def _new_defaults(config: Any, old: dict[str, Any]) -> set[str]:
    """Keys of ``config`` missing from an older run's ``old`` config whose value is the default."""
    if not dataclasses.is_dataclass(config):
        return set()
    out = set()
    for f in dataclasses.fields(config):
        if f.name in old:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
        if getattr(config, f.name) == default:
            out.add(f.name)
    return out


class Checkpoint:
    """Atomic save/restore of modules, optimisers, step and RNG state in ``run_dir/last.pt``."""

    def __init__(self, run_dir: Path, ctx: Dist, **objects: Any) -> None:
        self.path = run_dir / "last.pt"
        self.ctx = ctx
        self.objects = objects

    def save(self, step: int, extra: dict[str, Any] | None = None) -> None:
        if not self.ctx.main:
            return
        state: dict[str, Any] = {"step": step, "extra": extra or {}}
        for name, obj in self.objects.items():
            state[name] = unwrap(obj).state_dict() if isinstance(obj, nn.Module) else obj.state_dict()
        state["torch_rng"] = torch.get_rng_state()
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".last.", suffix=".tmp")
        os.close(fd)
        try:
            torch.save(state, tmp)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def restore(self, device: torch.device) -> tuple[int, dict[str, Any]]:
        """Returns (step, extra); (0, {}) when there is nothing to resume."""
        if not self.path.exists():
            return 0, {}
        state = torch.load(self.path, map_location=device, weights_only=True)
        for name, obj in self.objects.items():
            target = unwrap(obj) if isinstance(obj, nn.Module) else obj
            target.load_state_dict(state[name])
        torch.set_rng_state(state["torch_rng"].cpu())
        return int(state["step"]), dict(state.get("extra", {}))


class Log:
    """Appends one JSON object per logged step to ``log.jsonl`` and prints a progress line."""

    def __init__(self, run_dir: Path, total_steps: int, ctx: Dist, start_step: int = 0) -> None:
        self.path = run_dir / "log.jsonl"
        self.total = total_steps
        self.ctx = ctx
        self.t0 = time.perf_counter()
        self.step0 = start_step
        self._sums: dict[str, float] = {}
        self._count = 0

    def add(self, step: int, terms: dict[str, Any], every: int) -> None:
        """Accumulate one step's loss terms (floats or 0-d tensors); every ``every`` steps and at
        the last step, write their means over the steps since the last write."""
        for k, v in terms.items():
            self._sums[k] = self._sums.get(k, 0.0) + float(v)
        self._count += 1
        if step % every == 0 or step == self.total:
            self.write(step, {k: v / self._count for k, v in self._sums.items()})
            self._sums, self._count = {}, 0

    def write(self, step: int, values: dict[str, float]) -> None:
        if not self.ctx.main:
            return
        elapsed = time.perf_counter() - self.t0
        rate = (step - self.step0) / elapsed if elapsed > 0 else 0.0
        record = {"step": step, "time": time.time(), "sec_per_step": 1 / rate if rate else None,
                  **{k: float(v) for k, v in values.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        eta = (self.total - step) / rate if rate else math.inf
        width = 24
        done = int(width * step / max(self.total, 1))
        terms = " ".join(f"{k}={v:.4g}" for k, v in values.items())
        eta_text = f"{eta / 60:.0f}m" if math.isfinite(eta) else "?"
        print(f"[{'#' * done}{'.' * (width - done)}] {step}/{self.total} {terms} ({1 / rate if rate else 0:.2f}s/step, "
              f"eta {eta_text})", file=sys.stderr, flush=True)


class StopFlag:
    """Set by SIGINT/SIGTERM so the loop can write a checkpoint before it exits."""

    def __init__(self) -> None:
        self.stop = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.stop:  # a second Ctrl-C exits at once
            raise KeyboardInterrupt
        self.stop = True


def infinite_batches(dataset, batch_size: int, seed: int, ctx: Dist, start_step: int,
                     num_workers: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Endless shuffled batches, sharded across ranks, deterministic in (seed, epoch).

    Resuming at ``start_step`` skips to the right epoch and position without loading the
    skipped samples, so a resumed run sees the same stream as an uninterrupted one.
    """
    n = len(dataset)
    per_rank = n // ctx.world
    steps_per_epoch = max(per_rank // batch_size, 1)
    epoch, offset = divmod(start_step, steps_per_epoch)
    while True:
        order = np.random.default_rng([seed, epoch]).permutation(n)[ctx.rank::ctx.world][:per_rank]
        indices = order[offset * batch_size: steps_per_epoch * batch_size]
        subset = torch.utils.data.Subset(dataset, indices.tolist())
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(subset, batch_size=batch_size, shuffle=False, drop_last=True,
                                             num_workers=num_workers, persistent_workers=False)
        yield from loader
        epoch, offset = epoch + 1, 0


def start_run(cfg: Any, run_dir: Path, device_name: str) -> tuple[Dist, torch.device]:
    """What every training script does first: join torchrun's group, pick the device, set the
    thread count and seed (per rank), and write the run folder's resolved config."""
    wants_cuda = device_name in ("cuda", "auto") and torch.cuda.is_available()
    ctx = init_distributed(torch.device("cuda" if wants_cuda else "cpu"))
    device = pick_training_device(device_name, ctx)
    set_threads(cfg.threads)
    torch.manual_seed(cfg.seed + ctx.rank)
    prepare_run(run_dir, cfg, ctx)
    return ctx, device


def set_threads(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)


def script_main(doc: str, presets: dict[str, Any], make_config: Any, train: Any, argv: list[str] | None = None) -> None:
    """The command line every training script shares: ``--config``, ``--run-dir``, ``--device``, ``--set``."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--config", default="cpu-lite", help=f"one of {', '.join(presets)}")
    parser.add_argument("--run-dir", type=Path, required=True, help="run folder (resumes when it has last.pt)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config fields")
    args = parser.parse_args(argv)
    cfg = make_config(args.config, args.set)
    t = time.perf_counter()
    train(cfg, args.run_dir, args.device)
    print(f"done in {(time.perf_counter() - t) / 60:.1f} min: {args.run_dir}")
