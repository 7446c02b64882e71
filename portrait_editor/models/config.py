"""Architecture configs for the three networks, with the ``paper``, ``lite`` and ``tiny`` presets.

Every architectural number lives here, so a weights file's metadata (``config_to_dict``) is enough
to rebuild its network. The dataclass defaults are the ``lite`` preset, the shipped default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..labels import get_label_set
from .blocks import NORMS

BACKBONES = ("resnet101", "mobilenet_v2", "tiny")
UPSAMPLES = ("deconv", "resize")
PARSING_INPUTS = ("onehot", "repeat3")


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_positive_tuple(name: str, values: Any, allow_empty: bool = False) -> None:
    if not isinstance(values, tuple) or (not values and not allow_empty):
        raise ValueError(f"{name} must be a {'' if allow_empty else 'non-empty '}tuple of positive integers, "
                         f"got {values!r}")
    for v in values:
        _check_positive(f"{name} entry", v)


@dataclass(frozen=True)
class ParsingConfig:
    """Stage-I parsing network P (JPPNet-style: shared backbone, parsing + pose + refinement)."""

    backbone: str = "mobilenet_v2"
    """"resnet101" (paper, as in JPPNet), "mobilenet_v2" (lite) or "tiny" (tests, plain convs)."""
    pretrained_backbone: str | None = None
    """Path of an ImageNet state-dict for the torchvision backbone; None = random init."""
    output_stride: int = 8
    """Stride of the backbone features (8 or 16); later stages are dilated instead of strided."""
    backbone_width: int = 16
    """Width of the "tiny" backbone only (ignored by the torchvision backbones)."""
    num_classes: int = 21
    label_set: str = "lip+neck"
    num_keypoints: int = 18
    """Pose heatmap channels, in OpenPose's COCO-18 keypoint order."""
    aspp_rates: tuple[int, ...] = (6, 12, 18)
    aspp_width: int = 128
    pose_widths: tuple[int, ...] = (128, 128, 128)
    """Widths of the pose subnet's 3x3 convs (JPPNet: 512, 512, 256, 256, 256, 256)."""
    remap_width: int = 64
    """Width of the 1x1 convs that remap p0 and the heatmaps before refinement (JPPNet: 128)."""
    refine_kernels: tuple[int, ...] = (3, 5, 5)
    """Kernel sizes of the refinement subnet's convs (JPPNet: 3, 5, 7, 9)."""
    refine_width: int = 128

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; known: {', '.join(BACKBONES)}")
        if self.pretrained_backbone is not None and not isinstance(self.pretrained_backbone, str):
            raise ValueError(f"pretrained_backbone must be a path string or None, got {self.pretrained_backbone!r}")
        if self.pretrained_backbone is not None and self.backbone == "tiny":
            raise ValueError("the tiny backbone has no pretrained weights")
        if self.output_stride not in (8, 16):
            raise ValueError(f"output_stride must be 8 or 16, got {self.output_stride!r}")
        for name in ("backbone_width", "num_classes", "num_keypoints", "aspp_width", "remap_width",
                     "refine_width"):
            _check_positive(name, getattr(self, name))
        _check_positive_tuple("aspp_rates", self.aspp_rates, allow_empty=True)
        _check_positive_tuple("pose_widths", self.pose_widths)
        _check_positive_tuple("refine_kernels", self.refine_kernels)
        if any(k % 2 == 0 for k in self.refine_kernels):
            raise ValueError(f"refine_kernels must be odd, got {self.refine_kernels!r}")
        _check_label_set(self.label_set, self.num_classes)


@dataclass(frozen=True)
class CompletionConfig:
    """Stage-II completion network G (paper Fig. 3)."""

    width: int = 32
    """Channels at full resolution; 2x at 1/2, 4x at 1/4 (the residual/dilated middle)."""
    res_blocks_before: int = 4
    dilations: tuple[int, ...] = (2, 4, 8, 16)
    res_blocks_after: int = 4
    num_classes: int = 21
    parsing_input: str = "onehot"
    """"onehot" (num_classes channels) or "repeat3" (the paper's id map repeated 3 times)."""
    dropout: float = 0.0
    """Dropout2d probability after each dilated conv; the paper's extrapolation G uses dropout."""
    norm: str = "batch"
    upsample: str = "deconv"
    """"deconv": the paper's stride-2 transposed convs (they leave a dot grid in flat fills);
    "resize": bilinear 2x + 3x3 conv. The default stays "deconv" because weights files written
    before this option existed mean it; the ``lite`` preset uses "resize"."""
    global_blocks: int = 0
    """:class:`~.blocks.GlobalBlock` s (Fourier, image-wide receptive field) after the residual
    blocks at 1/4 resolution."""

    def __post_init__(self) -> None:
        _check_generator(self)


@dataclass(frozen=True)
class FaceConfig:
    """Face refinement network F: G's architecture with fewer residual blocks.

    The paper says F is "similar to G except that the number of residual blocks is reduced to 4".
    We read that as 4 in total (2 before and 2 after the dilated convs) instead of G's 4 + 4.
    """

    width: int = 32
    res_blocks_before: int = 2
    dilations: tuple[int, ...] = (2, 4, 8)
    res_blocks_after: int = 2
    num_classes: int = 21
    parsing_input: str = "onehot"
    dropout: float = 0.0
    norm: str = "batch"
    upsample: str = "deconv"
    global_blocks: int = 0
    crop_size: int = 64
    """Side of the square face crop F works on (paper: 64)."""

    def __post_init__(self) -> None:
        _check_generator(self)
        _check_positive("crop_size", self.crop_size)


