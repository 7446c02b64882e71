"""The one image loader and saver of the program (Pillow + NumPy; no Qt, no torch).

Everything that reads or writes a photo, a mask or a label map goes through here, so that
EXIF orientation, colour profiles, 16-bit and CMYK input, the size guard and atomic writes are
handled once and the same way in the GUI, the CLI and training tools.

Conventions (see docs/ARCHITECTURE.md): images are ``H x W x 3`` ``uint8`` RGB, masks are
``H x W`` ``bool`` (True = hole), label maps are ``H x W`` ``uint8`` ids.

Choices made here:

* Alpha is composited on **white** (not dropped): the colour under fully transparent pixels is
  often black or garbage, and white is what most viewers show for a transparent portrait cut-out.
* 16-bit input is reduced to 8 bits: grey by rounding (``v / 257``); colour by Pillow's own
  decoder, which keeps the high byte (at most one level below rounding).
* CMYK (and grey images carrying a grey profile) are converted to sRGB through their embedded
  ICC profile when there is one, and then carry the sRGB profile; without a usable profile the
  plain Pillow conversion is used and no profile is kept.
* EXIF is kept as the bytes of a JPEG APP1 segment (starting ``b"Exif\\0\\0"``) with the
  Orientation tag set to 1, because the pixels are already upright.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .labels import UNKNOWN, LabelSet

try:  # LittleCMS ships in Pillow's wheels; a source build may lack it.
    from PIL import ImageCms
except ImportError:  # pragma: no cover - depends on how Pillow was built
    ImageCms = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SUPPORTED_EXTENSIONS",
    "ImageError",
    "LoadedImage",
    "is_supported",
    "load_image",
    "load_label_map",
    "load_mask",
    "require_nonempty",
    "save_image",
    "save_label_map",
    "save_parsing_preview",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

DEFAULT_MAX_PIXELS = 200_000_000
"""Largest image (width x height) that :func:`load_image` accepts unless told otherwise."""

# Extension -> Pillow format used to save it. Loading identifies the format by content.
_SAVE_FORMATS: dict[str, str] = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(_SAVE_FORMATS)
"""File extensions (lower case, with the dot) this module reads and writes."""

# Pillow plugins allowed when reading. The JPEG plugin also opens multi-picture phone JPEGs,
# which Pillow then calls "MPO"; they are reported, and saved, as JPEG.
_READ_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "BMP")
_SUPPORTED_TEXT = "JPEG, PNG, TIFF, WebP, BMP"

_EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
# Descriptive TIFF/EXIF tags worth carrying over from a TIFF's own directory (whose other
# tags describe the TIFF's strips and layout and mean nothing in a JPEG's EXIF).
_TIFF_EXIF_TAGS = (
    0x010E,  # ImageDescription
    0x010F,  # Make
    0x0110,  # Model
    0x0131,  # Software
    0x0132,  # DateTime
    0x013B,  # Artist
    0x8298,  # Copyright
)
_JPEG_MAX_EXIF = 65533  # what fits in one APP1 marker


class ImageError(ValueError):
    """A file could not be read or written; the message is one line and names the file."""


@dataclass
class LoadedImage:
    """A photo as the editor uses it, plus the metadata to write back on save."""

    pixels: np.ndarray
    """H x W x 3 uint8 RGB, upright (EXIF orientation applied)."""
    exif: bytes | None = None
    """EXIF as a JPEG APP1 payload (``b"Exif\\0\\0" + TIFF``), Orientation set to 1."""
    icc: bytes | None = None
    """ICC profile describing ``pixels`` (sRGB after a CMYK conversion)."""
    format: str = "PNG"
    """Pillow format name of the source: JPEG, PNG, TIFF, WEBP or BMP."""
    path: Path | None = None
    bit_depth: int = 8
    """Bits per channel of the source: 8, or 16 for anything deeper."""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), the order :func:`load_mask` and Pillow use."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


# --------------------------------------------------------------------------------------------
# helpers


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _name(path: PathLike | None) -> str:
    return "<unnamed>" if path is None else os.fspath(path)


def depth_note(bit_depth: int) -> str | None:
    """What a user of a photo deeper than 8 bits per channel must know before saving over it (the
    editor works on 8 bits, so does what it writes); None for an 8-bit photo."""
    if bit_depth <= 8:
        return None
    return f"{bit_depth} bits per channel: the edited photo is saved with 8"


def is_supported(path: PathLike) -> bool:
    """True if the extension is one this module reads and writes (case-insensitive)."""
    return Path(path).suffix.lower() in _SAVE_FORMATS


def _allow_pixels(max_pixels: int) -> None:
    """Raise Pillow's decompression-bomb limit so images up to ``max_pixels`` open.

    The limit is only ever raised, never lowered or restored: lowering it would be a race with
    other threads, and our own check in :func:`_open` enforces the per-call limit.
    """
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def _describe_read_error(exc: BaseException) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return f"not an image, or not a supported format ({_SUPPORTED_TEXT})"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode it"
    detail = _one_line(exc)
    if isinstance(exc, OSError) and "truncated" in detail.lower():
        return "file is truncated or corrupt"
    return f"file is truncated or corrupt ({detail})" if detail else "file is truncated or corrupt"


class _Refused(Exception):
    """Raised inside :func:`_open` with a reason that becomes the ImageError's message."""


