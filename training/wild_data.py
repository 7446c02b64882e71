"""Photos from the wild for training and evaluation: the public sources of ``training.sources``
(close-up faces, Flickr portraits, scenes), people pasted onto scenes, crops at random zoom,
and the mixture of sources G trains on.

Samples are the dicts of ``training.datasets`` (``image``, ``parsing`` in LIP+neck ids,
``keypoints``, optional ``person``, ``name``). Sources without part labels say what they do not
know: a portrait's person is ``UNKNOWN`` (only person vs background is labelled), a scene is all
background (P labels scenery background, and that is what G will be told at inference).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from portrait_editor.labels import LIP_NECK, UNKNOWN

from . import masks as _masks
from .datasets import (
    IMAGE_SUFFIXES,
    READERS,
    PersonReader,
    Sample,
    _check_dir,
    _no_keypoints,
    _read_labels,
    _read_rgb,
    _resize_labels_to,
    _stems,
    _to_tensor_image,
    flip_sample,
    heatmaps_from_keypoints,
    make_split,
)

L = LIP_NECK.id

# CelebAMask-HQ's 19 face classes -> LIP+neck. Face parts, ears and earrings are "face";
# eyeglasses are LIP's "sunglasses"; a necklace lies on the neck; "cloth" is whatever the person
# wears at the shoulders, which LIP calls upper-clothes far more often than coat or dress.
CELEBAMASK_TO_LIP = np.full(256, UNKNOWN, np.uint8)
for _ids, _name in (((0,), "background"), ((1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15), "face"),
                    ((3,), "sunglasses"), ((13,), "hair"), ((14,), "hat"), ((16, 17), "neck"),
                    ((18,), "upper-clothes")):
    CELEBAMASK_TO_LIP[list(_ids)] = L(_name)


class CelebAMaskDataset(PersonReader):
    """``celebamask/``: 512x512 close-up faces with face-part label maps (palette PNGs)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._images = _stems(_check_dir(self.root / "images", "images", self.root), IMAGE_SUFFIXES)
        self._labels = _stems(self.root / "labels", (".png",))
        self.names = sorted(set(self._images) & set(self._labels), key=_natural)

    def load(self, name: str) -> Sample:
        image = _read_rgb(self._images[name])
        parsing = CELEBAMASK_TO_LIP[_resize_labels_to(_read_labels(self._labels[name]), image)]
        return {"image": image, "parsing": parsing, "person": parsing != 0, "keypoints": _no_keypoints(),
                "name": name}


class PortraitsDataset(PersonReader):
    """``portraits/``: Flickr head-and-shoulders portraits with person masks (Shen et al. 2016).
    ``val.txt`` lists the authors' test photos (validation only); ``excluded.txt`` the photos
    without a usable mask and both photos of each duplicated pair (see ``training.sources``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._images = _stems(_check_dir(self.root / "images", "images", self.root), IMAGE_SUFFIXES)
        self._masks = _stems(_check_dir(self.root / "masks-png", "masks-png", self.root), (".png",))
        excluded = set(_read_list(self.root / "excluded.txt"))
        self.names = sorted(n for n in set(self._images) & set(self._masks) if n not in excluded)
        self.validation = sorted(set(_read_list(self.root / "val.txt")) & set(self.names))

    def load(self, name: str) -> Sample:
        image = _read_rgb(self._images[name])
        person = _resize_labels_to(_read_labels(self._masks[name]), image) > 127
        parsing = np.where(person, UNKNOWN, L("background")).astype(np.uint8)
        return {"image": image, "parsing": parsing, "person": person, "keypoints": _no_keypoints(), "name": name}


# Scene folders: those whose photos are validation only, and CamVid's video frames, of which we
# train on every 5th (neighbours are near-duplicates).
SCENE_VALIDATION_FOLDERS = ("bsds/test", "camvid/test")
SCENE_FRAME_STEP = {"camvid/train": 5, "camvid/val": 5}


class ScenesDataset(PersonReader):
    """``scenes/``: unlabelled photos of landscapes, streets, sea, buildings, rooms, animals.
    Names are ``folder/stem`` (``bsds/train/2092``); the parsing is all background."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        _check_dir(self.root if self.root.is_dir() else None, "scenes", self.root)
        self._files: dict[str, Path] = {}
        for folder in sorted({p.parent for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}):
            rel = folder.relative_to(self.root).as_posix()
            stems = sorted(_stems(folder, IMAGE_SUFFIXES).items())
            step = SCENE_FRAME_STEP.get(rel, 1)
            for stem, path in stems[::step]:
                self._files[f"{rel}/{stem}"] = path
        self.names = sorted(self._files)

    def load(self, name: str) -> Sample:
        image = _read_rgb(self._files[name])
        return {"image": image, "parsing": np.zeros(image.shape[:2], np.uint8), "keypoints": _no_keypoints(),
                "name": name}


