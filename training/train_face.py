"""Train the face network F (paper III-C, III-D): G frozen, a face hole, a 64 x 64 face crop.

    python -m training.train_face --config cpu-lite --run-dir runs/f-face --set g_from=resources/weights
    torchrun --nproc_per_node 4 -m training.train_face --config paper --run-dir runs/f-paper --set g_from=...

Each photo gets a hole inside the face (the paper's 32 x 32 at 256 px, and a larger one: users
paint over whole faces). As in the editor, the frozen G fills it at the scale G was trained at;
its result is scaled back to the photo's size, and the square window around the face (the same
:func:`portrait_editor.pipeline.complete.face_window` the editor uses) is cropped to 64 x 64. F
adds a residual there; with ``parsing_from`` G and F see P's parsing, as in the editor. Losses:
the perceptual loss (the paper's lambda = 10) plus a face discriminator on the 64 x 64 crop
with its parsing; the CPU config adds an L1 term, as for G.

``--config cpu-lite-closeup`` trains F for faces at their size (issue 13): the CelebAMask-HQ
close-ups in crops at random zoom (``training.wild_data``), faces of 100-250 px in a 256 px photo,
a 128 x 128 window; G and P trained on crops ("crop" framing) work at the photo's size.

Stop it at any time (Ctrl-C / SIGTERM): it writes ``last.pt`` and resumes from there when run
again with the same ``--run-dir``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from portrait_editor.models import build_model, encode_parsing
from portrait_editor.pipeline.complete import face_window
from portrait_editor.pipeline.weights import save_weights

from .configs import DATA_ROOT, config_from_run, preset_config, run_metadata
from .discriminators import FaceDiscriminator, crop_boxes, local_patch_boxes
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
from .masks import FaceHole, MaskMix, RandomRectangles


@dataclass
class FaceTrainConfig:
    preset: str = "lite"
    model: dict[str, Any] = field(default_factory=dict)  # overrides of F's preset
    g_from: str = "resources/weights"  # the weights folder holding the (frozen) G
    # A weights folder holding P: G and F then get P's parsing of the photo with its hole (what
    # the editor gives them) instead of the ground truth, whose face is cleaner than P's guess.
    parsing_from: str | None = None
    init_from: str | None = None  # a weights folder whose F to start from (e.g. the shipped one)
    data: tuple[str, ...] = ("viton",)
    data_root: str = DATA_ROOT
    # "fit": whole VITON photos; "crop": crops at random zoom of ``data`` (training.wild_data)
    framing: str = "fit"
    data_weights: tuple[float, ...] = ()
    zoom_range: tuple[float, float] = (0.25, 1.0)
    sources_root: str = ""
    size: tuple[int, int] = (256, 192)  # H, W of the photos; G sees them at its own training size
    crop: int = 64  # F's window side (the paper's 64 x 64)
    hole_edges: tuple[float, ...] = (32.0, 56.0)  # face hole sides at 256 px (the paper: 32)
    min_face_hole: int = 16  # photos whose hole covers fewer face pixels are skipped
    batch: int = 1
    steps: int = 100_000
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    lambda_p: float = 10.0
    lambda_adv: float = 1.0
    lambda_l1: float = 0.0
    adv_start: int = 0
    perceptual: str = "vgg16"
    vgg_path: str | None = None
    d_width: int = 64
    # The face discriminator's view: 0 = F's whole window; N = an N x N square of it around the hole.
    # On close-ups the hole is ~6% of the 128 px window, and a D averaging its logits over the
    # whole window never left its initialisation (docs/MODELS.md, session 18).
    d_window: int = 0
    val_fraction: float = 0.05
    seed: int = 0
    precision: str = "auto"
    channels_last: bool = False
    threads: int = 0
    num_workers: int = 0
    log_every: int = 20
    checkpoint_every: int = 200
    eval_every: int = 500
    eval_images: int = 48


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"preset": "paper", "size": (256, 256), "batch": 1},
    # This CPU: batches of 16 crops, the L1 term and weights scaled like G's cpu-lite.
    "cpu-lite": {"batch": 16, "lr": 5e-4, "lambda_p": 0.2, "lambda_l1": 1.0, "lambda_adv": 0.05, "d_width": 32},
    # Faces at their size: close-ups, a 128 px window (F's crop_size says so to the editor).
    "cpu-lite-closeup": {"batch": 8, "lr": 2e-4, "lambda_p": 0.2, "lambda_l1": 1.0, "lambda_adv": 0.05,
                         "d_width": 32, "size": (256, 256), "crop": 128, "model": {"crop_size": 128},
                         "framing": "crop", "data": ("celebamask",), "data_weights": (1.0,),
                         "zoom_range": (0.6, 1.0), "eval_every": 250, "eval_images": 32, "checkpoint_every": 100,
                         "d_window": 64},
    "tiny": {"preset": "tiny", "size": (64, 48), "crop": 32, "batch": 2, "steps": 4, "lambda_p": 0.0,
             "lambda_l1": 1.0, "min_face_hole": 1, "d_width": 8, "log_every": 1, "checkpoint_every": 2,
             "eval_every": 2, "eval_images": 4, "precision": "fp32"},
}


def make_config(name: str, overrides: list[str]) -> FaceTrainConfig:
    return preset_config(FaceTrainConfig(), PRESETS, name, overrides)


def build_data(cfg: FaceTrainConfig, split: str):
    from .wild_data import training_samples

    data = training_samples(cfg, split, "face")
    fallback = RandomRectangles((32, 32))
    data.masks = MaskMix(tuple(FaceHole(edge=e, fallback=fallback) for e in cfg.hole_edges))
    return data


def load_frozen(folder: str | Path, role: str, device: torch.device) -> tuple[torch.nn.Module, tuple[int, int] | None]:
    """The ``role`` network (``completion`` for G, ``parsing`` for P) from a weights folder,
    frozen, with the (H, W) it was trained at; None for a network trained on crops at random
    zoom, which works on the photo at its own size."""
    from portrait_editor.pipeline.weights import load_network, trained_framing, trained_size

    net, info = load_network(Path(folder), role)
    for q in net.parameters():
        q.requires_grad_(False)
    return net.eval().to(device), None if trained_framing(info) == "crop" else trained_size(info)


@torch.no_grad()
def parse_with_hole(p: torch.nn.Module, p_size: tuple[int, int] | None, image: torch.Tensor, mask: torch.Tensor,
                    fill: torch.Tensor) -> torch.Tensor:
    """P's labels (B x H x W) for photos with their hole, as the editor's stage I makes them: the
    photo fitted to P's size (``None``: as it is), the hole filled (a view pixel is hole when any
    pixel under it is), the logits enlarged bilinearly to the photo's size before the argmax."""
    p_size = p_size or tuple(image.shape[-2:])
    small = F.interpolate(image, size=p_size, mode="area")
    m = (F.interpolate(mask, size=p_size, mode="area") > 0).float()
    logits = p(small * (1 - m) + fill * m, m).p.float()
    return F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False).argmax(1)


