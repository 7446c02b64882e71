"""Dataset readers (synthetic layouts and the real ../shared/data when present), flips,
augmentation, splits, heatmaps and the torch training samples."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from portrait_editor.labels import ATR, LIP_NECK, UNKNOWN
from training import datasets as D
from training import masks

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
L = LIP_NECK.id


def _needs(name: str) -> Path:
    folder = DATA / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is not available")
    return folder


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _photo(h=64, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _front_facing_map(h=64, w=48):
    """A person facing the camera: their left arm/leg/shoe on the IMAGE's right."""
    p = np.zeros((h, w), np.uint8)
    p[4:14, 18:30] = L("face")
    p[14:34, 12:36] = L("upper-clothes")
    p[14:34, 6:12] = L("right-arm")
    p[14:34, 36:42] = L("left-arm")
    p[34:56, 14:23] = L("right-leg")
    p[34:56, 25:34] = L("left-leg")
    p[56:60, 14:23] = L("right-shoe")
    p[56:60, 25:34] = L("left-shoe")
    return p


def _sample(h=64, w=48):
    kp = np.zeros((18, 3), np.float32)
    kp[0] = (23.0, 8.0, 0.9)  # nose
    kp[2] = (9.0, 15.0, 0.8)  # r-shoulder, image left
    kp[5] = (39.0, 15.0, 0.7)  # l-shoulder, image right
    kp[10] = (18.0, 55.0, 0.6)  # r-ankle
    parsing = _front_facing_map(h, w)
    return {"image": _photo(h, w), "parsing": parsing, "keypoints": kp, "person": parsing > 0, "name": "s"}


def _mean_x(parsing, name):
    return np.nonzero(parsing == L(name))[1].mean()


# --------------------------------------------------------------------------- synthetic layouts

def test_viton_layout(tmp_path):
    root = tmp_path / "viton"
    _save(root / "images" / "a_0.jpg", _photo(256, 192))
    parsing = np.zeros((256, 192), np.uint8)
    parsing[30:80, 70:120] = L("face")
    _save(root / "parsing" / "a_0.png", parsing)
    person = np.zeros((256, 192), np.uint8)
    person[20:250, 50:140] = 255
    _save(root / "person_mask" / "a_0.png", person)
    kp = np.zeros((18, 3))
    kp[1] = (96, 90, 0.9)
    (root / "pose").mkdir()
    (root / "pose" / "a_0.json").write_text(json.dumps({"people": [{"pose_keypoints": kp.ravel().tolist()}]}))
    _save(root / "images" / "b_0.jpg", _photo(256, 192))  # no parsing: left out
    ds = D.VitonDataset(root)
    assert ds.names == ["a_0"] and len(ds) == 1
    s = ds[0]
    assert s["image"].shape == (256, 192, 3) and s["image"].dtype == np.uint8
    np.testing.assert_array_equal(s["parsing"], parsing)
    assert s["person"].dtype == bool and s["person"][100, 100] and not s["person"][5, 5]
    assert s["keypoints"].shape == (18, 3) and s["keypoints"].dtype == np.float32
    np.testing.assert_allclose(s["keypoints"][1], (96, 90, 0.9), rtol=1e-6)
    assert s["keypoints"][0, 2] == 0


def _ccp_layout(root: Path) -> None:
    (root / "labels.txt").parent.mkdir(parents=True)
    (root / "labels.txt").write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(D.CCP_NAMES)))
    ccp = {n: i for i, n in enumerate(D.CCP_NAMES)}
    p = np.zeros((200, 100), np.uint8)
    p[5:15, 38:62] = ccp["hair"]
    p[15:34, 40:60] = ccp["skin"]  # face and neck
    p[34:100, 30:70] = ccp["t-shirt"]
    p[60:90, 20:30] = ccp["skin"]  # an arm on the image left: the person's right arm
    p[60:90, 70:80] = ccp["skin"]
    p[70:73, 72:80] = ccp["bracelet"]
    p[95:100, 30:70] = ccp["belt"]
    p[100:140, 35:65] = ccp["skirt"]
    p[140:190, 36:48] = ccp["skin"]
    p[140:190, 52:64] = ccp["stockings"]
    p[190:198, 36:48] = ccp["heels"]
    p[190:198, 52:64] = ccp["heels"]
    _save(root / "parsing" / "0001.png", p)
    _save(root / "images" / "0001.jpg", _photo(200, 100))
    _save(root / "parsing" / "0002.png", np.zeros((200, 100), np.uint8))  # labels nothing
    _save(root / "images" / "0002.jpg", _photo(200, 100))
    _save(root / "images" / "0003.jpg", _photo(200, 100))  # no map


