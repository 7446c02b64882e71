"""Tests for portrait_editor.imageio: small images made on the fly, no external data needed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from portrait_editor import imageio
from portrait_editor.imageio import (
    SUPPORTED_EXTENSIONS,
    ImageError,
    is_supported,
    load_image,
    load_label_map,
    load_mask,
    require_nonempty,
    save_image,
    save_label_map,
    save_parsing_preview,
)
from portrait_editor.labels import LIP_NECK, UNKNOWN

LIP_SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lip-samples"
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
ORIENTATION = 0x0112
EXIF_IFD = 0x8769
DATE_TAKEN = 0x9003


def _pattern(h: int = 20, w: int = 40) -> np.ndarray:
    """A non-symmetric test picture: every pixel differs, so any flip or turn shows."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _blocks(h: int = 32, w: int = 48) -> np.ndarray:
    """Flat colour quadrants that survive JPEG compression well enough to locate them."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (255, 0, 0)
    a[: h // 2, w // 2 :] = (0, 255, 0)
    a[h // 2 :, : w // 2] = (0, 0, 255)
    a[h // 2 :, w // 2 :] = (255, 255, 255)
    return a


def _exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    if orientation is not None:
        exif[ORIENTATION] = orientation
    exif.get_ifd(EXIF_IFD)[DATE_TAKEN] = "2021:06:05 04:03:02"
    return exif


def _parse_exif(data: bytes | None) -> Image.Exif:
    assert data is not None
    assert data.startswith(b"Exif\x00\x00")
    exif = Image.Exif()
    exif.load(data)
    return exif


def _files(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def _assert_one_line_naming(exc: pytest.ExceptionInfo[ImageError], path: Path) -> str:
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message
    return message


# --------------------------------------------------------------------------------------------
# EXIF orientation

# What a viewer shows for each EXIF orientation of the stored pixels (per the EXIF spec).
UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, k=-1),
    7: lambda a: np.rot90(a, k=2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, k=1),
}


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_exif_orientation_is_applied_and_reset(tmp_path: Path, orientation: int) -> None:
    stored = _pattern()
    path = tmp_path / "photo.png"
    Image.fromarray(stored).save(path, exif=_exif(orientation))

    loaded = load_image(path)

    np.testing.assert_array_equal(loaded.pixels, UPRIGHT[orientation](stored))
    exif = _parse_exif(loaded.exif)
    assert exif[ORIENTATION] == 1
    assert exif[0x010F] == "TestCam"
    assert exif.get_ifd(EXIF_IFD)[DATE_TAKEN] == "2021:06:05 04:03:02"


def test_orientation_6_jpeg_round_trip_does_not_rotate_twice(tmp_path: Path) -> None:
    stored = _blocks(32, 48)
    src = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(src, exif=_exif(6), quality=95)

    loaded = load_image(src)
    assert loaded.pixels.shape == (48, 32, 3)  # H and W swapped
    assert loaded.size == (32, 48)
    # The red top-left block of the stored image is at the top right once turned clockwise.
    assert tuple(loaded.pixels[4, -4]) == pytest.approx((255, 0, 0), abs=30)

    out = tmp_path / "saved.jpg"
    save_image(out, loaded.pixels, exif=loaded.exif, icc=loaded.icc)
    with Image.open(out) as im:
        assert im.getexif()[ORIENTATION] == 1
    again = load_image(out)
    assert again.pixels.shape == (48, 32, 3)
    assert tuple(again.pixels[4, -4]) == pytest.approx((255, 0, 0), abs=30)


def test_save_resets_orientation_of_foreign_exif(tmp_path: Path) -> None:
    """EXIF handed in by a caller still says "rotate"; the saved file must not."""
    out = tmp_path / "out.jpg"
    save_image(out, _blocks(), exif=_exif(8).tobytes())
    with Image.open(out) as im:
        assert im.getexif()[ORIENTATION] == 1
        assert im.getexif()[0x010F] == "TestCam"


# --------------------------------------------------------------------------------------------
# metadata round trips


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tif"])
def test_exif_and_icc_survive_a_round_trip(tmp_path: Path, ext: str) -> None:
    src = tmp_path / "source.jpg"
    Image.fromarray(_blocks()).save(src, exif=_exif(1), icc_profile=SRGB_ICC, quality=95)
    loaded = load_image(src)
    assert loaded.icc == SRGB_ICC
    assert loaded.format == "JPEG"

    out = tmp_path / f"copy{ext}"
    save_image(out, loaded.pixels, exif=loaded.exif, icc=loaded.icc)
    again = load_image(out)

    assert again.icc == SRGB_ICC
    exif = _parse_exif(again.exif)
    assert exif[0x010F] == "TestCam"
    assert exif.get(ORIENTATION, 1) == 1
    assert exif.get_ifd(EXIF_IFD)[DATE_TAKEN] == "2021:06:05 04:03:02"
    with Image.open(out) as im:  # other programs (through Pillow) see them too
        assert im.info.get("icc_profile") == SRGB_ICC
        assert im.getexif()[0x010F] == "TestCam"


def test_bmp_keeps_pixels_without_metadata(tmp_path: Path) -> None:
    out = tmp_path / "plain.bmp"
    save_image(out, _pattern(), exif=_exif().tobytes(), icc=SRGB_ICC)
    loaded = load_image(out)
    np.testing.assert_array_equal(loaded.pixels, _pattern())
    assert loaded.format == "BMP" and loaded.exif is None


@pytest.mark.parametrize(
    "ext, fmt", [(".png", "PNG"), (".tif", "TIFF"), (".tiff", "TIFF"), (".webp", "WEBP")]
)
def test_lossless_formats_keep_pixels_exactly(tmp_path: Path, ext: str, fmt: str) -> None:
    pixels = _pattern()
    out = tmp_path / f"exact{ext}"
    save_image(out, pixels, quality=100)
    loaded = load_image(out)
    assert loaded.format == fmt
    np.testing.assert_array_equal(loaded.pixels, pixels)


def test_format_argument_overrides_extension(tmp_path: Path) -> None:
    out = tmp_path / "photo.dat"
    save_image(out, _pattern(), format="png")
    assert load_image(out).format == "PNG"


def test_an_rgb_image_keeps_a_non_srgb_rgb_profile_and_drops_a_wrong_one(tmp_path: Path) -> None:
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    path = tmp_path / "wrong-profile.png"
    Image.fromarray(_pattern()).save(path, icc_profile=lab)
    assert load_image(path).icc is None  # a LAB profile cannot describe RGB pixels
    out = tmp_path / "out.png"
    save_image(out, _pattern(), icc=lab)
    with Image.open(out) as im:
        assert "icc_profile" not in im.info


# --------------------------------------------------------------------------------------------
# colour modes and bit depths


def test_16_bit_grey_png_loads_as_rounded_8_bit(tmp_path: Path) -> None:
    values = np.array([[0, 128, 129, 257], [1000, 32896, 65000, 65535]], dtype=np.uint16)
    path = tmp_path / "grey16.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as im:
        assert im.mode.startswith("I;16")

    loaded = load_image(path)

    expected = np.rint(values / 257.0).astype(np.uint8)
    assert loaded.bit_depth == 16
    assert loaded.pixels.dtype == np.uint8 and loaded.pixels.shape == (2, 4, 3)
    for channel in range(3):
        np.testing.assert_array_equal(loaded.pixels[..., channel], expected)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16_bit_colour_loads_as_8_bit(tmp_path: Path, ext: str) -> None:
    cv2 = pytest.importorskip("cv2")
    rgb16 = (np.arange(6 * 5 * 3).reshape(6, 5, 3) * 700 + 300).astype(np.uint16)
    path = tmp_path / f"colour16{ext}"
    assert cv2.imwrite(str(path), rgb16[..., ::-1])  # OpenCV writes BGR

    loaded = load_image(path)

    assert loaded.bit_depth == 16
    assert loaded.pixels.dtype == np.uint8
    diff = np.abs(loaded.pixels.astype(int) - rgb16 / 257.0)
    assert diff.max() <= 1.0


def test_8_bit_sources_report_bit_depth_8(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.fromarray(_pattern()).save(path)
    assert load_image(path).bit_depth == 8


def test_cmyk_jpeg_loads_as_rgb(tmp_path: Path) -> None:
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (16, 12), (0, 255, 255, 0)).save(path, quality=95)  # pure red ink

    loaded = load_image(path)

    assert loaded.format == "JPEG"
    assert loaded.pixels.shape == (12, 16, 3) and loaded.pixels.dtype == np.uint8
    assert tuple(loaded.pixels[6, 8]) == pytest.approx((255, 0, 0), abs=12)


def test_cmyk_with_an_unusable_profile_falls_back_to_plain_conversion(tmp_path: Path) -> None:
    path = tmp_path / "odd.jpg"
    # An sRGB profile cannot describe CMYK data: the loader must still read the photo.
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, icc_profile=SRGB_ICC)
    loaded = load_image(path)
    assert loaded.icc is None
    assert tuple(loaded.pixels[4, 4]) == pytest.approx((255, 0, 0), abs=12)


def test_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0, 0] = (0, 0, 0, 0)  # transparent black -> white
    rgba[0, 1] = (0, 0, 0, 255)  # opaque black stays black
    rgba[0, 2] = (200, 0, 0, 128)  # half transparent red -> between red and white
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").save(path)

    pixels = load_image(path).pixels

    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[0, 1]) == (0, 0, 0)
    assert tuple(pixels[0, 2]) == pytest.approx((227, 127, 127), abs=1)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "1", "RGB"])
def test_other_modes_load_as_rgb(tmp_path: Path, mode: str) -> None:
    path = tmp_path / f"{mode}.png"
    Image.fromarray(_pattern()).convert(mode).save(path)
    pixels = load_image(path).pixels
    assert pixels.shape == (20, 40, 3) and pixels.dtype == np.uint8
    assert pixels.flags.c_contiguous


def test_palette_with_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (4, 2), 1)
    im.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    im.putpixel((0, 0), 0)
    path = tmp_path / "pal.png"
    im.save(path, transparency=0)
    pixels = load_image(path).pixels
    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[1, 1]) == (10, 20, 30)


# --------------------------------------------------------------------------------------------
# size guard


def test_max_pixels_guard(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (100, 80)).save(path)
    with pytest.raises(ImageError) as exc:
        load_image(path, max_pixels=5000)
    message = _assert_one_line_naming(exc, path)
    assert "100x80" in message and "limit" in message
    assert load_image(path, max_pixels=8000).pixels.shape == (80, 100, 3)


def test_images_above_pillows_default_bomb_limit_still_load(tmp_path: Path, monkeypatch) -> None:
    """A 50 MP photo must load although Pillow warns above ~89 MP and refuses above ~179 MP:
    shown here with Pillow's limit shrunk instead of a huge file."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    path = tmp_path / "legit.png"
    Image.new("RGB", (100, 100)).save(path)  # 10,000 px: over twice Pillow's (patched) limit
    assert load_image(path).pixels.shape == (100, 100, 3)


