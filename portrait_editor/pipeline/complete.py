"""The completion pipeline: stage I parse -> crop -> stage II complete -> face -> detail -> blend.

The networks were trained on photos in which the person spans the frame at a fixed size (about
256 px tall for the paper, less for CPU-trained weights); they must see people at that size.
Stage I therefore parses a view of the whole canvas scaled to P's training size, measures the
person in it and, when the person is much smaller or larger than P expects, parses again a view
around the person at P's scale. Each hole (connected, with nearby holes merged) is then handled
on a crop around it, scaled so the person has the size G was trained on; the result is scaled
back and blended into the full-resolution photo, which is never shrunk as a whole. Networks
trained on crops at random zoom ("crop" framing in their weights' metadata) need no person
size: each hole's crop is worked on at the photo's own scale, shrunk only to fit. Stages run
over all regions before the next stage starts, so progress is reported per stage and a
cancellation request is honoured at every stage boundary.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..labels import UNKNOWN
from ..models.blocks import fold_batch_norms
from .blend import blend
from .detail import Exemplars, add_detail, start_exemplars, texture_groups
from .face import mirror_face
from .regions import (
    MAX_UPSCALE,
    Box,
    Region,
    bounding_box,
    enlarge_box,
    expand_canvas,
    find_regions,
    from_work,
    shrink_mask,
    to_work,
)
from .request import Cancelled, CompletionRequest, CompletionResult, ProgressCallback
from .structure import (
    body_weight,
    clear_detached_heads,
    clear_heads_inside_holes,
    clear_stray_faces,
    continues_legs,
    end_neck_below,
    extend_below,
)
from .weights import ModelBundle, cpu_supports_bf16, training_config

PERSON_FILL = 0.95
"""Fraction of the training photo's height the person spans (measured: VITON 0.99, CCP 0.92)."""

