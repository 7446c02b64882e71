"""The body-proportion prior below the photo: legs go on down, shoes where the feet should be."""

from __future__ import annotations

import numpy as np

from portrait_editor.labels import LIP_NECK, UNKNOWN
from portrait_editor.pipeline.structure import (
    BODY_HEADS,
    CANVAS_GAP,
    LEGS_REACH_HEADS,
    REACH_HEADS,
    SHOE_HEADS,
    clear_detached_heads,
    clear_stray_faces,
    end_neck_below,
    extend_below,
)

L = LIP_NECK.id


def _person(canvas_h=200, photo_h=100, garment="pants"):
    """A person whose head (rows 0-20: hair 0-4, face 4-20) is in a 100 px photo, with legs in
    ``garment`` reaching its bottom edge at columns 20-30 and 40-50; the canvas below is unknown."""
    p = np.zeros((canvas_h, 80), np.uint8)
    p[0:4, 30:42] = L("hair")
    p[4:20, 30:42] = L("face")
    p[20:60, 20:50] = L("upper-clothes")
    p[60:photo_h, 20:30] = L(garment)
    p[60:photo_h, 40:50] = L(garment)
    p[photo_h:] = UNKNOWN
    return p


def test_legs_go_on_and_shoes_sit_where_the_proportions_put_the_feet():
    p = _person(canvas_h=260)
    out = extend_below(p, 100, LIP_NECK)
    np.testing.assert_array_equal(out[:100], p[:100])  # the photo's labels are kept
    # head top 0, head 20 px: the proportions say row 150, the canvas 252; with legs at the
    # photo's edge the feet go within 4 heads of 150
    feet = int(round(min(260 * (1 - CANVAS_GAP), BODY_HEADS * 20 + LEGS_REACH_HEADS * 20)))
    assert feet == 230
    shoe_top = int(round(feet - SHOE_HEADS * 20))
    assert (out[100:shoe_top, 20:30] == L("pants")).all() and (out[100:shoe_top, 40:50] == L("pants")).all()
    # a person facing the camera: their right shoe on the image's left
    assert (out[shoe_top:feet, 20:30] == L("right-shoe")).all()
    assert (out[shoe_top:feet, 40:50] == L("left-shoe")).all()
    assert (out[feet:] == L("background")).all() and (out[100:, :15] == L("background")).all()


def test_the_feet_follow_the_canvas_within_reach_of_the_proportions():
    short = extend_below(_person(canvas_h=160), 100, LIP_NECK)  # soles 3% above the canvas edge
    rows = np.flatnonzero(np.isin(short, [L("left-shoe"), L("right-shoe")]).any(1))
    assert rows[-1] + 1 == int(round(160 * (1 - CANVAS_GAP)))


def test_a_skirt_ends_at_the_knees_over_bare_legs():
    out = extend_below(_person(garment="skirt"), 100, LIP_NECK)
    knees = int(round(5.5 * 20))
    assert (out[100:knees, 20:30] == L("skirt")).all()
    assert (out[knees + 1:130, 20:30] == L("right-leg")).all() and (out[knees + 1:130, 40:50] == L("left-leg")).all()


def test_user_labels_win_and_no_head_means_no_prior():
    p = _person()
    p[100:200, 60:70] = L("dress")  # painted by the user below the photo
    out = extend_below(p, 100, LIP_NECK)
    assert (out[100:200, 60:70] == L("dress")).all()
    headless = _person()
    headless[:20] = 0
    np.testing.assert_array_equal(extend_below(headless, 100, LIP_NECK), headless)
    # feet already inside the photo (a short canvas above a tall photo): nothing to add
    tall = _person(canvas_h=400, photo_h=300)
    tall[60:300, 20:30] = L("pants")
    tall[140:150, 20:30] = L("left-shoe")
    np.testing.assert_array_equal(extend_below(tall, 300, LIP_NECK), tall)


def test_a_band_that_ends_above_the_feet_is_left_to_p_and_g():
    """Under a portrait (only a top at the photo's edge) the canvas ends heads above the feet:
    no garment columns, no background."""
    # head 20 px: the soles go at least 7.5 - 1.5 = 6 heads down (row 120), the shoes 0.8 heads above
    lowest_shoe_top = int(np.ceil((BODY_HEADS - REACH_HEADS - SHOE_HEADS) * 20))
    assert lowest_shoe_top == 104
    for canvas_h in (101, 104):
        p = _person(canvas_h=canvas_h, garment="upper-clothes")
        np.testing.assert_array_equal(extend_below(p, 100, LIP_NECK), p)
    p = _person(canvas_h=106, garment="upper-clothes")
    out = extend_below(p, 100, LIP_NECK)
    assert (out[104:106, 20:30] == L("right-shoe")).all() and (out[100:104, 20:30] == UNKNOWN).all()


