import subprocess
import sys

import numpy as np
import pytest

from portrait_editor.document import Document, Source
from portrait_editor.imageio import LoadedImage
from portrait_editor.labels import UNKNOWN
from portrait_editor.pipeline import CompletionResult, Margins


def _doc(portrait) -> Document:
    return Document.from_loaded(LoadedImage(pixels=portrait, exif=b"Exif\0\0xx", icc=b"icc", format="JPEG"))


def _result_for(doc: Document, value: int = 7) -> CompletionResult:
    w, h = doc.canvas_size
    return CompletionResult(image=np.full((h, w, 3), value, np.uint8), parsing=np.full((h, w), 2, np.uint8),
                            mask=np.ones((h, w), bool), timings={}, regions=[])


def test_module_imports_neither_torch_nor_qt():
    code = ("import sys\nsys.modules['PySide6'] = None\nimport portrait_editor.document\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_from_loaded_keeps_the_source_and_starts_clean(portrait):
    doc = _doc(portrait)
    assert doc.source == Source(path=None, exif=b"Exif\0\0xx", icc=b"icc", format="JPEG", bit_depth=8)
    assert doc.size == (120, 160) and doc.canvas_size == (120, 160)
    assert doc.mask.shape == (160, 120) and not doc.mask.any()
    assert doc.margins == Margins(0, 0, 0, 0) and doc.parsing is None and doc.result is None
    with pytest.raises(ValueError):  # the base is replaced, never edited in place
        doc.base[0, 0] = 1


def test_request_is_a_snapshot(portrait):
    doc = _doc(portrait)
    doc.apply_mask_patch(10, 20, np.ones((5, 6), bool))
    doc.set_parsing(np.zeros((160, 120), np.uint8), edited=True)
    request = doc.request(use_face=False)
    assert request.parsing is not None and not request.use_face  # edited parsing is used by default
    assert request.mirror_face and not doc.request(mirror_face=False).mirror_face
    mask_before = request.mask.copy()
    doc.apply_mask_patch(0, 0, np.ones((3, 3), bool))
    doc.apply_parsing_patch(0, 0, np.full((2, 2), 5, np.uint8))
    doc.set_margins(Margins(4, 0, 0, 0))
    doc.set_mask(np.ones((160, 120), bool))
    np.testing.assert_array_equal(request.mask, mask_before)
    assert request.mask.sum() == 30 and request.parsing.max() == 0
    assert request.margins == Margins(0, 0, 0, 0) and request.image.shape == (160, 120, 3)
    assert doc.request(use_parsing=False).parsing is None


def test_unedited_parsing_is_not_reused_and_missing_parsing_is_an_error(portrait):
    doc = _doc(portrait)
    with pytest.raises(ValueError, match="no parsing"):
        doc.request(use_parsing=True)
    doc.set_parsing(np.zeros((160, 120), np.uint8))
    assert doc.request().parsing is None
    assert doc.request(use_parsing=True).parsing is not None


def test_margins_pad_and_crop_the_parsing(portrait):
    doc = _doc(portrait)
    labels = np.arange(160 * 120, dtype=np.uint32).reshape(160, 120) % 20
    doc.set_parsing(labels.astype(np.uint8), edited=True)
    old = doc.set_margins(Margins(top=3, right=0, bottom=5, left=2))
    assert old == (Margins(0, 0, 0, 0), old[1]) and old[1].shape == (160, 120)
    assert doc.canvas_size == (122, 168) and doc.parsing.shape == (168, 122)
    np.testing.assert_array_equal(doc.parsing[3:163, 2:122], labels)
    assert (doc.parsing[:3] == UNKNOWN).all() and (doc.parsing[163:] == UNKNOWN).all()
    assert (doc.parsing[:, :2] == UNKNOWN).all() and doc.parsing_edited
    # shrinking crops the new area away again; the photo's labels stay where they were
    doc.set_margins(Margins(top=1, right=0, bottom=0, left=0))
    assert doc.parsing.shape == (161, 120)
    np.testing.assert_array_equal(doc.parsing[1:], labels)
    # undo puts back both values
    doc.set_margins(*old)
    assert doc.margins == Margins(0, 0, 0, 0)
    np.testing.assert_array_equal(doc.parsing, labels)
    with pytest.raises(ValueError, match="canvas"):
        doc.set_margins(Margins(1, 1, 1, 1), np.zeros((3, 3), np.uint8))
    assert doc.margins == Margins(0, 0, 0, 0)  # a refused change leaves the document as it was


def test_canvas_hole_is_the_mask_and_the_margins(portrait):
    doc = _doc(portrait)
    mask = np.zeros((160, 120), bool)
    mask[50:60, 40:70] = True
    doc.set_mask(mask)
    doc.set_margins(Margins(top=3, right=0, bottom=5, left=2))
    hole = doc.canvas_hole()
    assert hole.shape == (168, 122)
    np.testing.assert_array_equal(hole[3:163, 2:122], mask)
    assert hole[:3].all() and hole[163:].all() and hole[:, :2].all()
    assert hole.sum() == mask.sum() + 168 * 122 - 160 * 120


def test_patches_are_undo_atoms(portrait):
    doc = _doc(portrait)
    before = doc.mask.copy()
    patch = np.random.default_rng(0).random((7, 9)) > 0.5
    old = doc.apply_mask_patch(150, 100, patch)
    np.testing.assert_array_equal(doc.mask[150:157, 100:109], patch)
    doc.apply_mask_patch(150, 100, old)
    np.testing.assert_array_equal(doc.mask, before)
    with pytest.raises(ValueError, match="does not fit"):
        doc.apply_mask_patch(155, 0, patch)

    doc.set_parsing(np.ones((160, 120), np.uint8))
    assert not doc.parsing_edited
    old = doc.apply_parsing_patch(0, 0, np.full((4, 4), 13, np.uint8))
    assert doc.parsing_edited and (doc.parsing[:4, :4] == 13).all()
    doc.apply_parsing_patch(0, 0, old)
    assert (doc.parsing == 1).all()

    previous = doc.set_mask(np.ones((160, 120), np.uint8))
    assert doc.mask.dtype == bool and doc.mask.all()
    doc.set_mask(previous)
    np.testing.assert_array_equal(doc.mask, before)


def test_accept_result_and_undo(portrait):
    doc = _doc(portrait)
    doc.apply_mask_patch(0, 0, np.ones((4, 4), bool))
    doc.set_margins(Margins(0, 10, 0, 0))
    doc.set_parsing(np.zeros((160, 130), np.uint8))
    result = _result_for(doc)
    doc.set_result(result)
    assert (doc.parsing == 2).all()  # an unedited map follows the result's
    before = doc.accept_result()
    assert doc.base.shape == (160, 130, 3) and (doc.base == 7).all()
    assert doc.mask.shape == (160, 130) and not doc.mask.any()
    assert doc.margins == Margins() and doc.result is None
    assert doc.parsing.shape == (160, 130)  # kept, now at the base size
    doc.restore(before)
    assert doc.base.shape == (160, 120, 3) and doc.mask.sum() == 16 and doc.margins == Margins(0, 10, 0, 0)
    assert doc.result is result
    doc.accept_result()  # redo works from the restored state
    assert doc.base.shape == (160, 130, 3)


def test_out_of_date_results_are_refused(portrait):
    doc = _doc(portrait)
    result = _result_for(doc)
    doc.set_margins(Margins(5, 0, 0, 0))
    with pytest.raises(ValueError, match="out of date"):
        doc.set_result(result)
    with pytest.raises(ValueError, match="no result"):
        doc.accept_result()


def test_edited_parsing_survives_a_result(portrait):
    doc = _doc(portrait)
    doc.set_parsing(np.full((160, 120), 5, np.uint8), edited=True)
    doc.set_result(_result_for(doc))
    assert (doc.parsing == 5).all()