BORDER_MIN_CONFIDENCE = math.inf
"""P's labels beyond the photo's border below this softmax probability are left UNKNOWN (for an
extrapolation network trained with unknown labels): by default all of them, so G extrapolates
from the photo and the user can paint labels into the margins to steer it. P's guesses there are
poor (mIoU 0.14 in the CCP bands); ``benchmarks/label_gates.py`` on the 40 CCP validation bands
(L1 / BPE): P's labels above 0.9 29.05 / 12.43, above 0.97 29.12 / 12.40, never 28.88 / 12.32."""
CROP_WORK_FACTOR = 2.0
"""A G trained on crops at random zoom works on crops up to this many times its training side
(its Fourier blocks see the whole crop at any size; beyond about 2x, fills get flatter)."""
CROP_OUTWARD_FACTOR = 1.0
"""An extrapolation network trained on crops at random zoom ("crop" framing) sees the grown
canvas fitted to this many times its training size."""
OUTWARD_TURNS = True
"""That training size is turned to the canvas's orientation: to a convolutional network
trained on crops the frame's shape means nothing, and a landscape canvas fitted to the upright
256x176 was worked on at 2/3 of the scale of the same canvas turned upright."""
_PERSON_MIN_FRACTION = 0.005  # fewer person pixels than this in a view: no person found
_REPARSE_RATIO = 2.0  # parse again around a person smaller (or larger) than P expects by this much
# (not less: a P that misses the feet under a hole measures the person 20-30 % short, and zooming
# in on that makes it miss more)
_MAX_VIEW_SIDE = 1024  # a parsing view is never larger than this
_MAX_SMOOTH_PIXELS = 1 << 20  # a view's logits are enlarged to at most this many pixels before the argmax
CROP_BORDER_MIN_CONFIDENCE = 0.7
"""For a P trained on crops with bands cut from every side ("crop" framing), its labels beyond
the photo's border are kept from this softmax probability up; the body prior fills the rest.
P's weights may name their own gate (``border_min_confidence`` in ``parsing.json``, measured
for those weights: the session 8 P's is 0.6); this is the default for weights that do not.
``benchmarks/body_prior.py --gates 0,0.5,0.7`` on the 20 CCP bottom bands with the session 7 P
(shoe IoU / leg+shoe mIoU / bands with shoes drawn): P's labels everywhere 0.132 / 0.263 / 14,
from 0.5 with the prior 0.230 / 0.316 / 20, from 0.7 0.251 / 0.333 / 19 (the session 6 P was
best from 0.5: 0.237 / 0.314 / 19)."""
DECONV_OUTPUT_TAPS = 3
"""The output of a G with transposed convolutions (``upsample: deconv``: the paper's preset, and
the ``extrapolation_body`` shipped until session 13) goes through :func:`remove_checkerboard`
with this many taps (0: none) at its working size: its 2-px checkerboard showed as a herringbone
hatch over the ground below feet."""
BODY_BAND_SCENE_MARGIN = 0.005
"""In a band that goes to ``extrapolation_body`` (legs and feet below the photo), the person's
labels, shrunk by this fraction of the work crop's longer side (``structure.body_weight``), may
keep that network's fill while the rest of the band (floor, grass, a street) and the body's
outline take the ``extrapolation`` network's: when the body network's ground is far from the
colour of the photo's ground next to the band and the other network's is near
(``GROUND_MAX_ERROR``). 0: the body network always fills the whole band. Trained on CCP's streets
alone, the body network drew a wooden floor as grey pavement; the other network has seen photos
of every kind, but draws CCP's pavements worse."""
GROUND_REFERENCE = 0.15
"""``_photo_ground``'s reference: the photo's background within this fraction of the crop's
longer side from the band."""
GROUND_MAX_ERROR = 0.5
"""The body network's ground is kept unless its mean colour is further than this (on the networks'
-1..1 scale: 64 of 255) from the photo's ground next to the band, and the general network's is at
least twice as near. On the 20 CCP bottom bands the session 3 body network's ground was 0.05-0.74
from the photo's (median 0.24) and still nearer the truth than the general network's, whose
ground is nearer the photo's (CCP's pavements darken towards the camera, which the body network
learned): the general network's ground cost 1.4 of L1 there. Under the kimono on a wooden floor
(an ImageNet photo) its grey pavement was 0.77 away, the general network's brown floor 0.21. The
session 13 body network's ground is 0.07-0.48 from the photo's on those bands (median 0.21) and
0.60 under the kimono, so the switch still happens there alone."""
MARGIN_DIFFUSION = 0.5
"""In a band grown below or beside the photo that the ``extrapolation`` network fills (under a
portrait, beside a scene: not legs, which go to ``extrapolation_body``), this share of the fill's
colours (below a Gaussian of ``MARGIN_DIFFUSION_SIGMA``) is taken from the photo's edge diffused
into the band (OpenCV's Navier-Stokes inpainting) instead of the network's; the network's shapes
and everything finer stay (0: the network's colours alone). Where it is unsure the network paints
a pale grey-brown: the sample astronaut's orange suit faded to grey under her. On the 10 bottom
bands of ``training.evaluate --task wild-extrapolation --limit 10`` L1 in the band fell by 1.1
and LPIPS by 0.005; on the 20 side bands of ``--task wild-sides --limit 10`` L1 / BPE / LPIPS
went from 34.88 / 15.92 / 0.1905 to 33.33 / 15.86 / 0.1831. Above the photo (8% bands over
CCP's heads, where the edge is hair and the truth a facade) it made L1 worse by 0.45, so the top
margin keeps the network's colours. Not with labels the user painted: they say what goes there
(docs/MODELS.md, session 19)."""
MARGIN_DIFFUSION_SIGMA = 1.5
"""In px of the network's working resolution (what it could draw)."""
MARGIN_BY_CLASS = True
"""The diffused colours keep to the parsing map's texture classes (``diffuse_into_margin``'s
``classes``): the top that closes under a neck takes the top's colours, not the skin's above it.
On the 10 bottom bands of ``wild-extrapolation --limit 10``, with ``END_NECKS``, L1 in the band
fell by 1.0 (docs/MODELS.md, session 20)."""
MARGIN_CLASS_SOURCES = 64
"""A class's band pixels take their colours from that class when the photo shows at least this
many of its pixels (on the diffusion's copy; else from every class)."""
MARGIN_CLASS_OUTLINE = 2
"""A class's pixels within this many px of the diffusion's copy from its outline are not its
sources: there the photo blends two classes (the skin above a white top's edge tinted it pink)."""
MARGIN_PERSON_SHARE = 0.75
"""The share of ``MARGIN_DIFFUSION`` for band pixels of a person's class (a garment, hair, skin)
that took their colours from that class: the photo's own garment is a surer guide to its colour
than the network, which paints a top under a neck in the neck's colour. Background keeps
``MARGIN_DIFFUSION``: a scene changes away from the photo, a garment does not. On the 10 bottom
bands of ``wild-extrapolation --limit 10``, with ``MARGIN_CLASS_OUTLINE``, L1 in the band fell by
0.5 (docs/MODELS.md, session 21)."""
END_NECKS = True
"""Below a portrait, a neck that P runs down the band ends under the chin and the clothing closes
under it (``structure.end_neck_below``); G painted a column of skin to the canvas's bottom."""
FACE_RESIDUAL_TAPS = 5
"""The residual of an F with transposed convolutions (``upsample: deconv``) goes through
:func:`remove_checkerboard` with this many taps (0: none) at F's size, before it is enlarged to
the face: the two stride-2 transposed convolutions of the session 6 F (the shipped F resizes since
session 12) leave 2- and 4-px checkerboards in it, which at a 500-px face became a grid of 8-px squares over
the eyes and nose."""


