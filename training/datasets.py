"""Readers for the person datasets, augmentation, and the torch datasets the training scripts use.

A *sample* is a plain dict: ``image`` (H x W x 3 uint8 RGB), ``parsing`` (H x W uint8, LIP ids
plus neck: ``portrait_editor.labels.LIP_NECK``), ``keypoints`` (18 x 3 float32, OpenPose COCO-18
x, y, confidence; confidence 0 = missing; all zeros where a dataset has no pose), ``person``
(H x W bool, only where a dataset has a silhouette) and ``name``.

Readers (``VitonDataset``, ``CCPDataset``, ``LIPDataset``, ``ATRDataset``, ``CIHPDataset``) share one
small interface: ``names`` (sorted stems), ``len()``, ``load(name)`` and ``reader[i]``. They read
one photo per call, so a training set never holds the whole dataset in memory.

Layouts: VITON as re-parsed by CP-VTON+ (``viton/``), Clothing Co-Parsing (``ccp/``, only the
photos with hand-labelled maps), and the real LIP / ATR / CIHP layouts (``lip-samples/`` holds a few
genuine files of those, in a flatter layout: the readers find folders by name and files by stem).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image

from portrait_editor.labels import ATR, LIP_NECK, UNKNOWN

from . import masks as _masks

L = LIP_NECK.id
Sample = dict[str, Any]

NUM_KEYPOINTS = 18
KEYPOINT_NAMES = ("nose", "neck", "r-shoulder", "r-elbow", "r-wrist", "l-shoulder", "l-elbow", "l-wrist",
                  "r-hip", "r-knee", "r-ankle", "l-hip", "l-knee", "l-ankle", "r-eye", "l-eye", "r-ear", "l-ear")
# COCO-18 left/right joint pairs: shoulders, elbows, wrists, hips, knees, ankles, eyes, ears.
KEYPOINT_FLIP_PAIRS = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17))

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# --------------------------------------------------------------------------- file helpers

def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _read_labels(path: Path) -> np.ndarray:
    """8-bit label map; palette PNGs give their indices (LIP/CIHP/ATR ship either kind)."""
    with Image.open(path) as im:
        if im.mode not in ("L", "P"):
            raise ValueError(f"label map {path} is {im.mode}, expected L or P")
        return np.asarray(im)


def _stems(folder: Path, suffixes: tuple[str, ...], pattern: str = "*") -> dict[str, Path]:
    """Files of ``folder`` by stem (first suffix in ``suffixes`` order wins)."""
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    rank = {s: i for i, s in enumerate(suffixes)}
    for p in sorted(folder.glob(pattern), key=lambda p: (p.stem, rank.get(p.suffix.lower(), 99))):
        if p.is_file() and p.suffix.lower() in rank:
            found.setdefault(p.stem, p)
    return found


def _find_dir(root: Path, names: Sequence[str], depth: int = 3) -> Path | None:
    """The first of ``names`` (case-insensitive, in order of preference) found as a folder at
    ``root`` or up to ``depth`` levels below it, shallowest first: dataset archives nest
    differently (``TrainVal_images/train_images`` or ``train_images``)."""
    levels = [[root]]
    for _ in range(depth):
        levels.append([c for d in levels[-1] for c in sorted(d.iterdir()) if c.is_dir()])
    for name in names:
        for level in levels:
            for folder in level:
                if folder.name.lower() == name.lower():
                    return folder
    return None


def _check_dir(folder: Path | None, what: str, root: Path) -> Path:
    if folder is None or not folder.is_dir():
        raise FileNotFoundError(f"{what} folder not found under {root}")
    return folder


class PersonReader:
    """A folder of photos with label maps: the shared reader interface."""

    root: Path
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Sample:
        return self.load(self.names[index])

    def load(self, name: str) -> Sample:
        raise NotImplementedError


def _resize_labels_to(labels: np.ndarray, image: np.ndarray) -> np.ndarray:
    if labels.shape != image.shape[:2]:
        labels = cv2.resize(labels, image.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    return labels


def _no_keypoints() -> np.ndarray:
    return np.zeros((NUM_KEYPOINTS, 3), np.float32)


# --------------------------------------------------------------------------- VITON

class VitonDataset(PersonReader):
    """``viton/``: 192x256 upper-body photos, LIP+neck maps, person masks, OpenPose-18 keypoints."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._images = _stems(_check_dir(self.root / "images", "images", self.root), IMAGE_SUFFIXES)
        self._parsings = _stems(self.root / "parsing", (".png",))
        self.names = sorted(set(self._images) & set(self._parsings))

    def load(self, name: str) -> Sample:
        image = _read_rgb(self._images[name])
        parsing = _resize_labels_to(_read_labels(self._parsings[name]), image)
        person_path = self.root / "person_mask" / f"{name}.png"
        if person_path.exists():
            with Image.open(person_path) as im:
                person = _resize_labels_to(np.asarray(im.convert("L")), image) > 127
        else:
            person = parsing > 0
        return {"image": image, "parsing": parsing, "keypoints": read_openpose(self.root / "pose" / f"{name}.json"),
                "person": person, "name": name}