@torch.no_grad()
def face_crops(g: torch.nn.Module, g_size: tuple[int, int] | None, batch: dict[str, torch.Tensor], fill: torch.Tensor,
               face_id: int, crop: int, min_face_hole: int, device: torch.device, precision: str,
               p: tuple[torch.nn.Module, tuple[int, int] | None] | None = None) -> dict[str, torch.Tensor] | None:
    """G's fill, at G's scale (``g_size``; None: the photo's) and scaled back, then each photo's
    face window at ``crop`` px:
    ``input`` (G's result), ``target``, ``mask``, ``parsing``. Photos whose hole covers fewer
    than ``min_face_hole`` face pixels are dropped; None when none is left. With ``p`` (P and
    its training size) G and F get P's parsing of the photo with its hole, and the window follows
    P's face where P finds one."""
    gt, mask, parsing = (batch[k].to(device) for k in ("image", "mask", "parsing"))
    face = parsing == face_id
    keep = ((face & (mask[:, 0] > 0.5)).flatten(1).sum(1) >= min_face_hole).nonzero().flatten()
    if len(keep) == 0:
        return None
    gt, mask, parsing, face = gt[keep], mask[keep], parsing[keep], face[keep]
    if p is not None:
        with autocast(device, precision):
            parsing = parse_with_hole(p[0], p[1], gt, mask, fill)
        guessed = parsing == face_id
        found = guessed.flatten(1).sum(1) >= min_face_hole
        face = torch.where(found[:, None, None], guessed, face)
    g_size = g_size or tuple(gt.shape[-2:])
    small = F.interpolate(gt, size=g_size, mode="area")
    m_small = (F.interpolate(mask, size=g_size, mode="area") > 0).float()
    p_small = F.interpolate(parsing[:, None].float(), size=g_size, mode="nearest")[:, 0].long()
    with autocast(device, precision):
        out = g(small * (1 - m_small) + fill * m_small, p_small, m_small).float()
    comp_small = small * (1 - m_small) + out * m_small
    up = F.interpolate(comp_small, size=gt.shape[-2:], mode="bicubic", align_corners=False).clamp(-1, 1)
    filled = gt * (1 - mask) + up * mask
    rows: dict[str, list[torch.Tensor]] = {"input": [], "target": [], "mask": [], "parsing": []}
    for i in range(len(keep)):
        y0, x0, side = face_window(face[i].cpu().numpy())
        win = (slice(y0, y0 + side), slice(x0, x0 + side))

        def resize(t: torch.Tensor, mode: str, win: tuple[slice, slice] = win) -> torch.Tensor:
            t = t[None, :, win[0], win[1]].float()
            if mode == "nearest":
                return F.interpolate(t, size=(crop, crop), mode="nearest")[0]
            return F.interpolate(t, size=(crop, crop), mode="bilinear", align_corners=False, antialias=True)[0]

        rows["input"].append(resize(filled[i], "bilinear"))
        rows["target"].append(resize(gt[i], "bilinear"))
        rows["mask"].append((resize(mask[i], "bilinear") > 0).float())
        rows["parsing"].append(resize(parsing[i][None], "nearest")[0].long())
    return {k: torch.stack(v) for k, v in rows.items()}