@dataclass
class _ParseView:
    """Stage I's output for one view: ``box`` of the canvas seen at ``scale`` (view px per canvas px)."""

    box: Box
    scale_y: float
    scale_x: float
    logits: torch.Tensor  # 1 x C x h x w, float32, CPU, channels last

    def labels(self) -> np.ndarray:
        return _argmax_labels(self.logits)

    def paste(self, full: np.ndarray) -> None:
        """Write the view's labels into the canvas-size map: the logits are enlarged bilinearly
        (up to 4x and ``_MAX_SMOOTH_PIXELS``, which keeps memory and time small) before the
        argmax, so label borders are smooth rather than view-pixel blocks; the rest of the way
        is nearest neighbour."""
        _, _, vh, vw = self.logits.shape
        factor = min(4.0, self.box.height / vh, self.box.width / vw, math.sqrt(_MAX_SMOOTH_PIXELS / (vh * vw)))
        if factor > 1.0:
            # OpenCV enlarges the 21 channel planes (channels last) 6x faster than torch
            planes = self.logits[0].permute(1, 2, 0).contiguous().numpy()
            size = (max(vw, int(round(vw * factor))), max(vh, int(round(vh * factor))))
            smooth = cv2.resize(planes, size, interpolation=cv2.INTER_LINEAR)
            labels = torch.from_numpy(smooth).argmax(2).to(torch.uint8).numpy()
        else:
            labels = self.labels()
        full[self.box.slices()] = cv2.resize(labels, (self.box.width, self.box.height),
                                             interpolation=cv2.INTER_NEAREST)

    def sample(self, region: Region, hole: np.ndarray | None = None, min_confidence: float = 0.0) -> np.ndarray:
        """Labels at ``region``'s working size: the logits resampled bilinearly, then argmax
        (smooth label borders, not blocks, when the work crop is finer than the view). Inside
        ``hole`` (work size), labels whose softmax probability is below ``min_confidence``
        become ``UNKNOWN``: no guidance rather than a guess."""
        wh, ww = region.work_size
        crop = region.crop
        _, _, vh, vw = self.logits.shape
        # Work pixel centres -> canvas coordinates -> view coordinates -> grid_sample's [-1, 1].
        ys = crop.y0 + (torch.arange(wh, dtype=torch.float32) + 0.5) * (crop.height / wh)
        xs = crop.x0 + (torch.arange(ww, dtype=torch.float32) + 0.5) * (crop.width / ww)
        gy = (ys - self.box.y0) * self.scale_y * (2.0 / vh) - 1.0
        gx = (xs - self.box.x0) * self.scale_x * (2.0 / vw) - 1.0
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]
        out = torch.nn.functional.grid_sample(self.logits, grid, mode="bilinear", padding_mode="border",
                                              align_corners=False)
        labels = _argmax_labels(out)
        if hole is not None and min_confidence > 0:
            confidence = out.softmax(1).amax(1)[0].numpy()
            labels[hole & (confidence < min_confidence)] = UNKNOWN
        return labels


def _argmax_labels(logits: torch.Tensor) -> np.ndarray:
    """The label map (h x w uint8) of 1 x C x h x w logits. The argmax runs over channels-last
    memory: over the usual layout it reads C strided planes and took 1.4 s for a 12 MP canvas's
    enlarged logits (one thread), against 0.15 s."""
    return logits.contiguous(memory_format=torch.channels_last).argmax(1)[0].to(torch.uint8).numpy()


def person_box(labels: np.ndarray, background: int = 0) -> Box | None:
    """The box holding the person in a label map (0.5th to 99.5th percentile of the person's
    rows and columns, so stray pixels do not count), or None when there is hardly any person."""
    person = (labels != background) & (labels != UNKNOWN)
    count = int(np.count_nonzero(person))
    if count < _PERSON_MIN_FRACTION * person.size:
        return None

    def extent(profile: np.ndarray) -> tuple[int, int]:
        cumulative = np.cumsum(profile)
        lo = int(np.searchsorted(cumulative, 0.005 * count, side="right"))
        hi = int(np.searchsorted(cumulative, 0.995 * count, side="left")) + 1
        return lo, max(hi, lo + 1)

    y0, y1 = extent(person.sum(1))
    x0, x1 = extent(person.sum(0))
    return Box(y0, x0, y1, x1)


