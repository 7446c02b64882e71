"""Training losses of Wu et al. 2019 (Sec. III), plus PConv's L1 and style terms as extras.

- stage I: the spatially weighted parsing loss (eq. 2) and the pose heatmap loss;
- stage II: the perceptual loss (eq. 3), the conditional adversarial loss (eq. 4) in its
  logits form, and their weighted sum (eq. 5, :class:`CompletionLoss`); the face loss (eq. 6) is
  the same sum with other weights (:meth:`CompletionLoss.for_face`).

Images are ``B x 3 x H x W`` in [-1, 1]; masks ``B x 1 x H x W`` (or ``B x H x W``), 1 = hole.
Every loss is computed in float32, so calling them under ``torch.autocast("cpu", bfloat16)``
is safe: only the VGG convs run in bf16.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .vgg import VGGFeatures, vgg_kind

VGG16_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
"""Default perceptual taps with the offline VGG-16 (the last ReLU of each block)."""
VGG19_PAPER_LAYERS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
"""The paper's taps (Sec. III-B2), for a user-provided VGG-19."""
LAYER_PRESETS: dict[str, tuple[str, ...]] = {"vgg16": VGG16_LAYERS, "vgg19": VGG19_PAPER_LAYERS}
STYLE_LAYERS = ("pool1", "pool2", "pool3")
"""PConv's style taps (VGG-16 pool1..pool3)."""

LAMBDA_P = 100.0
LAMBDA_G = 1.0
LAMBDA_L = 1.0
LAMBDA_FACE_P = 10.0
"""Eq. 5 and eq. 6 weights from the paper."""


def _mask_bhw(mask: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """A ``B x H x W`` float mask from ``B x 1 x H x W`` or ``B x H x W``, checked against ``shape``."""
    if mask.ndim == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"mask must be {tuple(shape)} (or with a channel of 1), got {tuple(mask.shape)}")
    return mask.float()


# --------------------------------------------------------------------------------------------
# Stage I