def test_ccp_layout_and_skin_split(tmp_path):
    _ccp_layout(tmp_path / "ccp")
    ds = D.CCPDataset(tmp_path / "ccp")
    assert ds.names == ["0001"]
    s = ds.load("0001")
    p = s["parsing"]
    assert p.max() <= 20 and not (s["keypoints"]).any()
    assert (p[17:25, 44:56] == L("face")).all()
    assert (p[32:34, 45:55] == L("neck")).all()  # a sliver above the collar
    assert (p[60:90, 20:30] == L("right-arm")).all() and (p[60:90, 70:78] == L("left-arm")).all()
    assert (p[145:185, 37:47] == L("right-leg")).all() and (p[145:185, 53:63] == L("left-leg")).all()
    assert (p[191:197, 37:47] == L("right-shoe")).all() and (p[191:197, 53:63] == L("left-shoe")).all()
    assert (p[96:99, 32:68] == L("upper-clothes")).mean() > 0.4  # the belt took its neighbours' labels
    assert (p[70:73, 72:78] == L("left-arm")).all()  # so did the bracelet (its outer edge: background)
    assert (p[100:140, 35:65] == L("skirt")).all()


def test_ccp_lookup_covers_every_class():
    table = D.ccp_lookup()
    assert len(D.CCP_NAMES) == 59 and set(D.CCP_TO_LIP) == set(D.CCP_NAMES)
    assert table[D.CCP_NAMES.index("jeans")] == L("pants")
    assert table[D.CCP_NAMES.index("skin")] == D.SKIN and table[100] == UNKNOWN


def test_lip_layout_with_pose(tmp_path):
    root = tmp_path / "LIP"
    for split in ("train", "val"):
        parsing = np.zeros((40, 30), np.uint8)
        parsing[5:10, 10:20] = L("face")
        parsing[0, 0] = 255  # LIP/CIHP's "ignore" border value
        _save(root / "TrainVal_images" / "TrainVal_images" / f"{split}_images" / f"{split}1.jpg", _photo(40, 30))
        _save(root / "TrainVal_parsing_annotations" / f"{split}_segmentations" / f"{split}1.png", parsing)
    values = ["nan"] * 48
    values[3 * 12: 3 * 12 + 3] = ["10", "12", "0"]  # r-shoulder
    values[3 * 13: 3 * 13 + 3] = ["20", "14", "1"]  # l-shoulder (occluded: still annotated)
    values[3 * 0: 3 * 0 + 3] = ["11", "38", "0"]  # r-ankle
    (root / "TrainVal_pose_annotations").mkdir()
    (root / "TrainVal_pose_annotations" / "lip_train_set.csv").write_text("train1.jpg," + ",".join(values) + "\n")
    train = D.LIPDataset(root, "train")
    assert train.names == ["train1"]
    s = train.load("train1")
    assert s["image"].shape == (40, 30, 3) and s["parsing"][7, 15] == L("face") and s["parsing"][0, 0] == UNKNOWN
    kp = s["keypoints"]
    np.testing.assert_array_equal(kp[2], (10, 12, 1))
    np.testing.assert_array_equal(kp[5], (20, 14, 1))
    np.testing.assert_array_equal(kp[10], (11, 38, 1))
    np.testing.assert_array_equal(kp[1], (15, 13, 1))  # no thorax: the shoulders' midpoint
    assert kp[0, 2] == 0 and kp[4, 2] == 0
    val = D.LIPDataset(root, "val")
    assert val.names == ["val1"] and not val.load("val1")["keypoints"].any()


def test_lip_pose_mapping_uses_the_thorax_for_the_neck():
    values = [float("nan")] * 48
    values[21:24] = (5.0, 6.0, 0.0)  # thorax
    values[27:30] = (5.0, 1.0, 0.0)  # head top: no COCO-18 joint
    kp = D.lip_pose_to_coco18(values)
    np.testing.assert_array_equal(kp[1], (5, 6, 1))
    assert kp[:, 2].sum() == 1


