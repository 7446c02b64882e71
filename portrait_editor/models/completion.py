"""Stage-II completion network G (Wu et al. 2019, Sec. III-B1, Fig. 3).

G sees the image, the parsing map (structure guidance) and the hole mask, and paints the whole
frame; the caller keeps the known pixels (``image * (1 - mask) + out * mask``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..labels import UNKNOWN
from .blocks import (
    ConvBNReLU,
    GlobalBlock,
    ResidualBlock,
    UpsampleConv,
    crop_padding,
    make_norm,
    pad_to_multiple,
)
from .config import CompletionConfig, FaceConfig


def parsing_channels(num_classes: int, parsing_input: str) -> int:
    """Number of guidance channels G/F get for a parsing encoding."""
    return num_classes if parsing_input == "onehot" else 3


def encode_parsing(parsing: torch.Tensor, num_classes: int, parsing_input: str,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Turn a parsing map into guidance channels ``B x C x H x W``.

    ``parsing`` is either ``B x H x W`` int64 label ids (``labels.UNKNOWN`` = no guidance) or, for
    ``"onehot"`` only, a float ``B x num_classes x H x W`` tensor of class probabilities (e.g. P's
    softmax), used as given so that training can backpropagate through it.

    - ``"onehot"``: one channel per class; all zero where the label is unknown, so "no guidance"
      is distinct from every class.
    - ``"repeat3"``: the paper's single channel ``id / (num_classes - 1) * 2 - 1`` repeated 3 times
      to balance the RGB channels; 0 where unknown (which coincides with the middle id, a
      limitation of the paper's encoding).
    """
    if parsing.is_floating_point():
        if parsing_input != "onehot":
            raise ValueError("parsing probabilities need parsing_input='onehot'; repeat3 takes label ids")
        if parsing.ndim != 4 or parsing.shape[1] != num_classes:
            raise ValueError(f"parsing probabilities must be B x {num_classes} x H x W, got {tuple(parsing.shape)}")
        return parsing.to(dtype)
    if parsing.ndim != 3:
        raise ValueError(f"parsing label ids must be B x H x W, got {tuple(parsing.shape)}")
    parsing = parsing.long()
    unknown = parsing == UNKNOWN
    bad = ~unknown & ((parsing < 0) | (parsing >= num_classes))
    if bool(bad.any()):
        raise ValueError(f"parsing holds ids outside 0..{num_classes - 1} (and {UNKNOWN} = unknown): "
                         f"{sorted(set(parsing[bad].unique().tolist()))[:5]}")
    known = (~unknown).unsqueeze(1).to(dtype)
    ids = parsing.masked_fill(unknown, 0)
    if parsing_input == "onehot":
        onehot = F.one_hot(ids, num_classes).permute(0, 3, 1, 2).to(dtype)
        return onehot * known
    if parsing_input == "repeat3":
        value = ids.unsqueeze(1).to(dtype) / (num_classes - 1) * 2 - 1
        return (value * known).expand(-1, 3, -1, -1)
    raise ValueError(f"unknown parsing_input {parsing_input!r}")