def train(cfg: FaceTrainConfig, run_dir: Path, device_name: str = "auto") -> Path:
    from .train_completion import _load_vgg

    ctx, device = start_run(cfg, run_dir, device_name)
    g, g_size = load_frozen(cfg.g_from, "completion", device)
    p = load_frozen(cfg.parsing_from, "parsing", device) if cfg.parsing_from else None
    net = build_model("face", preset=cfg.preset, **cfg.model)
    if cfg.init_from:  # an F with transposed convolutions is adapted to resize upsampling
        from portrait_editor.pipeline.weights import load_network

        from .train_completion import load_adapted

        load_adapted(net, load_network(Path(cfg.init_from), "face")[0])
    net = net.to(device)
    fcfg = net.config
    d_face = FaceDiscriminator.from_config(fcfg, width=cfg.d_width).to(device)
    features = _load_vgg(cfg) if cfg.lambda_p else None  # type: ignore[arg-type]
    criterion = CompletionLoss(features, lambda_p=cfg.lambda_p, lambda_g=cfg.lambda_adv, lambda_l=0.0,
                               lambda_l1=cfg.lambda_l1, layers=cfg.perceptual).to(device)
    opt_f = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(d_face.parameters(), lr=cfg.lr, betas=cfg.betas)
    ckpt = Checkpoint(run_dir, ctx, face=net, d_face=d_face, opt_f=opt_f, opt_d=opt_d)
    start, extra = ckpt.restore(device)
    best = extra.get("best_val_l1", float("inf"))
    net = wrap_ddp(net, ctx, device)
    d_face = wrap_ddp(d_face, ctx, device)

    from portrait_editor.labels import get_label_set

    face_id = get_label_set("lip+neck").id("face")
    train_set = build_data(cfg, "train")
    fill = torch.tensor(train_set.hole_fill, device=device).view(1, 3, 1, 1) * 2 - 1
    val_crops = None
    if cfg.eval_every:
        val_set = build_data(cfg, "val")
        items = [val_set[i] for i in range(min(cfg.eval_images, len(val_set)))]
        batch = {k: torch.stack([it[k] for it in items]) for k in ("image", "mask", "parsing")}
        val_crops = face_crops(g, g_size, batch, fill, face_id, cfg.crop, cfg.min_face_hole, device, cfg.precision, p)
    batches = infinite_batches(train_set, cfg.batch, cfg.seed, ctx, start, cfg.num_workers)
    log = Log(run_dir, cfg.steps, ctx, start)
    stop = StopFlag()

    step = start
    while step < cfg.steps and not stop.stop:
        crops = face_crops(g, g_size, next(batches), fill, face_id, cfg.crop, cfg.min_face_hole, device,
                           cfg.precision, p)
        if crops is None:
            continue
        x, target, mask, parsing = crops["input"], crops["target"], crops["mask"], crops["parsing"]
        cond = encode_parsing(parsing, fcfg.num_classes, fcfg.parsing_input).to(x.dtype)
        adversarial = step >= cfg.adv_start and cfg.lambda_adv > 0
        with autocast(device, cfg.precision):
            pred = (x + net(x, parsing, mask).float()).clamp(-1, 1)
        comp = target * (1 - mask) + pred * mask
        terms: dict[str, float] = {}
        view = discriminator_view(mask, cfg.d_window) if adversarial else None
        if adversarial:
            with autocast(device, cfg.precision):
                loss_d = d_loss(d_face(*view(target, cond)), d_face(*view(comp.detach(), cond)))
            opt_d.zero_grad(set_to_none=True)
            loss_d.float().backward()
            opt_d.step()
            terms["d"] = loss_d.item()
        with autocast(device, cfg.precision):
            logits = d_face(*view(comp, cond)) if adversarial else None
            total, parts = criterion(pred, target, mask, global_logits=logits)
        opt_f.zero_grad(set_to_none=True)
        total.float().backward()
        opt_f.step()
        step += 1
        log.add(step, {**terms, **{k: v.item() for k, v in parts.items()}}, cfg.log_every)
        if val_crops is not None and cfg.eval_every and step % cfg.eval_every == 0:
            val = validate(unwrap(net), val_crops, device, cfg)
            log.write(step, {f"val_{k}": v for k, v in val.items()})
            if val["l1_hole"] < best and ctx.main:
                best = val["l1_hole"]
                export(unwrap(net), run_dir / "best", cfg, step, val)
        if step % cfg.checkpoint_every == 0:
            ckpt.save(step, {"best_val_l1": best})
    ckpt.save(step, {"best_val_l1": best})
    if ctx.main:
        export(unwrap(net), run_dir / "last", cfg, step, None)
    return run_dir


