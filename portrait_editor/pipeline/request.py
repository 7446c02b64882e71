"""What goes into and comes out of the pipeline: plain data, importable without torch.

The editor builds requests on its GUI thread, which must never import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .regions import Margins, Region

STAGES = ("parsing", "completion", "face", "detail", "blending")

ProgressCallback = Callable[[str, float], None]
"""Called as ``progress(stage, fraction_done_within_stage)``."""


class Cancelled(Exception):
    """Raised by :meth:`Completer.run` when ``is_cancelled()`` turned true between stages."""


@dataclass
class CompletionRequest:
    image: np.ndarray
    """H x W x 3 uint8 RGB photo."""
    mask: np.ndarray | None = None
    """H x W bool, True = fill. May be None when margins grow the canvas."""
    margins: Margins = field(default_factory=lambda: Margins(0, 0, 0, 0))
    parsing: np.ndarray | None = None
    """User-given label map at the *expanded* canvas size; skips stage I. 255 = let G decide."""
    use_face: bool = True
    """The face stage: F refines a face in the hole, and the other side of the face is mirrored
    into a hole over one side (``mirror_face``)."""
    mirror_face: bool = True
    """A hole over one side of a symmetric face takes the other side, mirrored (``pipeline.face``;
    only with ``use_face``)."""
    use_detail: bool = True
    """Add full-resolution texture and grain from the photo to the upscaled fill (``pipeline.detail``):
    PatchMatch's exemplar where the parsing says background, its texture over the network's
    shapes on the person (docs/MODELS.md, session 14)."""
    blend: bool = True


@dataclass
class CompletionResult:
    image: np.ndarray
    """The completed photo at full resolution (the expanded canvas when margins were given)."""
    parsing: np.ndarray
    """H x W uint8 label ids around the holes; ``labels.UNKNOWN`` where no region was parsed."""
    mask: np.ndarray
    """The hole that was filled, at the result's size."""
    timings: dict[str, float]
    regions: list[Region]
