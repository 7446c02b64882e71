"""`portrait-editor complete`: single files, batches, and every kind of bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from portrait_editor.cli import main

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def files(tmp_path, portrait):
    photo = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    Image.fromarray(portrait).save(photo, quality=95, exif=exif)
    mask = np.zeros(portrait.shape[:2], np.uint8)
    mask[30:70, 40:80] = 255
    mask_path = tmp_path / "mask.png"
    Image.fromarray(mask).save(mask_path)
    return photo, mask_path


def test_single_photo(files, tmp_path, tiny_weights, capsys):
    photo, mask = files
    out = tmp_path / "out.png"
    assert main([str(photo), "-m", str(mask), "-o", str(out), "--weights", str(tiny_weights)]) == 0
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (120, 160)
        assert im.getexif().get(0x010F) == "TestCam"
    assert "wrote" in capsys.readouterr().err


def test_output_keeps_input_format_and_parsing_out(files, tmp_path, tiny_weights):
    photo, mask = files
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    parsing = tmp_path / "parsing.png"
    assert main([str(photo), "-m", str(mask), "-o", str(out_dir), "--weights", str(tiny_weights),
                 "--parsing-out", str(parsing)]) == 0
    with Image.open(out_dir / "photo.jpg") as im:
        assert im.format == "JPEG"
    with Image.open(parsing) as im:
        assert im.mode == "L" and im.size == (120, 160)
    with Image.open(tmp_path / "parsing_preview.png") as im:
        assert im.mode == "RGB"


def test_parsing_in_round_trip(files, tmp_path, tiny_weights):
    photo, mask = files
    parsing = tmp_path / "p.png"
    Image.fromarray(np.full((160, 120), 5, np.uint8)).save(parsing)
    out = tmp_path / "out.png"
    assert main([str(photo), "-m", str(mask), "-o", str(out), "--weights", str(tiny_weights),
                 "--parsing-in", str(parsing), "--parsing-out", str(tmp_path / "again.png")]) == 0
    assert (np.asarray(Image.open(tmp_path / "again.png")) == 5).all()


def test_margins_without_mask(files, tmp_path, tiny_weights):
    photo, _ = files
    out = tmp_path / "taller.png"
    assert main([str(photo), "--margins", "0,0,40,0", "-o", str(out), "--weights", str(tiny_weights)]) == 0
    with Image.open(out) as im:
        assert im.size == (120, 200)


def test_batch_continues_after_a_failure(files, tmp_path, tiny_weights, portrait, capsys):
    photo, mask = files
    inputs, masks, outputs = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    inputs.mkdir(), masks.mkdir()
    for name in ("a", "b", "c"):
        Image.fromarray(portrait).save(inputs / f"{name}.png")
    (masks / "a.png").write_bytes(mask.read_bytes())
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(masks / "b.png")  # wrong size
    # c has no mask at all
    assert main([str(inputs), "-m", str(masks), "-o", str(outputs), "--weights", str(tiny_weights)]) == 1
    assert (outputs / "a.png").is_file() and not (outputs / "b.png").exists()
    err = capsys.readouterr().err
    assert "1 of 3 photos completed" in err and "b.png" in err and "c.png" in err


def test_refuses_to_overwrite_the_input(files, tiny_weights, capsys):
    photo, mask = files
    before = photo.read_bytes()
    assert main([str(photo), "-m", str(mask), "-o", str(photo), "--weights", str(tiny_weights)]) == 2
    assert photo.read_bytes() == before
    assert "refusing to overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["missing", "corrupt", "mask_size", "empty_mask", "no_mask_arg"])
def test_bad_input_gives_one_line_error(case, files, tmp_path, tiny_weights, capsys):
    photo, mask = files
    if case == "missing":
        photo = tmp_path / "nope.jpg"
    elif case == "corrupt":
        photo.write_bytes(photo.read_bytes()[:200])
    elif case == "mask_size":
        Image.fromarray(np.full((50, 50), 255, np.uint8)).save(mask)
    elif case == "empty_mask":
        Image.fromarray(np.zeros((160, 120), np.uint8)).save(mask)
    args = [str(photo), "-o", str(tmp_path / "o.png"), "--weights", str(tiny_weights)]
    if case != "no_mask_arg":
        args += ["-m", str(mask)]
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert not (tmp_path / "o.png").exists()
    expected = {"missing": "nope.jpg", "corrupt": "photo.jpg", "mask_size": "mask.png",
                "empty_mask": "empty", "no_mask_arg": "mask"}[case]
    assert expected in err


def test_missing_and_unreadable_weights(files, tmp_path, tiny_weights, capsys):
    photo, mask = files
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(photo), "-m", str(mask), "-o", str(tmp_path / "o.png"), "--weights", str(empty)]) == 1
    err = capsys.readouterr().err.strip()
    assert str(empty) in err and "completion.safetensors" in err and len(err.splitlines()) == 1
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny_weights.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "parsing.safetensors").write_bytes(b"garbage")
    assert main([str(photo), "-m", str(mask), "-o", str(tmp_path / "o.png"), "--weights", str(broken)]) == 1
    assert "parsing.safetensors" in capsys.readouterr().err


def test_console_entry_point_runs(files, tmp_path, tiny_weights):
    photo, mask = files
    out = tmp_path / "o.webp"
    proc = subprocess.run([sys.executable, "-m", "portrait_editor", "complete", str(photo), "-m", str(mask),
                           "-o", str(out), "--weights", str(tiny_weights), "--device", "cpu"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as im:
        assert im.format == "WEBP"


def test_real_photo_from_ccp(tmp_path, tiny_weights):
    images = SHARED_DATA / "ccp" / "images"
    if not images.is_dir():
        pytest.skip("../shared/data is not available")
    photo = sorted(images.glob("*.jpg"))[0]
    with Image.open(photo) as im:
        w, h = im.size
    mask = np.zeros((h, w), np.uint8)
    mask[h // 3: h // 3 + 80, w // 3: w // 3 + 60] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    out = tmp_path / "o.jpg"
    assert main([str(photo), "-m", str(tmp_path / "m.png"), "-o", str(out), "--margins", "0,0,64,0",
                 "--weights", str(tiny_weights), "-q"]) == 0
    with Image.open(out) as im:
        assert im.size == (w, h + 64)


def test_a_16_bit_photo_is_saved_with_a_note_that_it_has_8_bits(files, tmp_path, tiny_weights, portrait, capsys):
    """The editor works on 8 bits per channel: a 16-bit photo's result says so, an 8-bit one's not."""
    _, mask = files
    deep = tmp_path / "deep.png"
    Image.fromarray(portrait[..., 0].astype(np.uint16) * 257).save(deep)  # 16-bit grey
    out = tmp_path / "deep-out.png"
    assert main([str(deep), "-m", str(mask), "-o", str(out), "--weights", str(tiny_weights)]) == 0
    err = capsys.readouterr().err
    assert "note: 'deep.png' has 16 bits per channel: the edited photo is saved with 8" in err
    with Image.open(out) as im:
        assert im.mode == "RGB"
    photo, _ = files
    assert main([str(photo), "-m", str(mask), "-o", str(tmp_path / "out8.png"), "--weights", str(tiny_weights)]) == 0
    assert "bits per channel" not in capsys.readouterr().err


def test_a_photo_of_a_few_pixels_grows_margins(tmp_path, tiny_weights):
    """A 2 x 2 photo grown by 5 px below completes (the band's diffusion raised on it once)."""
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.full((2, 2, 3), (200, 40, 40), np.uint8)).save(tiny)
    out = tmp_path / "tiny-out.png"
    assert main([str(tiny), "--margins", "0,0,5,0", "-o", str(out), "--weights", str(tiny_weights), "-q"]) == 0
    with Image.open(out) as im:
        assert im.size == (2, 7)