class _Opened:
    """A decoded, upright Pillow image plus what was learnt before decoding."""

    def __init__(self, image: Image.Image, source: Image.Image, bit_depth: int, fmt: str) -> None:
        self.image = image
        self.source = source  # the decoded image before orientation (for its EXIF and info)
        self.bit_depth = bit_depth
        self.format = fmt


def _source_bit_depth(im: Image.Image) -> int:
    """8 or 16; must be called before ``load()``, which drops the tile (raw mode) list."""
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        return 16
    if im.format in ("PNG", "TIFF"):  # (BMP's "BGR;16" raw mode is 5 bits per channel)
        for tile in im.tile:
            if ";16" in str(tile.args):
                return 16
    bits = getattr(im, "tag_v2", {}).get(258)  # TIFF BitsPerSample
    if isinstance(bits, tuple) and bits and max(bits) > 8:
        return 16
    return 8


def _orientation(im: Image.Image) -> int:
    """EXIF orientation (1-8); 1 when absent or unreadable, so bad EXIF never blocks a photo."""
    try:
        value = im.getexif().get(_ORIENTATION, 1)
    except Exception as exc:
        log.warning("ignoring unreadable EXIF in '%s': %s", im.filename, _one_line(exc))
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _open(path: PathLike, what: str, max_pixels: int | None, use: Callable[[_Opened], Any]) -> Any:
    """Open, check, decode and orient ``path``, then hand it to ``use`` while the file is open.

    The ``with`` block guarantees the file handle is closed on every path (including errors),
    which matters on Windows where an open handle blocks saving over the same file.
    """
    name = _name(path)
    p = Path(path)

    def fail(reason: str) -> ImageError:
        return ImageError(f"cannot read {what} '{name}': {reason}")

    if p.is_dir():
        raise fail("it is a folder, not a file")
    if not p.exists():
        raise fail("no such file")
    try:
        if p.stat().st_size == 0:
            raise fail("file is empty")
    except OSError as exc:
        raise fail(_one_line(exc.strerror or exc)) from exc
    if max_pixels is not None:
        _allow_pixels(max_pixels)
    try:
        with Image.open(p, formats=_READ_FORMATS) as im:
            width, height = im.size
            if max_pixels is not None and width * height > max_pixels:
                raise fail(
                    f"{width}x{height} is {width * height / 1e6:.1f} megapixels, "
                    f"more than the limit of {max_pixels / 1e6:g}"
                )
            bit_depth = _source_bit_depth(im)
            fmt = "JPEG" if im.format == "MPO" else str(im.format)
            im.load()
            upright = ImageOps.exif_transpose(im) if _orientation(im) != 1 else im
            return use(_Opened(upright, im, bit_depth, fmt))
    except ImageError:
        raise
    except _Refused as exc:
        raise fail(str(exc)) from None
    except Image.DecompressionBombError as exc:
        limit = f"{max_pixels / 1e6:g} megapixels" if max_pixels else "Pillow's limit"
        raise fail(f"image is larger than the limit of {limit}") from exc
    except PermissionError as exc:
        raise fail("permission denied") from exc
    except FileNotFoundError as exc:
        raise fail("no such file") from exc
    except Exception as exc:  # Pillow raises many kinds for bad data (OSError, SyntaxError, ...)
        raise fail(_describe_read_error(exc)) from exc


