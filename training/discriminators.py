"""Conditional DCGAN discriminators of Wu et al. 2019 (Sec. III-B3 and III-C).

"All convolutional layers in the discriminators have kernels of size 4 and stride 2, except the
last stride-1 convolution. The global discriminator has 7 convolution layers and the local
discriminator has 6." The face discriminator "adopts the architecture proposed by DCGAN": on a
64 x 64 crop that is DCGAN's 5 layers. Each sees the image concatenated with its parsing map, so
it also judges whether the content agrees with the structure (a conditional GAN).

DCGAN details: batch norm after every conv except the first and the last, LeakyReLU(0.2),
weights from N(0, 0.02). The paper's final Sigmoid is left out: the networks return logits and
``training.losses.d_loss`` / ``g_adv_loss`` apply it inside a numerically stable BCE.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from portrait_editor.models import CompletionConfig, FaceConfig, encode_parsing, parsing_channels

GLOBAL_SIZE = 256
LOCAL_SIZE = 128
FACE_SIZE = 64


class DCGANDiscriminator(nn.Module):
    """``num_layers`` 4x4 convs: ``num_layers - 1`` of stride 2, then one of stride 1 to a logit.

    Widths double from ``width`` up to ``8 * width``. On the size it is built for
    (``2 ** (num_layers + 1)``: 256 global, 128 local, 64 face) the strided convs leave a 4 x 4
    map and the last conv reduces it to one logit, exactly DCGAN. Other sizes work too: the last
    conv is zero-padded up to 4 x 4 when the map is smaller (e.g. 4 x 3 for 256 x 192 input) and
    its logit map is averaged when larger, so every image gets one logit.

    ``forward(image, parsing)``: ``image`` ``B x 3 x H x W`` in [-1, 1]; ``parsing`` either label
    ids ``B x H x W`` (encoded as G encodes them, needs ``num_classes``), or already-encoded
    float guidance ``B x in_parsing_channels x H x W`` (e.g. P's softmax, or a crop of the
    encoded map). ``in_parsing_channels = 0`` makes it unconditional (``parsing`` None).
    Returns logits of shape ``B``.
    """

    def __init__(self, in_parsing_channels: int, width: int = 64, *, num_layers: int,
                 num_classes: int | None = None, parsing_input: str = "onehot") -> None:
        super().__init__()
        if num_layers < 2:
            raise ValueError(f"num_layers must be >= 2, got {num_layers}")
        if in_parsing_channels < 0 or width < 1:
            raise ValueError(f"bad in_parsing_channels {in_parsing_channels} or width {width}")
        if num_classes is not None and parsing_channels(num_classes, parsing_input) != in_parsing_channels:
            raise ValueError(f"{parsing_input} encoding of {num_classes} classes has "
                             f"{parsing_channels(num_classes, parsing_input)} channels, not {in_parsing_channels}")
        self.in_parsing_channels = in_parsing_channels
        self.num_classes = num_classes
        self.parsing_input = parsing_input
        self.num_layers = num_layers
        layers: list[nn.Module] = []
        c_in = 3 + in_parsing_channels
        for i in range(num_layers - 1):
            c_out = width * min(2**i, 8)
            layers.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.last = nn.Conv2d(c_in, 1, 4, stride=1, padding=0)
        self.reset_parameters()

    @property
    def min_size(self) -> int:
        """Smallest side the strided convs can take (each halves, rounding down)."""
        return 2 ** (self.num_layers - 1)

    def reset_parameters(self) -> None:
        """DCGAN's initialisation: convs N(0, 0.02), batch-norm scale N(1, 0.02), biases 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def _guidance(self, image: torch.Tensor, parsing: torch.Tensor | None) -> torch.Tensor:
        b, _, h, w = image.shape
        if self.in_parsing_channels == 0:
            if parsing is not None:
                raise ValueError("this discriminator is unconditional (in_parsing_channels=0); pass parsing=None")
            return image
        if parsing is None:
            raise ValueError("a conditional discriminator needs the parsing map")
        if parsing.is_floating_point():
            if parsing.ndim != 4 or parsing.shape[1] != self.in_parsing_channels:
                raise ValueError(f"encoded parsing must be B x {self.in_parsing_channels} x H x W, "
                                 f"got {tuple(parsing.shape)}")
            guide = parsing.to(image.dtype)
        else:
            if self.num_classes is None:
                raise ValueError("label-id parsing needs num_classes; build with from_config or pass "
                                 "encoded float guidance")
            guide = encode_parsing(parsing, self.num_classes, self.parsing_input, image.dtype)
        if guide.shape[0] != b or guide.shape[-2:] != (h, w):
            raise ValueError(f"parsing {tuple(parsing.shape)} does not match image {tuple(image.shape)}")
        return torch.cat([image, guide], dim=1)

    def forward(self, image: torch.Tensor, parsing: torch.Tensor | None = None) -> torch.Tensor:
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be B x 3 x H x W, got {tuple(image.shape)}")
        if min(image.shape[-2:]) < self.min_size:
            raise ValueError(f"{type(self).__name__} needs sides >= {self.min_size}, got {tuple(image.shape[-2:])}")
        feat = self.body(self._guidance(image, parsing))
        k = self.last.kernel_size[0]
        h, w = feat.shape[-2:]
        ph, pw = max(k - h, 0), max(k - w, 0)
        if ph or pw:
            feat = F.pad(feat, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return self.last(feat).float().mean(dim=(1, 2, 3))

    @classmethod
    def from_config(cls, config: CompletionConfig | FaceConfig, width: int = 64) -> DCGANDiscriminator:
        """A discriminator conditioned on the parsing encoding of G's (or F's) config."""
        return cls(parsing_channels(config.num_classes, config.parsing_input), width,
                   num_classes=config.num_classes, parsing_input=config.parsing_input)


class GlobalDiscriminator(DCGANDiscriminator):
    """The whole image (256 x 256 in the paper) with its parsing: 7 convs."""

    def __init__(self, in_parsing_channels: int, width: int = 64, *, num_classes: int | None = None,
                 parsing_input: str = "onehot") -> None:
        super().__init__(in_parsing_channels, width, num_layers=7, num_classes=num_classes,
                         parsing_input=parsing_input)


class LocalDiscriminator(DCGANDiscriminator):
    """A 128 x 128 patch centred on the hole (:func:`local_patch_boxes`) with its parsing: 6 convs."""

    def __init__(self, in_parsing_channels: int, width: int = 64, *, num_classes: int | None = None,
                 parsing_input: str = "onehot") -> None:
        super().__init__(in_parsing_channels, width, num_layers=6, num_classes=num_classes,
                         parsing_input=parsing_input)


class FaceDiscriminator(DCGANDiscriminator):
    """D_f on the 64 x 64 face crop with its parsing: DCGAN's 5 convs for 64 x 64."""

    def __init__(self, in_parsing_channels: int, width: int = 64, *, num_classes: int | None = None,
                 parsing_input: str = "onehot") -> None:
        super().__init__(in_parsing_channels, width, num_layers=5, num_classes=num_classes,
                         parsing_input=parsing_input)


def local_patch_boxes(mask: torch.Tensor, size: int | tuple[int, int] = LOCAL_SIZE) -> torch.Tensor:
    """For each image, a ``size`` box centred on its hole's bounding box, shifted inside the image.

    Returns int64 ``B x 4`` rows ``(top, left, bottom, right)`` (bottom/right exclusive). A hole
    larger than the box gets the box over its centre; an image without a hole gets a centred box.
    ``mask``: ``B x 1 x H x W`` or ``B x H x W``, nonzero (> 0.5) = hole.
    """
    if mask.ndim == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if mask.ndim != 3:
        raise ValueError(f"mask must be B x 1 x H x W or B x H x W, got {tuple(mask.shape)}")
    bh, bw = (size, size) if isinstance(size, int) else size
    _, h, w = mask.shape
    if bh > h or bw > w:
        raise ValueError(f"a {bh} x {bw} patch does not fit a {h} x {w} image")
    hole = (mask > 0.5).detach().cpu()
    boxes = []
    for m in hole:
        rows = torch.nonzero(m.any(dim=1)).flatten()
        cols = torch.nonzero(m.any(dim=0)).flatten()
        if rows.numel():
            cy = (int(rows[0]) + int(rows[-1]) + 1) / 2
            cx = (int(cols[0]) + int(cols[-1]) + 1) / 2
        else:
            cy, cx = h / 2, w / 2
        top = min(max(round(cy - bh / 2), 0), h - bh)
        left = min(max(round(cx - bw / 2), 0), w - bw)
        boxes.append((top, left, top + bh, left + bw))
    return torch.tensor(boxes, dtype=torch.int64).reshape(-1, 4)


def crop_boxes(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Crop ``boxes`` (``B x 4`` top, left, bottom, right; all the same size) out of a batch.

    Works for images/guidance ``B x C x H x W`` and label maps ``B x H x W``; differentiable.
    """
    if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.shape[0] != x.shape[0]:
        raise ValueError(f"boxes must be {x.shape[0]} x 4, got {tuple(boxes.shape)}")
    sizes = {(int(b[2] - b[0]), int(b[3] - b[1])) for b in boxes}
    if len(sizes) != 1:
        raise ValueError(f"boxes differ in size: {sorted(sizes)}")
    h, w = x.shape[-2:]
    crops = []
    for i, (top, left, bottom, right) in enumerate(boxes.tolist()):
        if top < 0 or left < 0 or bottom > h or right > w:
            raise ValueError(f"box {(top, left, bottom, right)} lies outside the {h} x {w} image")
        crops.append(x[i, ..., top:bottom, left:right])
    return torch.stack(crops)