def test_atr_layout_maps_ids_by_name(tmp_path):
    root = tmp_path / "humanparsing"
    atr = np.zeros((30, 40), np.uint8)
    for i in range(len(ATR.names)):
        atr[i, :] = i
    atr[29, :] = 255
    _save(root / "JPEGImages" / "x.jpg", _photo(30, 40))
    _save(root / "SegmentationClassAug" / "x.png", atr)
    s = D.ATRDataset(root).load("x")
    got = {ATR.names[i]: LIP_NECK.names[s["parsing"][i, 0]] for i in range(len(ATR.names))}
    assert got["skirt"] == "skirt" and got["left-arm"] == "left-arm" and got["face"] == "face"
    assert got["belt"] == "pants" and got["bag"] == "background" and got["sunglasses"] == "sunglasses"
    assert s["parsing"][29, 0] == UNKNOWN


def test_cihp_layout(tmp_path):
    root = tmp_path / "instance-level_human_parsing"
    parsing = np.full((20, 20), L("hair"), np.uint8)
    for split in ("Training", "Validation"):
        _save(root / split / "Images" / f"{split[0]}01.jpg", _photo(20, 20))
        _save(root / split / "Category_ids" / f"{split[0]}01.png", parsing)
    assert D.CIHPDataset(root).names == ["T01"]
    assert D.CIHPDataset(root, "Validation").names == ["V01"]
    assert (D.CIHPDataset(root)[0]["parsing"] == L("hair")).all()


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="images"):
        D.LIPDataset(tmp_path)


# --------------------------------------------------------------------------- real data (skip if absent)

def test_lip_samples_load_real_lip_and_cihp_files():
    root = _needs("lip-samples")
    lip = D.LIPDataset(root, pattern="lip_*")
    cihp = D.CIHPDataset(root, pattern="cihp_*")
    assert len(lip) == 2 and len(cihp) == 5
    for reader in (lip, cihp):
        for s in reader:
            assert s["parsing"].shape == s["image"].shape[:2] and s["parsing"].dtype == np.uint8
            ids = set(np.unique(s["parsing"])) - {UNKNOWN}
            assert ids and max(ids) < 20  # LIP ids; neck never appears
    # LIP's convention, as in VITON: the person's left arm on the image's right
    p = lip.load("lip_36_453991")["parsing"]
    assert _mean_x(p, "left-arm") > _mean_x(p, "right-arm")


def test_real_viton_sample():
    ds = D.VitonDataset(_needs("viton"))
    s = ds.load(ds.names[0])
    assert s["image"].shape == (256, 192, 3) and s["parsing"].shape == (256, 192)
    assert s["parsing"].max() <= 20 and (s["keypoints"][:, 2] > 0).sum() > 5
    assert s["person"].dtype == bool and s["person"].mean() > 0.1
    p = s["parsing"]
    assert _mean_x(p, "left-arm") > _mean_x(p, "right-arm")
    kp = s["keypoints"]
    assert kp[5, 0] > kp[2, 0]  # l-shoulder on the image right too


def test_real_ccp_samples_map_to_lip_ids():
    ds = D.CCPDataset(_needs("ccp"))
    assert len(ds) > 800
    for name in ds.names[:3]:
        s = ds.load(name)
        p = s["parsing"]
        assert p.shape == s["image"].shape[:2] and p.max() <= 20
        assert (p == L("face")).any() and (p == L("hair")).any()
        for a, b in (("left-arm", "right-arm"), ("left-shoe", "right-shoe")):
            if (p == L(a)).any() and (p == L(b)).any():
                assert _mean_x(p, a) > _mean_x(p, b)
        assert not s["keypoints"].any()


def test_real_completion_samples():
    _needs("viton"), _needs("ccp")
    train = D.completion_samples(("viton", "ccp"), DATA, split="train", size=(64, 48), masks="occlusion")
    val = D.completion_samples(("viton", "ccp"), DATA, split="val", size=(64, 48), masks="occlusion")
    assert set(train.names).isdisjoint(val.names) and len(val.names) > 0.03 * len(train.names)
    assert {n.split("/")[0] for n in val.names} == {"viton", "ccp"}
    item = val[0]
    assert item["image"].shape == (3, 64, 48) and item["parsing"].max() <= 20


# --------------------------------------------------------------------------- flips and augmentation

def test_flip_swaps_left_and_right_labels_and_keypoints():
    s = _sample()
    f = D.flip_sample(s)
    p = f["parsing"]
    for name in ("arm", "leg", "shoe"):
        assert _mean_x(p, f"left-{name}") > _mean_x(p, f"right-{name}")  # still the image right
    assert (p[14:34, 6:12] == L("right-arm")).all()  # the old left arm: mirrored and renamed
    np.testing.assert_array_equal(f["image"], s["image"][:, ::-1])
    kp = f["keypoints"]
    np.testing.assert_allclose(kp[2], (47 - 39, 15, 0.7))  # the old l-shoulder, now the r-shoulder
    np.testing.assert_allclose(kp[5], (47 - 9, 15, 0.8))
    np.testing.assert_allclose(kp[13], (47 - 18, 55, 0.6))  # r-ankle became l-ankle
    np.testing.assert_allclose(kp[0], (47 - 23, 8, 0.9))  # the nose stays the nose
    assert not kp[10].any()  # a missing joint stays all zeros