def weighted_parsing_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                          alpha: float = 9.0, ignore_index: int = 255,
                          person: torch.Tensor | None = None, background: int = 0) -> torch.Tensor:
    """Eq. 2: per-pixel softmax cross-entropy weighted ``alpha * m + 1``, averaged over pixels.

    Hole pixels count ``alpha + 1`` times, because only the parsing inside the hole guides G.
    ``logits`` ``B x C x H x W``; ``target`` ``B x H x W`` ids (``ignore_index`` = unlabelled).
    The average is over labelled pixels (eq. 2's ``W x H`` when all are labelled), so with
    ``alpha = 0`` this is exactly ``F.cross_entropy(logits, target, ignore_index=...)``.

    Partial labels: where ``person`` (``B x H x W``, optional) is set but the target is
    ``ignore_index`` (a source that marks the person but not its parts, as the Flickr
    portraits), the pixel is known to be *some* body part: its term is ``-log(1 - p_background)``,
    the cross-entropy of the two-way split person / ``background``, and it counts as labelled.
    """
    if logits.ndim != 4 or target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"logits B x C x H x W and target B x H x W must match, got "
                         f"{tuple(logits.shape)} and {tuple(target.shape)}")
    weight = alpha * _mask_bhw(mask, target.shape) + 1
    logits = logits.float()
    ce = F.cross_entropy(logits, target.long(), ignore_index=ignore_index, reduction="none")
    labelled = target != ignore_index
    if person is not None:
        partial = (~labelled) & (_mask_bhw(person, target.shape) > 0)
        if partial.any():
            others = torch.cat([logits[:, :background], logits[:, background + 1:]], 1)
            not_background = torch.logsumexp(logits, 1) - torch.logsumexp(others, 1)  # -log(1 - p_bg)
            ce = torch.where(partial, not_background, ce)
            labelled = labelled | partial
    return (ce * weight).sum() / labelled.float().sum().clamp_min(1)


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Mean squared error of keypoint heatmaps over the joints that are labelled.

    ``pred``/``target`` ``B x K x h x w``; ``visible`` ``B x K`` confidences. A joint with zero
    confidence (not annotated / not detected) contributes nothing, so P is not taught that it is
    absent. The result is the per-pixel MSE averaged over labelled joints (0 if there are none).
    """
    if pred.shape != target.shape or pred.ndim != 4:
        raise ValueError(f"pred and target must both be B x K x h x w, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if visible.shape != pred.shape[:2]:
        raise ValueError(f"visible must be {tuple(pred.shape[:2])}, got {tuple(visible.shape)}")
    per_joint = ((pred.float() - target.float()) ** 2).mean(dim=(2, 3))
    keep = (visible > 0).float()
    return (per_joint * keep).sum() / keep.sum().clamp_min(1)


# --------------------------------------------------------------------------------------------
# Feature losses


def _resolve_layers(features: nn.Sequential, layers: Sequence[str] | str | None) -> tuple[str, ...]:
    if layers is None:
        return LAYER_PRESETS[vgg_kind(features)]
    if isinstance(layers, str):
        if layers not in LAYER_PRESETS:
            raise ValueError(f"unknown layer preset {layers!r}; known: {', '.join(LAYER_PRESETS)}")
        return LAYER_PRESETS[layers]
    return tuple(layers)


def _resolve_weights(layers: tuple[str, ...], weights: Sequence[float] | None) -> tuple[float, ...]:
    if weights is None:
        return (1.0,) * len(layers)
    if len(weights) != len(layers):
        raise ValueError(f"{len(weights)} weights for {len(layers)} layers")
    return tuple(float(w) for w in weights)


FeatureMaps = Mapping[str, torch.Tensor]


class _FeatureLoss(nn.Module):
    """Shared plumbing: a frozen VGG tap set, per-layer weights, target features without grad."""

    def __init__(self, features: nn.Sequential, layers: Sequence[str] | str | None = None,
                 weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.layers = _resolve_layers(features, layers)
        self.weights = _resolve_weights(self.layers, weights)
        self.extractor = VGGFeatures(features, self.layers)

    def compare(self, pred: FeatureMaps, target: FeatureMaps) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"pred and target differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
        with torch.no_grad():
            target_feats = self.extractor(target)
        return self.compare(self.extractor(pred), target_feats)


class PerceptualLoss(_FeatureLoss):
    """Eq. 3: ``sum_i w_i * mean((phi_i(pred) - phi_i(target))^2)`` over VGG ReLU taps.

    ``layers``: names (``"relu3_3"``), a preset (``"vgg16"``, ``"vgg19"``), or None for the
    trunk's default (VGG-16: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3; VGG-19: the paper's
    relu1_2, relu2_2, relu3_2, relu4_2, relu5_2).

    Normalisation: each layer's squared L2 distance is divided by its number of elements
    (B * C * H * W). The paper writes a plain squared norm; unnormalised it would grow with image
    size and be dominated by the wide shallow layers, and ``lambda_p = 100`` could not be the same
    number at 256 x 256 and 256 x 192. Per-layer ``weights`` (default 1) rebalance layers.

    The target is treated as a constant (its features are computed without grad). VGG is frozen
    and in eval mode; ``.to(memory_format=torch.channels_last)`` and bf16 autocast both work.

    Cost: VGG-16 up to relu5_3 is about 15 GMAC per 256 x 192 image, run three times per step
    (target forward, prediction forward and backward), far more than a lite G. On the 2-core dev
    machine a batch of 8 took about 11-12 s in float32 and 3-5 s under bf16 autocast with
    channels_last; budget for it, or use fewer/shallower layers or a crop around the hole.
    """

    def compare(self, pred: FeatureMaps, target: FeatureMaps) -> torch.Tensor:
        total = torch.zeros((), device=next(iter(pred.values())).device)
        for name, weight in zip(self.layers, self.weights, strict=True):
            total = total + weight * F.mse_loss(pred[name].float(), target[name].float())
        return total


def gram_matrix(feat: torch.Tensor) -> torch.Tensor:
    """``B x C x C`` Gram matrix normalised by ``C * H * W`` (PConv's K_n), in float32."""
    b, c, h, w = feat.shape
    f = feat.float().reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


class StyleLoss(_FeatureLoss):
    """PConv's style loss: mean L1 distance of Gram matrices at VGG taps (default pool1..pool3).

    An optional extra against texture drift; PConv weights it 120 with VGG-16 pool taps.
    """

    def __init__(self, features: nn.Sequential, layers: Sequence[str] | None = STYLE_LAYERS,
                 weights: Sequence[float] | None = None) -> None:
        super().__init__(features, layers, weights)

    def compare(self, pred: FeatureMaps, target: FeatureMaps) -> torch.Tensor:
        total = torch.zeros((), device=next(iter(pred.values())).device)
        for name, weight in zip(self.layers, self.weights, strict=True):
            total = total + weight * F.l1_loss(gram_matrix(pred[name]), gram_matrix(target[name]))
        return total


def l1_hole_valid(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                  hole_weight: float = 6.0, valid_weight: float = 1.0,
                  pixel_weight: torch.Tensor | None = None) -> torch.Tensor:
    """PConv's ``valid_weight * L_valid + hole_weight * L_hole``: L1 split by the mask.

    Both terms are divided by the total element count (PConv's 1 / N_Igt), so they add up to the
    plain L1 when both weights are 1. ``pixel_weight`` (B, H, W), if given, scales each hole
    pixel's error (e.g. shoes weighed more than the ground around them).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
    m = _mask_bhw(mask, (pred.shape[0], *pred.shape[2:])).unsqueeze(1)
    diff = (pred.float() - target.float()).abs()
    hole = m if pixel_weight is None else m * pixel_weight.float().unsqueeze(1)
    return hole_weight * (diff * hole).mean() + valid_weight * (diff * (1 - m)).mean()


# --------------------------------------------------------------------------------------------
# Adversarial (eq. 4)


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator side of eq. 4: ``-log D(real) - log(1 - D(fake))``, each averaged.

    The discriminators return logits; the paper's final Sigmoid is folded into
    ``binary_cross_entropy_with_logits``, which computes the logs without overflow or log(0).
    Pass the fakes detached from G. Logits may have any shape (one per image or a patch map).
    """
    real = real_logits.float()
    fake = fake_logits.float()
    return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def g_adv_loss(fake_logits: torch.Tensor, non_saturating: bool = True) -> torch.Tensor:
    """Generator side of eq. 4.

    Default: the non-saturating ``-log D(G(x))`` (Goodfellow et al., DCGAN practice), which has
    strong gradients while D still wins easily, early in training. ``non_saturating=False`` gives
    the literal ``log(1 - D(G(x)))`` of eqs. 4 and 6, computed stably as ``-softplus(logit)``.
    """
    fake = fake_logits.float()
    if non_saturating:
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    return -F.softplus(fake).mean()


# --------------------------------------------------------------------------------------------
# Eq. 5


class CompletionLoss(nn.Module):
    """Eq. 5, ``lambda_p * L_p + lambda_g * L_adv-g + lambda_l * L_adv-l`` (+ optional extras).

    ``forward(pred, target, mask=None, global_logits=None, local_logits=None, pixel_weight=None)`` returns
    ``(total, terms)``: ``terms`` holds each unweighted term, detached, for logging
    (``perceptual``, ``adv_global``, ``adv_local``, ``l1``, ``style``, ``total``). The logits are
    the discriminators' outputs on G's result (not detached: G gets the gradient). Missing
    logits skip their term, e.g. a first phase with the perceptual loss alone. ``pred`` is
    whatever the trainer chooses to compare: the paper's eq. 3 uses G's raw output.

    ``lambda_l1`` adds :func:`l1_hole_valid` (needs ``mask``) and ``lambda_style`` a
    :class:`StyleLoss` on the same VGG (one VGG pass serves both feature losses).
    """

    def __init__(self, features: nn.Sequential | None = None, *, layers: Sequence[str] | str | None = None,
                 lambda_p: float = LAMBDA_P, lambda_g: float = LAMBDA_G, lambda_l: float = LAMBDA_L,
                 lambda_l1: float = 0.0, lambda_style: float = 0.0, hole_weight: float = 6.0,
                 valid_weight: float = 1.0, non_saturating: bool = True,
                 style_layers: Sequence[str] = STYLE_LAYERS) -> None:
        super().__init__()
        if (lambda_p or lambda_style) and features is None:
            raise ValueError("the perceptual and style terms need VGG features (training.vgg.load_vgg16_features)")
        self.lambda_p, self.lambda_g, self.lambda_l = float(lambda_p), float(lambda_g), float(lambda_l)
        self.lambda_l1, self.lambda_style = float(lambda_l1), float(lambda_style)
        self.hole_weight, self.valid_weight = float(hole_weight), float(valid_weight)
        self.non_saturating = non_saturating
        self.perceptual = PerceptualLoss(features, layers) if lambda_p and features is not None else None
        self.style = StyleLoss(features, style_layers) if lambda_style and features is not None else None
        taps: list[str] = []
        for loss in (self.perceptual, self.style):
            if loss is not None:
                taps += [name for name in loss.layers if name not in taps]
        self.extractor = VGGFeatures(features, taps) if taps and features is not None else None

    @classmethod
    def for_face(cls, features: nn.Sequential, **kwargs: Any) -> CompletionLoss:
        """Eq. 6 for F: ``10 * L_p + L_adv(D_f)``; pass D_f's logits as ``global_logits``."""
        kwargs = {"lambda_p": LAMBDA_FACE_P, "lambda_g": 1.0, "lambda_l": 0.0, **kwargs}
        return cls(features, **kwargs)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                global_logits: torch.Tensor | None = None, local_logits: torch.Tensor | None = None,
                pixel_weight: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if pred.shape != target.shape:
            raise ValueError(f"pred and target differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
        weighted: list[torch.Tensor] = []
        terms: dict[str, torch.Tensor] = {}

        def add(name: str, weight: float, value: torch.Tensor) -> None:
            terms[name] = value.detach()
            weighted.append(weight * value)

        if self.extractor is not None:
            with torch.no_grad():
                target_feats = self.extractor(target)
            pred_feats = self.extractor(pred)
            if self.perceptual is not None:
                add("perceptual", self.lambda_p, self.perceptual.compare(pred_feats, target_feats))
            if self.style is not None:
                add("style", self.lambda_style, self.style.compare(pred_feats, target_feats))
        if self.lambda_l1:
            if mask is None:
                raise ValueError("lambda_l1 > 0 needs the hole mask")
            add("l1", self.lambda_l1, l1_hole_valid(pred, target, mask, self.hole_weight, self.valid_weight,
                                                    pixel_weight))
        if global_logits is not None and self.lambda_g:
            add("adv_global", self.lambda_g, g_adv_loss(global_logits, self.non_saturating))
        if local_logits is not None and self.lambda_l:
            add("adv_local", self.lambda_l, g_adv_loss(local_logits, self.non_saturating))
        if not weighted:
            raise ValueError("no loss term is active: give VGG features, lambda_l1, or discriminator logits")
        total = torch.stack([w.reshape(()) for w in weighted]).sum()
        terms["total"] = total.detach()
        return total, terms
