"""Readers for the person datasets and the torch datasets the training scripts draw from.

A *sample* is a plain dict: ``image`` (H x W x 3 uint8 RGB), ``parsing`` (H x W uint8, LIP ids
plus neck: ``portrait_editor.labels.LIP_NECK``), ``keypoints`` (18 x 3 float32, OpenPose COCO-18
x, y, confidence; confidence 0 = missing), ``person`` (H x W bool) and ``name``.

Layouts read here: VITON as re-parsed by CP-VTON+ (``viton/``), Clothing Co-Parsing (``ccp/``, the
photos with hand-labelled maps), and the real LIP / CIHP / ATR layouts (``lip-samples/`` holds a
few genuine files of those).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from portrait_editor.labels import LIP_NECK

from . import masks as _masks

L = LIP_NECK.id
NUM_KEYPOINTS = 18
# COCO-18 left/right joint pairs: shoulders, elbows, wrists, hips, knees, ankles, eyes, ears.
KEYPOINT_FLIP_PAIRS = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17))


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _read_labels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        if im.mode not in ("L", "P"):
            raise ValueError(f"label map {path} is {im.mode}, expected L or P")
        return np.asarray(im)


def _stems(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in suffixes}


class VitonDataset:
    """``viton/``: 192x256 upper-body photos, LIP+neck maps, person masks, OpenPose-18 keypoints."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        images = _stems(self.root / "images", (".jpg", ".png"))
        parsings = _stems(self.root / "parsing", (".png",))
        self.names = sorted(set(images) & set(parsings))
        self._images, self._parsings = images, parsings

    def __len__(self) -> int:
        return len(self.names)

    def load(self, name: str) -> dict:
        image = _read_rgb(self._images[name])
        parsing = _read_labels(self._parsings[name])
        person_path = self.root / "person_mask" / f"{name}.png"
        if person_path.exists():
            with Image.open(person_path) as im:
                person = np.asarray(im.convert("L")) > 127
        else:
            person = parsing > 0
        keypoints = np.zeros((NUM_KEYPOINTS, 3), np.float32)
        pose_path = self.root / "pose" / f"{name}.json"
        if pose_path.exists():
            people = json.loads(pose_path.read_text()).get("people", [])
            if people:
                kp = np.asarray(people[0].get("pose_keypoints", []), np.float32).reshape(-1, 3)[:NUM_KEYPOINTS]
                keypoints[: len(kp)] = kp
        return {"image": image, "parsing": parsing, "keypoints": keypoints, "person": person, "name": name}


# CCP's 59 classes -> LIP+neck. Jewellery and bags have no LIP class: they become background,
# which teaches the networks to remove them. Shoes and skin are split below.
_CCP_TO_LIP = {
    "null": "background", "accessories": "background", "bag": "background", "belt": "pants",
    "blazer": "coat", "blouse": "upper-clothes", "bodysuit": "upper-clothes", "boots": "shoe",
    "bra": "upper-clothes", "bracelet": "skin", "cape": "coat", "cardigan": "coat", "clogs": "shoe",
    "coat": "coat", "dress": "dress", "earrings": "background", "flats": "shoe", "glasses": "sunglasses",
    "gloves": "glove", "hair": "hair", "hat": "hat", "heels": "shoe", "hoodie": "upper-clothes",
    "intimate": "upper-clothes", "jacket": "coat", "jeans": "pants", "jumper": "upper-clothes",
    "leggings": "pants", "loafers": "shoe", "necklace": "skin", "panties": "pants", "pants": "pants",
    "pumps": "shoe", "purse": "background", "ring": "skin", "romper": "jumpsuits", "sandals": "shoe",
    "scarf": "scarf", "shirt": "upper-clothes", "shoes": "shoe", "shorts": "pants", "skin": "skin",
    "skirt": "skirt", "sneakers": "shoe", "socks": "socks", "stockings": "skin", "suit": "coat",
    "sunglasses": "sunglasses", "sweater": "upper-clothes", "sweatshirt": "upper-clothes",
    "swimwear": "upper-clothes", "t-shirt": "upper-clothes", "tie": "upper-clothes", "tights": "skin",
    "top": "upper-clothes", "vest": "coat", "wallet": "background", "watch": "skin", "wedges": "shoe",
}
SKIN, SHOE = 254, 253  # temporary ids before the split