def test_flip_twice_is_identity():
    s = _sample()
    back = D.flip_sample(D.flip_sample(s))
    for key in ("image", "parsing", "keypoints", "person"):
        np.testing.assert_array_equal(back[key], s[key])
    assert set(np.asarray(D.KEYPOINT_FLIP_PAIRS).ravel()) == set(range(2, 18))


def test_augment_keeps_labels_and_keypoints_together():
    s = _sample(128, 96)
    s["parsing"] = np.zeros((128, 96), np.uint8)
    s["parsing"][26:34, 14:22] = L("right-arm")  # around the r-shoulder at (18, 30)
    s["keypoints"] = np.zeros((18, 3), np.float32)
    s["keypoints"][2] = (17.5, 29.5, 1)
    for seed in range(12):
        out = D.augment(s, np.random.default_rng(seed), (64, 64), scale_range=(0.8, 1.2), flip_prob=0.5)
        assert out["image"].shape == (64, 64, 3) and out["parsing"].shape == (64, 64)
        assert out["person"].shape == (64, 64) and out["person"].dtype == bool
        assert set(np.unique(out["parsing"])) <= {0, L("right-arm"), L("left-arm")}
        visible = np.nonzero(out["keypoints"][:, 2] > 0)[0]
        assert len(visible) == 1
        x, y, _ = out["keypoints"][visible[0]]
        label = out["parsing"][int(round(y)), int(round(x))]
        # the joint still sits on its arm, and the arm's name follows the joint's side
        assert label == (L("right-arm") if visible[0] == 2 else L("left-arm"))


def test_augment_pads_with_the_fill_colour_and_drops_joints_outside():
    s = _sample()
    small = D.augment(s, np.random.default_rng(0), (128, 128), scale_range=(0.5, 0.5), flip_prob=0,
                      pad_colour=(1, 2, 3))
    border = np.concatenate([small["image"][:, 0], small["image"][:, -1]])
    assert (border == (1, 2, 3)).all() and (small["parsing"][:, 0] == 0).all()
    big = D.augment(s, np.random.default_rng(1), (32, 24), scale_range=(3.0, 3.0), flip_prob=0)
    kp = big["keypoints"]
    inside = (kp[:, 2] > 0)
    assert inside.sum() < 4 and np.all(kp[~inside] == 0)
    assert np.all((kp[inside, 0] >= 0) & (kp[inside, 0] <= 23) & (kp[inside, 1] >= 0) & (kp[inside, 1] <= 31))


def test_augment_is_seeded():
    s = _sample()
    a = D.augment(s, np.random.default_rng(5), (48, 40))
    b = D.augment(s, np.random.default_rng(5), (48, 40))
    for key in ("image", "parsing", "keypoints"):
        np.testing.assert_array_equal(a[key], b[key])


# --------------------------------------------------------------------------- splits and targets

def test_split_is_deterministic_disjoint_and_stable():
    names = [f"{i:05d}" for i in range(2000)]
    train, val = D.make_split(names, 0.1, seed=0)
    assert set(train).isdisjoint(val) and sorted(train + val) == names
    assert 150 < len(val) < 250
    assert D.make_split(list(reversed(names)) + names[:10], 0.1, seed=0) == (train, val)  # order, duplicates
    sub_train, sub_val = D.make_split(names[:500], 0.1, seed=0)
    assert sub_val == [n for n in val if n in set(names[:500])]  # adding photos moves none
    assert D.make_split(names, 0.1, seed=1)[1] != val
    assert val == sorted(val) and train == sorted(train)


def test_heatmaps_peak_at_joints_and_are_zero_for_missing_ones():
    kp = np.zeros((18, 3), np.float32)
    kp[3] = (35.5, 19.5, 1)  # the centre of heatmap cell (2, 4) at stride 8
    maps = D.heatmaps_from_keypoints(kp, (64, 50), stride=8, sigma=1.0)
    assert maps.shape == (18, 8, 7) and maps.dtype == np.float32
    assert np.unravel_index(maps[3].argmax(), maps[3].shape) == (2, 4) and maps[3].max() == pytest.approx(1)
    assert maps[3, 2, 5] == pytest.approx(np.exp(-0.5))
    assert not np.delete(maps, 3, axis=0).any()


