"""ControlNet (Zhang et al. 2023, "Adding conditional control to text-to-image diffusion models") on our latent
diffusion model: the base U-Net is frozen; a trainable copy of its encoder half (input, down blocks, middle)
reads the noisy latents, the prompt and a control image (the edges or the silhouette of the scene, brought to
the latent size by a small convolutional encoder), and hands its features back to the frozen decoder through
convolutions initialised at zero (sec. 3.1, eq. 1-2: y_c = F(x; Θ) + Z(F(x + Z(c; Θ_z1); Θ_c); Θ_z2); here the
control encoder's last layer Θ_z1 starts at random, see :class:`ControlBranch`).
At the start every zero convolution outputs 0, so the controlled model is exactly the base model, and
training moves away from it only as far as the control helps.

Loss (eq. 4): ‖ε − ε_θ(z_t, t, c_text, c_control)‖², with half the prompts replaced by the empty one (sec. 3.3:
the network learns to read the control image when the prompt says nothing).

The checkpoint holds the control branch only and names its base model by file name and SHA-256, as latent
diffusion names its parts.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from latent_explorer.models.base import GenerativeModel, ModelConfig, adam, need, optimize
from latent_explorer.models.errors import CheckpointError, ConfigError
from latent_explorer.models.io.digest import file_digest
from latent_explorer.models.nn.blocks import ema_update, timestep_embedding
from latent_explorer.models.nn.text_unet import TextUNet
from latent_explorer.models.progress import Step
from latent_explorer.models.registry import Capabilities, KindSpec, Param, Source, TrainDefaults, register

CONTROLS = ("edges", "silhouette")


def control_of(images, control: str) -> np.ndarray:
    """(N, C, H, W) images -> (N, 1, H, W) control maps (pix2pix's edges or silhouette)."""
    from latent_explorer.models.data.sketches import source_of

    if control not in CONTROLS:
        raise ValueError(f"control must be one of {CONTROLS}, got {control!r}")
    return source_of(np.asarray(images, np.float32), control)


@dataclass
class ControlNetConfig(ModelConfig):
    base: str = ""  # the latent diffusion (ldm) checkpoint it steers (a path while training; its name after)
    base_sha256: str = ""
    control: str = "edges"  # what the control image is: "edges" or "silhouette" of the scene
    cond_drop: float = 0.5  # prompts replaced by the empty one while training (sec. 3.3)
    ema_decay: float = 0.999
    # copied from the base model when training starts (its U-Net's shape)
    latent_shape: tuple[int, ...] = (0, 0, 0)
    context_dim: int = 0
    width: int = 0
    heads: int = 1

    image_sizes = (8, 64)
    latent_dims = (1, 16 * 16 * 16)

    def __post_init__(self):
        shape = self.latent_shape if isinstance(self.latent_shape, tuple) else ()
        ok = len(shape) == 3 and all(isinstance(v, int) and v > 0 for v in shape)
        self.latent_dim = math.prod(shape) if ok else 1

    def validate(self) -> None:
        super().validate()
        need(isinstance(self.base, str) and self.base, "a ControlNet needs the latent diffusion model it steers "
             "(--base FILE)")
        need(self.control in CONTROLS, f"control must be one of {', '.join(CONTROLS)}, got {self.control!r}")
        need(isinstance(self.cond_drop, (int, float)) and 0 <= self.cond_drop < 1, "cond_drop must be in [0, 1)")
        need(isinstance(self.ema_decay, (int, float)) and 0 <= self.ema_decay < 1, "ema_decay must be in [0, 1)")
        need(isinstance(self.base_sha256, str) and len(self.base_sha256) == 64, "base_sha256 must be a digest")
        need(isinstance(self.latent_shape, tuple) and len(self.latent_shape) == 3 and all(
            isinstance(v, int) and 1 <= v <= 64 for v in self.latent_shape), "latent_shape must be 3 sizes")
        need(isinstance(self.width, int) and 8 <= self.width <= 512, f"width must be 8..512, got {self.width}")
        need(isinstance(self.heads, int) and 1 <= self.heads <= 16 and self.width % self.heads == 0,
             "heads must divide the width")
        need(isinstance(self.context_dim, int) and 1 <= self.context_dim <= 4096, "context_dim must be 1..4096")
        size, s = self.image_shape[1], self.latent_shape[1]
        need(size % s == 0 and (size // s) & (size // s - 1) == 0, f"the images ({size}) must be a power of two "
             f"times the latents ({s})")


def _zero_conv(c: int) -> nn.Conv2d:
    conv = nn.Conv2d(c, c, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class ControlBranch(nn.Module):
    """The trainable copy: the base U-Net's time embedding, input convolution, down blocks and middle, plus
    the control encoder (image size -> latent size) and a zero convolution on every feature handed back
    (one per skip, one for the middle)."""

    def __init__(self, latent_shape, width: int, context_dim: int, heads: int, image_size: int):
        super().__init__()
        base = TextUNet(latent_shape, width, context_dim, heads)
        self.width = width
        self.time, self.inp, self.down = base.time, base.inp, base.down
        self.mid1, self.mid_attn, self.mid2 = base.mid1, base.mid_attn, base.mid2
        chans = [width * 2 ** i for i in range(len(self.down) + 1)]
        layers, c = [nn.Conv2d(1, 16, 3, 1, 1), nn.SiLU()], 16  # (B, 1, H, W) -> (B, 16, H, W)
        for _ in range(int(math.log2(image_size // latent_shape[1]))):  # halve to the latent size
            layers += [nn.Conv2d(c, 2 * c, 3, 2, 1), nn.SiLU()]
            c *= 2
        # -> (B, w, s, s). The paper starts this last layer at zero too; then the copy's features ignore the
        # control until the output convolutions have moved off zero, and on our data the output convolutions
        # learnt no use of the control in 1,100 steps. The outputs alone being zero keeps the start exact.
        self.hint = nn.Sequential(*layers, nn.Conv2d(c, chans[0], 3, 1, 1))
        self.zero_skips = nn.ModuleList(_zero_conv(chans[i]) for i in range(len(self.down)))
        self.zero_mid = _zero_conv(chans[-1])

    def copy_from(self, unet: TextUNet) -> None:
        """Start as the base's encoder (sec. 3.1: "a trainable copy")."""
        for name in ("time", "inp", "down", "mid1", "mid_attn", "mid2"):
            getattr(self, name).load_state_dict(getattr(unet, name).state_dict())

    def forward(self, z, t, context, pad, hint):
        e = self.time(timestep_embedding(t, self.width))
        h = self.inp(z) + self.hint(hint)
        res = []
        for (block, attn, down), zero in zip(self.down, self.zero_skips):
            h = attn(block(h, e), context, pad)
            res.append(zero(h))
            h = down(h)
        h = self.mid2(self.mid_attn(self.mid1(h, e), context, pad), e)
        return res, self.zero_mid(h)


def _load_base(cfg: ControlNetConfig, path: Path):
    """The base latent diffusion model, checked against the digest the config holds (if any)."""
    from latent_explorer.models.io.checkpoint import load

    if not path.is_file():
        raise CheckpointError(f"{path}: no such file (the latent diffusion model this ControlNet steers)")
    digest = file_digest(path)
    if cfg.base_sha256 and digest != cfg.base_sha256:
        raise CheckpointError(f"{path.name} is not the model this ControlNet was trained on (its SHA-256 is "
                              f"{digest[:12]}…, the ControlNet's {cfg.base_sha256[:12]}…)")
    base = load(path)
    if base.kind != "ldm":
        raise CheckpointError(f"{path.name} is a {base.kind} model: a ControlNet steers a latent diffusion model")
    if tuple(base.image_shape) != tuple(cfg.image_shape):
        raise ConfigError(f"{path.name} draws {base.image_shape} images, the data is {tuple(cfg.image_shape)}")
    return base.requires_grad_(False).eval(), digest


def resolve_base(cfg: ControlNetConfig) -> None:
    """A new ControlNet's config: its base model's shapes and digest, read from the file the user named."""
    if not cfg.base:
        raise ConfigError("a ControlNet needs the latent diffusion model it steers (--base FILE)")
    base, digest = _load_base(cfg, Path(cfg.base))
    cfg.base_sha256 = digest
    b = base.config
    cfg.latent_shape, cfg.context_dim, cfg.width, cfg.heads = tuple(b.latent_shape), b.context_dim, b.width, b.heads
    cfg.__post_init__()


class ControlNet(GenerativeModel):
    loss_names = ("noise_mse",)

    def __init__(self, config: ControlNetConfig):
        super().__init__(config)
        self._base: tuple | None = None  # (the frozen latent diffusion model,): not in this state_dict
        args = (config.latent_shape, config.width, config.context_dim, config.heads, config.image_shape[1])
        self.branch = ControlBranch(*args)
        self.ema = copy.deepcopy(self.branch).requires_grad_(False)
        self.register_buffer("copied", torch.zeros((), dtype=torch.bool))  # the copy of the base was made

    # -- the base model --------------------------------------------------------------------------
    def attach_base(self, path: Path) -> None:
        self._base = (_load_base(self.config, Path(path))[0],)

    def on_loaded(self, path: Path) -> None:
        from latent_explorer.models.io.checkpoint import BUNDLED_DIR

        name = Path(self.config.base).name
        cand = [d / name for d in (path.parent, BUNDLED_DIR) if (d / name).is_file()]
        if not cand:
            raise CheckpointError(f"{path.name} needs {name!r} beside it (the latent diffusion model it steers)")
        self.attach_base(cand[0])

    @property
    def base(self):
        if self._base is None:  # a model being trained: the file the user named
            self.attach_base(Path(self.config.base))
        return self._base[0]

    def condition_of(self, data):
        return self.base.condition_of(data)

    def control_of(self, images) -> np.ndarray:
        return control_of(images, self.config.control)

    @property
    def source_shape(self) -> tuple[int, int, int]:
        return (1, *self.image_shape[1:])

    def direction_title(self, direction: str = "a2b") -> str:
        return f"{self.config.control} + prompt → image"

    # -- training --------------------------------------------------------------------------------
    def make_optimizers(self, lr=None):
        if not bool(self.copied):
            self.branch.copy_from(self.base.ema)
            self.ema.load_state_dict(self.branch.state_dict())
            self.copied.fill_(True)
        return {"opt": adam(self.branch.parameters(), lr or self.default_lr)}

    def _loss(self, branch, x, ids, generator=None):
        """Latent diffusion's noise-prediction loss, with the frozen base steered by ``branch`` (eq. 4)."""
        base = self.base.to(x.device)
        hint = torch.from_numpy(self.control_of(x.detach().cpu().numpy())).to(x.device)

        def steered(z_t, t, context, pad):
            return base.ema(z_t, t, context, pad, None, branch(z_t, t, context, pad, hint))

        return base._loss(steered, x, ids, generator)

    def train_step(self, x, y, opts, step):
        loss = self._loss(self.branch, x, self.base.drop_prompts(y, self.config.cond_drop))
        optimize(loss, opts["opt"], self.branch.parameters(), clip=1.0, grad_sync=self.grad_sync,
                 name="noise-prediction loss")
        return {"noise_mse": loss.item()}

    def after_step(self):
        ema_update(self.ema, self.branch, self.config.ema_decay)

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        return {"noise_mse": self._loss(self.ema, x, y, generator).item()}

    def preview(self, x, y, generator):
        return None

    # -- sampling --------------------------------------------------------------------------------
    def controller(self, hint: torch.Tensor):
        """The residuals for the base's noise predictions, from a control image (B, 1, H, W) in [0, 1]; a
        batch twice its size (classifier-free guidance) reads it twice."""

        def control(z, t, context, pad):
            h = hint.to(z.device)
            return self.ema(z, t, context, pad, h.repeat(len(z) // len(h), 1, 1, 1))

        return control

    @torch.no_grad()
    def txt2img(self, prompts: list[str], control: torch.Tensor, **kw):
        """Images for ``prompts`` drawn under ``control`` (B or 1, 1, H, W); ``kw`` as latent diffusion's."""
        hint = control if len(control) == len(prompts) else control.expand(len(prompts), *control.shape[1:])
        return self.base.txt2img(prompts, controller=self.controller(hint), **kw)

    def reverse(self, z_T, prompts, control: torch.Tensor, **kw):
        hint = control if len(control) == len(prompts) else control.expand(len(prompts), *control.shape[1:])
        return self.base.reverse(z_T, prompts, controller=self.controller(hint), **kw)

    def sample(self, n, y=None, generator=None, **kw):
        raise NotImplementedError("a ControlNet draws from a control image: use txt2img with --control")

    def decode(self, z, y=None):
        raise NotImplementedError("a ControlNet decodes through its base model's prompt: use txt2img")


def controlled_steps(model: ControlNet, prompt: str, control: np.ndarray, steps: int = 25, guidance: float = 5.0,
                     seed: int = 0, negative: str = ""):
    """One image drawn under ``control`` (1, H, W) as a job that yields a Step per denoising step and returns
    the decoded x̂_0 of every step and the final image, (steps + 1, C, H, W) in [0, 1] numpy."""
    base = model.base
    sched = base.make_scheduler("ddim", steps)
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn((1, *base.config.latent_shape), generator=g)
    hint = torch.from_numpy(np.ascontiguousarray(control, np.float32)[None])
    x0s = []
    with torch.no_grad():
        for i, (_, _, _, x0, z_prev, _) in enumerate(model.reverse(z, [prompt], hint, negative=negative,
                                                                    scheduler=sched, guidance=guidance,
                                                                    generator=g)):
            x0s.append(x0)
            z = z_prev
            yield Step(i + 1, len(sched.timesteps), f"step {i + 1}")
        return base.parts[0].decode_latents(torch.cat(x0s + [z])).clamp(0, 1).numpy()


def dilate(edges: np.ndarray) -> np.ndarray:
    """(N, 1, H, W) 0/1 -> the same, grown by one pixel in every direction (3×3 maximum)."""
    t = torch.from_numpy(np.ascontiguousarray(edges, np.float32))
    return F.max_pool2d(t, 3, 1, 1).numpy()


def edge_iou(images: np.ndarray, control: np.ndarray) -> np.ndarray:
    """Per image: IoU of the dilated edges of ``images`` and the dilated control edges (N,)."""
    from latent_explorer.models.data.sketches import edges

    a, b = dilate(edges(images)) > 0, dilate(control) > 0
    inter, union = (a & b).sum((1, 2, 3)), (a | b).sum((1, 2, 3))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def control_figures(model: ControlNet, data, classifier, n: int = 256, guidance: float = 5.0, steps: int = 25,
                    seed: int = 0, batch: int = 32):
    """Held-out figures, as a job: for up to ``n`` held-out images, their caption as the prompt and their
    control map as the control; how well the edges of the drawn images overlap the control's (IoU of dilated
    edge maps), and how often the classifier reads each factor the prompt asks for. The same with the empty
    prompt (the control alone), and both without the control (the base model, same prompts and seeds)."""
    from latent_explorer.models.data import scenes

    heads = ["shape" if h == "label" else h for h in classifier.head_names]
    k = min(n, len(data))
    pick = np.sort(np.random.default_rng(seed).choice(len(data), k, replace=False))
    sub = data.subset(pick)
    if sub.captions is None:
        raise ConfigError(f"{data.spec}: a ControlNet is measured on captioned data (scenes)")
    iou = edge_iou if model.config.control == "edges" else _mask_iou
    ious, base_ious, empty_ious, empty_base, preds = [], [], [], [], []
    for i in range(0, k, batch):
        yield Step(i, k, f"images {i + 1}–{min(k, i + batch)} under their held-out controls")
        ctrl = model.control_of(sub.images[i:i + batch])
        prompts = list(sub.captions[i:i + batch])
        x = model.txt2img(prompts, torch.from_numpy(ctrl), steps=steps, guidance=guidance,
                          seed=seed + i).clamp(0, 1).numpy()
        plain = model.base.txt2img(prompts, steps=steps, guidance=guidance, seed=seed + i).clamp(0, 1).numpy()
        ious.append(iou(x, ctrl))
        base_ious.append(iou(plain, ctrl))  # the same prompts and seeds without the control: the reference
        preds.append(classifier.predict(x)[1])
        empty = [""] * len(prompts)  # the control alone: the prompt says nothing of shape, size or place
        alone = model.txt2img(empty, torch.from_numpy(ctrl), steps=steps, guidance=guidance, seed=seed + i)
        empty_ious.append(iou(alone.clamp(0, 1).numpy(), ctrl))
        empty_base.append(iou(model.base.txt2img(empty, steps=steps, guidance=guidance,
                                                 seed=seed + i).clamp(0, 1).numpy(), ctrl))
    pred = np.concatenate(preds)
    out = {"n": k, "guidance": guidance, "steps": steps,
           f"{model.config.control}_iou": float(np.concatenate(ious).mean()),
           f"{model.config.control}_iou_without_control": float(np.concatenate(base_ious).mean()),
           f"{model.config.control}_iou_empty_prompt": float(np.concatenate(empty_ious).mean()),
           f"{model.config.control}_iou_empty_prompt_without_control": float(np.concatenate(empty_base).mean())}
    if sub.factors is not None and list(sub.factor_names)[:5] == scenes.FACTORS:
        for j, f in enumerate(scenes.FACTORS):
            if f in heads:
                out[f"accuracy_{f}"] = float((pred[:, heads.index(f)] == sub.factors[:, j]).mean())
    return out


def _mask_iou(images: np.ndarray, control: np.ndarray) -> np.ndarray:
    from latent_explorer.models.data.sketches import silhouette

    a, b = silhouette(images) > 0, control > 0
    inter, union = (a & b).sum((1, 2, 3)), (a | b).sum((1, 2, 3))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


register(KindSpec(
    "controlnet", "ControlNet (text + control image)", ControlNet, ControlNetConfig,
    TrainDefaults(10, 64, 1e-4, split="captions"),
    Capabilities(prior=False, decodes_z=False, slow_decode=True, controlled=True), conditioning="text",
    latent_dim=None, source=Source(named_by="control"),  # the Sketch view: ink on paper in, an image out
    params=(Param("base", "Base model", str, "the latent diffusion (ldm) checkpoint it steers, frozen",
                  file_filter="Latent diffusion (*.safetensors)"),
            Param("control", "Control", str, "the control image: the scene's edges or its silhouette",
                  choices=CONTROLS),
            Param("cond_drop", "Prompt dropout", float, "share of prompts replaced by the empty one while "
                  "training (Zhang et al.: 0.5)", minimum=0, maximum=0.99)),
    map_samples=64, prepare=resolve_base,
    description="steers a frozen latent diffusion model with an edge map or silhouette (a trainable copy of "
                "its encoder joined by zero convolutions)"))