def ccp_lookup(labels_txt: Path) -> np.ndarray:
    """256-entry table from CCP ids to LIP+neck ids (SKIN/SHOE placeholders for the split)."""
    table = np.zeros(256, np.uint8)
    for line in labels_txt.read_text().splitlines():
        if not line.strip():
            continue
        idx, name = line.split(None, 1)
        target = _CCP_TO_LIP[name.strip()]
        table[int(idx)] = SKIN if target == "skin" else SHOE if target == "shoe" else L(target)
    return table


def split_skin_and_shoes(parsing: np.ndarray) -> np.ndarray:
    """Split CCP's single "skin" class into face / neck / arms / legs, and shoes into left/right.

    The rule, from the garments around each skin pixel (people in CCP stand facing the camera):
    - the *head* is every skin component whose centre lies above the top of the upper garments
      (upper-clothes, coat, dress, jumpsuit, scarf); its lowest 20% rows, where they are near the
      garments, are the *neck*;
    - the *hip line* is the top of the lower garments (pants, skirt) or, without them, 55% of the
      way down the person; skin components below it that reach knee height (70% of the way
      down) are *legs*, all others *arms* (hands hanging at the hips included); a component
      straddling the hip line (a hand on a thigh) is split there;
    - *left/right* follow LIP: the person's left is on the image's right, decided by each pixel's
      side of the body's centre column (the median column of the person's non-skin pixels).
    """
    out = parsing.copy()
    h, w = parsing.shape
    skin = parsing == SKIN
    shoe = parsing == SHOE
    person = (parsing != 0) & ~skin
    centre = float(np.median(np.nonzero(person)[1])) if person.any() else w / 2
    upper = np.isin(parsing, [L("upper-clothes"), L("coat"), L("dress"), L("jumpsuits"), L("scarf")])
    lower = np.isin(parsing, [L("pants"), L("skirt")])
    rows = np.arange(h)[:, None]
    xs = np.arange(w)[None, :]
    right_side = xs >= centre  # image right = person's left

    body_rows = np.nonzero((parsing != 0).any(1))[0]
    top, bottom = (body_rows[0], body_rows[-1]) if len(body_rows) else (0, h - 1)
    upper_top = int(np.nonzero(upper.any(1))[0][0]) if upper.any() else int(top + 0.2 * (bottom - top))
    hip = int(np.nonzero(lower.any(1))[0][0]) if lower.any() else int(top + 0.55 * (bottom - top))

    # Head: skin components whose centre lies above the top of the upper garments.
    count, comp = cv2.connectedComponents(skin.astype(np.uint8), connectivity=8)
    head = np.zeros_like(skin)
    for c in range(1, count):
        part = comp == c
        if np.nonzero(part)[0].mean() < upper_top:
            head |= part
    face = skin & head
    if face.any():
        frows = np.nonzero(face.any(1))[0]
        neck_h = max(1, int(0.2 * (frows[-1] - frows[0] + 1)))
        neck = face & (rows >= frows[-1] - neck_h + 1) & (rows >= upper_top - 2 * neck_h)
        out[face] = L("face")
        out[neck] = L("neck")
    limbs = skin & ~head
    count, comp = cv2.connectedComponents(limbs.astype(np.uint8), connectivity=8)
    for c in range(1, count):
        part = comp == c
        prow = np.nonzero(part)[0]
        above = np.count_nonzero(prow < hip) / len(prow)
        reaches_knees = prow.max() > top + 0.7 * (bottom - top)
        if above > 0.7 or not reaches_knees:
            is_leg = np.zeros_like(part)  # an arm, or a hand hanging at hip height
        elif above < 0.3:
            is_leg = part
        else:
            is_leg = part & (rows >= hip)
        arm = part & ~is_leg
        out[arm & right_side] = L("left-arm")
        out[arm & ~right_side] = L("right-arm")
        out[is_leg & right_side] = L("left-leg")
        out[is_leg & ~right_side] = L("right-leg")
    out[shoe & right_side] = L("left-shoe")
    out[shoe & ~right_side] = L("right-shoe")
    return out


