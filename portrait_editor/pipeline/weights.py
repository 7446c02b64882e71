"""Weights files: one ``ROLE.safetensors`` plus ``ROLE.json`` metadata per network.

The metadata holds everything needed to rebuild the network (its kind and resolved config), the
label set, where the weights came from (data, steps, date) and their validation metrics. Tensors
are read with ``safetensors`` only: nothing is ever unpickled.

Lookup order for the weights folder: an explicit path, then ``$PORTRAIT_EDITOR_WEIGHTS``, then the
user's config folder, then the packaged ``resources/weights``. A folder counts when it holds the
completion weights; an explicit path or the environment variable is never silently skipped.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..labels import LabelSet, get_label_set
from ..models import build_model_from_config
from ..models.config import config_to_dict
from ..paths import resources_dir, user_config_dir

ENV_VAR = "PORTRAIT_EDITOR_WEIGHTS"
FORMAT_VERSION = 1

# role -> network kind. "extrapolation" is G trained on border bands; "extrapolation_body", when
# present, is the one for bands that continue a body's legs and feet (trained on full-length
# photos), the other taking every other band (portraits, scenes): Completer picks per region.
ROLES: dict[str, str] = {
    "parsing": "parsing",
    "completion": "completion",
    "extrapolation": "completion",
    "extrapolation_body": "completion",
    "face": "face",
}
REQUIRED_ROLES = ("parsing", "completion")

# The colour a hole is filled with before the networks see it (the paper: the dataset mean).
DEFAULT_HOLE_FILL = (0.5, 0.5, 0.5)
# The training size assumed for weights whose metadata does not say (the paper's scale).
DEFAULT_TRAIN_SIZE = (256, 192)


class WeightsError(RuntimeError):
    """Missing, unreadable or mismatched weights; the message says what was looked for where."""


@dataclass
class ModelBundle:
    """The loaded networks, in eval mode, on one device."""

    parsing: nn.Module
    completion: nn.Module
    extrapolation: nn.Module | None
    face: nn.Module | None
    label_set: LabelSet
    folder: Path
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    hole_fill: tuple[float, float, float] = DEFAULT_HOLE_FILL
    extrapolation_body: nn.Module | None = None

    def trained_size(self, role: str) -> tuple[int, int]:
        """(H, W) of the photos the ``role`` network was trained on (see :func:`trained_size`)."""
        return trained_size(self.metadata.get(role, {}))

    def trained_framing(self, role: str) -> str:
        """"fit" or "crop" (see :func:`trained_framing`)."""
        return trained_framing(self.metadata.get(role, {}))

    def to(self, device: torch.device | str) -> ModelBundle:
        for net in self.networks():
            net.to(device)
        return self

    def networks(self) -> list[nn.Module]:
        return [net for net in (self.parsing, self.completion, self.extrapolation, self.extrapolation_body,
                                self.face) if net is not None]


def training_config(info: dict[str, Any]) -> dict[str, Any]:
    """The resolved training config recorded in a network's metadata (empty when absent)."""
    training = info.get("training") if isinstance(info.get("training"), dict) else {}
    return training.get("resolved") if isinstance(training.get("resolved"), dict) else {}


def trained_framing(info: dict[str, Any]) -> str:
    """How the network's training photos were framed: "fit" (the whole person fills the frame,
    so the pipeline must show it people at that size) or "crop" (crops at random zoom, so any
    crop around a hole will do). Weights that do not say are "fit"."""
    framing = training_config(info).get("framing", "fit")
    return framing if framing in ("fit", "crop") else "fit"


def trained_size(info: dict[str, Any]) -> tuple[int, int]:
    """(H, W) of the training photos recorded in a network's metadata (``train_size`` or the
    training run's resolved ``size``); ``DEFAULT_TRAIN_SIZE`` when not recorded."""
    size = info.get("train_size") or training_config(info).get("size")
    try:
        h, w = (int(v) for v in size)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return DEFAULT_TRAIN_SIZE
    return (h, w) if h > 0 and w > 0 else DEFAULT_TRAIN_SIZE


