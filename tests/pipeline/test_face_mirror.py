"""The face stage's symmetry step (pipeline/face.py) on drawn faces."""

from __future__ import annotations

import cv2
import numpy as np

from portrait_editor.pipeline.face import Axis, mirror_face, reflection_maps


def _drawn_face(tilt_deg: float = 0.0, size: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A skin-coloured oval with two eyes, two brows, a nose and a mouth, symmetric about a line
    through the middle leaning ``tilt_deg`` degrees; grain on top. Returns (image, face mask)."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), (60, 90, 70), np.uint8)
    face = np.zeros((size, size), np.uint8)
    c = size // 2
    cv2.ellipse(face, (c, c), (70, 95), 0, 0, 360, 1, -1)
    image[face > 0] = (200, 160, 140)
    for side in (-1, 1):
        cv2.circle(image, (c + side * 32, c - 20), 11, (40, 30, 30), -1)  # eyes
        cv2.circle(image, (c + side * 32, c - 20), 4, (240, 240, 240), -1)
        cv2.line(image, (c + side * 18, c - 42), (c + side * 48, c - 46), (70, 50, 40), 4)  # brows
    cv2.line(image, (c, c - 10), (c, c + 20), (150, 110, 100), 3)  # nose
    cv2.ellipse(image, (c, c + 45), (26, 9), 0, 0, 180, (150, 60, 60), 4)  # mouth
    rot = cv2.getRotationMatrix2D((c, c), -tilt_deg, 1.0)
    image = cv2.warpAffine(image, rot, (size, size), borderMode=cv2.BORDER_REPLICATE)
    face = cv2.warpAffine(face, rot, (size, size), flags=cv2.INTER_NEAREST) > 0
    image = np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)
    return image, face


def _eye_hole(size: int = 240) -> np.ndarray:
    hole = np.zeros((size, size), bool)
    c = size // 2
    hole[c - 45:c + 5, c - 60:c - 12] = True  # over the left eye and brow
    return hole


def test_reflection_maps_reflect_across_a_tilted_line():
    axis = Axis(x=50.0, y=40.0, angle=np.radians(30), score=1.0)
    map_x, map_y, distance = reflection_maps((100, 120), axis)
    # a point on the line is its own reflection; reflecting twice gives the point back
    on = (40 + 20 * np.cos(axis.angle), 50 + 20 * np.sin(axis.angle))
    y, x = int(round(on[0])), int(round(on[1]))
    assert abs(distance[y, x]) < 1.0
    px, py = 90, 20
    qx, qy = map_x[py, px], map_y[py, px]
    back_x, back_y, _ = reflection_maps((100, 120), axis)
    assert abs(cv2.remap(back_x, np.float32([[qx]]), np.float32([[qy]]), cv2.INTER_LINEAR)[0, 0] - px) < 0.01
    assert abs(cv2.remap(back_y, np.float32([[qx]]), np.float32([[qy]]), cv2.INTER_LINEAR)[0, 0] - py) < 0.01


def test_an_eye_under_the_hole_comes_back_from_the_other_side():
    for tilt in (0.0, 12.0):
        image, face = _drawn_face(tilt)
        hole = _eye_hole()
        canvas = np.where(hole[..., None], np.uint8(128), image)  # the photo's hole holds nothing useful
        fill = np.where(hole[..., None], np.uint8((200, 160, 140)), image)  # the network: plain skin
        before = fill.copy()
        axis = mirror_face(canvas, fill, hole, face)
        assert axis is not None and axis.score > 0.8
        # drawn turned clockwise by tilt: the axis's lower end lies left of its upper end
        assert abs(np.degrees(axis.angle) + tilt) < 3.0 and abs(axis.x - 120) < 4
        np.testing.assert_array_equal(fill[~hole], before[~hole])
        # the dark iris is back where the photo had it
        error_before = np.abs(before[hole].astype(int) - image[hole]).mean()
        error_after = np.abs(fill[hole].astype(int) - image[hole]).mean()
        assert error_after < 0.4 * error_before


def test_no_symmetry_no_change():
    """A face-shaped patch of noise (or a face seen from the side) has no line of symmetry: the
    fill stays G's."""
    rng = np.random.default_rng(1)
    image, face = _drawn_face()
    noise = cv2.GaussianBlur(rng.normal(128, 60, (240, 240, 3)).astype(np.float32), (0, 0), 3)
    image = np.where(face[..., None], np.clip(noise, 0, 255).astype(np.uint8), image)
    hole = _eye_hole()
    fill = np.where(hole[..., None], np.uint8(150), image)
    before = fill.copy()
    assert mirror_face(image, fill, hole, face) is None
    np.testing.assert_array_equal(fill, before)


def test_nothing_to_do_without_a_face_in_the_hole_or_with_a_tiny_face():
    image, face = _drawn_face()
    hole = np.zeros(face.shape, bool)
    hole[:20, :20] = True  # background only
    fill = image.copy()
    assert mirror_face(image, fill, hole, face) is None
    small = cv2.resize(image, (20, 20))
    small_face = cv2.resize(face.view(np.uint8), (20, 20), interpolation=cv2.INTER_NEAREST) > 0
    small_hole = np.zeros((20, 20), bool)
    small_hole[5:10, 4:9] = True
    assert mirror_face(small, small.copy(), small_hole, small_face) is None


def test_the_pipeline_mirrors_the_face_with_the_users_labels_and_can_be_told_not_to(tiny_bundle):
    from portrait_editor.labels import LIP_NECK
    from portrait_editor.pipeline import Completer, CompletionRequest

    image, face = _drawn_face()
    hole = _eye_hole()
    parsing = np.where(face, LIP_NECK.id("face"), LIP_NECK.id("background")).astype(np.uint8)
    completer = Completer(tiny_bundle)
    mirrored = completer.run(CompletionRequest(image=image, mask=hole, parsing=parsing, use_detail=False)).image
    plain = completer.run(CompletionRequest(image=image, mask=hole, parsing=parsing, use_detail=False,
                                            mirror_face=False)).image
    iris = np.zeros(hole.shape, np.uint8)
    cv2.circle(iris, (120 - 32, 100), 9, 1, -1)  # where the hole's eye was drawn
    iris = iris > 0
    assert np.abs(mirrored[iris].astype(int) - image[iris]).mean() < 0.4 * np.abs(plain[iris].astype(int) - image[iris]).mean()
    far = cv2.dilate(hole.view(np.uint8), np.ones((21, 21), np.uint8)) == 0
    np.testing.assert_array_equal(mirrored[far], image[far])


def test_hole_pixels_called_hair_may_take_the_face():
    """P often calls a covered eye at the face's edge hair: those pixels may take the mirrored
    face. Without them (P called the hole background) nothing is painted."""
    image, face = _drawn_face()
    hole = _eye_hole()
    guessed = face & ~hole  # P found no face in the hole at all
    hair = hole.copy()
    fill = np.where(hole[..., None], np.uint8(150), image)
    assert mirror_face(image, fill.copy(), hole, guessed) is None  # nothing of the face to paint
    as_hair = fill.copy()
    assert mirror_face(image, as_hair, hole, guessed, hair) is not None
    error = np.abs(as_hair[hole].astype(int) - image[hole]).mean()
    assert error < 0.4 * np.abs(fill[hole].astype(int) - image[hole]).mean()
