"""Shared fixtures: tiny random-weight networks saved as a real weights folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")



@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A weights folder with tiny random P, G, G-extrapolation and F, written by save_weights."""
    import torch

    from portrait_editor.models import build_model
    from portrait_editor.pipeline.weights import save_weights

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    for role, kind in (("parsing", "parsing"), ("completion", "completion"),
                       ("extrapolation", "completion"), ("face", "face")):
        net = build_model(kind, preset="tiny")
        if role == "face":
            # A zero-initialised F is an identity; give it a visible random residual for the tests.
            with torch.no_grad():
                for p in net.parameters():
                    if p.abs().sum() == 0:
                        p.normal_(0, 0.05)
        save_weights(net, role, folder, metadata={"training": {"data": "none (random test weights)"}})
    return folder


@pytest.fixture(scope="session")
def tiny_bundle(tiny_weights):
    from portrait_editor.pipeline import load_bundle

    return load_bundle(tiny_weights, device="cpu")


@pytest.fixture
def portrait() -> np.ndarray:
    """A 160 x 120 synthetic 'portrait': smooth background, a skin-coloured blob and a shirt."""
    h, w = 160, 120
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = 90 + (xx * 60 // w)
    img[..., 1] = 120 + (yy * 40 // h)
    img[..., 2] = 160
    face = (yy - 45) ** 2 / 22**2 + (xx - 60) ** 2 / 17**2 < 1
    img[face] = (220, 180, 150)
    shirt = (yy > 80) & (abs(xx - 60) < 40)
    img[shirt] = (40, 60, 150)
    return img