# --------------------------------------------------------------------------------------------
# read errors


def _corrupt_png(path: Path) -> None:
    Image.fromarray(_pattern()).save(path)
    data = bytearray(path.read_bytes())
    data[60:90] = b"\xff" * 30  # inside the image data
    path.write_bytes(bytes(data))


def _truncated_jpeg(path: Path) -> None:
    Image.fromarray(_pattern(64, 64)).save(path, quality=95)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _text(path: Path) -> None:
    path.write_text("this is not a photo\n")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _gif(path: Path) -> None:
    Image.new("P", (4, 4)).save(path, format="GIF")


@pytest.mark.parametrize(
    "name, make, words",
    [
        ("corrupt.png", _corrupt_png, "corrupt"),
        ("truncated.jpg", _truncated_jpeg, "truncated"),
        ("notes.jpg", _text, "not an image"),
        ("empty.jpg", _empty, "empty"),
        ("anim.gif", _gif, "not a supported format"),
    ],
)
def test_bad_files_raise_image_error_naming_the_file(tmp_path: Path, name, make, words) -> None:
    path = tmp_path / name
    make(path)
    for loader in (load_image, load_mask, load_label_map):
        with pytest.raises(ImageError) as exc:
            loader(path)
        assert words in _assert_one_line_naming(exc, path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file") as exc:
        load_image(tmp_path / "nope.jpg")
    _assert_one_line_naming(exc, tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="folder") as exc:
        load_image(tmp_path)
    _assert_one_line_naming(exc, tmp_path)


def test_image_error_is_a_value_error() -> None:
    assert issubclass(ImageError, ValueError)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count open files")
def test_no_file_handles_leak(tmp_path: Path) -> None:
    good = tmp_path / "good.tif"
    save_image(good, _pattern())
    bad = tmp_path / "bad.jpg"
    _truncated_jpeg(bad)
    load_image(good)  # let lazy imports settle before counting
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        load_image(good)
        load_mask(good)
        with pytest.raises(ImageError):
            load_image(bad)
        with pytest.raises(ImageError):
            load_image(good, max_pixels=10)
    assert len(os.listdir("/proc/self/fd")) == before


def test_can_save_over_the_file_just_loaded(tmp_path: Path) -> None:
    path = tmp_path / "same.jpg"
    Image.fromarray(_blocks()).save(path)
    loaded = load_image(path)
    save_image(path, loaded.pixels[::-1].copy())  # needs the handle closed on Windows
    assert _files(tmp_path) == ["same.jpg"]


# --------------------------------------------------------------------------------------------
# masks


def test_grey_mask_threshold(tmp_path: Path) -> None:
    grey = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    path = tmp_path / "mask.png"
    Image.fromarray(grey).save(path)
    mask = load_mask(path, size=(4, 1))
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, [[False, False, True, True]])


