"""Face refinement network F (Wu et al. 2019, Sec. III-C, Fig. 4).

F sees a crop of G's result around the face (64 x 64 in the paper), with the cropped parsing and
mask, and returns a residual: ``refined = clamp(image + residual, -1, 1)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .completion import GuidedGenerator
from .config import FaceConfig


class FaceNet(GuidedGenerator):
    """F: G's architecture with fewer residual blocks (see :class:`FaceConfig`), residual output.

    The residual is ``2 * tanh(last_conv)``: bounded to [-2, 2], the full span between any two
    images in [-1, 1], so F can move a pixel anywhere but never explode. The last conv is zero-
    initialised, so an untrained F is the identity (residual exactly 0) and training starts from
    G's result rather than from noise. Any input size works (the crop size is the caller's choice).
    """

    def __init__(self, config: FaceConfig) -> None:
        super().__init__(config)
        nn.init.zeros_(self.last.weight)
        nn.init.zeros_(self.last.bias)

    def forward(self, image: torch.Tensor, parsing: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return 2 * torch.tanh(self._raw(image, parsing, mask))
