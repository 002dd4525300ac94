"""CycleGAN (Zhu et al. 2017, "Unpaired image-to-image translation using cycle-consistent adversarial
networks"): two generators G: A → B and F: B → A, and two discriminators D_B, D_A, trained on two sets of
images that are not paired.

Losses, with least-squares GAN terms (sec. 4, "we replace the negative log likelihood by a least-squares
loss"):
- adversarial (eq. 1): D_B minimises ½[(D_B(b) − 1)² + D_B(G(a))²]; G minimises (D_B(G(a)) − 1)²; the same
  for F and D_A;
- cycle consistency (eq. 2): λ (‖F(G(a)) − a‖₁ + ‖G(F(b)) − b‖₁), λ = 10;
- identity (sec. 5.2): ½λ (‖G(b) − b‖₁ + ‖F(a) − a‖₁), which keeps colours that need not change.

The two domains are a split of one dataset by a factor or a label (``domains``: ``"background=black,navy,
brown|white,gray,teal"`` on ``scenes``, ``"label=A|B"`` on a folder of A/ and B/ subfolders): each image
belongs to A, to B, or to neither (then it is not used). Which image of B would be "the" translation of an
image of A is never said: the cycle term is all that ties the two directions together, and what it cannot
tie (which light background a dark one becomes) is the model's own choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from latent_explorer.models.base import GenerativeModel, ModelConfig, adam, need, optimize
from latent_explorer.models.errors import ConfigError
from latent_explorer.models.nn.translation import PatchGAN, UNet
from latent_explorer.models.registry import Capabilities, KindSpec, Param, Source, TrainDefaults, register

DIRECTIONS = ("a2b", "b2a")
GENERATORS = ("unet", "resnet")
DEFAULT_DOMAINS = "background=black,navy,brown|white,gray,teal"


def parse_domains(text: str) -> tuple[str, list[str], list[str]]:
    """``"FACTOR=v1,v2|v3,v4"`` -> (factor, values of A, values of B). ConfigError with the expected form."""
    factor, eq, rest = str(text).partition("=")
    a, bar, b = rest.partition("|")
    va = [v.strip() for v in a.split(",") if v.strip()]
    vb = [v.strip() for v in b.split(",") if v.strip()]
    if not (eq and bar and factor.strip() and va and vb):
        raise ConfigError(f"domains must look like FACTOR=v1,v2|v3,v4 (e.g. {DEFAULT_DOMAINS} or label=A|B), "
                          f"got {text!r}")
    if set(va) & set(vb):
        raise ConfigError(f"domains: {', '.join(sorted(set(va) & set(vb)))} is in both A and B")
    return factor.strip(), va, vb


def domain_of(data, domains: str) -> np.ndarray:
    """(N,) int64: 0 for the images of domain A, 1 for B, -1 for neither. ConfigError naming the factor's
    values when the data has no such factor or value."""
    factor, va, vb = parse_domains(domains)
    if factor == "label":
        names, values = list(data.class_names), data.labels
        if values is None or not names:
            raise ConfigError(f"{data.spec}: the images have no labels to split by (a folder with A/ and B/ "
                              "subfolders, or a factor of generated data such as background=…)")
    else:
        if factor not in (data.factor_names or []):
            have = ", ".join(["label", *data.factor_names]) if data.factor_names else "label"
            raise ConfigError(f"{data.spec} has no factor {factor!r} to split into domains (it has: {have})")
        names = list(data.factor_classes.get(factor, []))
        values = data.factors[:, data.factor_names.index(factor)]
    unknown = [v for v in va + vb if v not in names]
    if unknown:
        raise ConfigError(f"domains: {', '.join(unknown)} is not a value of {factor} (its values: {', '.join(names)})")
    out = np.full(len(values), -1, np.int64)
    out[np.isin(values, [names.index(v) for v in va])] = 0
    out[np.isin(values, [names.index(v) for v in vb])] = 1
    for d, side in ((0, "A"), (1, "B")):
        if not (out == d).any():
            raise ConfigError(f"domains: no image of {data.spec} is in {side} ({', '.join(va if d == 0 else vb)})")
    return out


def domains_from_data(data) -> dict:
    """The default split when the data cannot take the default one (background on scenes): a folder of two
    class subfolders (A/ and B/, or any two) by its labels; other labelled data by the first half of its
    classes against the rest (digits 0-4 against 5-9)."""
    factor = parse_domains(DEFAULT_DOMAINS)[0]
    names = [str(c) for c in data.class_names]
    if factor in (data.factor_names or []) or len(names) < 2 or data.labels is None:
        return {}
    half = len(names) // 2
    return {"domains": f"label={','.join(names[:half])}|{','.join(names[half:])}"}


@dataclass
class CycleGANConfig(ModelConfig):
    width: int = 32  # channels of the generators' first layer
    generator: str = "unet"  # "unet" (pix2pix's, skips at every size) or "resnet" (the paper's)
    blocks: int = 4  # residual blocks at a quarter of the image size (resnet)
    domains: str = DEFAULT_DOMAINS  # FACTOR=values of A|values of B (label=A|B for folders)
    cycle_weight: float = 10.0  # λ of eq. 3
    identity_weight: float = 0.5  # × λ: the identity term of sec. 5.2 (0: none)
    norm: str = "none"  # the generators' normalisation: "none", "instance" as in the paper, or "batch"

    latent_dims = (0, 0)  # no latent code: an image is the input

    def __post_init__(self):
        self.latent_dim = 0

    def validate(self) -> None:
        super().validate()
        need(isinstance(self.width, int) and 4 <= self.width <= 128, f"width must be 4..128, got {self.width}")
        need(isinstance(self.blocks, int) and 1 <= self.blocks <= 12, f"blocks must be 1..12, got {self.blocks}")
        parse_domains(self.domains)
        need(self.norm in NORMS, f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        need(self.generator in GENERATORS, f"generator must be one of {', '.join(GENERATORS)}, got "
             f"{self.generator!r}")
        need(self.generator == "resnet" or self.norm != "instance", "the unet generator normalises by batch or "
             "not at all (norm none or batch); instance normalisation is for the resnet one")
        for name in ("cycle_weight", "identity_weight"):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and 0 <= v <= 1e4, f"{name} must be 0..10000, got {v}")
        need(self.image_shape[1] % 4 == 0, f"the image size must be a multiple of 4, got {self.image_shape[1]}")


NORMS = ("none", "instance", "batch")


def _norm(kind: str, c: int) -> nn.Module:
    return {"none": nn.Identity, "batch": nn.BatchNorm2d, "instance": nn.InstanceNorm2d}[kind](c)


class ResBlock(nn.Module):
    def __init__(self, c: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), _norm(norm, c), nn.ReLU(),
                                  nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), _norm(norm, c))

    def forward(self, x):
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Zhu et al. 2017, appendix 7.2 (after Johnson et al. 2016): c7s1-w, d2w, d4w, R4w × blocks, u2w, uw,
    c7s1-C. The paper normalises each image on its own (instance normalisation); that takes away every
    channel's mean, which in a picture of flat colours is the colour itself, and batch normalisation
    translates differently in training (each batch's statistics: A, translated A and B, one call each) than
    after it (their running mix). So no normalisation is the default here (``norm``)."""

    def __init__(self, c: int, width: int, blocks: int, norm: str = "none"):
        super().__init__()
        w = width
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(c, w, 7), _norm(norm, w), nn.ReLU(),  # (B, w, H, W)
                  nn.Conv2d(w, 2 * w, 3, 2, 1), _norm(norm, 2 * w), nn.ReLU(),  # (B, 2w, H/2, W/2)
                  nn.Conv2d(2 * w, 4 * w, 3, 2, 1), _norm(norm, 4 * w), nn.ReLU()]  # (B, 4w, H/4, W/4)
        layers += [ResBlock(4 * w, norm) for _ in range(blocks)]  # (B, 4w, H/4, W/4)
        layers += [nn.ConvTranspose2d(4 * w, 2 * w, 3, 2, 1, output_padding=1), _norm(norm, 2 * w),
                   nn.ReLU(),  # (B, 2w, H/2, W/2)
                   nn.ConvTranspose2d(2 * w, w, 3, 2, 1, output_padding=1), _norm(norm, w), nn.ReLU()]  # (B, w, H, W)
        self.net = nn.Sequential(*layers)
        # The last layer also sees the input itself (B, w + C, H, W) -> (B, C, H, W): a path at full size for
        # what is small (an object a few pixels wide vanished through the quarter-size blocks otherwise).
        self.out = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(w + c, c, 7), nn.Tanh())

    def forward(self, x):
        return self.out(torch.cat([self.net(x), x], 1))