def _sixteen_to_eight(im: Image.Image) -> Image.Image:
    """Grey modes deeper than 8 bits -> "L". Pillow's own convert clips instead of scaling."""
    a = np.asarray(im)
    if im.mode == "F":
        a = a.astype(np.float64)
        a = np.nan_to_num(a)
        scale = 255.0 if a.size and float(a.max()) <= 1.0 else 1.0
        out = np.clip(np.rint(a * scale), 0, 255)
    else:  # I;16*, I: 16-bit range (Pillow used "I" for 16-bit PNGs in the past)
        a = np.clip(a.astype(np.int64), 0, 65535)
        out = (a + 128) // 257
    return Image.fromarray(out.astype(np.uint8))


def _is_deep_grey(im: Image.Image) -> bool:
    return im.mode.startswith("I;16") or im.mode in ("I", "F")


def _icc_space(icc: bytes) -> str | None:
    """The colour space an ICC profile declares ("RGB", "CMYK", "GRAY"...), None if unreadable."""
    if ImageCms is None:
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return str(profile.profile.xcolor_space).strip().upper()
    except Exception:
        return None


_SRGB_ICC: bytes | None = None


def _srgb_icc() -> bytes | None:
    global _SRGB_ICC
    if _SRGB_ICC is None and ImageCms is not None:
        _SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return _SRGB_ICC