def test_rgba_mask_uses_alpha_when_partly_transparent(tmp_path: Path) -> None:
    rgba = np.zeros((1, 4, 4), np.uint8)  # black strokes on a transparent layer
    rgba[0, :, 3] = (0, 1, 200, 255)
    rgba[0, 0, :3] = 255  # white but fully transparent: not a hole
    path = tmp_path / "layer.png"
    Image.fromarray(rgba, "RGBA").save(path)
    np.testing.assert_array_equal(load_mask(path), [[False, True, True, True]])


def test_opaque_rgba_mask_uses_luminance(tmp_path: Path) -> None:
    rgba = np.full((1, 3, 4), 255, np.uint8)
    rgba[0, 0, :3] = 0
    rgba[0, 1, :3] = (255, 0, 0)  # red is dark (luminance 76)
    path = tmp_path / "opaque.png"
    Image.fromarray(rgba, "RGBA").save(path)
    np.testing.assert_array_equal(load_mask(path), [[False, False, True]])


def test_mask_size_mismatch_names_both_sizes(tmp_path: Path) -> None:
    path = tmp_path / "m.png"
    Image.new("L", (640, 480), 255).save(path)
    with pytest.raises(ImageError) as exc:
        load_mask(path, size=(800, 600))
    message = _assert_one_line_naming(exc, path)
    assert "640x480" in message and "800x600" in message


