"""``portrait-editor complete``: repair one photo or a folder of photos from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .imageio import (
    ImageError,
    depth_note,
    is_supported,
    load_image,
    load_label_map,
    load_mask,
    require_nonempty,
    save_image,
    save_label_map,
    save_parsing_preview,
)


class UsageError(Exception):
    """A problem with the command line itself (exit code 2)."""


@dataclass
class Job:
    """One photo to repair and where everything for it lives."""

    input: Path
    output: Path
    mask: Path | None
    parsing_in: Path | None
    parsing_out: Path | None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="portrait-editor complete",
        description="Fill holes in portraits (occluder removal) and extend the canvas (extrapolation). "
        "INPUT, MASK and OUTPUT are files, or folders for a batch (files matched by stem).",
    )
    parser.add_argument("input", metavar="INPUT", type=Path, help="photo, or a folder of photos")
    parser.add_argument("-m", "--mask", type=Path, help="mask (white or non-zero alpha = fill), or a folder")
    parser.add_argument("-o", "--output", type=Path, required=True, help="result file, or a folder")
    parser.add_argument("--margins", default=None, metavar="T,R,B,L",
                        help="grow the canvas by these pixels (top,right,bottom,left); the new area is filled")
    parser.add_argument("--parsing-in", type=Path, help="label map (8-bit ids) to use instead of stage I")
    parser.add_argument("--parsing-out", type=Path, help="write the label map here (+ a _preview.png)")
    parser.add_argument("--weights", type=Path, help="folder with the weights files")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32"),
                        help="auto: float16 on CUDA, bfloat16 on CPUs that support it; fp32: always float32")
    parser.add_argument("--no-face", action="store_true",
                        help="skip the face stage (the face network and the mirrored face)")
    parser.add_argument("--mirror-face", action=argparse.BooleanOptionalAction, default=True,
                        help="a hole over one side of a face takes the other side, mirrored, when the face "
                             "is symmetric enough (on by default; --no-mirror-face leaves it to the networks)")
    parser.add_argument("--detail", action=argparse.BooleanOptionalAction, default=True,
                        help="the full-resolution detail stage: texture and grain from the photo (on by "
                             "default; --no-detail leaves the networks' fill as it is)")
    parser.add_argument("--no-blend", action="store_true", help="paste without Poisson blending/feathering")
    parser.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality (default 95)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return parser


def plan_jobs(args: argparse.Namespace) -> list[Job]:
    """Pair inputs with masks and outputs; refuses any plan that would overwrite an input."""
    if not args.input.exists():
        raise UsageError(f"input '{args.input}' does not exist")
    if args.mask is None and args.margins is None:
        raise UsageError("give a mask (-m) or margins (--margins), or both")
    if args.input.is_dir():
        inputs = sorted(p for p in args.input.iterdir() if p.is_file() and is_supported(p))
        if not inputs:
            raise UsageError(f"input folder '{args.input}' holds no supported images")
        for name, path in (("mask", args.mask), ("parsing-in", args.parsing_in)):
            if path is not None and not path.is_dir():
                raise UsageError(f"INPUT is a folder, so --{name} must be a folder too: '{path}'")
        if args.output.exists() and not args.output.is_dir():
            raise UsageError(f"INPUT is a folder, so OUTPUT must be a folder: '{args.output}'")
        jobs = [
            Job(
                input=p,
                output=args.output / p.name,
                mask=_by_stem(args.mask, p.stem) if args.mask else None,
                parsing_in=_by_stem(args.parsing_in, p.stem) if args.parsing_in else None,
                parsing_out=args.parsing_out / f"{p.stem}.png" if args.parsing_out else None,
            )
            for p in inputs
        ]
    else:
        output = args.output / args.input.name if args.output.is_dir() else args.output
        if not output.suffix:
            output = output.with_suffix(args.input.suffix)
        jobs = [Job(args.input, output, args.mask, args.parsing_in, args.parsing_out)]
    protected = {p.resolve() for j in jobs for p in (j.input, j.mask, j.parsing_in) if p is not None}
    for job in jobs:
        for target in (job.output, job.parsing_out):
            if target is not None and target.resolve() in protected:
                raise UsageError(f"refusing to overwrite an input file: '{target}'")
        if not is_supported(job.output):
            raise UsageError(f"cannot write '{job.output}': unsupported image type")
    return jobs


def _by_stem(folder: Path, stem: str) -> Path | None:
    matches = sorted(p for p in folder.iterdir() if p.stem == stem and is_supported(p))
    return matches[0] if matches else None


def run_job(job: Job, completer, margins, args: argparse.Namespace) -> dict[str, float]:
    from .labels import UNKNOWN
    from .pipeline import CompletionRequest

    photo = load_image(job.input)
    height, width = photo.pixels.shape[:2]
    if job.mask is None and args.mask is not None:
        raise ImageError(f"no mask for '{job.input.name}' in '{args.mask}' (matched by file stem)")
    mask = load_mask(job.mask, size=(width, height)) if job.mask is not None else None
    if mask is not None and not margins.any():
        require_nonempty(mask, job.mask)
    parsing = None
    if job.parsing_in is not None:
        canvas = (width + margins.left + margins.right, height + margins.top + margins.bottom)
        parsing = load_label_map(job.parsing_in, size=canvas)
        n = len(completer.bundle.label_set)
        bad = (parsing >= n) & (parsing != UNKNOWN)
        if bad.any():
            raise ImageError(f"label map '{job.parsing_in}' has ids up to {int(parsing[bad].max())}, "
                             f"but the label set {completer.bundle.label_set.name} has {n}")
    request = CompletionRequest(image=photo.pixels, mask=mask, margins=margins, parsing=parsing,
                                use_face=not args.no_face, mirror_face=args.mirror_face, use_detail=args.detail,
                                blend=not args.no_blend)
    try:
        result = completer.run(request)
    except ValueError as exc:
        raise ImageError(f"'{job.input}': {exc}") from None
    job.output.parent.mkdir(parents=True, exist_ok=True)
    save_image(job.output, result.image, exif=photo.exif, icc=photo.icc, quality=args.quality)
    note = depth_note(photo.bit_depth)
    if note is not None and not args.quiet:
        print(f"note: '{job.input.name}' has {note}", file=sys.stderr)
    if job.parsing_out is not None:
        job.parsing_out.parent.mkdir(parents=True, exist_ok=True)
        save_label_map(job.parsing_out, result.parsing, completer.bundle.label_set)
        preview = job.parsing_out.with_name(job.parsing_out.stem + "_preview.png")
        save_parsing_preview(preview, result.parsing, completer.bundle.label_set)
    return result.timings


def _progress_bar(done: int, total: int, name: str) -> str:
    width = 30
    filled = int(width * done / total)
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name[:40]:<40}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from .pipeline.regions import Margins

        margins = Margins.parse(args.margins) if args.margins else Margins(0, 0, 0, 0)
        jobs = plan_jobs(args)
    except (UsageError, ValueError) as exc:
        print(f"portrait-editor complete: error: {exc}", file=sys.stderr)
        return 2

    from .pipeline import Completer, WeightsError, load_bundle, pick_device

    try:
        device = pick_device(args.device)
        completer = Completer(load_bundle(args.weights, device=device), device, precision=args.precision)
    except WeightsError as exc:
        print(f"portrait-editor complete: error: {exc}", file=sys.stderr)
        return 1

    batch = len(jobs) > 1 or args.input.is_dir()
    failures: list[str] = []
    started = time.perf_counter()
    for i, job in enumerate(jobs):
        if batch and not args.quiet:
            print(_progress_bar(i, len(jobs), job.input.name), end="", file=sys.stderr, flush=True)
        try:
            timings = run_job(job, completer, margins, args)
        except (ImageError, OSError) as exc:
            failures.append(f"{job.input.name}: {exc}")
            if batch and not args.quiet:
                print(file=sys.stderr)
            print(f"error: {exc}", file=sys.stderr)
            continue
        if not batch and not args.quiet:
            stages = ", ".join(f"{k} {v:.2f}s" for k, v in timings.items() if k != "total")
            print(f"wrote {job.output} in {timings['total']:.2f}s ({stages})", file=sys.stderr)
    if batch and not args.quiet:
        print(_progress_bar(len(jobs), len(jobs), "done"), file=sys.stderr)
        ok = len(jobs) - len(failures)
        print(f"{ok} of {len(jobs)} photos completed in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        if failures:
            print("failed:", file=sys.stderr)
            for line in failures:
                print(f"  {line}", file=sys.stderr)
    return 1 if failures else 0