def _generator(config) -> nn.Module:
    """One generator of either design. The U-Net (pix2pix's, without dropout) hands every size of the image
    across: with the paper's ResNet, objects a few pixels wide faded from the translations and from their
    cycles in the first epochs on ``scenes``, since a small object weighs little in the cycle's L1."""
    c, h, _ = config.image_shape
    if config.generator == "unet":
        return UNet(c, c, h, config.width, norm=config.norm == "batch", dropout=False)
    return ResnetGenerator(c, config.width, config.blocks, config.norm)


def _lsgan(logits: torch.Tensor, target: float) -> torch.Tensor:
    return ((logits - target) ** 2).mean()


class CycleGAN(GenerativeModel):
    loss_names = ("d", "g_adv", "cycle", "identity")

    def __init__(self, config: CycleGANConfig):
        super().__init__(config)
        c, h, _ = config.image_shape
        self.g_ab = _generator(config)  # G: A -> B
        self.g_ba = _generator(config)  # F: B -> A
        self.d_b = PatchGAN(c, config.width, h)  # real or translated, in B
        self.d_a = PatchGAN(c, config.width, h)

    @property
    def source_shape(self) -> tuple[int, int, int]:
        return tuple(self.image_shape)

    @property
    def domain_names(self) -> tuple[str, str]:
        factor, va, vb = parse_domains(self.config.domains)
        what = "" if factor == "label" else f" {factor}"
        return f"{', '.join(va)}{what}", f"{', '.join(vb)}{what}"

    def direction_title(self, direction: str = "a2b") -> str:
        a, b = self.domain_names
        return f"{a} → {b}" if direction == "a2b" else f"{b} → {a}"

    def condition_of(self, data):
        return domain_of(data, self.config.domains)

    def sample_rows(self, data, n: int) -> list[np.ndarray]:
        """Rows of a held-out picture: images of A, translated to B, and back; then the same from B."""
        dom = domain_of(data, self.config.domains)
        rows = []
        for d, there, back in ((0, "a2b", "b2a"), (1, "b2a", "a2b")):
            src = data.images[dom == d][:n]
            out = self.translate(torch.from_numpy(src), there)
            rows += [src, out.cpu().numpy(), self.translate(out, back).cpu().numpy()]
        k = min(len(r) for r in rows)
        return [r[:k] for r in rows]

    def held_out_figures(self, real, classifier):
        return cycle_figures(self, real, classifier)

    @torch.no_grad()
    def translate(self, source: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        """(B, C, H, W) in [0, 1] of one domain -> the other, in [0, 1]; ``direction`` a2b or b2a."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        was = self.training
        self.eval()
        try:
            g = self.g_ab if direction == "a2b" else self.g_ba
            return (g(source.to(self.device) * 2 - 1) + 1) / 2
        finally:
            self.train(was)

    def make_optimizers(self, lr=None):
        lr = lr or self.default_lr
        gens = list(self.g_ab.parameters()) + list(self.g_ba.parameters())
        dis = list(self.d_a.parameters()) + list(self.d_b.parameters())
        return {"g": adam(gens, lr, (0.5, 0.999)), "d": adam(dis, lr, (0.5, 0.999))}

    def train_step(self, x, y, opts, step):
        real = x * 2 - 1
        a, b = real[y == 0], real[y == 1]
        lam, lam_id = self.config.cycle_weight, self.config.cycle_weight * self.config.identity_weight
        # Each term is summed over the directions whose domain is in this batch (a small or lopsided dataset
        # may give a batch of one domain only).
        pairs = [(a, self.g_ab, self.g_ba, self.d_b), (b, self.g_ba, self.g_ab, self.d_a)]
        pairs = [p for p in pairs if len(p[0])]
        adv = cyc = idt = real.new_zeros(())
        fakes = []
        for src, g, back, d in pairs:  # src -> g(src) in the other domain, judged by that domain's d
            fake = g(src)
            fakes.append(fake)
            adv = adv + _lsgan(d(fake), 1.0)
            cyc = cyc + (back(fake) - src).abs().mean() / 2  # [0, 1] scale: λ is half the paper's (measured: README)
            if lam_id:
                idt = idt + (back(src) - src).abs().mean() / 2  # back maps into src's domain: leave it be
        g_loss = adv + lam * cyc + lam_id * idt
        gens = list(self.g_ab.parameters()) + list(self.g_ba.parameters())
        optimize(g_loss, opts["g"], gens, grad_sync=self.grad_sync, name="generator loss")
        # Each discriminator: real images of its domain against translations into it (eq. 1, least squares).
        d_loss = real.new_zeros(())
        terms = ([(self.d_b, b, fakes[0])] if len(a) else []) + ([(self.d_a, a, fakes[-1])] if len(b) else [])
        for d, tgt, fake in terms:
            loss = _lsgan(d(fake.detach()), 0.0)
            if len(tgt):
                loss = loss + _lsgan(d(tgt), 1.0)
            d_loss = d_loss + 0.5 * loss
        dis = list(self.d_a.parameters()) + list(self.d_b.parameters())
        optimize(d_loss, opts["d"], dis, grad_sync=self.grad_sync, name="discriminator loss")
        return {"d": d_loss.item(), "g_adv": adv.item(), "cycle": cyc.item(), "identity": idt.item()}

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        """Held-out cycle reconstruction L1 ([0, 1] scale) over the images of either domain."""
        total, n = 0.0, 0
        for d, there, back in ((0, "a2b", "b2a"), (1, "b2a", "a2b")):
            src = x[y == d]
            if len(src):
                again = self.translate(self.translate(src, there), back)
                total += (again - src).abs().mean(dim=(1, 2, 3)).sum().item()
                n += len(src)
        return {"cycle_l1": total / max(n, 1)}

    def preview(self, x, y, generator):
        src = x[y == 0] if y is not None and (y == 0).any() else x
        return self.translate(src)


register(KindSpec(
    "cyclegan", "CycleGAN (image to image, unpaired)", CycleGAN, CycleGANConfig, TrainDefaults(10, 16, 2e-4),
    Capabilities(prior=False, decodes_z=False, image_to_image=True), conditioning="image", latent_dim=None,
    # both ways; its sources are pictures of one domain, and a bare background is a picture too
    source=Source(directions=DIRECTIONS, ink=False, needs_strokes=False),
    params=(Param("domains", "Domains", str, "which images are domain A and which are B: FACTOR=values|values, "
                  f"e.g. {DEFAULT_DOMAINS} (scenes), or label=A|B (a folder with A/ and B/)"),
            Param("width", "Width", int, "channels of the generators' first layer", minimum=4, maximum=128),
            Param("generator", "Generator", str, "unet (skips at every size: small objects pass through) or "
                  "resnet (the paper's residual blocks)", choices=GENERATORS),
            Param("blocks", "Residual blocks", int, "residual blocks in each resnet generator", minimum=1,
                  maximum=12),
            Param("cycle_weight", "Cycle weight λ", float, "weight of the cycle-consistency L1 (Zhu et al.: 10)",
                  minimum=0, maximum=1e4),
            Param("identity_weight", "Identity weight", float, "the identity term's weight, times λ (Zhu et "
                  "al.: 0.5; 0 for none)", minimum=0, maximum=1e4),
            Param("norm", "Normalisation", str, "the generators' normalisation: none (keeps flat colours), "
                  "instance as in the paper (takes each image's colour means away), or batch", choices=NORMS)),
    from_data=domains_from_data, check_data=lambda cfg, data: domain_of(data, cfg.domains),
    description="translates between two sets of unpaired images (two generators, two discriminators, "
                "cycle consistency)"))


def cycle_figures(model: CycleGAN, real, classifier, batch: int = 250):
    """Held-out figures of a CycleGAN, as a job: the cycle reconstruction L1 of each direction; and, when the
    yardstick classifier reads the factor the domains split by, how many translations carry the other
    domain's value of it (``to_target``), and how many keep every other factor the classifier reads
    (``keeps_colour``, ``keeps_position``…)."""
    from latent_explorer.models.progress import Step

    factor, va, vb = parse_domains(model.config.domains)
    dom = domain_of(real, model.config.domains)
    figures: dict = {"n_val": int((dom >= 0).sum())}
    total = 2 * len(real)
    done = 0
    for d, there, back in ((0, "a2b", "b2a"), (1, "b2a", "a2b")):
        src = real.images[dom == d]
        outs, cycles = [], []
        for i in range(0, len(src), batch):
            s = torch.from_numpy(src[i:i + batch])
            out = model.translate(s, there)
            outs.append(out.cpu().numpy())
            cycles.append((model.translate(out, back) - s.to(out.device)).abs().mean(dim=(1, 2, 3)).cpu().numpy())
            done += len(s)
            yield Step(done, total, f"translating held-out images {there}")
        fake, cyc = np.concatenate(outs), np.concatenate(cycles)
        figures[f"cycle_l1_{there}"] = float(cyc.mean())
        heads = classifier.config.heads
        _, p_fake = classifier.predict(fake)
        _, p_real = classifier.predict(src)
        head = _head_of(factor, heads, real)
        if head is not None:
            names = heads[head]
            idx = [names.index(v) for v in (vb if d == 0 else va) if v in names]
            figures[f"to_target_{there}"] = float(np.isin(p_fake[:, list(heads).index(head)], idx).mean())
        for j, h in enumerate(heads):
            if h != head and not (head == "label" and h == factor):
                figures[f"keeps_{h}_{there}"] = float((p_fake[:, j] == p_real[:, j]).mean())
    figures["cycle_l1"] = float(np.mean([figures["cycle_l1_a2b"], figures["cycle_l1_b2a"]]))
    return figures


def _head_of(factor: str, heads: dict[str, list[str]], data) -> str | None:
    """The classifier head that reads the factor the domains split by (the label head reads a factor that is
    the data's label, such as the shape of scenes), or None."""
    if factor in heads:
        return factor
    if factor == "label" or list(data.factor_classes.get(factor, [])) == list(heads.get("label", [])):
        return "label" if "label" in heads else None
    return None