def test_legs_at_the_edge_let_the_canvas_pull_the_feet_further():
    """P measured the head too tall (30 px: the proportions put the soles at row 225) and the user
    grew the canvas to 170 px. With legs at the photo's edge the soles go 3% above the canvas's
    edge (within 4 heads of the proportions); with only a top there, no more than 1.5 heads up
    (row 180, below the canvas: the shoes are cut by its edge)."""
    def shoe_rows(garment: str) -> np.ndarray:
        p = _person(canvas_h=170, garment=garment)
        p[:30, 30:42] = L("face")
        p[:4, 30:42] = L("hair")
        out = extend_below(p, 100, LIP_NECK)
        return np.flatnonzero(np.isin(out, [L("left-shoe"), L("right-shoe")]).any(1))

    assert shoe_rows("pants")[-1] + 1 == int(round(170 * (1 - CANVAS_GAP)))
    assert int(round(30 * (BODY_HEADS - LEGS_REACH_HEADS))) < 165 < int(round(30 * (BODY_HEADS - REACH_HEADS)))
    assert shoe_rows("upper-clothes")[-1] + 1 == 170


def test_a_face_guessed_below_a_portraits_border_is_cleared_but_a_cut_chin_goes_on():
    p = _person()
    p[100:130, 25:45] = L("face")  # P's guess in the blouse below the border, under the clothes
    p[130:140, 25:45] = L("hair")
    out = clear_detached_heads(p, 100, LIP_NECK)
    assert (out[100:140, 25:45] == UNKNOWN).all()
    np.testing.assert_array_equal(out[:100], p[:100])
    unchanged = (np.arange(200)[:, None] < 100) | ~((np.arange(80) >= 25) & (np.arange(80) < 45))[None, :]
    np.testing.assert_array_equal(out[unchanged], p[unchanged])
    # a close-up whose chin the border cuts: the face below continues the photo's face
    close = _person()
    close[80:100, 30:42] = L("face")
    close[100:115, 30:42] = L("face")
    np.testing.assert_array_equal(clear_detached_heads(close, 100, LIP_NECK), close)


def _close_up(canvas_h=200, photo_h=100):
    """A head-and-shoulders portrait: face rows 10-50 (40 px wide, columns 20-60), a neck at
    columns 30-50 down to the photo's edge, a top beside it; the canvas below unknown."""
    p = np.zeros((canvas_h, 80), np.uint8)
    p[0:10, 20:60] = L("hair")
    p[10:50, 20:60] = L("face")
    p[50:photo_h, 5:75] = L("upper-clothes")
    p[50:photo_h, 30:50] = L("neck")
    p[photo_h:] = UNKNOWN
    return p


def test_a_neck_that_p_runs_down_a_band_ends_under_the_chin_and_the_top_closes_under_it():
    p = _close_up()
    p[100:200, 30:50] = L("neck")  # P's neck, down to the canvas's bottom
    out = end_neck_below(p, 100, LIP_NECK)
    np.testing.assert_array_equal(out[:100], p[:100])
    # the neck ends NECK_FACE_WIDTHS face widths (40 px) below the chin (row 50), above the border
    assert (out[100:, 30:50] == L("upper-clothes")).all()
    # the unknown pixels under the neck close too; those beside it are left to P and G
    q = _close_up()
    out = end_neck_below(q, 100, LIP_NECK)
    assert (out[120:, 30:50] == L("upper-clothes")).all()
    assert (out[100:, :30] == UNKNOWN).all() and (out[100:, 50:] == UNKNOWN).all()
    # a neck cut higher, its chin near the edge: the neck goes on below the border before it ends
    r = _close_up()
    r[10:50] = r[60:100]  # no face: nothing to measure a neck by
    r[:10] = L("hair")
    assert end_neck_below(r, 100, LIP_NECK) is r
    low = _close_up()
    low[40:95, 20:60] = L("face")  # the chin at row 95, 55 face rows: the neck runs past the border
    low[95:100, 30:50] = L("neck")
    low[100:200, 30:50] = L("neck")
    out = end_neck_below(low, 100, LIP_NECK)
    assert (out[100:105, 38:42] == L("neck")).all()
    assert out[105, 30] == L("upper-clothes") and out[105, 40] == L("neck")  # a collar's curve
    assert (out[140:, 30:50] == L("upper-clothes")).all()