def _colour_to_rgb(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """Alpha-free image in any mode -> RGB, plus the profile that describes the result."""
    space = _icc_space(icc) if icc else None
    if im.mode == "RGB":
        # An RGB image keeps its own profile (Adobe RGB, Display P3 ...): the editor does not
        # change colour spaces, it carries the profile to the saved file. A profile that is
        # unreadable or not for RGB is dropped (unless there is no CMS to check it with).
        keep = icc is not None and (space == "RGB" or ImageCms is None)
        return im, icc if keep else None
    wanted = {"CMYK": "CMYK", "L": "GRAY"}.get(im.mode)
    if icc and space is not None and space == wanted and ImageCms is not None:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            converted = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
            if converted is not None:
                return converted, _srgb_icc()
        except Exception as exc:  # a broken profile must not make the photo unreadable
            log.warning("colour profile conversion failed (%s); using a plain conversion", exc)
    try:
        rgb = im.convert("RGB")
    except ValueError as exc:
        raise _Refused(f"colour mode {im.mode} is not supported") from exc
    # A grey image with an RGB profile (odd, but seen) is described correctly once it is RGB;
    # any other mismatched profile (say an RGB one on CMYK data) is dropped.
    return rgb, icc if icc and space == "RGB" and im.mode == "L" else None


def _to_rgb_array(im: Image.Image, icc: bytes | None) -> tuple[np.ndarray, bytes | None]:
    """Any Pillow mode -> H x W x 3 uint8 RGB (alpha composited on white) and its profile."""
    if im.mode == "P":
        im = im.convert("RGBA" if im.has_transparency_data else "RGB")
    elif im.mode == "PA":
        im = im.convert("RGBA")
    elif im.mode == "La":
        im = im.convert("LA")
    elif im.mode == "RGBa":
        im = im.convert("RGBA")
    elif im.mode == "1":
        im = im.convert("L")
    elif _is_deep_grey(im):
        im = _sixteen_to_eight(im)

    alpha: np.ndarray | None = None
    if im.mode in ("LA", "RGBA"):
        alpha = np.asarray(im.getchannel("A"))
        im = im.convert(im.mode[:-1])
        if alpha.min() == 255:
            alpha = None

    rgb_image, icc = _colour_to_rgb(im, icc)
    # np.array, not asarray: arrays made from Pillow's buffer are read-only, and the editor
    # paints into these pixels.
    rgb = np.array(rgb_image, dtype=np.uint8)
    if alpha is not None:
        a = alpha.astype(np.uint16)[..., None]
        rgb = ((rgb.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)
    return np.ascontiguousarray(rgb), icc


def _with_exif_header(data: bytes) -> bytes | None:
    if data.startswith(_EXIF_HEADER):
        return data
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _EXIF_HEADER + data
    return None


def _upright_exif(opened: _Opened) -> bytes | None:
    """The source's EXIF with Orientation 1, or None when there is none (or it is unreadable)."""
    src = opened.source
    try:
        if opened.format == "TIFF":
            # A TIFF's EXIF is its own directory; keep the descriptive tags and the EXIF/GPS
            # sub-directories, not the strip offsets and sizes of the TIFF itself.
            tiff_exif = src.getexif()
            exif = Image.Exif()
            for tag in _TIFF_EXIF_TAGS:
                if tag in tiff_exif:
                    exif[tag] = tiff_exif[tag]
            for tag in (_EXIF_IFD, _GPS_IFD):
                sub = tiff_exif.get_ifd(tag)
                if sub:
                    exif[tag] = sub
            return exif.tobytes() if len(exif) else None
        raw = src.info.get("exif")
        if isinstance(raw, bytes) and raw:
            data = _with_exif_header(raw)
            if data is None:
                return None
            exif = Image.Exif()
            exif.load(data)
            if exif.get(_ORIENTATION, 1) != 1:
                exif[_ORIENTATION] = 1
                return exif.tobytes()
            return data
        exif = src.getexif()  # e.g. a PNG "Raw profile type exif" text chunk
        if len(exif):
            if _ORIENTATION in exif:
                exif[_ORIENTATION] = 1
            return exif.tobytes()
    except Exception as exc:  # unreadable EXIF: drop it rather than refuse the photo
        log.warning("ignoring unreadable EXIF in '%s': %s", src.filename, _one_line(exc))
    return None


# --------------------------------------------------------------------------------------------
# loading


def load_image(path: PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read a photo as upright 8-bit RGB with the metadata needed to save it back faithfully.

    ``max_pixels`` refuses huge images before they are decoded, so that a mistaken or hostile
    file cannot exhaust memory; the default admits any camera photo (50 MP and more).
    """

    def convert(opened: _Opened) -> LoadedImage:
        icc = opened.source.info.get("icc_profile") or None
        pixels, icc = _to_rgb_array(opened.image, icc)
        return LoadedImage(
            pixels=pixels,
            exif=_upright_exif(opened),
            icc=icc,
            format=opened.format,
            path=Path(path),
            bit_depth=opened.bit_depth,
        )

    return _open(path, "image", max_pixels, convert)


def _check_size(what: str, path: PathLike, got: tuple[int, int], size: tuple[int, int] | None) -> None:
    if size is None or tuple(got) == tuple(size):
        return
    hint = " (rotated? check its EXIF orientation)" if tuple(got) == (size[1], size[0]) else ""
    raise ImageError(
        f"{what} '{_name(path)}' is {got[0]}x{got[1]} but the image is {size[0]}x{size[1]}{hint}"
    )


def load_mask(path: PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a hole mask (True = fill) drawn in any editor.

    A mask with an alpha channel that is not fully opaque is read from the alpha (fill where
    alpha > 0), as exported by tools that paint on a transparent layer; otherwise fill where the
    luminance is above 127 (white = hole). ``size`` is the photo's (width, height).
    """

    def convert(opened: _Opened) -> np.ndarray:
        im = opened.image
        if im.has_transparency_data and not _is_deep_grey(im):
            alpha = np.asarray(im.convert("RGBA").getchannel("A"))
            if alpha.min() < 255:
                return alpha > 0
        if _is_deep_grey(im):
            grey = _sixteen_to_eight(im)
        elif im.mode == "L":
            grey = im
        else:
            grey = im.convert("RGB").convert("L")
        return np.asarray(grey) > 127

    mask = _open(path, "mask", DEFAULT_MAX_PIXELS, convert)
    _check_size("mask", path, (mask.shape[1], mask.shape[0]), size)
    return np.ascontiguousarray(mask, dtype=bool)


def require_nonempty(mask: np.ndarray, path: PathLike | None = None) -> None:
    """Refuse a mask with nothing to fill; separate from loading because an empty mask is fine
    when canvas margins supply the hole."""
    if not np.any(mask):
        raise ImageError(f"mask '{_name(path)}' is empty (nothing to fill)")


def _foreign_ids(labels: np.ndarray, label_set: LabelSet) -> str | None:
    """A description of the ids ``label_set`` does not have, or None when all are known."""
    present = np.unique(labels)
    bad = present[(present >= len(label_set)) & (present != UNKNOWN)]
    if not bad.size:
        return None
    shown = ", ".join(str(int(v)) for v in bad[:8]) + (", ..." if bad.size > 8 else "")
    return (
        f"has ids {shown} that label set '{label_set.name}' does not have "
        f"(0-{len(label_set) - 1}, {UNKNOWN} = unknown)"
    )


def load_label_map(
    path: PathLike, size: tuple[int, int] | None = None, *, label_set: LabelSet | None = None
) -> np.ndarray:
    """Read a parsing map of label ids: 8-bit grey ("L") or palette ("P", index = id) PNGs, as
    LIP, ATR and CIHP ship them. Colour previews are refused because colours cannot be mapped
    back to ids reliably. With ``label_set``, ids it does not have (other than UNKNOWN) are an
    error."""
    name = _name(path)

    def convert(opened: _Opened) -> np.ndarray:
        im = opened.image
        if opened.format == "JPEG":
            raise ImageError(f"label map '{name}' is a JPEG; label ids need a lossless file (8-bit grey PNG)")
        if im.mode in ("L", "P"):
            return np.array(im, dtype=np.uint8)
        if im.mode == "1":
            return np.array(im, dtype=np.uint8)
        if _is_deep_grey(im) and im.mode != "F":
            a = np.asarray(im).astype(np.int64)
            if a.size and (a.min() < 0 or a.max() > 255):
                raise ImageError(f"label map '{name}' has values above 255; label ids are 0-255")
            return a.astype(np.uint8)
        if im.mode in ("RGB", "RGBA"):
            a = np.asarray(im)
            # Grey ids stored as RGB (R == G == B) are still ids; real colours are a preview.
            if np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2]):
                return np.array(a[..., 0], dtype=np.uint8)
            raise ImageError(
                f"label map '{name}' is an RGB colour image; expected an 8-bit grey or palette "
                "PNG of label ids (a coloured preview cannot be read back as labels)"
            )
        raise ImageError(
            f"label map '{name}' has colour mode {im.mode}; expected an 8-bit grey or palette PNG"
        )

    labels = _open(path, "label map", DEFAULT_MAX_PIXELS, convert)
    _check_size("label map", path, (labels.shape[1], labels.shape[0]), size)
    if label_set is not None and (problem := _foreign_ids(labels, label_set)):
        raise ImageError(f"label map '{name}' {problem}")
    return np.ascontiguousarray(labels)


# --------------------------------------------------------------------------------------------
# saving


def _read_umask() -> int:
    try:  # Linux 4.7+: read it without changing it
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _atomic_write(path: PathLike, write: Callable[[IO[bytes]], None], *, overwrite: bool, what: str) -> None:
    """Write through a temporary file in the same folder, then rename it over ``path``.

    A crash, a full disk or an encoder error therefore never leaves a half-written photo, and
    never damages the file being replaced.
    """
    name = _name(path)
    p = Path(path)
    parent = p.parent

    def fail(reason: str) -> ImageError:
        return ImageError(f"cannot save {what} '{name}': {reason}")

    if not parent.is_dir():
        raise fail(f"folder '{parent}' does not exist")
    if p.is_dir():
        raise fail("it is a folder")
    if not overwrite and p.exists():
        raise fail("file already exists (overwrite is off)")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{p.name}.", suffix=".part")
    except OSError as exc:
        raise fail(f"cannot write in folder '{parent}' ({_one_line(exc.strerror or exc)})") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            try:
                os.fsync(f.fileno())
            except OSError as exc:  # some network/FUSE file systems do not support fsync
                if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
                    raise
        try:  # mkstemp makes 0600 files; a saved photo should get the usual permissions
            mode = stat.S_IMODE(p.stat().st_mode) if p.exists() else 0o666 & ~_UMASK
            os.chmod(tmp, mode)
        except OSError:
            pass
        if overwrite:
            os.replace(tmp, p)
        else:
            _link_without_overwrite(tmp, p, fail)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, ImageError) or not isinstance(exc, Exception):
            raise
        if isinstance(exc, OSError) and exc.strerror:
            raise fail(_one_line(exc.strerror)) from exc
        raise fail(_one_line(exc) or type(exc).__name__) from exc