class GuidedGenerator(nn.Module):
    """The paper's G body: image + parsing + mask in, one image-sized map out.

    7x7 conv, two stride-2 3x3 convs (to 1/4), residual blocks, dilated 3x3 convs, residual blocks,
    (``global_blocks`` Fourier blocks,) two 2x upsamplings (``upsample``: the paper's stride-2 3x3
    deconvolutions with ``output_padding=1``, or bilinear resize + 3x3 conv), 7x7 conv. Norm +
    ReLU after every conv but the last. Subclasses choose the output activation. Any H, W: the input is reflect-padded to a
    multiple of 4 and the output cropped back.
    """

    pad_multiple = 4

    def __init__(self, config: CompletionConfig | FaceConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        w, norm = c.width, c.norm
        in_channels = 3 + parsing_channels(c.num_classes, c.parsing_input) + 1
        layers: list[nn.Module] = [
            ConvBNReLU(in_channels, w, 7, norm=norm),
            ConvBNReLU(w, 2 * w, 3, stride=2, norm=norm),
            ConvBNReLU(2 * w, 4 * w, 3, stride=2, norm=norm),
        ]
        layers += [ResidualBlock(4 * w, norm) for _ in range(c.res_blocks_before)]
        for d in c.dilations:
            layers.append(ConvBNReLU(4 * w, 4 * w, 3, dilation=d, norm=norm))
            if c.dropout > 0:
                layers.append(nn.Dropout2d(c.dropout))
        layers += [ResidualBlock(4 * w, norm) for _ in range(c.res_blocks_after)]
        layers += [GlobalBlock(4 * w, norm) for _ in range(c.global_blocks)]
        for cin, cout in ((4 * w, 2 * w), (2 * w, w)):
            up = (UpsampleConv(cin, cout, bias=norm == "none") if c.upsample == "resize" else
                  nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=norm == "none"))
            layers += [up, make_norm(norm, cout), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.last = nn.Conv2d(w, 3, 7, padding=3)

    def _inputs(self, image: torch.Tensor, parsing: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be B x 3 x H x W, got {tuple(image.shape)}")
        b, _, h, w = image.shape
        if mask.shape != (b, 1, h, w):
            raise ValueError(f"mask must be {b} x 1 x {h} x {w}, got {tuple(mask.shape)}")
        guide = encode_parsing(parsing, self.config.num_classes, self.config.parsing_input, image.dtype)
        if guide.shape[0] != b or guide.shape[-2:] != (h, w):
            raise ValueError(f"parsing size {tuple(parsing.shape)} does not match image {tuple(image.shape)}")
        return torch.cat([image, guide, mask.to(image.dtype)], dim=1)

    def _raw(self, image: torch.Tensor, parsing: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The last conv's output, before the activation, at the input size."""
        x, pads = pad_to_multiple(self._inputs(image, parsing, mask), self.pad_multiple)
        return crop_padding(self.last(self.body(x)), pads)


def adapt_generator_state(state: dict[str, torch.Tensor], old: CompletionConfig | FaceConfig,
                          new: CompletionConfig | FaceConfig) -> dict[str, torch.Tensor]:
    """``state`` (a G trained with config ``old``) rewritten for a G with config ``new`` that adds
    Fourier blocks or swaps deconvolutions for resize + conv, so training can start from it.

    Added Fourier blocks start as identities (see :class:`GlobalBlock`) and are not in the
    returned dict. A transposed conv's kernel becomes the resize conv's kernel: in and out
    swapped, flipped in space, and divided by 4 (a deconvolution sees one input pixel in four
    of its taps, the conv after a resize sees nine); the norm after it relearns the rest."""
    same = ("width", "res_blocks_before", "dilations", "res_blocks_after", "num_classes", "parsing_input")
    for name in same:
        if getattr(old, name) != getattr(new, name):
            raise ValueError(f"cannot adapt a G with {name}={getattr(old, name)!r} to {getattr(new, name)!r}")
    if new.global_blocks < old.global_blocks:
        raise ValueError("cannot drop Fourier blocks from a trained G")
    if (old.dropout > 0) != (new.dropout > 0):
        raise ValueError("cannot adapt between G with and without dropout")
    # Index of the first upsampling layer in ``body``; new Fourier blocks are inserted there.
    first_up = 3 + old.res_blocks_before + len(old.dilations) * (2 if old.dropout > 0 else 1) \
        + old.res_blocks_after + old.global_blocks
    shift = new.global_blocks - old.global_blocks
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "body":
            index = int(parts[1])
            if index >= first_up:
                is_up = (index - first_up) % 3 == 0
                index += shift
                if is_up and parts[2] in ("weight", "bias") and len(parts) == 3:
                    if new.upsample != old.upsample:
                        if old.upsample != "deconv":
                            raise ValueError("only deconv -> resize can be adapted")
                        if parts[2] == "weight":
                            value = value.transpose(0, 1).flip(2, 3) / 4
                        parts = parts[:2] + ["1"] + parts[2:]
            parts[1] = str(index)
        out[".".join(parts)] = value
    return out


class CompletionNet(GuidedGenerator):
    """G: ``forward(image, parsing, mask) -> image`` in [-1, 1] (tanh), same size as the input.

    ``image``: ``B x 3 x H x W`` in [-1, 1] (hole pixels are whatever the caller put there);
    ``parsing``: ``B x H x W`` int64 ids (255 = unknown) or soft one-hot probabilities (see
    :func:`encode_parsing`); ``mask``: ``B x 1 x H x W``, 1 = hole.
    With ``config.dropout > 0`` (the extrapolation variant) dropout is active only in train mode.
    """

    def __init__(self, config: CompletionConfig) -> None:
        super().__init__(config)

    def forward(self, image: torch.Tensor, parsing: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self._raw(image, parsing, mask))