def discriminator_view(mask: torch.Tensor, window: int):
    """What the face discriminator sees of a batch of F's windows with holes ``mask``: a function
    of (image, guidance) giving the whole windows (``window`` 0, or as large as them) or a
    ``window`` square around each hole (:func:`local_patch_boxes`)."""
    if window <= 0 or window >= min(mask.shape[-2:]):
        return lambda image, guide: (image, guide)
    boxes = local_patch_boxes(mask, window)
    return lambda image, guide: (crop_boxes(image, boxes), crop_boxes(guide, boxes))


@torch.no_grad()
def validate(net, crops: dict[str, torch.Tensor], device: torch.device, cfg: FaceTrainConfig) -> dict[str, float]:
    """L1 inside the face hole (0-255) of F's result and, for reference, of G's alone."""
    was_training = net.training
    net.eval()
    x, target, mask, parsing = crops["input"], crops["target"], crops["mask"], crops["parsing"]
    with autocast(device, cfg.precision):
        pred = (x + net(x, parsing, mask).float()).clamp(-1, 1)
    net.train(was_training)
    area = (mask.sum() * 3).clamp(min=1)
    return {"l1_hole": float(((pred - target).abs() * mask).sum() * 127.5 / area),
            "l1_hole_g_only": float(((x - target).abs() * mask).sum() * 127.5 / area)}


def export(net, folder: Path, cfg: FaceTrainConfig, step: int, val: dict[str, float] | None) -> None:
    meta = run_metadata(cfg, "train_face", step, {f"val_{k}_face_crops": v for k, v in val.items()} if val else {})
    save_weights(net, "face", folder, metadata=meta)


def export_checkpoint(run_dir: Path, dest: Path) -> int:
    """F of a run's ``last.pt`` as weights in ``dest`` (``train_completion.export_checkpoint``
    for F). Returns the step."""
    cfg = config_from_run(run_dir, FaceTrainConfig)
    net = build_model("face", preset=cfg.preset, **cfg.model)
    state = torch.load(Path(run_dir) / "last.pt", map_location="cpu", weights_only=True)
    net.load_state_dict(state["face"])
    export(net, dest, cfg, int(state["step"]), None)
    return int(state["step"])


def main(argv: list[str] | None = None) -> None:
    script_main(__doc__, PRESETS, make_config, train, argv)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