# --------------------------------------------------------------------------- torch samples

class _Reader(D.PersonReader):
    """In memory: counts loads to show that samples are read one at a time."""

    def __init__(self, n=6):
        self.root = Path()
        self.names = [f"p{i}" for i in range(n)]
        self.loads = 0

    def load(self, name):
        self.loads += 1
        s = _sample(64, 48)
        s["image"] = np.full((64, 48, 3), 40 + int(name[1:]) * 10, np.uint8)
        s["name"] = name
        return s


def test_training_samples_tensors():
    reader = _Reader()
    ds = D.TrainingSamples(reader, reader.names, masks.RandomRectangles((16, 24)), 7, (64, 48))
    assert reader.loads == 6  # the default fill colour: the mean of the photos
    assert ds.fill_colour == (65, 65, 65)
    item = ds[2]
    assert reader.loads == 7
    assert item["image"].shape == (3, 64, 48) and item["image"].dtype == torch.float32
    assert item["image"].min() >= -1 and item["image"].max() <= 1
    assert item["mask"].shape == (1, 64, 48) and set(item["mask"].unique().tolist()) == {0.0, 1.0}
    assert item["parsing"].dtype == torch.int64 and item["parsing"].shape == (64, 48)
    assert item["heatmaps"].shape == (18, 8, 6) and item["keypoints"].shape == (18, 3)
    hole = item["mask"][0] > 0
    assert torch.equal(item["input"][:, ~hole], item["image"][:, ~hole])
    assert torch.allclose(item["input"][:, hole], torch.tensor(65 / 255 * 2 - 1))
    assert item["name"] == "p2"


def test_training_samples_are_seeded_per_item_and_epoch():
    reader = _Reader()
    train = D.TrainingSamples(reader, reader.names, masks.occlusion_masks(), 3, (64, 48), hole_fill=(0.5, 0.5, 0.5))
    assert reader.loads == 0
    assert torch.equal(train[1]["mask"], train[1]["mask"])
    first = [train[i]["mask"] for i in range(4)]
    train.set_epoch(1)
    assert any(not torch.equal(a, train[i]["mask"]) for i, a in enumerate(first))
    val = D.TrainingSamples(reader, reader.names, masks.occlusion_masks(True), 3, (64, 48), train=False,
                            hole_fill=(0.5, 0.5, 0.5), heatmap_stride=0)
    before = val[0]
    val.set_epoch(5)
    assert torch.equal(before["mask"], val[0]["mask"]) and torch.equal(before["image"], val[0]["image"])
    assert "heatmaps" not in before
    loader = torch.utils.data.DataLoader(train, batch_size=3)
    batch = next(iter(loader))
    assert batch["image"].shape == (3, 3, 64, 48) and batch["name"] == ["p0", "p1", "p2"]


def test_completion_samples_scale_range_sets_the_framing(tmp_path):
    """The extrapolation runs zoom by 1.0-1.05 only: cropping or padding the photo moves heads and
    feet against the frame, unlike the validation photos (and a padded band is flat colour)."""
    _ccp_layout(tmp_path / "ccp")
    whole = D.completion_samples(("ccp",), tmp_path, split="train", size=(100, 50), masks="extrapolation",
                                 val_fraction=0.0, scale_range=(1.0, 1.0))
    assert whole.names == ["ccp/0001"]
    photo = D.CCPDataset(tmp_path / "ccp").load("0001")["image"]
    fitted = torch.from_numpy(cv2.resize(photo, (50, 100), interpolation=cv2.INTER_AREA)).permute(2, 0, 1) / 127.5 - 1
    zoomed = D.completion_samples(("ccp",), tmp_path, split="train", size=(100, 50), masks="extrapolation",
                                  val_fraction=0.0)
    same = []
    for epoch in range(4):
        whole.set_epoch(epoch), zoomed.set_epoch(epoch)
        image = whole[0]["image"]
        assert torch.allclose(image, fitted, atol=1e-6) or torch.allclose(image, fitted.flip(-1), atol=1e-6)
        z = zoomed[0]["image"]
        same.append(torch.allclose(z, fitted, atol=1e-6) or torch.allclose(z, fitted.flip(-1), atol=1e-6))
    assert not all(same)  # the default (0.8, 1.2) moves the photo in the frame