def _link_without_overwrite(tmp: str, path: Path, fail: Callable[[str], ImageError]) -> None:
    """Move ``tmp`` to ``path`` only if ``path`` does not exist (a hard link fails atomically)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise fail("file already exists (overwrite is off)") from None
    except OSError:  # no hard links here (FAT, some network shares): check, then rename
        if path.exists():
            raise fail("file already exists (overwrite is off)") from None
        os.replace(tmp, path)
        return
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _format_for(path: PathLike, format: str | None) -> str:
    if format is not None:
        fmt = format.upper()
        fmt = {"JPG": "JPEG", "TIF": "TIFF"}.get(fmt, fmt)
        if fmt not in set(_SAVE_FORMATS.values()):
            raise ImageError(
                f"cannot save image '{_name(path)}': unknown format {format!r} "
                f"(supported: {', '.join(sorted(set(_SAVE_FORMATS.values())))})"
            )
        return fmt
    suffix = Path(path).suffix.lower()
    fmt = _SAVE_FORMATS.get(suffix)
    if fmt is None:
        raise ImageError(
            f"cannot save image '{_name(path)}': unsupported extension '{suffix or '(none)'}' "
            f"(supported: {', '.join(SUPPORTED_EXTENSIONS)})"
        )
    return fmt


def _exif_for_save(exif: bytes | None, path: PathLike) -> bytes | None:
    """Normalise EXIF to an APP1 payload with Orientation 1 (the pixels are upright)."""
    if not exif:
        return None
    data = _with_exif_header(bytes(exif))
    if data is None:
        log.warning("not writing unrecognised EXIF data to '%s'", _name(path))
        return None
    try:
        parsed = Image.Exif()
        parsed.load(data)
        if parsed.get(_ORIENTATION, 1) != 1:
            parsed[_ORIENTATION] = 1
            data = parsed.tobytes()
    except Exception as exc:
        log.warning("not writing unreadable EXIF to '%s': %s", _name(path), _one_line(exc))
        return None
    return data


def _icc_for_save(icc: bytes | None, path: PathLike) -> bytes | None:
    if not icc:
        return None
    space = _icc_space(icc)
    if ImageCms is not None and space != "RGB":
        log.warning("not writing a %s colour profile to the RGB image '%s'", space or "broken", _name(path))
        return None
    return bytes(icc)


def _check_pixels(pixels: np.ndarray, what: str, path: PathLike) -> np.ndarray:
    a = np.asarray(pixels)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError(
            f"cannot save {what} '{_name(path)}': pixels must be H x W x 3 uint8 RGB, "
            f"got {'x'.join(map(str, a.shape))} {a.dtype}"
        )
    return np.ascontiguousarray(a)


def save_image(
    path: PathLike,
    pixels: np.ndarray,
    *,
    exif: bytes | None = None,
    icc: bytes | None = None,
    format: str | None = None,
    quality: int = 95,
    overwrite: bool = True,
) -> None:
    """Write an RGB image atomically, keeping EXIF and the colour profile where the format can.

    The format follows the extension unless ``format`` names one. JPEG at quality >= 90 keeps
    full colour resolution (4:4:4) since users edit portraits; WebP is lossless at quality 100;
    PNG and TIFF are always lossless; TIFF is written uncompressed because Pillow's compressing
    (libtiff) writer cannot store the EXIF sub-directory (dates, exposure). BMP keeps no metadata.
    """
    fmt = _format_for(path, format)
    a = _check_pixels(pixels, "image", path)
    if not 1 <= int(quality) <= 100:
        raise ImageError(f"cannot save image '{_name(path)}': quality must be 1-100, got {quality}")
    params: dict[str, Any] = {}
    exif_data = _exif_for_save(exif, path) if fmt != "BMP" else None
    icc_data = _icc_for_save(icc, path) if fmt != "BMP" else None
    if fmt == "JPEG":
        params.update(quality=int(quality), subsampling=0 if quality >= 90 else 2)
        if exif_data is not None and len(exif_data) > _JPEG_MAX_EXIF:
            log.warning(
                "EXIF of %d bytes does not fit in a JPEG; not writing it to '%s'", len(exif_data), _name(path)
            )
            exif_data = None
    elif fmt == "WEBP":
        if quality >= 100:
            params.update(lossless=True, quality=80)  # for lossless WebP "quality" is effort
        else:
            params.update(quality=int(quality))
        if exif_data is not None:
            exif_data = exif_data[len(_EXIF_HEADER) :]  # WebP's EXIF chunk holds the bare TIFF data
    if exif_data is not None:
        params["exif"] = exif_data
    if icc_data is not None:
        params["icc_profile"] = icc_data
    image = Image.fromarray(a)
    _atomic_write(path, lambda f: image.save(f, format=fmt, **params), overwrite=overwrite, what="image")


def _check_labels(labels: np.ndarray, label_set: LabelSet, what: str, path: PathLike) -> np.ndarray:
    a = np.asarray(labels)
    if a.ndim != 2 or a.size == 0 or not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        raise ImageError(
            f"cannot save {what} '{_name(path)}': labels must be an H x W array of integer ids, "
            f"got {'x'.join(map(str, a.shape))} {a.dtype}"
        )
    if a.dtype != np.uint8:
        if a.min() < 0 or a.max() > 255:
            raise ImageError(f"cannot save {what} '{_name(path)}': label ids must be 0-255")
        a = a.astype(np.uint8)
    if problem := _foreign_ids(a, label_set):
        raise ImageError(f"cannot save {what} '{_name(path)}': it {problem}")
    return np.ascontiguousarray(a)


def save_label_map(
    path: PathLike, labels: np.ndarray, label_set: LabelSet, *, overwrite: bool = True
) -> None:
    """Write label ids as an 8-bit grey PNG (the LIP layout, readable by every tool), atomically.

    Ids are checked against ``label_set`` so that a map can never be saved with ids that another
    label set would misread; UNKNOWN (255) is allowed.
    """
    if Path(path).suffix.lower() != ".png":
        raise ImageError(
            f"cannot save label map '{_name(path)}': label maps are saved as .png (lossless ids)"
        )
    a = _check_labels(labels, label_set, "label map", path)
    image = Image.fromarray(a)
    _atomic_write(path, lambda f: image.save(f, format="PNG"), overwrite=overwrite, what="label map")


def save_parsing_preview(
    path: PathLike, labels: np.ndarray, label_set: LabelSet, *, overwrite: bool = True
) -> None:
    """Write a coloured RGB picture of a label map for people to look at (not to read back)."""
    a = _check_labels(labels, label_set, "parsing preview", path)
    save_image(path, label_set.colourize(a), overwrite=overwrite)