def test_mask_exif_orientation_is_applied(tmp_path: Path) -> None:
    grey = np.zeros((2, 3), np.uint8)
    grey[0, 0] = 255
    path = tmp_path / "turned.png"
    Image.fromarray(grey).save(path, exif=_exif(6))
    mask = load_mask(path, size=(2, 3))
    np.testing.assert_array_equal(mask, np.rot90(grey > 127, k=-1))


def test_rotated_mask_size_mismatch_hints_at_orientation(tmp_path: Path) -> None:
    path = tmp_path / "m.png"
    Image.new("L", (30, 20)).save(path)
    with pytest.raises(ImageError, match="orientation"):
        load_mask(path, size=(20, 30))


def test_16_bit_mask(tmp_path: Path) -> None:
    path = tmp_path / "m16.png"
    Image.fromarray(np.array([[0, 30000, 40000, 65535]], np.uint16)).save(path)
    np.testing.assert_array_equal(load_mask(path), [[False, False, True, True]])


def test_require_nonempty(tmp_path: Path) -> None:
    require_nonempty(np.eye(3, dtype=bool), tmp_path / "ok.png")
    with pytest.raises(ImageError) as exc:
        require_nonempty(np.zeros((3, 3), bool), tmp_path / "m.png")
    assert "empty (nothing to fill)" in _assert_one_line_naming(exc, tmp_path / "m.png")


