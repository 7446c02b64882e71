"""A body-proportion prior for the canvas grown below the photo: legs go on down, shoes where
the proportions put the feet.

P guesses poorly beyond the photo's border (mIoU 0.14 in the CCP bands), so the pipeline leaves
those labels to G, which then grows legs that fade out and never draws shoes. A standing adult
is about 7.5 heads tall, measured from the top of the head to the sole; the head is measured
from its top to the chin. On 242 CCP training maps the soles lie at 7.5 heads (median; 6.1-8.6
for the middle 80%) and the shoes are 0.8 heads high (median). With the head in the photo, that
says where the feet go, and the garments and legs that reach the photo's bottom edge say which
columns they occupy; the canvas the user grew says how much room they left for the feet
(``CANVAS_GAP``, within ``REACH_HEADS`` of the proportions). Only pixels still ``UNKNOWN`` are filled, so a user's labels always win,
and the editor shows the result as an ordinary parsing map that the user can repaint.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..labels import UNKNOWN, LabelSet
from .regions import _runs, bounding_box

BODY_HEADS = 7.5
"""Head top to sole, in heads (head top to chin)."""
SHOE_HEADS = 0.8
"""Height of the shoes in heads."""
HIP_HEADS = 4.0
"""Head top to the hips, where tops and coats end."""
KNEE_HEADS = 5.5
"""Head top to the knees, where most skirts and dresses end."""
CANVAS_GAP = 0.03
"""Where the user grew the canvas to make room for the feet, the soles go this fraction of the
canvas height above its bottom edge..."""
REACH_HEADS = 1.5
"""...but no further than this many heads from where the proportions put them. On the 20 CCP
validation bands (P's parsing, ``benchmarks/body_prior.py``) the proportions alone gave a shoe
IoU of 0.139 (leg+shoe mIoU 0.168), with the canvas 0.217 (0.257)."""
LEGS_REACH_HEADS = 4.0
"""The reach when legs or legwear reach the photo's bottom edge: the feet are just below it, and
the canvas says where better than the proportions of a head that P may have measured wrong (two
of the 20 CCP validation bands measure their heads twice too tall, with hats and hair). A band
under a portrait (only a top at the edge) keeps ``REACH_HEADS``, so its canvas never pulls the
feet up to the hips."""
SHOWN_HEAD = 0.25
"""``clear_heads_inside_holes``: the least share of a head region the photo must show around a
hole for its labels inside the hole to stay (P labels the tip of the sample's model shuttle,
above the hole over it, as hair)."""
HEAD_CROWN = 0.15
"""``clear_stray_faces``: a face region is a head when hair or a hat covers at least this share
of its area above its upper part (from half its height above its top to a quarter below it)."""
STRAY_FACE_GAP = 0.5
"""``clear_stray_faces``: a face region this many face heights or more below a head's chin..."""
STRAY_FACE_SPAN = 1.0
"""...and within this many of its face widths to either side is no face (no person has one there)."""
STRAY_WORK_SIDE = 1024
"""``clear_stray_faces`` finds regions on a copy of the map at most this many px a side."""
NECK_FACE_WIDTHS = 0.4
"""``end_neck_below``: below the photo a neck goes on this many face widths under the chin, then
the clothing closes under it."""
NECK_SIDE_WIDTHS = 0.15
"""...and at the sides of the neck this many (a collar's curve when less)."""
FACE_HEIGHT_WIDTHS = 1.4
"""``end_neck_below``: a face cut by the photo's bottom edge ends this many face widths below its
top (where its chin would be)."""
_EDGE_ROWS = 0.02
"""The bottom rows of the photo (as a fraction of its height) that say what reaches its edge."""

_LEGWEAR = ("pants", "jumpsuits", "left-leg", "right-leg", "socks")
_TO_KNEES = ("skirt", "dress")
_TO_HIPS = ("upper-clothes", "coat")
_HEAD = ("hair", "face", "hat")
_SKIN_BELOW = ("face", "neck")
_GARMENTS = _TO_HIPS + _TO_KNEES + ("jumpsuits",)


def _ids(labels: LabelSet, names: tuple[str, ...]) -> list[int]:
    return [labels.id(n) for n in names if labels.has(n)]


def _edge(parsing: np.ndarray, photo_bottom: int) -> np.ndarray:
    """The photo's bottom rows (``_EDGE_ROWS`` of its height, at least one): what reaches its edge."""
    return parsing[photo_bottom - max(1, int(round(_EDGE_ROWS * photo_bottom))):photo_bottom]


def _column_labels(edge: np.ndarray, ids: list[int]) -> np.ndarray:
    """Per column of ``edge``, the most frequent of ``ids`` in it; -1 where none is."""
    if not ids:
        return np.full(edge.shape[1], -1, np.int64)
    counts = np.stack([(edge == i).sum(0) for i in ids])  # ids x W
    return np.where(counts.max(0) > 0, np.asarray(ids)[counts.argmax(0)], -1)


def head_size(parsing: np.ndarray, labels: LabelSet) -> tuple[int, float] | None:
    """``(head top row, head height)`` from the hair, face and hat labels; None without a face."""
    if not labels.has("face"):
        return None
    face_rows = np.flatnonzero((parsing == labels.id("face")).any(1))
    head_rows = np.flatnonzero(np.isin(parsing, _ids(labels, _HEAD)).any(1))
    if len(face_rows) < 2:
        return None
    top = int(head_rows[0])
    return top, float(face_rows[-1] + 1 - top)


def _clear_heads(parsing: np.ndarray, hidden: np.ndarray, labels: LabelSet, shown_share: float) -> np.ndarray:
    """``parsing`` with the head labels (hair, face, hat) in ``hidden`` made ``UNKNOWN`` where
    less than ``shown_share`` of their connected head region (at least one pixel) lies outside
    ``hidden``; ``parsing`` itself when nothing changes."""
    head_ids = _ids(labels, _HEAD)
    if not head_ids or not hidden.any():
        return parsing
    box = bounding_box(hidden)
    if not np.isin(parsing[box.slices()][hidden[box.slices()]], head_ids).any():  # without the whole map
        return parsing
    head = np.isin(parsing, head_ids)
    count, component = cv2.connectedComponents(head.astype(np.uint8), connectivity=8)
    total = np.bincount(component[head], minlength=count)
    outside = np.bincount(component[head & ~hidden], minlength=count)
    shown = np.flatnonzero(outside >= np.maximum(shown_share * total, 1))
    detached = head & hidden & ~np.isin(component, shown)
    if not detached.any():
        return parsing
    out = parsing.copy()
    out[detached] = UNKNOWN
    return out


def clear_detached_heads(parsing: np.ndarray, photo_bottom: int, labels: LabelSet) -> np.ndarray:
    """``parsing`` with the head labels (hair, face, hat) below ``photo_bottom`` made ``UNKNOWN``
    where they do not continue a head that the photo shows: a head cannot start below the
    border. P trained on full-length bands guesses a face in the blouse below a portrait's
    border (docs/MODELS.md, session 8); ``extend_below`` then gives those pixels its own labels."""
    h, _ = parsing.shape
    if photo_bottom >= h or photo_bottom < 1:
        return parsing
    below = np.zeros(parsing.shape, bool)
    below[photo_bottom:] = True
    return _clear_heads(parsing, below, labels, 0.0)


def clear_heads_inside_holes(parsing: np.ndarray, hole: np.ndarray, labels: LabelSet) -> np.ndarray:
    """``parsing`` with the head labels (hair, face, hat) inside ``hole`` made ``UNKNOWN`` where
    less than ``SHOWN_HEAD`` of their connected head region lies outside the hole: no head the
    photo shows goes on there. P guesses heads into holes over backdrops (the sample portrait's
    model shuttle came back as a pink face with hair, docs/MODELS.md); G then decides from the
    surroundings. A head that continues from outside the hole keeps its labels."""
    return _clear_heads(parsing, hole, labels, SHOWN_HEAD)


def clear_stray_faces(parsing: np.ndarray, labels: LabelSet) -> np.ndarray:
    """``parsing`` with face regions that cannot be a face made ``UNKNOWN``: regions that are no
    head themselves (``HEAD_CROWN``) and lie below a head's chin, by more than ``STRAY_FACE_GAP``
    of its face height, within the columns a body under that head spans (``STRAY_FACE_SPAN`` face
    widths either side). P labels the sample astronaut's orange suit, glove and helmet as face
    below her real face; F, the mirror and the detail stage then treat a suit as skin, and the
    body prior measures her head from the helmet. Unknown, not the label around them: around the
    helmet that is background, and the detail stage fills background from what P calls
    background, the suit's mission patch included. Without a head to judge by, nothing changes;
    ``parsing`` itself is returned when nothing changes."""
    if not labels.has("face"):
        return parsing
    face_id = labels.id("face")
    # components on a copy of at most STRAY_WORK_SIDE px: a 12 MP map's labels are blocks anyway
    h, w = parsing.shape
    factor = max(1, int(np.ceil(max(h, w) / STRAY_WORK_SIDE)))
    small = parsing[::factor, ::factor]
    small_face = small == face_id
    count, component, stats, _ = cv2.connectedComponentsWithStats(small_face.astype(np.uint8), connectivity=8)
    if count <= 2:  # one face region: nothing to compare it with
        return parsing
    crown = np.isin(small, _ids(labels, ("hair", "hat")))
    heads = []
    for i in range(1, count):  # a head: hair or a hat on top, over the face's upper part
        x, y, fw, fh, area = (int(v) for v in stats[i])
        top = crown[max(0, y - fh // 2):y + fh // 4, max(0, x - fw // 10):x + fw + fw // 10]
        if np.count_nonzero(top) >= HEAD_CROWN * area:
            heads.append(i)
    if not heads:
        return parsing

    def under_a_chin(i: int) -> bool:
        x, y, fw = (int(v) for v in stats[i, :3])
        for j in heads:
            hx, hy, hw, hh = (int(v) for v in stats[j, :4])
            if y >= hy + hh + STRAY_FACE_GAP * hh and x < hx + hw + STRAY_FACE_SPAN * hw \
                    and x + fw > hx - STRAY_FACE_SPAN * hw:
                return True
        return False

    stray = [i for i in range(1, count) if i not in heads and under_a_chin(i)]
    if not stray:
        return parsing
    out = parsing.copy()
    for i in stray:
        # at full resolution: the face regions that the shrunk copy's region samples
        x, y, fw, fh = (int(v) for v in stats[i, :4])
        ys, xs = np.nonzero(component[y:y + fh, x:x + fw] == i)
        y0, x0 = max(0, (y - 1) * factor), max(0, (x - 1) * factor)
        y1, x1 = min(h, (y + fh + 1) * factor), min(w, (x + fw + 1) * factor)
        face = parsing[y0:y1, x0:x1] == face_id
        _, parts = cv2.connectedComponents(face.astype(np.uint8), connectivity=8)
        hits = np.unique(parts[(ys + y) * factor - y0, (xs + x) * factor - x0])
        out[y0:y1, x0:x1][np.isin(parts, hits[hits > 0])] = UNKNOWN
    return out


def end_neck_below(parsing: np.ndarray, photo_bottom: int, labels: LabelSet) -> np.ndarray:
    """``parsing`` (canvas size) with the face and neck labels below ``photo_bottom`` ended where a
    neck ends: ``NECK_FACE_WIDTHS`` face widths under the chin (``FACE_HEIGHT_WIDTHS`` below the
    face's top when the photo cuts the face). Below that, those pixels take the garment that
    reaches the photo's edge nearest their column (no garment: ``UNKNOWN``), and so do the
    ``UNKNOWN`` pixels under a face or neck at the edge. P continues a portrait's
    neck, or a face it sees in a lace top, to the bottom of a band grown under it, and G paints a
    column of skin down to the canvas's edge. ``parsing`` itself when nothing changes."""
    h, w = parsing.shape
    skin_ids = _ids(labels, _SKIN_BELOW)
    if photo_bottom >= h or photo_bottom < 1 or not labels.has("face"):
        return parsing
    face = parsing[:photo_bottom] == labels.id("face")
    rows = np.flatnonzero(face.any(1))
    if len(rows) < 2:
        return parsing
    edge = _edge(parsing, photo_bottom)
    skin_columns = np.isin(edge, skin_ids).any(0)
    width = float(np.percentile(face.sum(1)[rows], 90))
    chin = float(rows[-1] + 1)
    if face[photo_bottom - len(edge):].any():  # the photo cuts the face
        chin = max(chin, rows[0] + FACE_HEIGHT_WIDTHS * width)
    neck = np.full(w, chin + NECK_FACE_WIDTHS * width)
    for a, b in _runs(skin_columns):  # a collar's curve: lowest in the middle of the neck
        t = (np.arange(a, b) - (a + b - 1) / 2) / max(1.0, (b - a) / 2)
        neck[a:b] = chin + width * (NECK_SIDE_WIDTHS + (NECK_FACE_WIDTHS - NECK_SIDE_WIDTHS) * (1 - t * t))
    start = max(photo_bottom, int(np.floor(neck.min())))
    if start >= h:
        return parsing
    lower = parsing[start:]
    change = np.isin(lower, skin_ids) | ((lower == UNKNOWN) & skin_columns)
    change &= np.arange(start, h)[:, None] >= neck[None, :]
    if not change.any():
        return parsing
    column_label = _column_labels(edge, _ids(labels, _GARMENTS))
    worn = column_label >= 0
    # each column takes the garment of the nearest column that shows one
    column_label = column_label[_nearest(worn)] if worn.any() else np.full(w, UNKNOWN, np.int64)
    out = parsing.copy()
    out[start:][change] = np.broadcast_to(column_label, lower.shape)[change]
    return out


def _nearest(present: np.ndarray) -> np.ndarray:
    """For every index of the 1-D ``present`` (at least one True), the nearest index where it is True."""
    near = np.flatnonzero(present)
    x = np.arange(len(present))
    right = np.clip(np.searchsorted(near, x), 0, len(near) - 1)
    left = np.clip(right - 1, 0, len(near) - 1)
    return np.where(np.abs(near[left] - x) <= np.abs(near[right] - x), near[left], near[right])


def extend_below(parsing: np.ndarray, photo_bottom: int, labels: LabelSet) -> np.ndarray:
    """``parsing`` (canvas size) with the unknown rows below ``photo_bottom`` (the first canvas row
    beyond the photo) given the prior's labels; returned unchanged where the prior has nothing to
    say (no face in the photo, no body at its edge, the feet already inside the photo or below
    the canvas)."""
    h, w = parsing.shape
    if photo_bottom >= h or photo_bottom < 1:
        return parsing
    head = head_size(parsing[:photo_bottom], labels)
    if head is None:
        return parsing
    top, head_h = head
    feet = top + BODY_HEADS * head_h
    if feet <= photo_bottom:
        return parsing
    # The label that reaches the edge in each column: the most frequent body label of the edge rows.
    column_label = _column_labels(_edge(parsing, photo_bottom), _ids(labels, _LEGWEAR + _TO_KNEES + _TO_HIPS))
    to_knees = _ids(labels, _TO_KNEES)
    lower = np.isin(column_label, _ids(labels, _LEGWEAR) + to_knees)
    # Legs at the edge: the feet are just below it, and the canvas says how far better than a
    # head that P may have measured wrong.
    reach = LEGS_REACH_HEADS if lower.any() else REACH_HEADS
    feet = int(round(np.clip(h * (1 - CANVAS_GAP), feet - reach * head_h, feet + reach * head_h)))
    if feet - SHOE_HEADS * head_h >= h:
        # The canvas ends above any feet the proportions allow (a band under a portrait): the
        # prior would only cut the garments into columns with background between them, which G
        # draws as stripes (docs/MODELS.md, session 10); P's labels and G decide there.
        return parsing
    if not lower.any():  # only a top reaches the edge: the legs are under it, where the person is
        lower = column_label >= 0
    if not lower.any():
        return parsing
    out = parsing.copy()
    unknown = out == UNKNOWN
    unknown[:photo_bottom] = False
    plan = np.full((h, w), labels.id("background") if labels.has("background") else UNKNOWN, np.uint8)
    shoe_top = int(round(feet - SHOE_HEADS * head_h))
    stops = {i: shoe_top for i in _ids(labels, _LEGWEAR)}
    stops.update({i: min(shoe_top, int(round(top + KNEE_HEADS * head_h))) for i in to_knees})
    stops.update({i: min(shoe_top, int(round(top + HIP_HEADS * head_h))) for i in _ids(labels, _TO_HIPS)})
    for x in np.flatnonzero(column_label >= 0):
        stop = stops[int(column_label[x])]
        plan[photo_bottom:max(photo_bottom, stop), x] = column_label[x]
    # Below the garments, down to the shoes: bare legs under skirts, nothing known under tops.
    runs = _runs(lower)
    if len(runs) == 1:  # legs together: split the run at its middle
        a, b = runs[0]
        runs = [(a, (a + b) // 2), ((a + b) // 2, b)]
    runs = sorted(runs, key=lambda r: r[1] - r[0], reverse=True)[:2]
    runs.sort()
    # A person facing the camera has their left leg and shoe on the image's right.
    sides = (("right-leg", "right-shoe"), ("left-leg", "left-shoe"))
    for (a, b), (leg, shoe) in zip(runs, sides, strict=False):
        for x in range(a, b):
            garment = int(column_label[x])
            stop = stops.get(garment, photo_bottom)
            fill = labels.id(leg) if garment in to_knees and labels.has(leg) else UNKNOWN
            plan[max(photo_bottom, stop):max(photo_bottom, shoe_top), x] = fill
        if labels.has(shoe):
            plan[max(photo_bottom, shoe_top):min(h, feet), a:b] = labels.id(shoe)
    out[unknown] = plan[unknown]
    return out


LEGS_MIN_FRACTION = 0.005
"""``continues_legs``: the share of a hole that legs, legwear and shoes must cover."""


def continues_legs(parsing: np.ndarray, hole: np.ndarray, labels: LabelSet) -> bool:
    """Whether the labels inside ``hole`` carry a body's legs, legwear or shoes (at least
    ``LEGS_MIN_FRACTION`` of it): a band under a full-length person rather than under a
    portrait or a scene, for the extrapolation network trained on full-length photos."""
    area = np.count_nonzero(hole)
    if not area:
        return False
    ids = _ids(labels, _LEGWEAR + ("left-shoe", "right-shoe"))
    return np.count_nonzero(np.isin(parsing, ids) & hole) >= LEGS_MIN_FRACTION * area


def body_weight(parsing: np.ndarray, labels: LabelSet, margin: float) -> np.ndarray:
    """Float32 weights in [0, 1]: 1 on the person's labels (anything but background and
    ``UNKNOWN``) shrunk by ``margin`` px, falling to 0 across the labels' outline (a Gaussian
    of ``margin`` px). The pipeline takes a band's body from the network trained on full-length
    people and the rest (floor, grass, a street), the body's outline included, from the one
    trained on photos of every kind."""
    person = parsing != UNKNOWN
    if labels.has("background"):
        person &= parsing != labels.id("background")
    if not person.any():
        return np.zeros(parsing.shape, np.float32)
    r = max(1, int(round(margin)))
    inner = cv2.erode(person.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return cv2.GaussianBlur(inner.astype(np.float32), (0, 0), r)
