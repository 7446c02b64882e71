"""Building blocks shared by the parsing (P), completion (G) and face (F) networks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

NORMS = ("batch", "instance", "none")


def make_norm(norm: str, channels: int) -> nn.Module:
    """The normalisation layer named by a config (``"batch"`` is the paper's choice)."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")


class ConvBNReLU(nn.Sequential):
    """Conv -> norm -> ReLU with "same" padding (for stride 1), the paper's basic unit."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        norm: str = "batch",
        relu: bool = True,
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation,
                      bias=norm == "none"),
            make_norm(norm, out_channels),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Two 3x3 stride-1 convs plus the identity (He et al.); the paper's "residual block".

    The second conv has norm but no ReLU before the addition (as in the pix2pixHD/CycleGAN
    generators), so a block can also subtract from its input.
    """

    def __init__(self, channels: int, norm: str = "batch", dilation: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBNReLU(channels, channels, 3, dilation=dilation, norm=norm),
            ConvBNReLU(channels, channels, 3, dilation=dilation, norm=norm, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpsampleConv(nn.Sequential):
    """2x bilinear resize, then a 3x3 conv: the upsampling that leaves no checkerboard
    (Odena et al. 2016), where a stride-2 transposed conv paints a dot grid into flat fills."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = False) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                         nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias))


class FourierUnit(nn.Module):
    """A 1x1 conv in the frequency domain (LaMa's spectral transform): every output pixel sees
    the whole input, so a hole is filled from context anywhere in the crop, not only nearby.

    The FFT runs in float32 (no bfloat16 FFT on CPUs) whatever the autocast around it."""

    def __init__(self, channels: int, norm: str = "batch") -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(2 * channels, 2 * channels, 1, bias=norm == "none"),
                                  make_norm(norm, 2 * channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        with torch.autocast(x.device.type, enabled=False):
            spec = torch.fft.rfft2(x.float(), norm="ortho")
            y = self.conv(torch.cat([spec.real, spec.imag], dim=1).contiguous())
            real, imag = y.chunk(2, dim=1)
            out = torch.fft.irfft2(torch.complex(real.float(), imag.float()), s=(h, w), norm="ortho")
        return out.to(x.dtype)


class GlobalBlock(nn.Module):
    """A residual block with an image-wide receptive field: 1x1 down to half the channels, a
    :class:`FourierUnit`, 1x1 back. The last conv starts at zero, so a block added to a trained
    network leaves its output unchanged until training uses it."""

    def __init__(self, channels: int, norm: str = "batch") -> None:
        super().__init__()
        half = max(1, channels // 2)
        self.reduce = ConvBNReLU(channels, half, 1, norm=norm)
        self.fourier = FourierUnit(half, norm)
        self.expand = nn.Conv2d(half, channels, 1)
        nn.init.zeros_(self.expand.weight)
        nn.init.zeros_(self.expand.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(x)
        return x + self.expand(y + self.fourier(y))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLab v3): a 1x1 branch, one 3x3 branch per rate and an
    image-pooling branch, concatenated and projected to ``out_channels``.

    The image-pooling branch has no batch norm: its map is 1x1, which batch norm cannot
    normalise at training batch size 1 (the paper trains with small batches).
    """

    def __init__(self, in_channels: int, out_channels: int, rates: Sequence[int]) -> None:
        super().__init__()
        self.branches = nn.ModuleList([ConvBNReLU(in_channels, out_channels, 1)])
        for rate in rates:
            self.branches.append(ConvBNReLU(in_channels, out_channels, 3, dilation=int(rate)))
        self.pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out_channels, 1), nn.ReLU(inplace=True)
        )
        self.project = ConvBNReLU(out_channels * (len(self.branches) + 1), out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches]
        outs.append(self.pool(x).expand(-1, -1, x.shape[-2], x.shape[-1]))
        return self.project(torch.cat(outs, dim=1))


Pads = tuple[int, int, int, int]
"""Padding amounts in :func:`torch.nn.functional.pad` order: (left, right, top, bottom)."""


@torch.no_grad()
def fold_batch_norms(net: nn.Module) -> int:
    """Fold every eval-mode batch norm that directly follows a conv (in a ``nn.Sequential``, the
    conv itself or the last layer of the one before) into that conv (torch's
    ``fuse_conv_bn_eval``) and replace it by an identity. Inference only: the outputs are
    unchanged up to rounding and one pass over memory per norm goes (a few ms of a 12 MP fill on
    a CPU, ``benchmarks/latency.py``). Norms in training mode, or without running statistics,
    are left alone. Returns how many were folded."""
    folded = 0
    for seq in [m for m in net.modules() if isinstance(m, nn.Sequential)]:
        for i in range(1, len(seq)):
            norm, owner, index = seq[i], seq, i - 1
            if isinstance(seq[index], nn.Sequential) and len(seq[index]) > 0:
                owner, index = seq[index], len(seq[index]) - 1
            conv = owner[index]
            if (not isinstance(norm, nn.BatchNorm2d) or norm.training or norm.running_mean is None
                    or type(conv) is not nn.Conv2d or conv.out_channels != norm.num_features):
                continue
            owner[index] = fuse_conv_bn_eval(conv, norm)
            seq[i] = nn.Identity()
            folded += 1
    return folded


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, Pads]:
    """Pad the bottom and right of ``x`` (``... x H x W``) so both sizes divide by ``multiple``.

    Networks with strided layers need sizes that divide exactly, so that every pixel maps back to
    where it came from. Reflect padding continues the image without a hard edge; it needs the pad
    to be smaller than the side, so tiny inputs fall back to replicate padding.
    Padding only bottom/right keeps the top-left corner (and thus strided grids) aligned.
    """
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    h, w = x.shape[-2:]
    pad_bottom = -h % multiple
    pad_right = -w % multiple
    pads: Pads = (0, pad_right, 0, pad_bottom)
    if pad_bottom == 0 and pad_right == 0:
        return x, pads
    mode = "reflect" if pad_bottom < h and pad_right < w else "replicate"
    return F.pad(x, pads, mode=mode), pads


def crop_padding(x: torch.Tensor, pads: Pads) -> torch.Tensor:
    """Undo :func:`pad_to_multiple` on a tensor at the padded resolution."""
    left, right, top, bottom = pads
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]