# --------------------------------------------------------------------------------------------
# saving: atomic, overwrite, errors


def test_atomic_save_leaves_no_temp_files(tmp_path: Path) -> None:
    for ext in SUPPORTED_EXTENSIONS:
        save_image(tmp_path / f"a{ext}", _pattern())
    assert _files(tmp_path) == sorted(f"a{ext}" for ext in SUPPORTED_EXTENSIONS)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_saved_file_gets_normal_permissions_not_temp_file_ones(tmp_path: Path) -> None:
    path = tmp_path / "shared.png"
    save_image(path, _pattern())
    assert path.stat().st_mode & 0o044 == 0o044 & ~imageio._UMASK  # mkstemp would give 0600
    os.chmod(path, 0o640)
    save_image(path, _pattern())
    assert path.stat().st_mode & 0o777 == 0o640  # overwriting keeps the file's permissions


def test_failed_save_keeps_the_original_and_cleans_up(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "keep.png"
    save_image(path, _pattern())
    original = path.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"half a picture")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageError) as exc:
        save_image(path, np.zeros((5, 5, 3), np.uint8))
    assert "No space left" in _assert_one_line_naming(exc, path)
    assert path.read_bytes() == original
    assert _files(tmp_path) == ["keep.png"]


def test_unsupported_extension_lists_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "x.gif"
    with pytest.raises(ImageError) as exc:
        save_image(path, _pattern())
    message = _assert_one_line_naming(exc, path)
    assert ".gif" in message and ".png" in message and ".jpg" in message and ".webp" in message
    assert _files(tmp_path) == []


def test_overwrite_false(tmp_path: Path) -> None:
    path = tmp_path / "exists.png"
    save_image(path, _pattern())
    original = path.read_bytes()
    with pytest.raises(ImageError, match="exists") as exc:
        save_image(path, np.zeros((4, 4, 3), np.uint8), overwrite=False)
    _assert_one_line_naming(exc, path)
    assert path.read_bytes() == original
    assert _files(tmp_path) == ["exists.png"]
    save_image(tmp_path / "new.png", _pattern(), overwrite=False)
    assert _files(tmp_path) == ["exists.png", "new.png"]


def test_save_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="does not exist"):
        save_image(tmp_path / "missing" / "x.png", _pattern())
    with pytest.raises(ImageError, match="H x W x 3 uint8"):
        save_image(tmp_path / "x.png", np.zeros((4, 4), np.float32))
    with pytest.raises(ImageError, match="quality"):
        save_image(tmp_path / "x.jpg", _pattern(), quality=0)
    assert _files(tmp_path) == []