class PseudoLabelledDataset(PersonReader):
    """``ccp-pseudo/``: CCP photos without hand-labelled maps, with P's maps of them
    (``training.pseudo_labels``); ``UNKNOWN`` where P was unsure of a body part."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._images = _stems(_check_dir(self.root / "images", "images", self.root), IMAGE_SUFFIXES)
        self._labels = _stems(self.root / "labels", (".png",))
        self.names = sorted(set(self._images) & set(self._labels))

    def load(self, name: str) -> Sample:
        image = _read_rgb(self._images[name])
        parsing = _resize_labels_to(_read_labels(self._labels[name]), image)
        return {"image": image, "parsing": parsing, "person": parsing != L("background"),
                "keypoints": _no_keypoints(), "name": name}


def _natural(name: str) -> tuple[int, str]:
    return (int(name), name) if name.isdigit() else (10**9, name)


def _read_list(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


WILD_READERS = {"celebamask": CelebAMaskDataset, "portraits": PortraitsDataset, "scenes": ScenesDataset,
                "ccp-pseudo": PseudoLabelledDataset}


def source_split(key: str, reader: PersonReader, val_fraction: float) -> tuple[list[str], list[str]]:
    """The fixed train / validation split of one source: the authors' test folders or lists
    where a source has them (never trained on), plus ``make_split`` with seed 0."""
    names = list(reader.names)
    if key == "portraits":
        val = set(reader.validation)
        return [n for n in names if n not in val], sorted(val)
    if key == "scenes":
        fixed = {n for n in names if n.rsplit("/", 1)[0] in SCENE_VALIDATION_FOLDERS}
        train, val = make_split([n for n in names if n not in fixed], val_fraction, seed=0)
        return train, sorted(set(val) | fixed)
    return make_split(names, val_fraction, seed=0)


def open_source(key: str, data_root: str | Path, sources_root: str | Path) -> PersonReader:
    """The reader of a source: VITON and CCP live in the shared data folder, the public
    repositories' photos in the sources folder (``training.sources``)."""
    if key in READERS:
        folder = Path(data_root) / key
        cls = READERS[key]
    elif key in WILD_READERS:
        folder = Path(sources_root) / key
        cls = WILD_READERS[key]
    else:
        raise SystemExit(f"unknown data source {key!r}; known: {', '.join([*READERS, *WILD_READERS, 'composite'])}")
    if not folder.is_dir():
        hint = "run `python -m training.sources extract ...`" if key in WILD_READERS else "set $PORTRAIT_EDITOR_DATA"
        raise SystemExit(f"data source folder {folder} not found ({hint})")
    return cls(folder)


# --------------------------------------------------------------------------- framing

def person_mask(sample: Sample) -> np.ndarray:
    if sample.get("person") is not None:
        return np.asarray(sample["person"], bool)
    parsing = sample["parsing"]
    return (parsing != 0) & (parsing != UNKNOWN)


