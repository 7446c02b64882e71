"""The completion pipeline: crop -> stage I parse -> stage II complete -> face -> blend.

Each hole (connected, with nearby holes merged) is handled on a crop around it with context,
scaled to the networks' working size; the whole photo is never shrunk. Stages run over all
regions before the next stage starts, so progress is reported per stage and a cancellation
request is honoured at every stage boundary.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..labels import UNKNOWN
from .blend import blend
from .regions import Region, expand_canvas, find_regions, from_work, to_work
from .request import Cancelled, CompletionRequest, CompletionResult, ProgressCallback
from .weights import ModelBundle, cpu_supports_bf16


@dataclass
class _Work:
    """One region's tensors and arrays at working resolution."""

    region: Region
    image: np.ndarray  # work h x w x 3 uint8
    hole: np.ndarray  # work h x w bool
    parsing: np.ndarray | None = None  # work h x w uint8
    result: np.ndarray | None = None  # work h x w x 3 uint8


class Completer:
    """Runs the networks of a :class:`ModelBundle` over a request. Not thread-safe; one per engine."""

    def __init__(self, bundle: ModelBundle, device: torch.device | str = "cpu", *, max_work_side: int = 512,
                 precision: str = "auto"):
        """``precision``: "auto" runs the networks in float16 on CUDA and in bfloat16 on CPUs with
        native bf16 support (about 2.5x faster there), "fp32" always in float32."""
        if precision not in ("auto", "fp32"):
            raise ValueError(f"precision must be auto or fp32, got {precision!r}")
        self.bundle = bundle
        self.device = torch.device(device)
        self.max_work_side = max_work_side
        self.precision = precision
        bundle.to(self.device)
        if self.device.type == "cpu":  # oneDNN's fast path on CPUs
            for net in (bundle.parsing, bundle.completion, bundle.extrapolation, bundle.face):
                if net is not None:
                    net.to(memory_format=torch.channels_last)

    # -- public -------------------------------------------------------------------------------------
    def run(
        self,
        request: CompletionRequest,
        progress: ProgressCallback | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        on_parsing: Callable[[np.ndarray], None] | None = None,
    ) -> CompletionResult:
        """``on_parsing(labels)`` receives the full-canvas parsing map as soon as stage I is done
        (the editor shows it before completion finishes)."""
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        report = progress or (lambda stage, fraction: None)

        def checkpoint() -> None:
            if is_cancelled is not None and is_cancelled():
                raise Cancelled()

        image, hole = self._prepare(request)
        parsing_full = self._prepare_parsing(request, hole.shape)
        regions = find_regions(hole, max_work_side=self.max_work_side)
        works = [self._to_work(image, hole, region) for region in regions]

        checkpoint()
        t = time.perf_counter()
        if parsing_full is None:
            report("parsing", 0.0)
            parsing_full = np.full(hole.shape, UNKNOWN, dtype=np.uint8)
            for i, work in enumerate(works):
                work.parsing = self._parse(work)
                _paste_labels(parsing_full, work.parsing, work.region)
                report("parsing", (i + 1) / len(works))
        else:
            for work in works:
                work.parsing = _labels_to_work(parsing_full, work.region)
        timings["parsing"] = time.perf_counter() - t
        if on_parsing is not None:
            on_parsing(parsing_full.copy())

        checkpoint()
        t = time.perf_counter()
        report("completion", 0.0)
        for i, work in enumerate(works):
            work.result = self._complete(work)
            report("completion", (i + 1) / len(works))
        timings["completion"] = time.perf_counter() - t

        checkpoint()
        t = time.perf_counter()
        if request.use_face and self.bundle.face is not None:
            report("face", 0.0)
            for i, work in enumerate(works):
                self._refine_face(work)
                report("face", (i + 1) / len(works))
        timings["face"] = time.perf_counter() - t

        checkpoint()
        t = time.perf_counter()
        report("blending", 0.0)
        fill = image.copy()
        for work in works:
            _paste_fill(fill, hole, work)
        if request.blend:
            out = blend(image, fill, hole)
        else:
            out = np.where(hole[..., None], fill, image)
        report("blending", 1.0)
        timings["blending"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t_start
        return CompletionResult(image=out, parsing=parsing_full, mask=hole, timings=timings, regions=regions)

    # -- preparation --------------------------------------------------------------------------------
    @staticmethod
    def _prepare(request: CompletionRequest) -> tuple[np.ndarray, np.ndarray]:
        image = np.ascontiguousarray(request.image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be H x W x 3 uint8, got {image.shape} {image.dtype}")
        mask = request.mask
        if mask is not None:
            mask = np.asarray(mask).astype(bool)
            if mask.shape != image.shape[:2]:
                raise ValueError(
                    f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is {image.shape[1]}x{image.shape[0]}"
                )
        image, hole = expand_canvas(image, mask, request.margins)
        if not hole.any():
            raise ValueError("nothing to fill: the mask is empty and no margins were given")
        if hole.all():
            raise ValueError("nothing to go on: the hole covers the whole image")
        return image, hole

    @staticmethod
    def _prepare_parsing(request: CompletionRequest, shape: tuple[int, int]) -> np.ndarray | None:
        if request.parsing is None:
            return None
        parsing = np.asarray(request.parsing)
        if parsing.shape != shape:
            raise ValueError(
                f"parsing map is {parsing.shape[1]}x{parsing.shape[0]} but the canvas is {shape[1]}x{shape[0]}"
            )
        return parsing.astype(np.uint8, copy=True)

    @staticmethod
    def _to_work(image: np.ndarray, hole: np.ndarray, region: Region) -> _Work:
        y, x = region.crop_slices()
        work_image = to_work(image[y, x], region)
        # A work pixel is hole when any of the pixels it covers is: never lets hole leak as context.
        work_hole = to_work(hole[y, x].astype(np.float32), region) > 0
        return _Work(region=region, image=work_image, hole=work_hole)

    # -- network calls ------------------------------------------------------------------------------
    def _tensors(self, work: _Work, image: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Image in [-1, 1] with the hole filled by the training mean colour, and the mask."""
        image = work.image if image is None else image
        x = torch.from_numpy(image).to(self.device).permute(2, 0, 1).float().div(127.5).sub(1.0)[None]
        m = torch.from_numpy(work.hole).to(self.device).float()[None, None]
        fill = torch.tensor(self.bundle.hole_fill, device=self.device).view(1, 3, 1, 1) * 2 - 1
        return x * (1 - m) + fill * m, m

    def _autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        if self.device.type == "cpu" and cpu_supports_bf16():
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def _parse(self, work: _Work) -> np.ndarray:
        x, m = self._tensors(work)
        with self._autocast():
            out = self.bundle.parsing(x, m)
        return out.p.argmax(1)[0].to(torch.uint8).cpu().numpy()

    @torch.inference_mode()
    def _complete(self, work: _Work) -> np.ndarray:
        x, m = self._tensors(work)
        net = self.bundle.completion
        if work.region.touches_border and self.bundle.extrapolation is not None:
            net = self.bundle.extrapolation
        parsing = torch.from_numpy(work.parsing.astype(np.int64)).to(self.device)[None]
        with self._autocast():
            y = net(x, parsing, m).float()
        y = x * (1 - m) + y * m
        return _to_uint8(y)

    @torch.inference_mode()
    def _refine_face(self, work: _Work) -> None:
        """Paper III-C: a window around the face's centre of mass goes through F at its crop size."""
        labels = self.bundle.label_set
        if not labels.has("face") or work.parsing is None or work.result is None:
            return
        face = work.parsing == labels.id("face")
        if np.count_nonzero(face & work.hole) < 16:
            return
        ys, xs = np.nonzero(face)
        cy, cx = ys.mean(), xs.mean()
        extent = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
        h, w = work.hole.shape
        # The paper's 64x64 window at 256x256 holds the face with some margin: keep that ratio.
        side = int(min(h, w, max(32, round(1.4 * extent))))
        y0 = int(np.clip(round(cy - side / 2), 0, h - side))
        x0 = int(np.clip(round(cx - side / 2), 0, w - side))
        win = (slice(y0, y0 + side), slice(x0, x0 + side))
        size = int(getattr(self.bundle.face.config, "crop_size", 64))
        crop_img = cv2.resize(work.result[win], (size, size), interpolation=cv2.INTER_AREA)
        crop_hole = cv2.resize(work.hole[win].astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
        crop_lab = cv2.resize(work.parsing[win], (size, size), interpolation=cv2.INTER_NEAREST)
        x = torch.from_numpy(crop_img).to(self.device).permute(2, 0, 1).float().div(127.5).sub(1.0)[None]
        m = torch.from_numpy(crop_hole).to(self.device).float()[None, None]
        p = torch.from_numpy(crop_lab.astype(np.int64)).to(self.device)[None]
        with self._autocast():
            residual = self.bundle.face(x, p, m).float()
        residual = residual[0].permute(1, 2, 0).cpu().numpy() * 127.5
        residual = cv2.resize(residual, (side, side), interpolation=cv2.INTER_LINEAR)
        region = work.result[win].astype(np.float32)
        refined = np.clip(region + residual, 0, 255).round().astype(np.uint8)
        hole = work.hole[win]
        work.result[win][hole] = refined[hole]


def _to_uint8(y: torch.Tensor) -> np.ndarray:
    return ((y[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def _labels_to_work(parsing_full: np.ndarray, region: Region) -> np.ndarray:
    y, x = region.crop_slices()
    return to_work(parsing_full[y, x], region, nearest=True)


def _paste_labels(parsing_full: np.ndarray, labels: np.ndarray, region: Region) -> None:
    y, x = region.crop_slices()
    parsing_full[y, x] = from_work(labels, region, nearest=True)


def _paste_fill(fill: np.ndarray, hole: np.ndarray, work: _Work) -> None:
    """Upscale the region's result to the crop's size and write its hole pixels into ``fill``."""
    y, x = work.region.crop_slices()
    result = from_work(work.result, work.region)
    # Only the hole: context pixels stay the original's (the blend band reads them).
    crop_hole = hole[y, x]
    fill[y, x][crop_hole] = result[crop_hole]