def search_folders(explicit: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The folders to look in, in order, each with a description for error messages."""
    folders: list[tuple[str, Path]] = []
    if explicit is not None:
        folders.append(("--weights", Path(explicit)))
    env = os.environ.get(ENV_VAR)
    if env:
        folders.append((f"${ENV_VAR}", Path(env)))
    folders.append(("user config", user_config_dir() / "weights"))
    try:
        folders.append(("packaged", resources_dir() / "weights"))
    except FileNotFoundError:
        pass
    return folders


def find_weights_folder(explicit: str | os.PathLike | None = None) -> Path:
    """The first folder holding completion weights; an explicit path or $ENV must hold them."""
    looked: list[str] = []
    for source, folder in search_folders(explicit):
        if (folder / "completion.safetensors").is_file():
            return folder
        looked.append(f"{folder} ({source})")
        if source in ("--weights", f"${ENV_VAR}"):
            break
    raise WeightsError(
        "no weights found: looked for completion.safetensors and parsing.safetensors in "
        + "; ".join(looked)
    )


def save_weights(
    model: nn.Module,
    role: str,
    folder: str | os.PathLike,
    *,
    metadata: dict[str, Any] | None = None,
    half: bool = True,
) -> Path:
    """Write ``ROLE.safetensors`` + ``ROLE.json`` atomically. ``half`` stores floats as fp16."""
    from safetensors.torch import save_file

    if role not in ROLES:
        raise ValueError(f"unknown weights role {role!r}; known: {', '.join(ROLES)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        if half and tensor.is_floating_point():
            tensor = tensor.half()
        state[name] = tensor
    info = {
        "format": FORMAT_VERSION,
        "role": role,
        "kind": ROLES[role],
        "config": config_to_dict(model.config),
        "label_set": getattr(model.config, "label_set", "lip+neck"),
        "dtype": "float16" if half else "float32",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "hole_fill": list(DEFAULT_HOLE_FILL),
    }
    info.update(metadata or {})
    tensors_path = folder / f"{role}.safetensors"
    meta_path = folder / f"{role}.json"
    _atomic_write(tensors_path, lambda p: save_file(state, str(p)))
    _atomic_write(meta_path, lambda p: p.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n"))
    return tensors_path


def read_metadata(folder: Path, role: str) -> dict[str, Any]:
    meta_path = folder / f"{role}.json"
    try:
        info = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise WeightsError(f"weights metadata {meta_path} is missing (it must sit beside {role}.safetensors)") from None
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read weights metadata {meta_path}: {exc}") from None
    if not isinstance(info, dict) or info.get("kind") != ROLES[role] or "config" not in info:
        raise WeightsError(f"weights metadata {meta_path} is not {ROLES[role]} metadata (kind/config missing)")
    return info


def load_network(folder: Path, role: str) -> tuple[nn.Module, dict[str, Any]]:
    """Build the network its metadata describes and load its tensors (never unpickles)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    info = read_metadata(folder, role)
    tensors_path = folder / f"{role}.safetensors"
    try:
        model = build_model_from_config(info["kind"], info["config"])
    except (ValueError, TypeError, KeyError) as exc:
        raise WeightsError(f"weights metadata {folder / (role + '.json')} has a bad config: {exc}") from None
    try:
        state = load_file(str(tensors_path))
    except (OSError, SafetensorError, ValueError) as exc:
        raise WeightsError(f"cannot read weights {tensors_path}: {exc}") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    bad_shape = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or bad_shape:
        detail = (missing[:1] and f"missing {missing[0]}") or (unexpected[:1] and f"unexpected {unexpected[0]}") or (
            f"shape of {bad_shape[0]} is {tuple(state[bad_shape[0]].shape)}, expected {tuple(expected[bad_shape[0]].shape)}"
        )
        raise WeightsError(f"weights {tensors_path} do not match the architecture in {role}.json ({detail})")
    state = {k: v.to(expected[k].dtype) for k, v in state.items()}
    model.load_state_dict(state)
    model.eval()
    return model, info


def load_bundle(explicit: str | os.PathLike | None = None, device: torch.device | str = "cpu") -> ModelBundle:
    """Find the weights folder and load every network in it (face and extrapolation are optional)."""
    folder = find_weights_folder(explicit)
    nets: dict[str, nn.Module | None] = {}
    meta: dict[str, dict[str, Any]] = {}
    for role in ROLES:
        if not (folder / f"{role}.safetensors").is_file():
            if role in REQUIRED_ROLES:
                raise WeightsError(f"weights folder {folder} has no {role}.safetensors (needed for stage "
                                   f"{'I' if role == 'parsing' else 'II'})")
            nets[role] = None
            continue
        nets[role], meta[role] = load_network(folder, role)
    label_names = {role: info.get("label_set", "lip+neck") for role, info in meta.items()}
    if len(set(label_names.values())) != 1:
        raise WeightsError(f"weights in {folder} disagree on the label set: {label_names}")
    try:
        label_set = get_label_set(label_names["completion"])
    except KeyError as exc:
        raise WeightsError(f"weights in {folder}: {exc.args[0]}") from None
    hole_fill = tuple(float(c) for c in meta["completion"].get("hole_fill", DEFAULT_HOLE_FILL))
    bundle = ModelBundle(
        parsing=nets["parsing"],
        completion=nets["completion"],
        extrapolation=nets["extrapolation"],
        extrapolation_body=nets["extrapolation_body"],
        face=nets["face"],
        label_set=label_set,
        folder=folder,
        metadata=meta,
        hole_fill=hole_fill,  # type: ignore[arg-type]
    )
    return bundle.to(device)


def pick_device(name: str = "auto") -> torch.device:
    """CUDA, then Apple MPS, then CPU for "auto"; a named device that is absent is an error."""
    name = name.lower()
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if has_mps:
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise WeightsError("device 'cuda' was asked for but no CUDA GPU is available")
    if name == "mps" and not has_mps:
        raise WeightsError("device 'mps' was asked for but Apple MPS is not available")
    if name not in ("cpu", "cuda", "mps"):
        raise WeightsError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return torch.device(name)


def cpu_supports_bf16() -> bool:
    """Whether this CPU runs bfloat16 natively (oneDNN), where bf16 autocast is ~2.5x faster."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; weights are ordinary files
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
