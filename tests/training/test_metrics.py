"""Evaluation metrics (training/metrics.py) on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training import metrics
from training.metrics import (
    LPIPSMetric,
    boundary_band,
    bpe,
    confusion_matrix,
    iou_from_confusion,
    l1_in_hole,
    mean_iou,
    psnr,
    ssim,
)
from training.vgg import find_vgg16_weights


def _image(h=48, w=40, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 4, yy * 3, (xx + yy) * 2], -1) % 256
    return np.clip(base + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)


def test_l1_in_hole_by_hand():
    target = np.zeros((4, 4, 3), np.uint8)
    pred = target.copy()
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    pred[1, 1] = (30, 0, 0)  # one hole pixel off by 30 in one channel: 30 / (4 pixels * 3 channels)
    pred[0, 0] = 255  # outside the hole: ignored
    assert l1_in_hole(pred, target, mask) == pytest.approx(2.5)
    assert l1_in_hole(torch.from_numpy(pred), torch.from_numpy(target), torch.from_numpy(mask)) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="empty"):
        l1_in_hole(pred, target, np.zeros((4, 4), bool))


def test_psnr_identical_is_inf_and_known_value():
    a = _image()
    assert psnr(a, a) == math.inf
    b = a.astype(np.float64) + 1
    assert psnr(b, a) == pytest.approx(10 * math.log10(255**2))


def test_ssim_identical_and_worse_for_noise():
    a = _image()
    assert ssim(a, a) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    light = np.clip(a + rng.normal(0, 5, a.shape), 0, 255)
    heavy = np.clip(a + rng.normal(0, 40, a.shape), 0, 255)
    assert ssim(heavy, a) < ssim(light, a) < 1
    with pytest.raises(ValueError, match="at least"):
        ssim(a[:8], a[:8])


def test_ssim_matches_skimage():
    sk = pytest.importorskip("skimage.metrics")
    a = _image(64, 56)
    rng = np.random.default_rng(2)
    for b in (np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8),
              np.roll(a, 2, axis=1), (a * 0.7).astype(np.uint8)):
        expected = sk.structural_similarity(a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                            use_sample_covariance=False, data_range=255)
        assert ssim(a, b) == pytest.approx(expected, abs=1e-3)
        grey = sk.structural_similarity(a[..., 1], b[..., 1], gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=255)
        assert ssim(a[..., 1], b[..., 1]) == pytest.approx(grey, abs=1e-3)


def test_bpe_by_hand():
    # 20 x 20 image, 10 x 10 hole; a 2-px band inside the hole has 100 - 6 * 6 = 64 pixels.
    target = np.full((20, 20, 3), 100, np.uint8)
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    band = boundary_band(mask, 2)
    assert band.sum() == 64
    assert not band[7:13, 7:13].any() and band[5:15, 5:15].sum() == 64
    pred = target.astype(np.float64)
    pred[5:15, 5:15] += 10  # the band is off by 10 ...
    pred[7:13, 7:13] = 250  # ... the core by 150
    pred[0, 0] = 0  # outside the hole: ignored
    assert bpe(pred, target, mask, band=2) == pytest.approx(10.0)
    assert l1_in_hole(pred, target, mask) == pytest.approx((64 * 10 + 36 * 150) / 100)


def test_bpe_band_ignores_the_image_edge():
    # a hole along the right edge (canvas extension): only its left side borders known pixels
    mask = np.zeros((10, 12), bool)
    mask[:, 6:] = True
    band = boundary_band(mask, 3)
    assert band[:, 6:9].all() and not band[:, 9:].any() and not band[:, :6].any()
    assert not boundary_band(np.ones((5, 5), bool), 2).any()
    with pytest.raises(ValueError, match="empty"):
        bpe(np.zeros((5, 5, 3)), np.zeros((5, 5, 3)), np.ones((5, 5), bool))


def test_mean_iou_by_hand():
    true = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 0, 0, 1], [0, 0, 1, 1]])
    # class 0: 4 / 5, class 1: 3 / 4; classes 2 (absent from both) do not count
    assert mean_iou(pred, true, 3) == pytest.approx((0.8 + 0.75) / 2)
    region = np.zeros((2, 4), bool)
    region[:, 2:] = True
    # right half: truth all 1, prediction 0,1 / 1,1 -> class 0: 0 / 1, class 1: 3 / 4
    assert mean_iou(pred, true, 3, region=region) == pytest.approx((0 + 0.75) / 2)
    unknown = true.copy()
    unknown[0, 2] = 255  # the one wrong pixel becomes unlabelled: perfect score
    assert mean_iou(pred, unknown, 3) == pytest.approx(1.0)
    cm = confusion_matrix(pred, true, 3) + confusion_matrix(pred, true, 3, region)
    assert cm.sum() == 12 and iou_from_confusion(cm) == pytest.approx((4 / 6 + 6 / 8) / 2)
    with pytest.raises(ValueError, match="no labelled"):
        mean_iou(pred, true, 3, region=np.zeros((2, 4), bool))


def test_lpips_metric_missing_weights_says_how_to_fetch(monkeypatch):
    import training.vgg as vgg

    monkeypatch.setattr(vgg, "find_vgg16_weights", lambda: None)
    with pytest.raises(FileNotFoundError, match="training.vgg fetch"):
        LPIPSMetric()
    assert metrics.LPIPSMetric is LPIPSMetric


def test_lpips_metric_on_uint8_images():
    if find_vgg16_weights() is None:
        pytest.skip("VGG-16 weights absent (python -m training.vgg fetch)")
    metric = LPIPSMetric()
    a = _image(64, 48)
    rng = np.random.default_rng(4)
    light = np.clip(a + rng.normal(0, 5, a.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(a + rng.normal(0, 50, a.shape), 0, 255).astype(np.uint8)
    assert metric(a, a) == pytest.approx(0.0, abs=1e-6)
    assert 0 < metric(light, a) < metric(heavy, a)
    with pytest.raises(ValueError, match="uint8"):
        metric(a.astype(np.float32), a)
