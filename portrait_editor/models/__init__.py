"""The networks of the paper: parsing P (stage I), completion G and face refinement F (stage II).

Build them through one factory keyed by kind, as LaMa's ``make_generator`` does::

    net = build_model("completion", preset="lite", width=48)
    same = build_model_from_config("completion", config_to_dict(net.config))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import nn

from . import config as _config
from .completion import CompletionNet, encode_parsing, parsing_channels
from .config import (
    CompletionConfig,
    FaceConfig,
    ParsingConfig,
    config_from_dict,
    config_to_dict,
    preset,
)
from .face import FaceNet
from .parsing import ParsingNet, ParsingOutput, find_mobilenet_v2_imagenet

MODELS: dict[str, type[nn.Module]] = {
    "parsing": ParsingNet,
    "completion": CompletionNet,
    "face": FaceNet,
}


def _model_class(kind: str) -> type[nn.Module]:
    try:
        return MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(MODELS)}") from None


def build_model(kind: str, preset: str = "lite", **overrides: Any) -> nn.Module:
    """A fresh network of ``kind`` from a named preset plus overrides; ``model.config`` holds the result."""
    cls = _model_class(kind)
    return cls(_config.preset(kind, preset, **overrides))


def build_model_from_config(kind: str, config_dict: Mapping[str, Any], *, load_pretrained: bool = False) -> nn.Module:
    """Rebuild a network from a config dict (a weights file's metadata, a training config).

    Saved weights replace the backbone's ImageNet initialisation, so by default the file named in
    ``pretrained_backbone`` is not read (it was on the training machine and may not exist here);
    ``model.config`` still names it. Pass ``load_pretrained=True`` to start training from it.
    """
    cls = _model_class(kind)
    cfg = config_from_dict(kind, config_dict)
    if load_pretrained or getattr(cfg, "pretrained_backbone", None) is None:
        return cls(cfg)
    model = cls(dataclasses.replace(cfg, pretrained_backbone=None))
    model.config = cfg
    return model


__all__ = [
    "MODELS",
    "CompletionConfig",
    "CompletionNet",
    "FaceConfig",
    "FaceNet",
    "ParsingConfig",
    "ParsingNet",
    "ParsingOutput",
    "build_model",
    "build_model_from_config",
    "config_from_dict",
    "config_to_dict",
    "encode_parsing",
    "find_mobilenet_v2_imagenet",
    "parsing_channels",
    "preset",
]
