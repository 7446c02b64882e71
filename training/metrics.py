"""Evaluation metrics for completed portraits (used by ``training/evaluate.py``).

Images are ``H x W x 3`` (or ``H x W``) arrays on the 0-255 scale, uint8 or float; masks are
``H x W`` bool, True = hole. Torch tensors are accepted too (converted with ``.numpy()``;
give them in the same H x W x C layout and 0-255 scale). A metric whose region is empty raises
``ValueError`` rather than returning NaN, so an evaluation cannot average garbage silently.

- :func:`l1_in_hole`: mean absolute error inside the hole (the paper's Table III "L1");
- :func:`psnr`, :func:`ssim`: whole image; SSIM matches scikit-image's
  ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=255, channel_axis=-1)``;
- :func:`bpe`: DFNet's Boundary Pixel Error;
- :func:`mean_iou` (+ :func:`confusion_matrix` / :func:`iou_from_confusion` to accumulate over a
  data set): parsing accuracy, Table II, over the whole image or inside the hole;
- :class:`LPIPSMetric`: LPIPS (VGG, v0.1) from ``training/vgg.py``.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

ArrayLike = Any
"""A NumPy array or a torch tensor (converted)."""


def _array(x: ArrayLike, dtype: type = np.float64) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _mask(mask: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    m = _array(mask, np.float64) > 0.5
    if m.shape != shape[:2]:
        raise ValueError(f"mask {m.shape} does not match image {shape}")
    return m


def _pair(pred: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p, t = _array(pred), _array(target)
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and target {t.shape} differ in shape")
    if p.ndim not in (2, 3):
        raise ValueError(f"images must be H x W or H x W x C, got {p.shape}")
    return p, t


def _masked_mae(p: np.ndarray, t: np.ndarray, region: np.ndarray, what: str) -> float:
    if not region.any():
        raise ValueError(f"the {what} is empty")
    diff = np.abs(p - t)[region]  # (n,) or (n, C): every channel of every pixel in the region
    return float(diff.mean())


def l1_in_hole(pred: ArrayLike, target: ArrayLike, mask: ArrayLike) -> float:
    """Mean absolute error (0-255) over the hole's pixels and channels: what was painted."""
    p, t = _pair(pred, target)
    return _masked_mae(p, t, _mask(mask, p.shape), "hole")