def read_openpose(path: Path) -> np.ndarray:
    """COCO-18 keypoints of the first person in an OpenPose JSON (old ``pose_keypoints`` or
    newer ``pose_keypoints_2d``); zeros when the file or the person is missing."""
    keypoints = _no_keypoints()
    if not path.exists():
        return keypoints
    people = json.loads(path.read_text()).get("people", [])
    if people:
        flat = people[0].get("pose_keypoints_2d", people[0].get("pose_keypoints", []))
        kp = np.asarray(flat, np.float32).reshape(-1, 3)[:NUM_KEYPOINTS]
        keypoints[: len(kp)] = kp
    keypoints[~np.isfinite(keypoints).all(1)] = 0
    return keypoints


# --------------------------------------------------------------------------- CCP

# CCP's 59 classes in id order (``ccp/labels.txt``); the file is read when present.
CCP_NAMES = (
    "null", "accessories", "bag", "belt", "blazer", "blouse", "bodysuit", "boots", "bra", "bracelet", "cape",
    "cardigan", "clogs", "coat", "dress", "earrings", "flats", "glasses", "gloves", "hair", "hat", "heels",
    "hoodie", "intimate", "jacket", "jeans", "jumper", "leggings", "loafers", "necklace", "panties", "pants",
    "pumps", "purse", "ring", "romper", "sandals", "scarf", "shirt", "shoes", "shorts", "skin", "skirt",
    "sneakers", "socks", "stockings", "suit", "sunglasses", "sweater", "sweatshirt", "swimwear", "t-shirt",
    "tie", "tights", "top", "vest", "wallet", "watch", "wedges",
)

# Temporary ids in a CCP map before ``split_skin_and_shoes`` gives them LIP ids.
SKIN, SHOE, LEGWEAR, ABSORB = 254, 253, 252, 251

# CCP class -> LIP+neck class name, or a placeholder: "skin" (split into face/neck/arms/legs),
# "shoe" (split left/right), "legwear" (stockings and tights: always legs, split left/right) and
# "absorb" (small things worn on the body - belts, jewellery, watches - that LIP does not label:
# each pixel takes the label of its nearest other pixel, so a belt becomes the garment it sits
# on and a necklace the skin or shirt under it). Bags and purses are carried, not worn: LIP
# leaves them as background, and so do we, which teaches the networks to remove them.
CCP_TO_LIP = {
    "null": "background", "accessories": "absorb", "bag": "background", "belt": "absorb",
    "blazer": "coat", "blouse": "upper-clothes", "bodysuit": "upper-clothes", "boots": "shoe",
    "bra": "upper-clothes", "bracelet": "absorb", "cape": "coat", "cardigan": "coat", "clogs": "shoe",
    "coat": "coat", "dress": "dress", "earrings": "absorb", "flats": "shoe", "glasses": "sunglasses",
    "gloves": "glove", "hair": "hair", "hat": "hat", "heels": "shoe", "hoodie": "upper-clothes",
    "intimate": "upper-clothes", "jacket": "coat", "jeans": "pants", "jumper": "upper-clothes",
    "leggings": "pants", "loafers": "shoe", "necklace": "absorb", "panties": "pants", "pants": "pants",
    "pumps": "shoe", "purse": "background", "ring": "absorb", "romper": "jumpsuits", "sandals": "shoe",
    "scarf": "scarf", "shirt": "upper-clothes", "shoes": "shoe", "shorts": "pants", "skin": "skin",
    "skirt": "skirt", "sneakers": "shoe", "socks": "socks", "stockings": "legwear", "suit": "coat",
    "sunglasses": "sunglasses", "sweater": "upper-clothes", "sweatshirt": "upper-clothes",
    "swimwear": "upper-clothes", "t-shirt": "upper-clothes", "tie": "upper-clothes", "tights": "legwear",
    "top": "upper-clothes", "vest": "coat", "wallet": "background", "watch": "absorb", "wedges": "shoe",
}
_PLACEHOLDERS = {"skin": SKIN, "shoe": SHOE, "legwear": LEGWEAR, "absorb": ABSORB}


def ccp_lookup(labels_txt: Path | None = None) -> np.ndarray:
    """256-entry table from CCP ids to LIP+neck ids (placeholders for what ``split_skin_and_shoes``
    decides). Ids outside CCP map to ``UNKNOWN``."""
    names: dict[int, str] = dict(enumerate(CCP_NAMES))
    if labels_txt is not None and Path(labels_txt).exists():
        names = {}
        for line in Path(labels_txt).read_text().splitlines():
            if line.strip():
                idx, name = line.split(None, 1)
                names[int(idx)] = name.strip()
    table = np.full(256, UNKNOWN, np.uint8)
    for idx, name in names.items():
        if name not in CCP_TO_LIP:
            raise ValueError(f"unknown CCP class {name!r} (id {idx}) in {labels_txt}")
        target = CCP_TO_LIP[name]
        table[idx] = _PLACEHOLDERS[target] if target in _PLACEHOLDERS else L(target)
    return table


_UPPER = (L("upper-clothes"), L("coat"), L("dress"), L("jumpsuits"), L("scarf"))
_LOWER = (L("pants"), L("skirt"), L("jumpsuits"))
_HEAD = (L("hair"), L("hat"), L("sunglasses"))


def _absorb(parsing: np.ndarray) -> np.ndarray:
    """Give each ABSORB pixel the label of its nearest non-ABSORB pixel (background included)."""
    absorb = parsing == ABSORB
    if not absorb.any():
        return parsing
    out = parsing.copy()
    best = np.full(parsing.shape, np.inf, np.float32)
    labels = np.unique(parsing[~absorb])
    for label in sorted(labels, key=lambda v: v == 0):  # background last: it loses ties
        dist = cv2.distanceTransform((parsing != label).astype(np.uint8), cv2.DIST_L2, 3)
        closer = absorb & (dist < best)
        out[closer] = label
        best[closer] = dist[closer]
    return out