def _view_scale(canvas: tuple[int, int], trained: tuple[int, int]) -> float:
    """Scale at which the whole canvas fits the training photos' size, as the training data
    augmentation fits each photo (``training.datasets.augment``)."""
    return min(MAX_UPSCALE, trained[0] / canvas[0], trained[1] / canvas[1])


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
        self.detail_method = "exemplar"
        """How the detail stage copies the photo's texture: "exemplar" (PatchMatch at full
        resolution; "pieces" where PyPatchMatch is missing), "pieces" (irregular two-dimensional
        pieces of the residual), "patch" (cells with propagation) or "cra" (attention); see
        ``pipeline.detail``."""
        self.body_prior = True
        """Below the photo, where P's labels are unknown, legs go on down and shoes go where the
        body's proportions put the feet (``structure.extend_below``)."""
        self.border_min_confidence = 0.0
        """In holes at the border, P's labels below this softmax probability are left unknown.
        Only for an extrapolation network trained with unknown labels in its holes: P guesses
        what lies beyond the frame far less reliably than what lies under an occluder."""
        if bundle.extrapolation is not None:
            resolved = training_config(bundle.metadata.get("extrapolation", {}))
            if float(resolved.get("unknown_in_hole", 0) or 0) > 0:
                self.border_min_confidence = BORDER_MIN_CONFIDENCE
        if bundle.trained_framing("parsing") == "crop":
            gate = bundle.metadata.get("parsing", {}).get("border_min_confidence", CROP_BORDER_MIN_CONFIDENCE)
            self.border_min_confidence = float(gate)
        bundle.to(self.device)
        for net in bundle.networks():
            fold_batch_norms(net)  # eval-mode nets only: their norms are fixed affine maps
        if self.device.type == "cpu":  # oneDNN's fast path on CPUs
            for net in bundle.networks():
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

        checkpoint()
        t = time.perf_counter()
        view = None
        if parsing_full is None:
            report("parsing", 0.0)
            view, person_height = self._stage_one(image, hole, lambda f: report("parsing", 0.9 * f))
            parsing_full = np.zeros(hole.shape, dtype=np.uint8)
            view.paste(parsing_full)
        else:  # the user's map: people are whatever is not background
            box = person_box(parsing_full)
            person_height = None if box is None else float(box.height)
        margin = _margin_mask(hole.shape, request.margins)
        regions = self._regions(hole, person_height, margin)
        works = [self._to_work(image, hole, region) for region in regions]
        for work in works:
            if view is not None:
                gate = self.border_min_confidence if work.region.outward else 0.0
                work.parsing = self._region_view(image, hole, work.region, view).sample(work.region, work.hole, gate)
                _paste_labels(parsing_full, work.parsing, work.region)
            else:
                work.parsing = _labels_to_work(parsing_full, work.region)
        if view is not None:  # P's labels, not the user's (structure.py):
            # no face under a face's chin (P's faces on a suit or a helmet) ...
            self._relabel(parsing_full, works, clear_stray_faces(parsing_full, self.bundle.label_set))
            inner = hole & ~margin
            if inner.any():  # ... and no head appearing from nowhere inside a hole in the photo
                self._relabel(parsing_full, works,
                              clear_heads_inside_holes(parsing_full, inner, self.bundle.label_set))
        if view is not None and self.body_prior and request.margins.bottom > 0:
            # legs and shoes below the photo, where P leaves the labels unknown (structure.py)
            bottom = hole.shape[0] - request.margins.bottom
            parsing_full[:] = clear_detached_heads(parsing_full, bottom, self.bundle.label_set)
            if END_NECKS:  # the clothing closes under a portrait's neck
                parsing_full[:] = end_neck_below(parsing_full, bottom, self.bundle.label_set)
            parsing_full[:] = extend_below(parsing_full, bottom, self.bundle.label_set)
            for work in works:
                if work.region.outward:
                    work.parsing = _labels_to_work(parsing_full, work.region)
        if view is not None:
            report("parsing", 1.0)
        timings["parsing"] = time.perf_counter() - t
        if on_parsing is not None:
            on_parsing(parsing_full.copy())

        checkpoint()
        exemplars = None
        if request.use_detail and self.detail_method == "exemplar":
            # PatchMatch needs only the photo and the labels: it runs while the networks do
            exemplars = start_exemplars(image, hole, regions, parsing_full, self.bundle.label_set)
        try:
            with _cores_shared_with(exemplars, self.device):
                t = time.perf_counter()
                report("completion", 0.0)
                for i, work in enumerate(works):
                    work.result = self._complete(work)
                    report("completion", (i + 1) / len(works))
                fill = image.copy()
                for work in works:
                    _paste_fill(fill, hole, work)
                _, right, bottom, left = request.margins
                if MARGIN_DIFFUSION > 0 and view is not None and (right or bottom or left):
                    # pale bands below and beside the photo: the photo's colours go on (not above it)
                    beyond = _margin_mask(hole.shape, (0, right, bottom, left))
                    label_set = self.bundle.label_set
                    groups = texture_groups(label_set)
                    classes = groups[parsing_full] if MARGIN_BY_CLASS else None
                    background = int(groups[label_set.id("background")]) if label_set.has("background") else None
                    for work in works:
                        if work.region.outward and self._network(work) is not self.bundle.extrapolation_body:
                            diffuse_into_margin(image, fill, hole, work.region, beyond, classes=classes,
                                                background=background, person_share=MARGIN_PERSON_SHARE)
                timings["completion"] = time.perf_counter() - t

                checkpoint()
                t = time.perf_counter()
                self._faces(request, image, fill, hole, parsing_full, works, report)
                timings["face"] = time.perf_counter() - t

            checkpoint()
            t = time.perf_counter()
            if request.use_detail:  # full-resolution texture and grain from the photo (pipeline/detail.py)
                report("detail", 0.0)
                fill = add_detail(image, fill, hole, regions, parsing_full, self.bundle.label_set,
                                  method=self.detail_method, inplace=True, progress=lambda f: report("detail", f),
                                  exemplars=exemplars)
            timings["detail"] = time.perf_counter() - t
        finally:
            if exemplars is not None:
                exemplars.cancel()

        checkpoint()
        t = time.perf_counter()
        report("blending", 0.0)
        if request.blend:
            out = blend(image, fill, hole)
        else:
            out = np.where(hole[..., None], fill, image)
        report("blending", 1.0)
        timings["blending"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t_start
        return CompletionResult(image=out, parsing=parsing_full, mask=hole, timings=timings, regions=regions)

    @staticmethod
    def _relabel(parsing_full: np.ndarray, works: list[_Work], cleared: np.ndarray) -> None:
        """``parsing_full`` becomes ``cleared`` (in place), and the works' labels follow it."""
        if cleared is parsing_full:
            return
        changed = cleared != parsing_full
        parsing_full[:] = cleared
        for work in works:
            if changed[work.region.crop_slices()].any():
                work.parsing = _labels_to_work(parsing_full, work.region)

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

    def _person_scale(self, role: str, person_height: float | None, canvas: tuple[int, int]) -> float:
        """Scale at which the person is as tall as in ``role``'s training photos."""
        trained = self.bundle.trained_size(role)
        if not person_height:
            return _view_scale(canvas, trained)
        return min(MAX_UPSCALE, PERSON_FILL * trained[0] / person_height)

    def _regions(self, hole: np.ndarray, person_height: float | None, margins: np.ndarray) -> list[Region]:
        """Crops for stage II. A G trained on crops at random zoom ("crop" framing) gets each
        hole with as much context again on every side, at the photo's own scale, shrunk only to
        fit ``CROP_WORK_FACTOR`` x its training size and never enlarged (IOPaint's crop strategy). A G trained on
        whole photos ("fit") sees the person at its training height: holes inside the photo use
        the person's height; holes reaching into the canvas ``margins`` (extrapolation: the
        person is cut off by the frame, so its visible height says little) use the canvas,
        fitted to the extrapolation network's training size as its training photos were: after
        the user drags the border outwards, the canvas is the frame the whole person should fill."""
        outward = None
        if self.bundle.extrapolation is not None:
            trained = self.bundle.trained_size("extrapolation")
            if self.bundle.trained_framing("extrapolation") == "crop":
                trained = (round(trained[0] * CROP_OUTWARD_FACTOR), round(trained[1] * CROP_OUTWARD_FACTOR))
                if OUTWARD_TURNS and (hole.shape[1] > hole.shape[0]) != (trained[1] > trained[0]):
                    trained = trained[::-1]
            outward = _view_scale(hole.shape, trained)
        if self.bundle.trained_framing("completion") == "crop":
            side = int(CROP_WORK_FACTOR * max(self.bundle.trained_size("completion")))
            # min_work_side=1: small crops are not enlarged (training enlarged crops at most 1.4x)
            return find_regions(hole, max_work_side=min(self.max_work_side, side), min_work_side=1,
                                target_scale=None, outward_target_scale=outward, outward=margins)
        target = self._person_scale("completion", person_height, hole.shape)
        return find_regions(hole, max_work_side=self.max_work_side, target_scale=target,
                            outward_target_scale=outward, outward=margins)

    def _stage_one(self, image: np.ndarray, hole: np.ndarray,
                   report: Callable[[float], None]) -> tuple[_ParseView, float | None]:
        """Parse the whole canvas at P's training size; when the person found there is far from
        the size P expects, parse again a view around the person at P's scale. Returns the view
        and the person's height in canvas px (None: no person found).

        A P trained on crops at random zoom ("crop" framing) has no size to expect: it parses the
        whole canvas shrunk to ``CROP_WORK_FACTOR`` x its training side (never enlarged), and
        each hole's own crop again at that crop's scale (:meth:`_region_view`)."""
        canvas = hole.shape
        trained = self.bundle.trained_size("parsing")
        if self.bundle.trained_framing("parsing") == "crop":
            scale = min(1.0, CROP_WORK_FACTOR * max(trained) / max(canvas))
            view = self._parse_view(image, hole, Box(0, 0, *canvas), scale)
            found = person_box(view.labels())
            return view, None if found is None else found.height / view.scale_y
        view = self._parse_view(image, hole, Box(0, 0, *canvas), _view_scale(canvas, trained))
        report(0.5)
        found = person_box(view.labels())
        if found is None:
            return view, None
        height = found.height / view.scale_y
        scale = min(MAX_UPSCALE, PERSON_FILL * trained[0] / height)
        if 1 / _REPARSE_RATIO <= scale / view.scale_y <= _REPARSE_RATIO:
            return view, height
        # The person's box in canvas pixels, with room around it for context.
        y0, x0 = found.y0 / view.scale_y, found.x0 / view.scale_x
        y1, x1 = found.y1 / view.scale_y, found.x1 / view.scale_x
        pad = 0.15 * height
        box = Box(max(0, int(y0 - pad)), max(0, int(x0 - pad)),
                  min(canvas[0], int(np.ceil(y1 + pad))), min(canvas[1], int(np.ceil(x1 + pad))))
        scale = min(scale, _MAX_VIEW_SIDE / max(box.height, box.width))
        closer = self._parse_view(image, hole, box, scale)
        again = person_box(closer.labels())
        # P misses parts more often than it invents them: keep the taller measurement.
        return closer, max(height, 0.0 if again is None else again.height / closer.scale_y)

    def _region_view(self, image: np.ndarray, hole: np.ndarray, region: Region, view: _ParseView) -> _ParseView:
        """The view a region's labels come from: the whole-canvas ``view``, or for a P trained
        on crops at random zoom, the region's own crop parsed at its working scale when that is
        much finer than the whole view (a 12 MP photo's canvas view is too coarse for a hand)."""
        if self.bundle.trained_framing("parsing") != "crop" or region.scale < _REPARSE_RATIO * view.scale_y:
            return view
        return self._parse_view(image, hole, region.crop, region.scale)

    @torch.inference_mode()
    def _parse_view(self, image: np.ndarray, hole: np.ndarray, box: Box, scale: float) -> _ParseView:
        vh = max(16, int(round(box.height * scale / 8)) * 8)
        vw = max(16, int(round(box.width * scale / 8)) * 8)
        crop = image[box.slices()]
        shrink = vh * vw < box.height * box.width
        pixels = cv2.resize(crop, (vw, vh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        # A view pixel is hole when any of the pixels it covers is: never lets hole leak as context.
        holes = shrink_mask(hole[box.slices()], (vh, vw))
        x, m = self._to_tensors(pixels, holes)
        with self._autocast():
            out = self.bundle.parsing(x, m)
        # channels last: the argmax over channels and OpenCV's enlargement read it as it is
        logits = out.p.float().cpu().contiguous(memory_format=torch.channels_last)
        return _ParseView(box, vh / box.height, vw / box.width, logits)

    @staticmethod
    def _to_work(image: np.ndarray, hole: np.ndarray, region: Region) -> _Work:
        y, x = region.crop_slices()
        work_image = to_work(image[y, x], region)
        # A work pixel is hole when any of the pixels it covers is: never lets hole leak as context.
        work_hole = to_work(hole[y, x].astype(np.float32), region) > 0
        return _Work(region=region, image=work_image, hole=work_hole)

    # -- network calls ------------------------------------------------------------------------------
    def _to_tensors(self, image: np.ndarray, hole: np.ndarray, fill_hole: bool = True
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Image in [-1, 1] with the hole filled by the training fill colour (unless
        ``fill_hole`` is False), and the mask."""
        x = torch.from_numpy(np.ascontiguousarray(image)).to(self.device).permute(2, 0, 1).float()
        x = x.div(127.5).sub(1.0)[None]
        m = torch.from_numpy(np.ascontiguousarray(hole)).to(self.device).float()[None, None]
        if not fill_hole:
            return x, m
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

    def _network(self, work: _Work) -> torch.nn.Module:
        """G for this region: the occlusion network inside the photo; beyond its border the
        extrapolation network, or the body's one where the labels in the hole continue legs or
        feet (``structure.continues_legs``)."""
        bundle = self.bundle
        if not work.region.outward:
            return bundle.completion
        if bundle.extrapolation_body is not None and continues_legs(work.parsing, work.hole, bundle.label_set):
            return bundle.extrapolation_body
        return bundle.extrapolation if bundle.extrapolation is not None else bundle.completion

    def _faces(self, request: CompletionRequest, image: np.ndarray, fill: np.ndarray, hole: np.ndarray,
               parsing: np.ndarray, works: list[_Work], report: ProgressCallback) -> None:
        """The face stage, in place on ``fill``: F where a hole covers a face, then the mirror."""
        if request.use_face and self.bundle.face is not None:
            report("face", 0.0)
            for i, work in enumerate(works):
                self._refine_face(fill, hole, parsing, work.region)
                report("face", (i + 1) / len(works))
        if request.use_face and request.mirror_face and self.bundle.label_set.has("face"):
            # the other side of the face, mirrored, where the hole covers one side (pipeline/face.py)
            labels = self.bundle.label_set
            hair = parsing == labels.id("hair") if labels.has("hair") else None
            mirror_face(image, fill, hole, parsing == labels.id("face"), hair)

    @torch.inference_mode()
    def _complete(self, work: _Work) -> np.ndarray:
        x, m = self._to_tensors(work.image, work.hole)
        net = self._network(work)
        parsing = torch.from_numpy(work.parsing.astype(np.int64)).to(self.device)[None]
        y = self._generate(net, x, parsing, m)
        scene_net = self.bundle.extrapolation
        if BODY_BAND_SCENE_MARGIN > 0 and net is self.bundle.extrapolation_body and scene_net is not None:
            # the body network has seen only CCP's streets: its ground turns every floor grey
            labels = self.bundle.label_set
            weight = body_weight(work.parsing, labels, BODY_BAND_SCENE_MARGIN * max(work.hole.shape))
            ground = (1 - weight) * work.hole
            photo = _photo_ground(x, work, labels.id("background") if labels.has("background") else 0)
            if photo is not None and ground.sum() >= 1:
                body_error = np.linalg.norm(_mean_colour(y, ground) - photo)
                if body_error > GROUND_MAX_ERROR:  # only then is the other network run
                    scene = self._generate(scene_net, x, parsing, m)
                    if np.linalg.norm(_mean_colour(scene, ground) - photo) < 0.5 * body_error:
                        w = torch.from_numpy(weight).to(self.device)[None, None]
                        y = w * y + (1 - w) * scene
        y = x * (1 - m) + y * m
        return _to_uint8(y)

    def _generate(self, net: torch.nn.Module, x: torch.Tensor, parsing: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """``net``'s output at working size, float32, without the checkerboard of transposed convolutions."""
        with self._autocast():
            y = net(x, parsing, m).float()
        if DECONV_OUTPUT_TAPS > 1 and _transposed_convolutions(net):
            y = remove_checkerboard(y, int(DECONV_OUTPUT_TAPS))
        return y

    @torch.inference_mode()
    def _refine_face(self, fill: np.ndarray, hole: np.ndarray, parsing: np.ndarray, region: Region) -> bool:
        """Paper III-C at the photo's resolution: a square window around the face (see
        :func:`face_window`) of the filled photo goes through F at F's crop size; F's residual is
        scaled back to the window and added inside the hole. G worked at the person's training
        scale, where a face is a few dozen pixels; F adds the detail at 64 x 64. Returns whether
        F ran (the hole must cover at least 16 px of face at G's scale)."""
        labels = self.bundle.label_set
        if not labels.has("face"):
            return False
        y, x = region.crop_slices()
        face = parsing[y, x] == labels.id("face")
        if np.count_nonzero(face & hole[y, x]) * region.scale**2 < 16:
            return False
        y0, x0, side = face_window(face)
        win = (slice(y.start + y0, y.start + y0 + side), slice(x.start + x0, x.start + x0 + side))
        size = int(getattr(self.bundle.face.config, "crop_size", 64))
        shrink = side > size
        crop_img = cv2.resize(fill[win], (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        crop_hole = cv2.resize(hole[win].astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) > 0
        crop_lab = cv2.resize(parsing[win], (size, size), interpolation=cv2.INTER_NEAREST)
        # F sees G's result in the hole (not the grey fill): it refines, it does not complete.
        x_in, m = self._to_tensors(crop_img, crop_hole, fill_hole=False)
        p = torch.from_numpy(crop_lab.astype(np.int64)).to(self.device)[None]
        with self._autocast():
            residual = self.bundle.face(x_in, p, m).float()
        if FACE_RESIDUAL_TAPS > 1 and _transposed_convolutions(self.bundle.face):
            residual = remove_checkerboard(residual, int(FACE_RESIDUAL_TAPS))
        residual = residual[0].permute(1, 2, 0).cpu().numpy() * 127.5
        # back to the window's size: enlarged smoothly when F worked below it (INTER_AREA enlarges
        # like nearest and drew F's pixels as a grid of blocks), averaged when F worked above it
        residual = cv2.resize(residual, (side, side), interpolation=cv2.INTER_LINEAR if shrink else cv2.INTER_AREA)
        inside = hole[win]
        refined = np.clip(fill[win].astype(np.float32) + residual, 0, 255).round().astype(np.uint8)
        fill[win][inside] = refined[inside]
        return True


def _photo_ground(x: torch.Tensor, work: _Work, background: int) -> np.ndarray | None:
    """The mean colour (networks' -1..1 scale) of the photo's ground next to the band: known
    pixels labelled ``background`` within ``GROUND_REFERENCE`` of the crop's longer side from the
    hole; None when the photo shows no background there."""
    near = cv2.distanceTransform((~work.hole).astype(np.uint8), cv2.DIST_L2, 3)
    reference = ~work.hole & (work.parsing == background) & (near <= GROUND_REFERENCE * max(work.hole.shape))
    if not reference.any():
        return None
    return x[0].permute(1, 2, 0).cpu().numpy()[reference].mean(0)


def _mean_colour(fill: torch.Tensor, weights: np.ndarray) -> np.ndarray:
    """``fill``'s (1 x 3 x H x W) mean colour under the H x W ``weights``."""
    f = fill[0].permute(1, 2, 0).cpu().numpy()
    return (f * weights[..., None]).sum((0, 1)) / weights.sum()


def _transposed_convolutions(net: torch.nn.Module) -> bool:
    """Whether ``net`` upsamples with transposed convolutions (its config says ``upsample: deconv``)."""
    return getattr(getattr(net, "config", None), "upsample", "") == "deconv"


def remove_checkerboard(t: torch.Tensor, taps: int) -> torch.Tensor:
    """``t`` (N x C x H x W) through a separable binomial filter of ``taps`` taps (odd, >= 3),
    borders reflected. Every such filter removes the 2-px period (the Nyquist frequency, where a
    stride-2 transposed convolution leaves its checkerboard) exactly; 3 taps halve the 4-px
    period and keep 85% of an 8-px one, 5 taps keep a quarter of the 4-px, 73% of an 8-px and
    93% of a 16-px period."""
    if taps < 3 or taps % 2 == 0:
        raise ValueError(f"taps must be odd and at least 3, got {taps}")
    kernel = torch.tensor([math.comb(taps - 1, k) for k in range(taps)], dtype=t.dtype, device=t.device)
    kernel = kernel / kernel.sum()
    c, r = t.shape[1], taps // 2
    t = torch.nn.functional.pad(t, (r, r, r, r), mode="reflect")
    t = torch.nn.functional.conv2d(t, kernel.view(1, 1, 1, taps).expand(c, 1, 1, taps), groups=c)
    return torch.nn.functional.conv2d(t, kernel.view(1, 1, taps, 1).expand(c, 1, taps, 1), groups=c)


def face_window(face: np.ndarray) -> tuple[int, int, int]:
    """``(y0, x0, side)`` of the square F works on: centred on the face's centre of mass, 1.4 x
    the face's larger extent (the paper's 64 px window at 256 px holds the face with that much
    margin), at least 16 px, inside the array. ``face`` must hold at least one face pixel."""
    ys, xs = np.nonzero(face)
    if len(ys) == 0:
        raise ValueError("no face pixels")
    h, w = face.shape
    extent = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    side = int(min(h, w, max(16, round(1.4 * extent))))
    y0 = int(np.clip(round(ys.mean() - side / 2), 0, h - side))
    x0 = int(np.clip(round(xs.mean() - side / 2), 0, w - side))
    return y0, x0, side


@contextlib.contextmanager
def _cores_shared_with(exemplars: Exemplars | None, device: torch.device):
    """While PatchMatch runs on a core of its own, torch on the CPU takes one thread fewer: more
    busy threads than cores make torch's threads wait for each other (G took twice as long)."""
    threads = torch.get_num_threads()
    if exemplars is None or device.type != "cpu" or threads < 2:
        yield
        return
    torch.set_num_threads(threads - 1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def diffuse_into_margin(image: np.ndarray, fill: np.ndarray, hole: np.ndarray, region: Region, beyond: np.ndarray,
                        share: float | None = None, sigma: float | None = None,
                        classes: np.ndarray | None = None, background: int | None = None,
                        person_share: float | None = None) -> None:
    """In place on ``fill``'s hole pixels in ``region`` that are set in ``beyond`` (canvas-size:
    the margins whose colours go on from the photo): ``share`` (``MARGIN_DIFFUSION``) of the
    fill's colours below a Gaussian of ``sigma`` (``MARGIN_DIFFUSION_SIGMA``) working px replaced
    by those of the photo diffused into the hole (Navier-Stokes inpainting). Worked out on the
    crop at twice the working resolution and added as a smooth correction: an 800 px band under a
    12 MP photo costs about 0.1 s. (On the holes' box alone, a few tens of ms less, the small
    copy's pixel grid moves and the wild margins measured 25.39 / 10.06 / 0.1812 against 25.31 /
    9.98 / 0.1812.)

    ``classes``: the canvas's texture class per pixel (``detail.texture_groups`` of the parsing map;
    -1: any). A band pixel of a class the photo's edge shows takes its colours from that class
    only: the garment closing under a neck from the garment, not from the neck's skin above it.
    Those of a class other than ``background`` take ``person_share`` of them (None: ``share``)."""
    share = MARGIN_DIFFUSION if share is None else share
    sigma = MARGIN_DIFFUSION_SIGMA if sigma is None else sigma
    sl = region.crop_slices()
    crop_hole = hole[sl]
    band = crop_hole & beyond[sl]
    if share <= 0 or not band.any() or crop_hole.all():
        return
    h, w = crop_hole.shape
    scale = min(1.0, 2 * region.scale)
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    resized = size != (w, h)  # (a crop under 8 px a side is enlarged)
    small_hole = shrink_mask(crop_hole, (size[1], size[0]))
    small = cv2.resize(image[sl], size, interpolation=cv2.INTER_AREA) if resized else image[sl]
    small = np.ascontiguousarray(small)
    diffused = cv2.inpaint(small, small_hole.astype(np.uint8) * 255, 3, cv2.INPAINT_NS)
    shares = None
    if classes is not None:
        small_classes = cv2.resize(classes[sl], size, interpolation=cv2.INTER_NEAREST)
        by_class = _diffuse_by_class(small, small_hole, small_classes, diffused)
        if background is not None:
            by_class &= small_classes != background
        if person_share is not None and person_share != share and by_class.any():
            shares = np.where(by_class, np.float32(person_share), np.float32(share))
    small_fill = cv2.resize(fill[sl], size, interpolation=cv2.INTER_AREA) if resized else fill[sl]
    s = sigma * scale / region.scale  # working px -> px of the small copy
    change = cv2.GaussianBlur(diffused.astype(np.float32), (0, 0), s) - cv2.GaussianBlur(
        small_fill.astype(np.float32), (0, 0), s)
    # (a share map changes as smoothly as the correction)
    change *= share if shares is None else cv2.GaussianBlur(shares, (0, 0), s)[..., None]
    # back to the crop's resolution over the band's box only (the correction is smooth)
    box = bounding_box(band)
    change = enlarge_box(change, (h, w), box)
    change[~band[box.slices()]] = 0
    target = fill[sl][box.slices()]
    np.copyto(target, cv2.add(target, change, dtype=cv2.CV_8U))  # rounded and saturated


def _diffuse_by_class(small: np.ndarray, small_hole: np.ndarray, classes: np.ndarray, diffused: np.ndarray
                      ) -> np.ndarray:
    """In place on ``diffused``: the hole pixels of each class (>= 0) diffused again from the known
    pixels of that class only (but those ``MARGIN_CLASS_OUTLINE`` px from its outline), where the
    photo shows at least ``MARGIN_CLASS_SOURCES`` of them. Returns the pixels diffused so."""
    taken = np.zeros(small_hole.shape, bool)
    for group in np.unique(classes[small_hole]):
        if group < 0:
            continue
        mine = small_hole & (classes == group)
        # the sources near those pixels only: the inpainting's cost grows with what it fills
        box = bounding_box(mine)
        box = box.grow(max(32, (box.height + box.width) // 8), mine.shape)
        sl = box.slices()
        sources = ~small_hole[sl] & (classes[sl] == group)
        if MARGIN_CLASS_OUTLINE > 0:
            sources = cv2.erode(sources.view(np.uint8), np.ones((3, 3), np.uint8),
                                iterations=MARGIN_CLASS_OUTLINE).view(bool)
        if np.count_nonzero(sources) < MARGIN_CLASS_SOURCES:
            continue
        own = cv2.inpaint(small[sl], (~sources).astype(np.uint8) * 255, 3, cv2.INPAINT_NS)
        diffused[sl][mine[sl]] = own[mine[sl]]
        taken[sl] |= mine[sl]
    return taken


def _margin_mask(shape: tuple[int, int], margins) -> np.ndarray:
    """The canvas pixels added by ``margins`` (beyond the photo)."""
    out = np.ones(shape, dtype=bool)
    t, r, b, left = margins
    out[t : shape[0] - b, left : shape[1] - r] = False
    return out


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