def _check_generator(cfg: CompletionConfig | FaceConfig) -> None:
    for name in ("width", "num_classes"):
        _check_positive(name, getattr(cfg, name))
    for name in ("res_blocks_before", "res_blocks_after"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    _check_positive_tuple("dilations", cfg.dilations, allow_empty=True)
    if cfg.parsing_input not in PARSING_INPUTS:
        raise ValueError(f"unknown parsing_input {cfg.parsing_input!r}; known: {', '.join(PARSING_INPUTS)}")
    if cfg.upsample not in UPSAMPLES:
        raise ValueError(f"unknown upsample {cfg.upsample!r}; known: {', '.join(UPSAMPLES)}")
    if isinstance(cfg.global_blocks, bool) or not isinstance(cfg.global_blocks, int) or cfg.global_blocks < 0:
        raise ValueError(f"global_blocks must be a non-negative integer, got {cfg.global_blocks!r}")
    if cfg.norm not in NORMS:
        raise ValueError(f"unknown norm {cfg.norm!r}; known: {', '.join(NORMS)}")
    if isinstance(cfg.dropout, bool) or not isinstance(cfg.dropout, (int, float)) or not 0 <= cfg.dropout < 1:
        raise ValueError(f"dropout must be a number in [0, 1), got {cfg.dropout!r}")
    if cfg.parsing_input == "repeat3" and cfg.num_classes < 2:
        raise ValueError("repeat3 parsing input needs num_classes >= 2")


def _check_label_set(name: Any, num_classes: int) -> None:
    if not isinstance(name, str):
        raise ValueError(f"label_set must be a name, got {name!r}")
    try:
        n = len(get_label_set(name))
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    if n != num_classes:
        raise ValueError(f"label set {name!r} has {n} labels but num_classes is {num_classes}")


Config = ParsingConfig | CompletionConfig | FaceConfig

CONFIG_CLASSES: dict[str, type] = {
    "parsing": ParsingConfig,
    "completion": CompletionConfig,
    "face": FaceConfig,
}

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "parsing": {
        # JPPNet's P: ResNet-101 at output stride 8, ASPP (rates as in its DeepLab-v2 head),
        # JPPNet's pose subnet widths and refinement kernel sizes.
        "paper": dict(backbone="resnet101", output_stride=8, aspp_rates=(6, 12, 18, 24), aspp_width=256,
                      pose_widths=(512, 512, 256, 256, 256, 256), remap_width=128,
                      refine_kernels=(3, 5, 7, 9), refine_width=256),
        "lite": {},
        "tiny": dict(backbone="tiny", backbone_width=8, output_stride=8, aspp_rates=(2, 4), aspp_width=8,
                     pose_widths=(8,), remap_width=4, refine_kernels=(3,), refine_width=8),
    },
    "completion": {
        "paper": dict(width=64),
        # No transposed convs (they grid flat fills) and two Fourier blocks, so every pixel of
        # a 512 px working crop sees the whole crop (docs/MODELS.md).
        "lite": dict(upsample="resize", global_blocks=2),
        "tiny": dict(width=8, res_blocks_before=1, dilations=(2, 4), res_blocks_after=1, upsample="resize",
                     global_blocks=1),
    },
    "face": {
        "paper": dict(width=64, dilations=(2, 4, 8, 16)),
        "lite": {},
        "tiny": dict(width=8, res_blocks_before=1, dilations=(2,), res_blocks_after=1),
    },
}


def _config_class(kind: str) -> type:
    try:
        return CONFIG_CLASSES[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(CONFIG_CLASSES)}") from None


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """JSON-serialisable dict of a config (tuples become lists); inverse of :func:`config_from_dict`."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def config_from_dict(kind: str, d: Mapping[str, Any]) -> Config:
    """Build a validated config of ``kind`` from a (JSON) dict; missing keys take the defaults.

    Unknown keys are an error naming them, so a typo in a training config or a weights file made
    for another architecture fails loudly instead of silently building the default network.
    """
    cls = _config_class(kind)
    if not isinstance(d, Mapping):
        raise ValueError(f"{kind} config must be a mapping, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in d if k not in fields]
    if unknown:
        raise ValueError(f"unknown {kind} config key(s): {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(fields)}")
    values: dict[str, Any] = {}
    for key, value in d.items():
        if str(fields[key].type).startswith("tuple") and isinstance(value, list):
            value = tuple(value)
        values[key] = value
    return cls(**values)


def preset(kind: str, name: str = "lite", **overrides: Any) -> Config:
    """The named preset of ``kind`` with ``overrides`` applied (unknown keys are an error)."""
    _config_class(kind)
    presets = PRESETS[kind]
    if name not in presets:
        raise ValueError(f"unknown {kind} preset {name!r}; known: {', '.join(presets)}")
    return config_from_dict(kind, {**presets[name], **overrides})