class CCPDataset:
    """``ccp/``: full-body street photos; only those with hand-labelled maps, mapped to LIP+neck."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        images = _stems(self.root / "images", (".jpg", ".png"))
        parsings = _stems(self.root / "parsing", (".png",))
        self.names = sorted(set(images) & set(parsings))
        self._images, self._parsings = images, parsings
        self._lookup = ccp_lookup(self.root / "labels.txt")

    def __len__(self) -> int:
        return len(self.names)

    def load(self, name: str) -> dict:
        image = _read_rgb(self._images[name])
        parsing = split_skin_and_shoes(self._lookup[_read_labels(self._parsings[name])])
        if parsing.shape != image.shape[:2]:
            parsing = cv2.resize(parsing, image.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        return {"image": image, "parsing": parsing, "keypoints": np.zeros((NUM_KEYPOINTS, 3), np.float32),
                "person": parsing > 0, "name": name}


def make_split(names: list[str], val_fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """Deterministic train/val split by a hash of (seed, name): stable when files are added."""
    def score(name: str) -> float:
        digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    val = sorted(n for n in names if score(n) < val_fraction)
    train = sorted(n for n in names if score(n) >= val_fraction)
    return train, val


def flip_sample(sample: dict) -> dict:
    """Mirror left-right, swapping left/right labels and keypoints."""
    w = sample["image"].shape[1]
    out = dict(sample)
    out["image"] = np.ascontiguousarray(sample["image"][:, ::-1])
    perm = np.arange(256, dtype=np.uint8)
    perm[: len(LIP_NECK)] = LIP_NECK.flip_permutation()
    out["parsing"] = perm[np.ascontiguousarray(sample["parsing"][:, ::-1])]
    out["person"] = np.ascontiguousarray(sample["person"][:, ::-1])
    kp = sample["keypoints"].copy()
    visible = kp[:, 2] > 0
    kp[visible, 0] = w - 1 - kp[visible, 0]
    for a, b in KEYPOINT_FLIP_PAIRS:
        kp[[a, b]] = kp[[b, a]]
    out["keypoints"] = kp
    return out


def augment(sample: dict, rng: np.random.Generator, out_size: tuple[int, int],
            scale_range: tuple[float, float] = (0.9, 1.1), flip_prob: float = 0.5) -> dict:
    """Random scale, crop/pad to ``out_size`` (H, W) keeping the person centred, and flip."""
    if rng.random() < flip_prob:
        sample = flip_sample(sample)
    h, w = sample["image"].shape[:2]
    oh, ow = out_size
    base = min(oh / h, ow / w)  # fit the photo into the output
    s = base * rng.uniform(*scale_range)
    nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
    image = cv2.resize(sample["image"], (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    parsing = cv2.resize(sample["parsing"], (nw, nh), interpolation=cv2.INTER_NEAREST)
    person = cv2.resize(sample["person"].astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST) > 0
    # Place the scaled photo in the output frame at a random offset (pads with edge pixels).
    oy = int(rng.integers(min(0, oh - nh), max(0, oh - nh) + 1))
    ox = int(rng.integers(min(0, ow - nw), max(0, ow - nw) + 1))
    m = np.float32([[1, 0, ox], [0, 1, oy]])
    image = cv2.warpAffine(image, m, (ow, oh), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    parsing = cv2.warpAffine(parsing, m, (ow, oh), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
    person = cv2.warpAffine(person.astype(np.uint8), m, (ow, oh), flags=cv2.INTER_NEAREST) > 0
    kp = sample["keypoints"].copy()
    visible = kp[:, 2] > 0
    kp[visible, 0] = kp[visible, 0] * s + ox
    kp[visible, 1] = kp[visible, 1] * s + oy
    return {**sample, "image": image, "parsing": parsing, "person": person, "keypoints": kp}


def heatmaps_from_keypoints(keypoints: np.ndarray, size: tuple[int, int], stride: int,
                            sigma: float = 1.5) -> np.ndarray:
    """K x ceil(H/stride) x ceil(W/stride) Gaussian targets; zeros for missing joints."""
    h, w = (-(-size[0] // stride), -(-size[1] // stride))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((len(keypoints), h, w), np.float32)
    for k, (x, y, c) in enumerate(keypoints):
        if c > 0:
            cx, cy = (x + 0.5) / stride - 0.5, (y + 0.5) / stride - 0.5
            out[k] = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    return out


READERS = {"viton": VitonDataset, "ccp": CCPDataset}


class TrainingSamples(torch.utils.data.Dataset):
    """Tensors for the training scripts, read lazily from one or more readers.

    Validation samples are deterministic (no augmentation, the hole seeded by index); training
    samples draw augmentation and holes from a generator seeded by (seed, epoch, index).
    """

    def __init__(self, sources: list[tuple[object, list[str]]], size: tuple[int, int], masks, *,
                 train: bool, seed: int = 0, heatmap_stride: int = 0) -> None:
        self.items = [(reader, name) for reader, names in sources for name in names]
        self.size = size
        self.masks = masks
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.heatmap_stride = heatmap_stride
        self.hole_fill = (0.5, 0.5, 0.5)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        reader, name = self.items[index]
        sample = reader.load(name)
        rng = np.random.default_rng([self.seed, self.epoch if self.train else 10**6, index])
        sample = augment(sample, rng, self.size, scale_range=(0.9, 1.1) if self.train else (1.0, 1.0),
                         flip_prob=0.5 if self.train else 0.0)
        hole = self.masks(rng, self.size, person=sample["person"], parsing=sample["parsing"])
        out = {
            "image": torch.from_numpy(sample["image"]).permute(2, 0, 1).float() / 127.5 - 1,
            "mask": torch.from_numpy(hole)[None].float(),
            "parsing": torch.from_numpy(sample["parsing"].astype(np.int64)),
            "keypoints": torch.from_numpy(sample["keypoints"]),
        }
        if self.heatmap_stride:
            out["heatmaps"] = torch.from_numpy(heatmaps_from_keypoints(sample["keypoints"], self.size,
                                                                       self.heatmap_stride))
        return out


def completion_samples(data: tuple[str, ...] | list[str], root: str | Path, *, split: str, size: tuple[int, int],
                       masks: str, val_fraction: float = 0.05, seed: int = 0,
                       heatmap_stride: int = 0) -> TrainingSamples:
    """The training or validation set of the named sources (``viton``, ``ccp``)."""
    sources = []
    for key in data:
        folder = Path(root) / key
        if not folder.is_dir():
            raise SystemExit(f"dataset folder {folder} not found (set $PORTRAIT_EDITOR_DATA or data_root)")
        reader = READERS[key](folder)
        train, val = make_split(reader.names, val_fraction, seed=0)  # fixed: never train on val
        sources.append((reader, train if split == "train" else val))
    validation = split != "train"
    gen = {"occlusion": _masks.occlusion_masks, "extrapolation": _masks.extrapolation_masks,
           "parsing": _masks.parsing_masks}[masks](validation)
    return TrainingSamples(sources, size, gen, train=not validation, seed=seed, heatmap_stride=heatmap_stride)
