"""Contracts of the networks (shapes, encodings, initialisation, configs), on tiny presets."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torch import nn

from portrait_editor.labels import UNKNOWN
from portrait_editor.models import (
    CompletionConfig,
    CompletionNet,
    FaceConfig,
    FaceNet,
    ParsingConfig,
    ParsingNet,
    ParsingOutput,
    build_model,
    build_model_from_config,
    config_from_dict,
    config_to_dict,
    encode_parsing,
    find_mobilenet_v2_imagenet,
    preset,
)
from portrait_editor.models.blocks import crop_padding, fold_batch_norms, pad_to_multiple

SIZES = [(64, 48), (97, 131), (256, 192), (5, 3)]


def _inputs(h: int, w: int, b: int = 1, classes: int = 21):
    g = torch.Generator().manual_seed(h * 1000 + w)
    image = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    mask = torch.zeros(b, 1, h, w)
    mask[..., h // 4 : h // 2 + 1, w // 4 : w // 2 + 1] = 1
    parsing = torch.randint(0, classes, (b, h, w), generator=g)
    parsing[:, : h // 3] = UNKNOWN
    return image, parsing, mask


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("h,w", SIZES)
def test_parsing_shapes(h, w):
    net = build_model("parsing", "tiny").eval()
    image, _, mask = _inputs(h, w, b=2)
    with torch.no_grad():
        out = net(image, mask)
    assert isinstance(out, ParsingOutput)
    s = net.heatmap_stride
    assert s == net.config.output_stride == 8
    assert out.p0.shape == out.p.shape == (2, 21, h, w)
    assert out.heatmaps.shape == (2, 18, -(-h // s), -(-w // s))


def test_parsing_output_stride_16():
    net = build_model("parsing", "tiny", output_stride=16).eval()
    image, _, mask = _inputs(97, 131)
    with torch.no_grad():
        out = net(image, mask)
    assert net.heatmap_stride == 16
    assert out.heatmaps.shape[-2:] == (7, 9)
    assert out.p.shape[-2:] == (97, 131)


@pytest.mark.parametrize("h,w", SIZES)
@pytest.mark.parametrize("kind", ["completion", "face"])
def test_generator_shapes_and_range(kind, h, w):
    net = build_model(kind, "tiny").eval()
    if kind == "face":  # give the zero-initialised F a visible output
        nn.init.normal_(net.last.weight, std=1.0)
    image, parsing, mask = _inputs(h, w, b=2)
    with torch.no_grad():
        out = net(image, parsing, mask)
    assert out.shape == image.shape
    bound = 1 if kind == "completion" else 2
    assert out.abs().max() <= bound
    assert out.abs().max() > 0


def test_generator_trains_at_batch_one():
    net = build_model("completion", "tiny").train()
    image, parsing, mask = _inputs(33, 47)
    out = net(image, parsing, mask)
    out.mean().backward()
    assert net.body[0][0].weight.grad is not None


# ---------------------------------------------------------------- parsing encodings


def test_parsing_channel_counts():
    onehot = build_model("completion", "tiny")
    repeat3 = build_model("completion", "tiny", parsing_input="repeat3")
    assert onehot.body[0][0].in_channels == 3 + 21 + 1
    assert repeat3.body[0][0].in_channels == 3 + 3 + 1
    face = build_model("face", "tiny", parsing_input="repeat3")
    assert face.body[0][0].in_channels == 7


@pytest.mark.parametrize("mode", ["onehot", "repeat3"])
def test_unknown_labels_give_zero_guidance(mode):
    parsing = torch.tensor([[[0, 5, UNKNOWN], [20, UNKNOWN, 13]]])
    guide = encode_parsing(parsing, 21, mode)
    assert guide.shape == (1, 21 if mode == "onehot" else 3, 2, 3)
    unknown = parsing[0] == UNKNOWN
    assert torch.all(guide[0][:, unknown] == 0)
    assert torch.all(guide[0][:, ~unknown].abs().sum(0) > 0)
    if mode == "onehot":
        assert torch.equal(guide[0].argmax(0)[~unknown], parsing[0][~unknown])
    else:
        assert torch.allclose(guide[0, :, 0, 0], torch.tensor(-1.0))
        assert torch.allclose(guide[0, :, 1, 0], torch.tensor(1.0))


def test_bad_label_ids_are_an_error():
    with pytest.raises(ValueError, match="outside"):
        encode_parsing(torch.tensor([[[0, 21]]]), 21, "onehot")


def test_soft_parsing_equals_onehot_for_hard_probabilities():
    net = build_model("completion", "tiny").eval()
    image, parsing, mask = _inputs(40, 24)
    parsing[parsing == UNKNOWN] = 0
    soft = torch.nn.functional.one_hot(parsing, 21).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        assert torch.allclose(net(image, parsing, mask), net(image, soft, mask), atol=1e-6)
    with pytest.raises(ValueError):
        build_model("completion", "tiny", parsing_input="repeat3")(image, soft, mask)


# ---------------------------------------------------------------- initialisation


def test_face_untrained_is_identity():
    net = build_model("face", "tiny").train()
    image, parsing, mask = _inputs(64, 64, b=2)
    residual = net(image, parsing, mask)
    assert torch.count_nonzero(residual) == 0
    assert torch.equal((image + residual).clamp(-1, 1), image)
    residual.sum().backward()  # the zero last conv still learns
    assert net.last.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("backbone", ["tiny", "mobilenet_v2"])
def test_parsing_mask_channel_starts_at_zero(backbone):
    net = build_model("parsing", "tiny", backbone=backbone).eval()
    image, _, mask = _inputs(64, 48)
    with torch.no_grad():
        a = net(image, mask)
        b = net(image, torch.zeros_like(mask))
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


def test_mobilenet_pretrained_weights_load(tmp_path):
    reference = torchvision.models.mobilenet_v2(weights=None)
    path = tmp_path / "mobilenet_v2.pth"
    torch.save(reference.state_dict(), path)
    net = build_model("parsing", "tiny", backbone="mobilenet_v2", pretrained_backbone=str(path))
    first = net.shared[0][0]
    assert first.in_channels == 4
    assert torch.equal(first.weight[:, :3], reference.features[0][0].weight)
    assert torch.count_nonzero(first.weight[:, 3]) == 0
    assert torch.equal(net.deep[-1].conv[-2].weight, reference.features[17].conv[-2].weight)
    # Rebuilding saved weights does not need the ImageNet file any more.
    path.unlink()
    rebuilt = build_model_from_config("parsing", config_to_dict(net.config))
    assert rebuilt.config.pretrained_backbone == str(path)
    with pytest.raises(FileNotFoundError):
        build_model_from_config("parsing", config_to_dict(net.config), load_pretrained=True)


def test_find_mobilenet_weights_returns_path_or_none():
    found = find_mobilenet_v2_imagenet()
    assert found is None or found.endswith("mobilenet_v2-b0353104.pth")


# ---------------------------------------------------------------- configs and factory


def test_dropout_config_adds_dropout():
    def count(net):
        return sum(isinstance(m, nn.Dropout2d) for m in net.modules())

    assert count(build_model("completion", "tiny")) == 0
    net = build_model("completion", "tiny", dropout=0.5)
    assert count(net) == len(net.config.dilations)
    net.eval()
    image, parsing, mask = _inputs(32, 32)
    with torch.no_grad():
        assert torch.equal(net(image, parsing, mask), net(image, parsing, mask))


@pytest.mark.parametrize("kind", ["parsing", "completion", "face"])
@pytest.mark.parametrize("name", ["paper", "lite", "tiny"])
def test_config_round_trip(kind, name):
    cfg = preset(kind, name)
    d = json.loads(json.dumps(config_to_dict(cfg)))
    assert config_from_dict(kind, d) == cfg


def test_unknown_config_key_is_named():
    d = config_to_dict(preset("completion", "tiny"))
    d["widht"] = 3
    with pytest.raises(ValueError, match="widht"):
        config_from_dict("completion", d)
    with pytest.raises(ValueError, match="colour"):
        build_model("face", "tiny", colour=1)
    with pytest.raises(ValueError, match="segmenter"):
        build_model("segmenter")
    with pytest.raises(ValueError, match="huge"):
        preset("parsing", "huge")


def test_bad_config_values():
    with pytest.raises(ValueError, match="backbone"):
        ParsingConfig(backbone="vgg")
    with pytest.raises(ValueError, match="num_classes"):
        ParsingConfig(num_classes=18)  # lip+neck has 21
    assert ParsingConfig(label_set="atr", num_classes=18).num_classes == 18
    with pytest.raises(ValueError, match="parsing_input"):
        CompletionConfig(parsing_input="rgb")
    with pytest.raises(ValueError, match="dropout"):
        FaceConfig(dropout=1.5)


def test_factory_stores_resolved_config():
    net = build_model("completion", "tiny", width=4)
    assert isinstance(net, CompletionNet)
    assert net.config == CompletionConfig(width=4, res_blocks_before=1, dilations=(2, 4), res_blocks_after=1,
                                          upsample="resize", global_blocks=1)
    same = build_model_from_config("completion", config_to_dict(net.config))
    assert same.config == net.config
    assert same.state_dict().keys() == net.state_dict().keys()
    assert isinstance(build_model("face", "tiny"), FaceNet)
    assert isinstance(build_model("parsing", "tiny"), ParsingNet)
    assert build_model("face", "paper").config.res_blocks_before + build_model(
        "face", "paper").config.res_blocks_after == 4


def _count(net: nn.Module) -> float:
    return sum(p.numel() for p in net.parameters()) / 1e6


def test_lite_parameter_counts_and_forward():
    counts = {kind: _count(build_model(kind, "lite")) for kind in ("completion", "face")}
    assert 2.5 < counts["completion"] < 4  # width 32: about 3.2 M (GUIDE.md)
    assert 1 < counts["face"] < counts["completion"]
    net = build_model("parsing", "lite").eval()
    assert 3 < _count(net) < 8  # MobileNetV2 features (2.2 M) + heads
    image, _, mask = _inputs(64, 48)
    with torch.no_grad():
        out = net(image, mask)
    assert out.p.shape == (1, 21, 64, 48) and out.heatmaps.shape == (1, 18, 8, 6)


def test_paper_parameter_counts():
    assert 11 < _count(build_model("completion", "paper")) < 15
    assert 6 < _count(build_model("face", "paper")) < 10
    net = build_model("parsing", "paper").eval()
    assert net.shared[0].in_channels == 4 and torch.count_nonzero(net.shared[0].weight[:, 3]) == 0
    assert 60 < _count(net) < 110  # ResNet-101 (42.5 M) + JPPNet-sized heads
    image, _, mask = _inputs(33, 17)
    with torch.no_grad():
        out = net(image, mask)
    assert out.p.shape == (1, 21, 33, 17) and out.heatmaps.shape == (1, 18, 5, 3)


# ---------------------------------------------------------------- helpers


@pytest.mark.parametrize("h,w", [(1, 1), (2, 7), (9, 10), (16, 16)])
def test_pad_to_multiple_round_trip(h, w):
    x = torch.arange(h * w, dtype=torch.float32).view(1, 1, h, w)
    padded, pads = pad_to_multiple(x, 8)
    assert padded.shape[-2] % 8 == 0 and padded.shape[-1] % 8 == 0
    assert torch.equal(crop_padding(padded, pads), x)


# ---------------------------------------------------------------- resize upsampling, Fourier blocks


def test_lite_g_has_no_transposed_convs_and_paper_g_keeps_them():
    lite = build_model("completion", "lite")
    paper = build_model("completion", "paper")
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in lite.modules())
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in paper.modules()) == 2
    # A weights file written before the option existed (no "upsample" key) still means deconv.
    old = config_to_dict(preset("completion", "lite"))
    del old["upsample"], old["global_blocks"]
    assert config_from_dict("completion", old).upsample == "deconv"


def test_global_block_starts_as_identity_and_sees_the_whole_image():
    from portrait_editor.models.blocks import GlobalBlock

    block = GlobalBlock(8).eval()
    x = torch.randn(1, 8, 32, 24)
    with torch.no_grad():
        assert torch.equal(block(x), x)
        block.expand.weight.normal_()
    x.requires_grad_(True)
    block(x)[0, :, 0, 0].sum().backward()
    assert x.grad[0, :, -1, -1].abs().sum() > 0  # the far corner reaches the first pixel


def test_fourier_blocks_run_under_bfloat16_autocast():
    net = build_model("completion", "tiny").eval()
    image, parsing, mask = _inputs(40, 36)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(image, parsing, mask)
    assert out.shape == (1, 3, 40, 36) and torch.isfinite(out.float()).all()


def test_a_trained_deconv_g_is_adapted_to_resize_and_fourier_blocks():
    from portrait_editor.models.completion import adapt_generator_state

    old = build_model("completion", "tiny", upsample="deconv", global_blocks=0)
    new = build_model("completion", "tiny", upsample="resize", global_blocks=2)
    state = adapt_generator_state(old.state_dict(), old.config, new.config)
    missing, unexpected = new.load_state_dict(state, strict=False)
    assert not unexpected and missing and all(".reduce." in k or ".fourier." in k or ".expand." in k
                                              for k in missing)
    ups = [m for m in new.body if isinstance(m, nn.Sequential) and isinstance(m[0], nn.Upsample)]
    deconvs = [m for m in old.body if isinstance(m, nn.ConvTranspose2d)]
    for up, deconv in zip(ups, deconvs, strict=True):  # in/out swapped, flipped, a quarter
        assert torch.allclose(up[1].weight, deconv.weight.transpose(0, 1).flip(2, 3) / 4)
    with pytest.raises(ValueError, match="width"):
        adapt_generator_state(old.state_dict(), old.config, preset("completion", "tiny", width=16))


@pytest.mark.parametrize("kind", ["parsing", "completion"])
def test_folding_batch_norms_keeps_the_outputs(kind):
    torch.manual_seed(0)
    net = build_model(kind, preset="tiny")
    for m in net.modules():  # statistics far from the identity, as after training
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.3, 3.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    x, mask = torch.randn(1, 3, 64, 48), torch.zeros(1, 1, 64, 48)
    mask[..., 16:40, 8:30] = 1
    parsing = torch.randint(0, 20, (1, 64, 48))

    def forward():
        with torch.no_grad():
            return net(x, mask).p if kind == "parsing" else net(x, parsing, mask)

    before = forward()
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    folded = fold_batch_norms(net)
    assert folded > 0 and sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == norms - folded
    torch.testing.assert_close(forward(), before, atol=1e-4, rtol=1e-4)


def test_batch_norms_in_training_mode_are_not_folded():
    net = build_model("completion", preset="tiny").train()
    assert fold_batch_norms(net) == 0