def psnr(pred: ArrayLike, target: ArrayLike, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB over the whole image; ``math.inf`` for identical images."""
    p, t = _pair(pred, target)
    mse = float(np.mean((p - t) ** 2))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def _gauss(x: np.ndarray) -> np.ndarray:
    # skimage: scipy.ndimage.gaussian_filter(sigma=1.5, truncate=3.5, mode="reflect") = an 11-tap
    # normalised Gaussian with half-sample symmetric borders, which is cv2's BORDER_REFLECT.
    return cv2.GaussianBlur(x, (SSIM_WINDOW, SSIM_WINDOW), SSIM_SIGMA, SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)


def _ssim_channel(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ux, uy = _gauss(x), _gauss(y)
    vx = _gauss(x * x) - ux * ux  # population covariances (use_sample_covariance=False)
    vy = _gauss(y * y) - uy * uy
    vxy = _gauss(x * y) - ux * uy
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    pad = (SSIM_WINDOW - 1) // 2  # skimage averages only where the window lies inside the image
    return float(s[pad:-pad, pad:-pad].mean(dtype=np.float64))


def ssim(pred: ArrayLike, target: ArrayLike, data_range: float = 255.0) -> float:
    """Structural similarity over the whole image: per channel, then the mean of the channels.

    Gaussian 11 x 11 window, sigma 1.5, K1 = 0.01, K2 = 0.03, population statistics, the
    5-pixel border left out of the mean: scikit-image's ``structural_similarity(...,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
    channel_axis=-1)`` (Wang et al. 2004's settings). Per channel rather than on grey, so colour
    casts count.
    """
    p, t = _pair(pred, target)
    if min(p.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW}, got {p.shape[:2]}")
    if p.ndim == 2:
        return _ssim_channel(p, t, data_range)
    return float(np.mean([_ssim_channel(np.ascontiguousarray(p[..., c]), np.ascontiguousarray(t[..., c]),
                                        data_range) for c in range(p.shape[2])]))


def boundary_band(mask: ArrayLike, band: int = 5) -> np.ndarray:
    """Hole pixels within ``band`` px (Euclidean, pixel centres) of a known pixel.

    Only the hole's boundary with known pixels counts: where a hole runs into the image edge
    (canvas extension) there is nothing to blend with, so the edge does not make a band.
    """
    hole = _array(mask, np.float64) > 0.5
    if hole.ndim != 2:
        raise ValueError(f"mask must be H x W, got {hole.shape}")
    if band < 1:
        raise ValueError(f"band must be >= 1, got {band}")
    if hole.all():
        return np.zeros_like(hole)
    # distance of every nonzero (hole) pixel to the nearest zero (known) pixel; 1 = adjacent
    dist = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return hole & (dist <= band + 1e-6)


def bpe(pred: ArrayLike, target: ArrayLike, mask: ArrayLike, band: int = 5) -> float:
    """DFNet's Boundary Pixel Error: ``||b * (I - I_hat)||_1 / ||b||_1`` on the 0-255 scale.

    ``b`` is the band of ``band`` pixels inside the hole along its boundary
    (:func:`boundary_band`), where seams and colour shifts show; averaged over the band's pixels
    and channels, like :func:`l1_in_hole`.
    """
    p, t = _pair(pred, target)
    region = boundary_band(_mask(mask, p.shape), band)
    return _masked_mae(p, t, region, "boundary band")


def confusion_matrix(pred_labels: ArrayLike, true_labels: ArrayLike, num_classes: int,
                     region: ArrayLike | None = None) -> np.ndarray:
    """``num_classes x num_classes`` counts (rows: truth, columns: prediction) within ``region``.

    Pixels whose truth or prediction is not a class id (e.g. 255 = unknown) are left out. Sum
    these over a data set and call :func:`iou_from_confusion` for a data-set mIoU.
    """
    p = _array(pred_labels, np.int64)
    t = _array(true_labels, np.int64)
    if p.shape != t.shape or p.ndim != 2:
        raise ValueError(f"label maps must both be H x W, got {p.shape} and {t.shape}")
    keep = (p >= 0) & (p < num_classes) & (t >= 0) & (t < num_classes)
    if region is not None:
        keep &= _mask(region, p.shape)
    idx = t[keep] * num_classes + p[keep]
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_from_confusion(cm: np.ndarray) -> float:
    """Mean IoU over the classes present in the truth or the prediction (union > 0)."""
    inter = np.diag(cm).astype(np.float64)
    union = cm.sum(axis=0) + cm.sum(axis=1) - inter
    present = union > 0
    if not present.any():
        raise ValueError("no labelled pixels in the region")
    return float(np.mean(inter[present] / union[present]))


def class_iou(cm: np.ndarray, k: int) -> float | None:
    """IoU of class ``k`` from a confusion matrix (rows: truth); None when the truth has no
    pixel of it (an IoU of 0 would blame the prediction for what the data cannot measure)."""
    if cm[k].sum() == 0:
        return None
    return float(cm[k, k] / (cm[k].sum() + cm[:, k].sum() - cm[k, k]))


def mean_iou(pred_labels: ArrayLike, true_labels: ArrayLike, num_classes: int,
             region: ArrayLike | None = None) -> float:
    """Mean IoU of one parsing map over the classes present in either map within ``region``
    (None = whole image; the hole mask for the paper's "in the hole" column)."""
    return iou_from_confusion(confusion_matrix(pred_labels, true_labels, num_classes, region))


class LPIPSMetric:
    """LPIPS distance (VGG-16, v0.1 heads) between two uint8 ``H x W x 3`` RGB images; lower is
    closer. Loads the offline VGG-16 ckpt once (``training.vgg.find_vgg16_weights`` or ``path``)."""

    def __init__(self, path: str | None = None, device: str = "cpu") -> None:
        from .vgg import FETCH_HINT, LPIPS, find_vgg16_weights

        path = path if path is not None else find_vgg16_weights()
        if path is None:
            raise FileNotFoundError(f"LPIPS needs the offline VGG-16 weights; {FETCH_HINT}")
        self.device = device
        self.model = LPIPS.from_checkpoint(path).to(device).eval()

    def __call__(self, pred: ArrayLike, target: ArrayLike) -> float:
        import torch

        def tensor(x: ArrayLike) -> torch.Tensor:
            a = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
            if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
                raise ValueError(f"LPIPSMetric takes uint8 H x W x 3 images, got {a.dtype} {a.shape}")
            t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float()
            return (t / 127.5 - 1).to(self.device)

        a, b = tensor(pred), tensor(target)
        if a.shape != b.shape:
            raise ValueError(f"pred {tuple(a.shape)} and target {tuple(b.shape)} differ in shape")
        with torch.no_grad():
            return float(self.model(a, b)[0])