def test_continues_legs_needs_legs_or_shoes_over_a_share_of_the_hole():
    from portrait_editor.pipeline.structure import LEGS_MIN_FRACTION, continues_legs

    hole = np.zeros((100, 100), bool)
    hole[60:] = True
    parsing = np.zeros((100, 100), np.uint8)
    parsing[:, 40:60] = LIP_NECK.id("upper-clothes")
    assert not continues_legs(parsing, hole, LIP_NECK)
    parsing[60:, 40:60] = LIP_NECK.id("pants")
    assert continues_legs(parsing, hole, LIP_NECK)
    parsing[60:, 40:60] = LIP_NECK.id("background")
    needed = int(np.ceil(LEGS_MIN_FRACTION * hole.sum()))
    parsing[99, :needed - 1] = LIP_NECK.id("left-shoe")
    assert not continues_legs(parsing, hole, LIP_NECK)  # a few stray pixels are not a body
    parsing[99, :needed] = LIP_NECK.id("left-shoe")
    assert continues_legs(parsing, hole, LIP_NECK)
    parsing[:60, :] = LIP_NECK.id("left-leg")  # legs above the hole do not count
    parsing[60:, :] = LIP_NECK.id("background")
    assert not continues_legs(parsing, hole, LIP_NECK)
    assert not continues_legs(parsing, np.zeros_like(hole), LIP_NECK)


def test_a_head_guessed_inside_a_hole_is_left_to_g_one_the_photo_shows_is_kept():
    from portrait_editor.pipeline.structure import clear_heads_inside_holes

    face, hair, bg = LIP_NECK.id("face"), LIP_NECK.id("hair"), LIP_NECK.id("background")
    parsing = np.full((100, 120), bg, np.uint8)
    parsing[10:40, 10:40] = hair  # a head the photo shows, half of it under the hole
    parsing[20:40, 15:35] = face
    parsing[50:90, 70:110] = face  # a "face" P guessed over a backdrop, its tip outside the hole
    parsing[48:50, 85:95] = hair
    hole = np.zeros(parsing.shape, bool)
    hole[25:45, 5:45] = True
    hole[50:95, 65:115] = True
    out = clear_heads_inside_holes(parsing, hole, LIP_NECK)
    assert (out[50:90, 70:110] == UNKNOWN).all()  # the guessed face: G decides there
    assert (out[48:50, 85:95] == hair).all()  # outside the hole nothing changes
    np.testing.assert_array_equal(out[:45, :50], parsing[:45, :50])  # the real head keeps its labels
    assert clear_heads_inside_holes(parsing, np.zeros_like(hole), LIP_NECK) is parsing


def _figure(w=120):
    """A head (hair on top of a face) over a coat, on background."""
    p = np.zeros((200, w), np.uint8)
    p[10:18, 40:64] = L("hair")
    p[18:40, 42:62] = L("face")
    p[40:190, 25:80] = L("coat")
    return p


def test_a_face_under_a_chin_is_left_to_the_network():
    """P's face on the sample astronaut's suit and helmet, below her real face: no person has a
    face there, so the blob becomes unknown; the real face stays."""
    p = _figure()
    p[120:160, 35:70] = L("face")  # the suit, labelled face
    p[150:152, 36:40] = L("hair")  # a stray speck of hair at its edge is no crown
    out = clear_stray_faces(p, LIP_NECK)
    assert (out[120:160, 35:70] != L("face")).all()
    assert (out[120:160, 35:70][p[120:160, 35:70] == L("face")] == UNKNOWN).all()
    np.testing.assert_array_equal(out[:100], p[:100])
    # the same at 12 MP scale, where the regions are found on a shrunk copy
    big = np.repeat(np.repeat(p, 13, axis=0), 13, axis=1)
    np.testing.assert_array_equal(clear_stray_faces(big, LIP_NECK) == L("face"),
                                  np.repeat(np.repeat(out == L("face"), 13, axis=0), 13, axis=1))


def test_faces_of_other_people_and_maps_without_a_head_are_kept():
    # two people side by side; a child in front, below the first face, with hair on top
    p = _figure(w=240)
    p[10:18, 160:184] = L("hair")
    p[18:40, 162:182] = L("face")
    p[100:108, 40:60] = L("hair")
    p[108:128, 42:58] = L("face")
    assert clear_stray_faces(p, LIP_NECK) is p
    # a face blob with no head above it anywhere: nothing to judge by
    q = np.zeros((200, 120), np.uint8)
    q[18:40, 42:62] = L("face")
    q[120:160, 35:70] = L("face")
    assert clear_stray_faces(q, LIP_NECK) is q
    # beside the head, not under its chin, or just under the chin (a face cut by a hole)
    r = _figure()
    r[42:60, 44:60] = L("face")
    assert clear_stray_faces(r, LIP_NECK) is r