def test_supported_extensions() -> None:
    assert {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"} <= set(SUPPORTED_EXTENSIONS)
    assert is_supported("a/B.JPG") and is_supported(Path("x.webp"))
    assert not is_supported("x.gif") and not is_supported("noext")


# --------------------------------------------------------------------------------------------
# label maps


def test_palette_label_map_reads_indices(tmp_path: Path) -> None:
    ids = np.array([[0, 2, 13], [14, 15, 20]], np.uint8)
    im = Image.frombytes("P", (3, 2), ids.tobytes())
    im.putpalette(LIP_NECK.palette().ravel().tolist())
    path = tmp_path / "cihp.png"
    im.save(path)
    with Image.open(path) as check:
        assert check.mode == "P"
    np.testing.assert_array_equal(load_label_map(path, size=(3, 2)), ids)


def test_grey_label_map_and_round_trip(tmp_path: Path) -> None:
    ids = np.array([[0, 5, UNKNOWN], [13, 20, 2]], np.uint8)
    path = tmp_path / "parsing.png"
    save_label_map(path, ids, LIP_NECK)
    with Image.open(path) as im:
        assert im.mode == "L"
    labels = load_label_map(path, label_set=LIP_NECK)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, ids)
    assert _files(tmp_path) == ["parsing.png"]


def test_rgb_preview_is_refused_as_a_label_map(tmp_path: Path) -> None:
    ids = np.array([[0, 5], [13, 2]], np.uint8)
    preview = tmp_path / "preview.png"
    save_parsing_preview(preview, ids, LIP_NECK)
    np.testing.assert_array_equal(load_image(preview).pixels, LIP_NECK.colourize(ids))
    with pytest.raises(ImageError) as exc:
        load_label_map(preview)
    assert "RGB" in _assert_one_line_naming(exc, preview)


def test_label_map_checks(tmp_path: Path) -> None:
    path = tmp_path / "ids.png"
    Image.fromarray(np.array([[0, 23]], np.uint8)).save(path)
    with pytest.raises(ImageError, match="23"):
        load_label_map(path, label_set=LIP_NECK)
    with pytest.raises(ImageError, match="2x1 but the image is 3x1"):
        load_label_map(path, size=(3, 1))
    with pytest.raises(ImageError, match="23"):
        save_label_map(tmp_path / "bad.png", np.array([[0, 23]]), LIP_NECK)
    with pytest.raises(ImageError, match=".png"):
        save_label_map(tmp_path / "bad.jpg", np.zeros((2, 2), np.uint8), LIP_NECK)
    jpeg = tmp_path / "ids.jpg"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(jpeg)
    with pytest.raises(ImageError, match="lossless"):
        load_label_map(jpeg)
    assert sorted(_files(tmp_path)) == ["ids.jpg", "ids.png"]


def test_real_lip_label_maps() -> None:
    parsing = LIP_SAMPLES / "parsing"
    if not parsing.is_dir():
        pytest.skip(f"LIP samples not found at {LIP_SAMPLES}")
    files = sorted(parsing.glob("*.png"))
    assert files
    for path in files:
        labels = load_label_map(path, label_set=LIP_NECK)
        with Image.open(path) as im:
            np.testing.assert_array_equal(labels, np.asarray(im))
            assert labels.shape == (im.height, im.width)
        assert labels.max() < 20  # LIP's 20 classes (0-19)
        photo = LIP_SAMPLES / "images" / f"{path.stem}.jpg"
        if photo.exists():
            image = load_image(photo)
            assert load_label_map(path, size=image.size).shape == image.pixels.shape[:2]


def test_loaded_arrays_are_writable(tmp_path: Path) -> None:
    """The editor paints into what it loads; arrays backed by Pillow's buffer are read-only."""
    photo = tmp_path / "p.png"
    Image.fromarray(_pattern()).save(photo)
    parsing = tmp_path / "l.png"
    save_label_map(parsing, np.zeros((2, 2), np.uint8), LIP_NECK)
    for array in (load_image(photo).pixels, load_mask(photo), load_label_map(parsing)):
        assert array.flags.writeable and array.flags.c_contiguous


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_unreadable_exif_does_not_block_the_photo(tmp_path: Path) -> None:
    path = tmp_path / "odd-exif.jpg"
    Image.fromarray(_blocks()).save(path, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\xff garbage")
    loaded = load_image(path)
    assert loaded.pixels.shape == (32, 48, 3)