def _components(mask: np.ndarray) -> list[np.ndarray]:
    count, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return [comp == c for c in range(1, count)]


def _dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within ``radius`` of ``mask`` (a distance transform: faster than a big kernel)."""
    if not mask.any():
        return np.zeros_like(mask, bool)
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3) <= radius


def _between_garments(garment: np.ndarray, reach: float) -> np.ndarray:
    """Pixels with garment pixels both to their left and to their right, within ``reach`` px, in
    the same row: skin inside a neckline (a V-neck) rather than beside the body."""
    h, w = garment.shape
    idx = np.broadcast_to(np.arange(w), (h, w))
    last_left = np.maximum.accumulate(np.where(garment, idx, -10**6), axis=1)
    next_right = np.minimum.accumulate(np.where(garment, idx, 10**6)[:, ::-1], axis=1)[:, ::-1]
    return (idx - last_left <= reach) & (next_right - idx <= reach)


def split_skin_and_shoes(parsing: np.ndarray) -> np.ndarray:
    """Split CCP's single "skin" class into face / neck / arms / legs, and shoes into left/right.

    ``parsing`` holds LIP ids plus the placeholders of ``ccp_lookup``. People in CCP stand facing
    the camera, so the rule reads the body from the garments around each skin pixel:

    - *face*: the skin in the top quarter of the person touching the hair (or hat, sunglasses),
      with the pieces that sunglasses or hair cut off it. Its widest row (near the cheekbones)
      gives the face width ``fw`` and centre column. The chin is one horizontal cut, 0.10 of the
      person's height below the top of the visible face skin (0.13 below the crown of a bald
      head), but above any row where the skin widens past 1.3 ``fw`` (bare shoulders) and
      above the collar (where upper garments cover the face's centre column), leaving a sliver
      of neck there. Skin connected to the face above the cut is *face*.
    - *legs*: stockings and tights, and skin components that reach below 70% of the person's
      height (knees and lower) with their centre below 45% of it. Where such a component also
      reaches well above the hem of the skirt, shorts or dress (an arm joined to it by a hand
      on the thigh), only its part below the hem is leg; the rest goes to the next rules.
    - *neck*: remaining skin connected to the face that lies in the neck column (within half a
      face width of the face's centre column) or inside a neckline (upper garment on both sides,
      within 1.5 ``fw``); a separate skin patch inside a neckline that touches the neck (chest
      skin below a scarf or tie) is neck too.
    - *arms*: all other skin (shoulders of sleeveless tops, arms, hands).
    - *left/right* follow LIP and the VITON maps: the person's left appears on the image's right.
      Arms: each arm component by the side of its centre relative to the torso's centre column
      (the median column of the upper garments). Legs and shoes: relative to the lower body's
      centre (midway between the two biggest shoes or legs when there are two, else the median
      column of the legs, shoes and lower garments); a component that straddles that centre
      (two legs touching) is cut there.
    - belts, jewellery and other small worn things first take the label of the nearest pixel.
    """
    parsing = np.asarray(parsing, np.uint8)
    labelled = (parsing != 0) & (parsing != UNKNOWN)
    if not labelled.any():
        return np.where(np.isin(parsing, (SKIN, SHOE, LEGWEAR, ABSORB)), 0, parsing).astype(np.uint8)
    # work on the person's bounding box (CCP people fill a third of the photo): 2-3x faster
    ys, xs = np.nonzero(labelled.any(1))[0], np.nonzero(labelled.any(0))[0]
    y0, y1, x0, x1 = max(0, ys[0] - 2), ys[-1] + 3, max(0, xs[0] - 2), xs[-1] + 3
    result = np.where(np.isin(parsing, (SKIN, SHOE, LEGWEAR, ABSORB)), 0, parsing).astype(np.uint8)
    result[y0:y1, x0:x1] = _split_person(parsing[y0:y1, x0:x1])
    return result


def _split_person(parsing: np.ndarray) -> np.ndarray:
    out = _absorb(np.array(parsing, np.uint8, copy=True))
    skin = out == SKIN
    shoe = out == SHOE
    legwear = out == LEGWEAR
    h, w = out.shape
    body = (out != 0) & (out != UNKNOWN)
    if not body.any():
        out[skin | shoe | legwear] = 0
        return out
    body_rows = np.nonzero(body.any(1))[0]
    top, bottom = int(body_rows[0]), int(body_rows[-1])
    height = bottom - top + 1
    rows = np.arange(h)[:, None]
    cols = np.arange(w)[None, :]
    upper = np.isin(out, _UPPER)
    lower = np.isin(out, _LOWER)
    head_things = np.isin(out, _HEAD)

    # Face and chin ------------------------------------------------------------------------
    face = np.zeros_like(skin)
    neck_seed = np.zeros_like(skin)  # skin below the chin that belongs to the face's components
    cx, fw = float(np.median(np.nonzero(body)[1])), max(4.0, height / 25)
    band = skin & (rows < top + 0.25 * height)
    head_comps = _components(band)
    if head_comps:
        if head_things.any():
            near = _dilate(head_things & (rows < top + 0.3 * height), max(2, int(height * 0.02)))
            touching = [c for c in head_comps if (c & near).any()]
            head_comps = touching or head_comps
        seed = max(head_comps, key=lambda c: int(c.sum()))
        # Pieces of one face split by sunglasses or hair strands: comps overlapping the seed's columns.
        sx = np.nonzero(seed)[1]
        x_lo, x_hi = sx.min() - 0.25 * (sx.max() - sx.min()), sx.max() + 0.25 * (sx.max() - sx.min())
        pieces = [c for c in head_comps if x_lo <= np.nonzero(c)[1].mean() <= x_hi]
        head = np.logical_or.reduce(pieces)
        ys, xs = np.nonzero(head)
        ft = int(ys.min())
        # per-row extent, so sunglasses or a strand of hair across the cheek do not narrow it
        any_row = head.any(1)
        first = np.where(any_row, head.argmax(1), 0)
        last = np.where(any_row, w - 1 - head[:, ::-1].argmax(1), -1)
        width = last - first + 1
        search = slice(ft, int(min(ys.max(), ft + 0.06 * height)) + 1)  # cheekbones, not shoulders
        r_w = search.start + int(np.argmax(width[search]))
        fw = float(max(width[r_w], 2))
        cx = float(np.median(np.nonzero(head[max(ft, r_w - 2):r_w + 3])[1]))
        # the collar: the first row below the widest one where upper garments cover half of the
        # face's centre column (a collar or scarf rising beside the chin does not count)
        centre_band = np.abs(cols - cx) <= max(1.0, 0.25 * fw)
        cover = (upper & centre_band).sum(1) >= 0.5 * centre_band.sum()
        below = np.nonzero(cover[r_w + 1:])[0]
        collar = r_w + 1 + int(below[0]) if len(below) else h
        # The chin from the body's proportions: on sixteen CCP photos it lies 0.10 of the
        # person's height below the top of the visible face skin (4 px mean error at 640 px
        # high; the face's width, which hair over the cheeks shrinks, did worse), or 0.13 of
        # it below the crown where no hair or hat covers the head. The skin's width profile
        # was worse still: hair over the cheeks narrows it well above the chin.
        bald = not (head_things & (rows < ft)).any()
        chin = int(round(ft + (0.13 if bald else 0.10) * height))
        wider = np.nonzero(width[r_w + 1:chin] > 1.3 * fw)[0]  # shoulders of a strapless top
        if len(wider):
            chin = r_w + 1 + int(wider[0])
        if chin >= collar:  # the collar hides the chin: keep a sliver of neck above it
            chin = collar - max(1, int(round(0.1 * (collar - ft))))
        # the face's full components (the band may have cut the neck off them)
        full = [c for c in _components(skin) if (c & head).any()]
        connected = np.logical_or.reduce(full) if full else head
        face = connected & (rows < chin)
        neck_seed = connected & ~face
    # Legs ---------------------------------------------------------------------------------
    # the hem: where the legs come out of the skirt, shorts or dress (or the trouser ankles)
    hem_rows = np.nonzero(np.isin(out, _LOWER + (L("dress"),)))[0]
    hem = int(np.percentile(hem_rows, 98)) if len(hem_rows) else int(top + 0.5 * height)
    leg = legwear.copy()
    rest = skin & ~face
    for comp in _components(rest | legwear):
        cy = np.nonzero(comp)[0]
        if (comp & legwear).any() or (cy.max() > top + 0.7 * height and cy.mean() > top + 0.45 * height):
            if cy.min() < hem - 0.08 * height:  # an arm joins it (a hand on a thigh): cut at the hem
                leg |= comp & ((rows >= hem) | legwear)
            else:
                leg |= comp
    leg &= skin | legwear
    rest &= ~leg
    # Neck and arms ------------------------------------------------------------------------
    inside_neckline = _between_garments(upper, 1.5 * fw)
    neck_column = np.abs(cols - cx) <= 0.5 * fw
    neck = rest & neck_seed & (neck_column | inside_neckline)
    near_neck = _dilate(face | neck, max(2, int(round(0.3 * fw))))
    for comp in _components(rest & ~neck_seed):
        # chest skin cut off from the neck by a scarf or a tie, not a hand held to the chest
        if inside_neckline[comp].mean() > 0.8 and (comp & near_neck).any():
            neck |= comp
    arm = rest & ~neck
    # Left / right -------------------------------------------------------------------------
    torso_x = float(np.median(np.nonzero(upper)[1])) if upper.any() else cx
    out[face] = L("face")
    out[neck] = L("neck")
    for comp in _components(arm):
        side_left = np.nonzero(comp)[1].mean() >= torso_x  # image right = the person's left
        out[comp] = L("left-arm") if side_left else L("right-arm")
    legs_x = _lower_body_centre(leg, shoe, lower)
    _split_sides(out, leg, legs_x, L("left-leg"), L("right-leg"))
    _split_sides(out, shoe, legs_x, L("left-shoe"), L("right-shoe"))
    out[np.isin(out, (SKIN, SHOE, LEGWEAR, ABSORB))] = 0  # nothing is left; belt and braces
    return out


def _lower_body_centre(leg: np.ndarray, shoe: np.ndarray, lower: np.ndarray) -> float:
    """The column between the legs: midway between two clear shoes (or legs), else a median."""
    for part in (shoe, leg):
        comps = sorted(_components(part), key=lambda c: -int(c.sum()))
        if len(comps) >= 2 and comps[1].sum() >= 0.2 * part.sum():
            return (np.nonzero(comps[0])[1].mean() + np.nonzero(comps[1])[1].mean()) / 2
    xs = np.nonzero(leg | shoe | lower)[1]
    return float(np.median(xs)) if len(xs) else leg.shape[1] / 2


def _split_sides(out: np.ndarray, part: np.ndarray, centre: float, left_id: int, right_id: int) -> None:
    """Label each component by its side of ``centre``; cut components that straddle it."""
    cols = np.arange(part.shape[1])[None, :]
    for comp in _components(part):
        right_share = (np.nonzero(comp)[1] >= centre).mean()  # share on the image right
        if 0.25 < right_share < 0.75:
            out[comp & (cols >= centre)] = left_id
            out[comp & (cols < centre)] = right_id
        else:
            out[comp] = left_id if right_share >= 0.5 else right_id


class CCPDataset(PersonReader):
    """``ccp/``: full-body street photos; only those with hand-labelled maps, mapped to LIP+neck
    (see ``CCP_TO_LIP`` and ``split_skin_and_shoes``). CCP has no pose: keypoints are zeros.

    Maps that label nothing (``0536.png`` is all "null") are left out: they would teach the
    networks that a person is background. Only tiny files are opened to check this."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._images = _stems(_check_dir(self.root / "images", "images", self.root), IMAGE_SUFFIXES)
        self._parsings = _stems(self.root / "parsing", (".png",))
        self.names = sorted(n for n in set(self._images) & set(self._parsings) if not self._empty(n))
        self._lookup = ccp_lookup(self.root / "labels.txt")

    def _empty(self, name: str) -> bool:
        path = self._parsings[name]
        return path.stat().st_size < 2048 and not _read_labels(path).any()

    def load(self, name: str) -> Sample:
        image = _read_rgb(self._images[name])
        raw = _resize_labels_to(_read_labels(self._parsings[name]), image)
        parsing = split_skin_and_shoes(self._lookup[raw])
        return {"image": image, "parsing": parsing, "keypoints": _no_keypoints(), "name": name}


# --------------------------------------------------------------------------- LIP, ATR, CIHP

# LIP's 16 joints -> COCO-18. LIP's thorax (the top of the chest, between the shoulders) stands
# in for OpenPose's neck; pelvis, upper neck and head top have no COCO-18 joint and are dropped;
# nose, eyes and ears are missing (confidence 0). Where the thorax is missing but both shoulders
# are there, the neck is their midpoint (OpenPose's definition).
LIP_JOINTS = ("r-ankle", "r-knee", "r-hip", "l-hip", "l-knee", "l-ankle", "pelvis", "thorax", "upper-neck",
              "head-top", "r-wrist", "r-elbow", "r-shoulder", "l-shoulder", "l-elbow", "l-wrist")
LIP_TO_COCO18 = {0: 10, 1: 9, 2: 8, 3: 11, 4: 12, 5: 13, 7: 1, 10: 4, 11: 3, 12: 2, 13: 5, 14: 6, 15: 7}


def lip_pose_to_coco18(values: Sequence[str | float]) -> np.ndarray:
    """48 values (x, y, v for LIP's 16 joints; ``nan`` or empty = not annotated) -> 18 x 3.

    LIP's third value says whether a joint is occluded, not whether it was found, so every
    annotated joint gets confidence 1."""
    out = _no_keypoints()
    for lip, coco in LIP_TO_COCO18.items():
        try:
            x, y = float(values[3 * lip]), float(values[3 * lip + 1])
        except (ValueError, IndexError):
            continue
        if math.isfinite(x) and math.isfinite(y):
            out[coco] = (x, y, 1.0)
    if out[1, 2] == 0 and out[2, 2] > 0 and out[5, 2] > 0:
        out[1] = ((out[2, 0] + out[5, 0]) / 2, (out[2, 1] + out[5, 1]) / 2, 1.0)
    return out


def read_lip_pose_csv(path: Path) -> dict[str, np.ndarray]:
    """``lip_{train,val}_set.csv``: ``NAME.jpg,x1,y1,v1,...`` -> {stem: 18 x 3 COCO-18}."""
    poses: dict[str, np.ndarray] = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if len(row) >= 2:
                poses[Path(row[0].strip()).stem] = lip_pose_to_coco18([v.strip() for v in row[1:]])
    return poses


class _LabelledFolder(PersonReader):
    """Photos and label maps in two folders, paired by stem; ``table`` maps the map's ids."""

    def __init__(self, root: Path, image_dir: Path, parsing_dir: Path, table: np.ndarray | None,
                 pattern: str = "*", poses: dict[str, np.ndarray] | None = None) -> None:
        self.root = root
        self.image_dir, self.parsing_dir = image_dir, parsing_dir
        self._images = _stems(image_dir, IMAGE_SUFFIXES, pattern)
        self._parsings = _stems(parsing_dir, (".png", ".bmp"), pattern)
        self.names = sorted(set(self._images) & set(self._parsings))
        self._table = table
        self._poses = poses or {}

    def load(self, name: str) -> Sample:
        image = _read_rgb(self._images[name])
        parsing = _resize_labels_to(_read_labels(self._parsings[name]), image)
        if self._table is not None:
            parsing = self._table[parsing]
        keypoints = self._poses.get(name)
        return {"image": image, "parsing": parsing,
                "keypoints": _no_keypoints() if keypoints is None else keypoints.copy(), "name": name}


def _identity_table(count: int) -> np.ndarray:
    """Ids 0..count-1 stay, anything else (CIHP/LIP's 255 "ignore" borders) becomes UNKNOWN."""
    table = np.full(256, UNKNOWN, np.uint8)
    table[:count] = np.arange(count)
    return table


class LIPDataset(_LabelledFolder):
    """Look Into Person: ``TrainVal_images/{split}_images/*.jpg``,
    ``TrainVal_parsing_annotations/{split}_segmentations/*.png`` (the 20 LIP ids; neck never
    appears) and ``TrainVal_pose_annotations/lip_{split}_set.csv`` (see ``lip_pose_to_coco18``).
    Folders are found by name anywhere up to three levels down; a flat ``images/`` + ``parsing/``
    folder (as in ``lip-samples/``) works too, with ``pattern`` to pick files (e.g. ``"lip_*"``)."""

    def __init__(self, root: str | Path, split: str = "train", pattern: str = "*") -> None:
        root = Path(root)
        images = _find_dir(root, (f"{split}_images", "images", "Images"))
        parsing = _find_dir(root, (f"{split}_segmentations", "parsing", "segmentations"))
        pose_dir = _find_dir(root, ("TrainVal_pose_annotations",)) or root
        csv_path = pose_dir / f"lip_{split}_set.csv"
        poses = read_lip_pose_csv(csv_path) if csv_path.is_file() else None
        super().__init__(root, _check_dir(images, "LIP images", root), _check_dir(parsing, "LIP parsing", root),
                         _identity_table(20), pattern, poses)


class CIHPDataset(_LabelledFolder):
    """CIHP (``instance-level_human_parsing/{Training,Validation}/Images`` + ``Category_ids``):
    the same 20 LIP ids, no pose. Several people per photo; the maps label all of them."""

    def __init__(self, root: str | Path, split: str = "Training", pattern: str = "*") -> None:
        root = Path(root)
        base = _find_dir(root, (split,)) or root
        images = _find_dir(base, ("Images", "images"))
        parsing = _find_dir(base, ("Category_ids", "parsing"))
        super().__init__(root, _check_dir(images, "CIHP Images", base), _check_dir(parsing, "CIHP Category_ids", base),
                         _identity_table(20), pattern)


# ATR's 18 ids -> LIP+neck, by name. LIP has no belt: belts go to pants (they sit on the
# waistband); LIP has no bag either, and leaves carried things as background. ATR's left/right are taken to follow LIP's (the
# person's side); lip-samples has no ATR file to check this against.
ATR_TO_LIP = {name: name for name in ATR.names if LIP_NECK.has(name)}
ATR_TO_LIP.update({"belt": "pants", "bag": "background"})


def atr_table() -> np.ndarray:
    """256-entry table from ATR ids to LIP+neck ids (``ATR_TO_LIP``); other ids -> UNKNOWN."""
    table = np.full(256, UNKNOWN, np.uint8)
    for i, name in enumerate(ATR.names):
        table[i] = L(ATR_TO_LIP[name])
    return table


class ATRDataset(_LabelledFolder):
    """ATR (``JPEGImages/`` + ``SegmentationClassAug/``, 18 ids mapped by ``ATR_TO_LIP``), no pose."""

    def __init__(self, root: str | Path, pattern: str = "*") -> None:
        root = Path(root)
        images = _find_dir(root, ("JPEGImages", "images"))
        parsing = _find_dir(root, ("SegmentationClassAug", "SegmentationClass", "parsing"))
        super().__init__(root, _check_dir(images, "ATR JPEGImages", root),
                         _check_dir(parsing, "ATR SegmentationClassAug", root), atr_table(), pattern)


# --------------------------------------------------------------------------- splits, augmentation

def make_split(names: Iterable[str], val_fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """Deterministic train/val split by a hash of (seed, name): independent of order, of the
    machine and of Python's hash salt, and stable when files are added (a name never moves
    between splits), so we never train on validation photos."""
    def score(name: str) -> float:
        digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    unique = sorted(set(names))
    val = [n for n in unique if score(n) < val_fraction]
    train = [n for n in unique if score(n) >= val_fraction]
    return train, val


def _label_flip_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint8)
    table[: len(LIP_NECK)] = LIP_NECK.flip_permutation()
    return table


def flip_sample(sample: Sample) -> Sample:
    """Mirror left-right. The person's left becomes their right, so left/right labels and
    keypoints swap as well as move (x -> W - 1 - x for found joints)."""
    w = sample["image"].shape[1]
    out = dict(sample)
    out["image"] = np.ascontiguousarray(sample["image"][:, ::-1])
    out["parsing"] = _label_flip_table()[np.ascontiguousarray(sample["parsing"][:, ::-1])]
    if sample.get("person") is not None:
        out["person"] = np.ascontiguousarray(sample["person"][:, ::-1])
    kp = np.array(sample["keypoints"], np.float32, copy=True)
    found = kp[:, 2] > 0
    kp[found, 0] = w - 1 - kp[found, 0]
    for a, b in KEYPOINT_FLIP_PAIRS:
        kp[[a, b]] = kp[[b, a]]
    out["keypoints"] = kp
    return out


def _paste(src: np.ndarray, out_shape: tuple[int, ...], oy: int, ox: int, fill: Any) -> np.ndarray:
    """``src`` placed at (oy, ox) on a canvas of ``out_shape`` filled with ``fill`` (crops what sticks out)."""
    canvas = np.empty(out_shape, src.dtype)
    canvas[...] = fill
    oh, ow = out_shape[:2]
    sh, sw = src.shape[:2]
    y0, x0 = max(0, oy), max(0, ox)
    y1, x1 = min(oh, oy + sh), min(ow, ox + sw)
    if y1 > y0 and x1 > x0:
        canvas[y0:y1, x0:x1] = src[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    return canvas


def augment(sample: Sample, rng: np.random.Generator, out_size: tuple[int, int], *,
            scale_range: tuple[float, float] = (0.8, 1.2), flip_prob: float = 0.5,
            pad_colour: Sequence[int] | None = None) -> Sample:
    """Random left-right flip, scale and crop/pad to ``out_size`` (H, W).

    The photo is first scaled to fit ``out_size`` (the whole person stays in view, which the
    extrapolation bands need), then by a factor from ``scale_range``, and placed at a random
    offset: a larger photo is cropped, a smaller one padded with ``pad_colour`` (default: the
    photo's mean colour) and the background label. Images are resized with area averaging when
    shrinking and bilinearly when enlarging; labels with nearest neighbour. Keypoints follow the
    same mapping; joints that leave the frame get confidence 0."""
    if flip_prob > 0 and rng.random() < flip_prob:
        sample = flip_sample(sample)
    image = sample["image"]
    h, w = image.shape[:2]
    oh, ow = out_size
    s = min(oh / h, ow / w) * rng.uniform(*scale_range)
    nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
    sy, sx = nh / h, nw / w
    oy = int(rng.integers(min(0, oh - nh), max(0, oh - nh) + 1))
    ox = int(rng.integers(min(0, ow - nw), max(0, ow - nw) + 1))
    if pad_colour is None:
        pad_colour = image.reshape(-1, 3).mean(0).round().astype(np.uint8)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    out = dict(sample)
    out["image"] = _paste(cv2.resize(image, (nw, nh), interpolation=interp), (oh, ow, 3), oy, ox,
                          np.asarray(pad_colour, np.uint8))
    out["parsing"] = _paste(cv2.resize(sample["parsing"], (nw, nh), interpolation=cv2.INTER_NEAREST),
                            (oh, ow), oy, ox, 0)
    if sample.get("person") is not None:
        person = cv2.resize(sample["person"].astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST)
        out["person"] = _paste(person, (oh, ow), oy, ox, 0) > 0
    kp = np.array(sample["keypoints"], np.float32, copy=True)
    found = kp[:, 2] > 0
    kp[found, 0] = (kp[found, 0] + 0.5) * sx - 0.5 + ox  # pixel centres map onto pixel centres
    kp[found, 1] = (kp[found, 1] + 0.5) * sy - 0.5 + oy
    outside = found & ((kp[:, 0] < 0) | (kp[:, 0] > ow - 1) | (kp[:, 1] < 0) | (kp[:, 1] > oh - 1))
    kp[outside] = 0
    out["keypoints"] = kp
    return out


def heatmaps_from_keypoints(keypoints: np.ndarray, size: tuple[int, int], stride: int,
                            sigma: float = 1.5) -> np.ndarray:
    """K x ceil(H/stride) x ceil(W/stride) Gaussian targets for the pose branch of P, with
    ``sigma`` in heatmap cells; all zeros for missing joints (the loss masks them out)."""
    h, w = -(-size[0] // stride), -(-size[1] // stride)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((len(keypoints), h, w), np.float32)
    for k, (x, y, c) in enumerate(keypoints):
        if c > 0:
            cx, cy = (x + 0.5) / stride - 0.5, (y + 0.5) / stride - 0.5
            out[k] = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    return out


def mean_colour(reader: PersonReader, names: Sequence[str] | None = None, limit: int = 64) -> tuple[int, int, int]:
    """The mean RGB of up to ``limit`` photos spread evenly over ``names``: the paper fills holes
    with the dataset's mean pixel value, and a few dozen photos pin it down to a level or two."""
    names = sorted(reader.names if names is None else names)
    if not names:
        raise ValueError("mean_colour needs at least one photo")
    picks = [names[i] for i in np.linspace(0, len(names) - 1, min(limit, len(names))).round().astype(int)]
    total, count = np.zeros(3), 0
    for name in dict.fromkeys(picks):
        image = reader.load(name)["image"]
        total += image.reshape(-1, 3).sum(0, dtype=np.float64)
        count += image.shape[0] * image.shape[1]
    r, g, b = (int(round(v)) for v in total / count)
    return r, g, b


class ConcatReader(PersonReader):
    """Several readers as one; names are ``"KEY/NAME"`` so the sources never collide."""

    def __init__(self, readers: dict[str, PersonReader]) -> None:
        self.readers = dict(readers)
        self.root = Path()
        self.names = sorted(f"{key}/{name}" for key, r in self.readers.items() for name in r.names)

    def load(self, name: str) -> Sample:
        key, _, inner = name.partition("/")
        sample = self.readers[key].load(inner)
        sample["name"] = name
        return sample


# --------------------------------------------------------------------------- torch datasets

READERS = {"viton": VitonDataset, "ccp": CCPDataset}
MASKS = {"occlusion": _masks.occlusion_masks, "extrapolation": _masks.extrapolation_masks,
         "parsing": _masks.parsing_masks, "face": _masks.face_masks, "wild": _masks.wild_masks,
         "wild-parsing": _masks.wild_parsing_masks, "wild-extrapolation": _masks.wild_extrapolation_masks,
         "band-parsing": _masks.band_parsing_masks}


def _to_tensor_image(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 127.5 - 1


class TrainingSamples(torch.utils.data.Dataset):
    """Tensors for the training scripts, read lazily (one photo per item) from ``dataset``.

    Each item: ``image`` (3 x H x W in [-1, 1]), ``input`` (the same with the hole set to the
    fill colour), ``mask`` (1 x H x W, 1 = hole), ``parsing`` (H x W int64), ``keypoints``
    (18 x 3), ``heatmaps`` (18 x H/stride x W/stride, when ``heatmap_stride``) and ``name``.

    The random generator of an item is seeded by (``rng_seed``, epoch, index), so items do not
    depend on worker processes or order. Training items are augmented and get a new hole each
    epoch (``set_epoch``); validation items (``train=False``) are not augmented and always get
    the same hole. ``hole_fill`` (RGB in 0..1, default: ``mean_colour`` of the photos) is the
    colour the networks see in the hole; it must match what inference uses.
    """

    def __init__(self, dataset: PersonReader, names: Sequence[str], masks: _masks.MaskGenerator, rng_seed: int,
                 out_size: tuple[int, int], *, train: bool = True, heatmap_stride: int = 8,
                 heatmap_sigma: float = 1.5, scale_range: tuple[float, float] = (0.8, 1.2),
                 flip_prob: float = 0.5, hole_fill: Sequence[float] | None = None) -> None:
        self.dataset = dataset
        self.names = list(names)
        self.masks = masks
        self.rng_seed = rng_seed
        self.size = tuple(out_size)
        self.train = train
        self.heatmap_stride = heatmap_stride
        self.heatmap_sigma = heatmap_sigma
        self.scale_range = scale_range if train else (1.0, 1.0)
        self.flip_prob = flip_prob if train else 0.0
        if hole_fill is None:
            hole_fill = tuple(c / 255 for c in mean_colour(dataset, self.names))
        self.hole_fill = tuple(float(c) for c in hole_fill)
        self.epoch = 0

    @property
    def fill_colour(self) -> tuple[int, int, int]:
        """``hole_fill`` as 0..255 for padding and ``masks.fill_hole``."""
        r, g, b = (int(round(c * 255)) for c in self.hole_fill)
        return r, g, b

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.dataset.load(self.names[index])
        rng = np.random.default_rng([self.rng_seed, self.epoch if self.train else 10**6, index])
        sample = augment(sample, rng, self.size, scale_range=self.scale_range, flip_prob=self.flip_prob,
                         pad_colour=self.fill_colour)
        hole = self.masks(rng, self.size, sample.get("person"), sample["parsing"])
        image = _to_tensor_image(sample["image"])
        mask = torch.from_numpy(hole)[None].float()
        fill = torch.tensor(self.hole_fill, dtype=torch.float32).view(3, 1, 1) * 2 - 1
        out: dict[str, Any] = {
            "image": image,
            "input": image * (1 - mask) + fill * mask,
            "mask": mask,
            "parsing": torch.from_numpy(sample["parsing"].astype(np.int64)),
            "keypoints": torch.from_numpy(sample["keypoints"]),
            "name": sample["name"],
        }
        if self.heatmap_stride:
            out["heatmaps"] = torch.from_numpy(heatmaps_from_keypoints(
                sample["keypoints"], self.size, self.heatmap_stride, self.heatmap_sigma))
        return out


# The grey inference uses unless the weights' metadata says otherwise
# (``portrait_editor.pipeline.weights.DEFAULT_HOLE_FILL``); kept until the training scripts
# record the fill colour they trained with.
DEFAULT_HOLE_FILL = (0.5, 0.5, 0.5)


def completion_samples(data: Sequence[str], root: str | Path, *, split: str, size: tuple[int, int],
                       masks: str, val_fraction: float = 0.05, seed: int = 0, heatmap_stride: int = 0,
                       hole_fill: Sequence[float] | str = DEFAULT_HOLE_FILL,
                       scale_range: tuple[float, float] = (0.8, 1.2)) -> TrainingSamples:
    """The training or validation set of the named sources (``viton``, ``ccp``).

    The split uses a fixed seed (never ``seed``), so changing the run's seed cannot move photos
    between training and validation. ``hole_fill="mean"`` fills holes with the mean colour of the
    training photos (the paper's choice)."""
    readers = {}
    for key in data:
        folder = Path(root) / key
        if not folder.is_dir():
            raise SystemExit(f"dataset folder {folder} not found (set $PORTRAIT_EDITOR_DATA or data_root)")
        readers[key] = READERS[key](folder)
    reader = ConcatReader(readers)
    train, val = [], []
    for key, r in readers.items():
        t, v = make_split(r.names, val_fraction, seed=0)
        train += [f"{key}/{n}" for n in t]
        val += [f"{key}/{n}" for n in v]
    if hole_fill == "mean":
        hole_fill = tuple(c / 255 for c in mean_colour(reader, train))
    validation = split != "train"
    return TrainingSamples(reader, val if validation else train, MASKS[masks](validation), seed, size,
                           train=not validation, heatmap_stride=heatmap_stride, hole_fill=hole_fill,
                           scale_range=tuple(scale_range))