def composite(person: Sample, scene: Sample, rng: np.random.Generator,
              height_range: tuple[float, float] = (0.3, 1.0)) -> Sample:
    """``person`` cut out with its mask and pasted onto ``scene``, as tall as a fraction of the
    scene from ``height_range``, at a random place (feet on the lower part of the scene, or cut
    by the bottom edge). The edge is feathered by a pixel so the paste leaves no hard seam."""
    mask = person_mask(person)
    ys, xs = np.nonzero(mask)
    out = dict(scene)
    out["name"] = f"{person['name']}+{scene['name']}"
    if len(ys) == 0:
        return out
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    sh, sw = scene["image"].shape[:2]
    s = rng.uniform(*height_range) * sh / (y1 - y0)
    s = min(s, sw / (x1 - x0))
    ph, pw = max(1, int(round((y1 - y0) * s))), max(1, int(round((x1 - x0) * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    img = cv2.resize(person["image"][y0:y1, x0:x1], (pw, ph), interpolation=interp)
    alpha = cv2.resize(mask[y0:y1, x0:x1].astype(np.float32), (pw, ph), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0)[..., None]
    labels = cv2.resize(person["parsing"][y0:y1, x0:x1], (pw, ph), interpolation=cv2.INTER_NEAREST)
    oy = int(rng.integers(max(0, sh - ph - sh // 4), max(0, sh - ph) + 1)) if ph < sh else 0
    if rng.random() < 0.3:  # cut by the bottom edge, as in most photos of people
        oy = min(sh - ph // 2, oy + int(rng.integers(0, ph // 3 + 1)))
    ox = int(rng.integers(0, max(0, sw - pw) + 1))
    hh, ww = min(ph, sh - oy), min(pw, sw - ox)
    image = scene["image"].copy()
    region = image[oy:oy + hh, ox:ox + ww].astype(np.float32)
    a = alpha[:hh, :ww]
    image[oy:oy + hh, ox:ox + ww] = np.clip(a * img[:hh, :ww] + (1 - a) * region + 0.5, 0, 255).astype(np.uint8)
    parsing = scene["parsing"].copy()
    inside = a[..., 0] > 0.5
    parsing[oy:oy + hh, ox:ox + ww][inside] = labels[:hh, :ww][inside]
    out.update(image=image, parsing=parsing, person=parsing != 0, keypoints=_no_keypoints())
    return out


def random_crop(sample: Sample, rng: np.random.Generator, out_size: tuple[int, int], *,
                zoom_range: tuple[float, float] = (0.25, 1.0), max_upscale: float = 1.4,
                flip_prob: float = 0.5, on_person: float = 0.8) -> Sample:
    """A crop of ``out_size``'s aspect at a random zoom, resized to ``out_size`` (H, W).

    The crop is between ``zoom_range`` of the largest crop that fits the photo (log-uniform), but
    never enlarged by more than ``max_upscale`` (enlarged crops are blurrier than any photo a user
    brings), so a 512 px close-up gives anything from an eye and a cheek to the whole head, and a
    scene anything from a wall's texture to the whole view. With probability ``on_person`` the
    crop's centre is drawn from the person's pixels (holes go on the person there)."""
    if flip_prob > 0 and rng.random() < flip_prob:
        sample = flip_sample(sample)
    image = sample["image"]
    h, w = image.shape[:2]
    oh, ow = out_size
    fit = min(h / oh, w / ow)  # the largest crop is (oh * fit, ow * fit)
    lo = max(zoom_range[0] * fit, min(fit, 1 / max_upscale))
    hi = max(lo, zoom_range[1] * fit)
    s = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    ch, cw = min(h, max(1, int(round(oh * s)))), min(w, max(1, int(round(ow * s))))
    body = person_mask(sample)
    if body.any() and rng.random() < on_person:
        ys, xs = np.nonzero(body)
        i = int(rng.integers(len(ys)))
        cy, cx = int(ys[i]), int(xs[i])
        y = int(np.clip(cy - ch // 2 + rng.integers(-ch // 4, ch // 4 + 1), 0, h - ch))
        x = int(np.clip(cx - cw // 2 + rng.integers(-cw // 4, cw // 4 + 1), 0, w - cw))
    else:
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    interp = cv2.INTER_AREA if ch > oh else cv2.INTER_LINEAR
    out = dict(sample)
    out["image"] = cv2.resize(image[y:y + ch, x:x + cw], (ow, oh), interpolation=interp)
    out["parsing"] = cv2.resize(sample["parsing"][y:y + ch, x:x + cw], (ow, oh), interpolation=cv2.INTER_NEAREST)
    if sample.get("person") is not None:
        person = np.asarray(sample["person"], np.uint8)[y:y + ch, x:x + cw]
        out["person"] = cv2.resize(person, (ow, oh), interpolation=cv2.INTER_NEAREST) > 0
    kp = np.array(sample["keypoints"], np.float32, copy=True)
    found = kp[:, 2] > 0
    kp[found, 0] = (kp[found, 0] - x + 0.5) * ow / cw - 0.5
    kp[found, 1] = (kp[found, 1] - y + 0.5) * oh / ch - 0.5
    outside = found & ((kp[:, 0] < 0) | (kp[:, 0] > ow - 1) | (kp[:, 1] < 0) | (kp[:, 1] > oh - 1))
    kp[outside] = 0
    out["keypoints"] = kp
    return out


# --------------------------------------------------------------------------- the mixture

# What G trains on in the wild (weights of each source per sample). "composite" is a person from
# those of VITON, CCP and the portraits that are in the mixture, pasted onto a scene.
DEFAULT_MIX = {"viton": 0.15, "ccp": 0.15, "celebamask": 0.15, "portraits": 0.2, "scenes": 0.15, "composite": 0.2}
COMPOSITE_PEOPLE = ("ccp", "viton", "portraits")


class MixtureSamples(torch.utils.data.Dataset):
    """Training or validation tensors drawn from several sources, framed by :func:`random_crop`.

    Items are as :class:`training.datasets.TrainingSamples` gives them (``image``, ``input``,
    ``mask``, ``parsing``, ``keypoints``, ``heatmaps`` when ``heatmap_stride``, ``name``), plus
    ``person`` (where the photo shows a person, also where its parts are not labelled). Training items pick their source by
    ``weights`` and a random photo of it, seeded by (seed, epoch, index); ``len()`` is
    ``epoch_size``. Validation items are a fixed, interleaved list of each source's validation
    photos with fixed crops and holes."""

    def __init__(self, readers: dict[str, PersonReader], names: dict[str, list[str]], weights: dict[str, float],
                 masks: _masks.MaskGenerator, rng_seed: int, out_size: tuple[int, int], *, train: bool = True,
                 epoch_size: int = 4000, hole_fill: Sequence[float] = (0.5, 0.5, 0.5),
                 zoom_range: tuple[float, float] = (0.25, 1.0), heatmap_stride: int = 0) -> None:
        self.readers, self.names, self.masks = readers, names, masks
        self.keys = [k for k in weights if weights[k] > 0]
        for key in self.keys if train else ():
            sources = COMPOSITE_PEOPLE if key == "composite" else (key,)
            if key == "composite" and not names.get("scenes"):
                raise ValueError("composite needs the scenes source")
            if not any(names.get(k) for k in sources):
                raise ValueError(f"no photos for source {key!r}")
        p = np.array([weights[k] for k in self.keys], float)
        self.p = p / p.sum()
        self.rng_seed, self.size, self.train = rng_seed, tuple(out_size), train
        self.zoom_range = zoom_range
        self.heatmap_stride = heatmap_stride
        self.hole_fill = tuple(float(c) for c in hole_fill)
        self.epoch = 0
        self.epoch_size = epoch_size
        if not train:
            self.items = _interleave({k: names[k] for k in self.keys if k != "composite"})

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.epoch_size if self.train else len(self.items)

    def _pick(self, key: str, rng: np.random.Generator) -> Sample:
        names = self.names[key]
        return self.readers[key].load(names[int(rng.integers(len(names)))])

    def sample(self, index: int) -> tuple[Sample, np.random.Generator]:
        rng = np.random.default_rng([self.rng_seed, self.epoch if self.train else 10**6, index])
        if not self.train:
            key, name = self.items[index]
            sample = self.readers[key].load(name)
        else:
            key = self.keys[int(rng.choice(len(self.keys), p=self.p))]
            if key == "composite":
                people = [k for k in COMPOSITE_PEOPLE if self.names.get(k)]
                person = self._pick(people[int(rng.integers(len(people)))], rng)
                sample = composite(person, self._pick("scenes", rng), rng)
            else:
                sample = self._pick(key, rng)
        sample = random_crop(sample, rng, self.size, zoom_range=self.zoom_range,
                             flip_prob=0.5 if self.train else 0.0)
        return sample, rng

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample, rng = self.sample(index)
        hole = self.masks(rng, self.size, sample.get("person"), sample["parsing"])
        image = _to_tensor_image(sample["image"])
        mask = torch.from_numpy(hole)[None].float()
        fill = torch.tensor(self.hole_fill, dtype=torch.float32).view(3, 1, 1) * 2 - 1
        out = {"image": image, "input": image * (1 - mask) + fill * mask, "mask": mask,
               "parsing": torch.from_numpy(sample["parsing"].astype(np.int64)),
               "person": torch.from_numpy(person_mask(sample)),
               "keypoints": torch.from_numpy(sample["keypoints"]), "name": sample["name"]}
        if self.heatmap_stride:
            out["heatmaps"] = torch.from_numpy(heatmaps_from_keypoints(sample["keypoints"], self.size,
                                                                       self.heatmap_stride))
        return out


def round_robin(groups: Sequence[Sequence[Any]]) -> list[Any]:
    """The groups' items taken in turns, so the first N items cover all of them."""
    out = []
    for i in range(max((len(g) for g in groups), default=0)):
        out += [g[i] for g in groups if i < len(g)]
    return out


def _interleave(names: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(source, name) of every source's validation photos, the sources taking turns."""
    return round_robin([[(key, n) for n in v] for key, v in names.items()])


def mixture_samples(weights: dict[str, float], data_root: str | Path, sources_root: str | Path, *, split: str,
                    size: tuple[int, int], masks: str, val_fraction: float = 0.05, seed: int = 0,
                    hole_fill: Sequence[float] = (0.5, 0.5, 0.5), zoom_range: tuple[float, float] = (0.25, 1.0),
                    epoch_size: int = 4000, heatmap_stride: int = 0) -> MixtureSamples:
    """The training or validation mixture of the named sources (``composite`` pastes the people
    of ``COMPOSITE_PEOPLE`` that are in ``weights`` onto the scenes)."""
    from .datasets import MASKS

    keys = [k for k in weights if k != "composite"]
    if weights.get("composite") and "scenes" not in keys:
        keys.append("scenes")
    readers = {k: open_source(k, data_root, sources_root) for k in dict.fromkeys(keys)}
    names = {}
    for key, reader in readers.items():
        train, val = source_split(key, reader, val_fraction)
        names[key] = val if split != "train" else train
    validation = split != "train"
    return MixtureSamples(readers, names, weights, MASKS[masks](validation), seed, size, train=not validation,
                          epoch_size=epoch_size, hole_fill=hole_fill, zoom_range=zoom_range,
                          heatmap_stride=heatmap_stride)


def training_samples(cfg: Any, split: str, masks: str, heatmap_stride: int = 0) -> torch.utils.data.Dataset:
    """The data set a training config asks for: whole VITON/CCP photos fitted to ``cfg.size``
    (``framing="fit"``) or the wild mixture of ``cfg.data`` with ``cfg.data_weights`` in crops at
    random zoom (``framing="crop"``). Shared by the training scripts of P and G."""
    from .datasets import completion_samples

    if cfg.framing == "crop":
        from .sources import sources_root

        if len(cfg.data_weights) != len(cfg.data):
            raise SystemExit(f"data_weights needs one weight per data source ({len(cfg.data)})")
        return mixture_samples(dict(zip(cfg.data, cfg.data_weights, strict=True)), cfg.data_root,
                               cfg.sources_root or sources_root(), split=split, size=cfg.size, masks=masks,
                               val_fraction=cfg.val_fraction, seed=cfg.seed, zoom_range=tuple(cfg.zoom_range),
                               heatmap_stride=heatmap_stride)
    if cfg.framing != "fit":
        raise SystemExit(f"unknown framing {cfg.framing!r}; known: fit, crop")
    return completion_samples(cfg.data, cfg.data_root, split=split, size=cfg.size, masks=masks,
                              val_fraction=cfg.val_fraction, seed=cfg.seed, heatmap_stride=heatmap_stride,
                              scale_range=tuple(getattr(cfg, "scale_range", (0.8, 1.2))))
