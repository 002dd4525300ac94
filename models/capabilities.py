"""The capability contract: what a model of a kind can do, and what its class must implement for it.

A kind's :class:`Capabilities` are the one place that says what its models do; callers ask the derived
questions (:attr:`Capabilities.samples`, :attr:`~Capabilities.reconstructs`, …), never the model's methods.
Each capability promises methods, written as typing Protocols (:class:`Encoder`, :class:`Translator`, …);
:func:`check_promises` runs when a kind registers and names the first method its class lacks, so a kind that
promises what it cannot do fails at import, not in a view. How an image-to-image kind reads its source is
its spec's :class:`Source`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Capabilities:
    """What a model of a kind can do; views enable themselves and their controls from these."""

    encoder: bool = False  # encode(x) -> z: a map of the data, "Encode image"
    prior: bool = True  # prior(n) samples z: randomise, a map of sampled latents
    decodes_z: bool = True  # decode(z, cond) -> image: sliders, decoded grids, interpolation
    directions: bool = False  # GANSpace-style directions (a generator without an encoder)
    diffusion: bool = False  # a reverse process to step through (scheduler, reverse())
    image_to_image: bool = False  # translate(x) -> image, no latent code
    text_to_image: bool = False  # txt2img(prompts, …) with a text encoder: the Text-to-Image view
    controlled: bool = False  # txt2img(prompts, control image, …): a ControlNet, drawn for in the Sketch view
    autoregressive: bool = False  # samples pixel by pixel (p(x_i | x_<i)): the Pixels view
    likelihood: str = ""  # "": none, "bound": a lower bound (ELBO), "exact": an exact log-likelihood
    slow_decode: bool = False  # a decode takes tens of ms or more: decode in a worker, sample fewer points
    text_encoder: bool = False  # encode_text(ids) beside encode(x): a CLIP-style encoder of prompts and images
    any_size: bool = False  # txt2img(…, size=(H, W)) at any multiple of its latent cell (Stable Diffusion)
    inpaints: bool = False  # txt2img / sample take an image and a mask and paint the masked region anew
    styles: bool = False  # a mapping network z -> w: Z / W / W+ spaces, truncation ψ, style mixing (StyleGAN)

    def __post_init__(self):
        if self.likelihood not in ("", "bound", "exact"):
            raise ValueError(f"likelihood must be '', 'bound' or 'exact', got {self.likelihood!r}")

    # -- what callers ask ---------------------------------------------------------------------------
    @property
    def samples_z(self) -> bool:
        """Draws a z from its prior and decodes it (randomise, a map of sampled latents)."""
        return self.prior and self.decodes_z

    @property
    def samples(self) -> bool:
        """Draws images of its own, unprompted (``model.sample(n)``): from a z, or pixel by pixel. The one
        meaning of "can this model sample" (Quality, eval, Inspect's modes, Compare, the run record)."""
        return self.autoregressive or self.samples_z

    @property
    def samples_slowly(self) -> bool:
        """Each sample costs a network pass per pixel or a slow decode: fewer samples, none drawn unasked."""
        return self.autoregressive or self.slow_decode

    @property
    def reconstructs(self) -> bool:
        """Encodes an image and decodes its code back: reconstructions, their error, PCA at the same size."""
        return self.encoder and self.decodes_z

    @property
    def maps(self) -> bool:
        """Has latents to map: the data's encodings or sampled z."""
        return self.encoder or self.samples_z

    @property
    def translates(self) -> bool:
        """Maps a source image to an image (``translate``, the Sketch view)."""
        return self.image_to_image

    @property
    def draws_from_text(self) -> bool:
        """Draws images for prompts (``txt2img``): latent diffusion, and a ControlNet with its control."""
        return self.text_to_image or self.controlled

    @property
    def answers_drawings(self) -> bool:
        """Answers a picture drawn on the Sketch view's pad: it translates it, or draws under it as a control."""
        return self.image_to_image or self.controlled

    @property
    def bound(self) -> bool:
        """A Gaussian q(z|x) and a Bernoulli decoder: the ELBO, its importance-weighted bound, KL per dimension."""
        return self.likelihood == "bound"

    @property
    def exact_likelihood(self) -> bool:
        return self.likelihood == "exact"

    def promises(self) -> tuple[type, ...]:
        """The Protocols a model class of these capabilities must implement."""
        wanted = ((self.encoder, Encoder), (self.decodes_z, Decoder), (self.prior, Prior),
                  (self.diffusion, Diffusion), (self.image_to_image, Translator),
                  (self.text_to_image, TextToImage), (self.controlled, Controlled),
                  (self.autoregressive, PixelSampler), (self.bound, GaussianPosterior),
                  (self.exact_likelihood, ExactLikelihood), (self.text_encoder, TextEncoder),
                  (self.inpaints and self.diffusion, Inpainter), (self.styles, Styled))
        return tuple(p for on, p in wanted if on)


@dataclass(frozen=True)
class Source:
    """How a kind that answers a picture reads it (an image-to-image model's source, a ControlNet's control): the
    Sketch view's pad and ``translate``'s reader follow it; the model reads it as ``directions``, ``takes_ink``
    and ``needs_strokes``."""

    directions: tuple[str, ...] = ("a2b",)  # the ways it translates; "b2a" too: trained both ways (CycleGAN)
    ink: bool | Callable = True  # ink on paper (edges, silhouette), else a picture in colour; or config -> which
    needs_strokes: bool = True  # a blank page has nothing to translate (False: a bare background is a picture)
    named_by: str = ""  # the config field that names what is drawn: pix2pix's "source", a ControlNet's "control"

    def takes_ink(self, config) -> bool:
        return bool(self.ink(config)) if callable(self.ink) else bool(self.ink)

    def drawn(self, config) -> str:
        """What a model of ``config`` reads, in words ("edges", "silhouette"); "" where its kind does not say."""
        return str(getattr(config, self.named_by)) if self.named_by else ""


# -- what each capability promises ----------------------------------------------------------------------
class Encoder(Protocol):
    def encode(self, x, y=None): ...


class Decoder(Protocol):
    def decode(self, z, y=None): ...


class Prior(Protocol):
    def prior(self, n, generator=None): ...


class Diffusion(Protocol):
    def make_scheduler(self, *args, **kwargs): ...

    def reverse(self, x_T, *args, **kwargs): ...


class Styled(Protocol):
    def set_style(self, space=None, psi=None, towards=None): ...

    def convert(self, code, space, y=None): ...

    def to_w(self, z, y=None, psi=1.0): ...

    def synthesize(self, ws, noise="fixed", generator=None, features=None): ...

    def set_noise(self, on=None, seed=None): ...


class Inpainter(Protocol):
    def inpaint(self, image, mask, resample=1): ...


class Translator(Protocol):
    def translate(self, source, *args, **kwargs): ...


class TextToImage(Protocol):
    def txt2img(self, prompts, *args, **kwargs): ...


class Controlled(TextToImage, Protocol):
    def control_of(self, images): ...


class PixelSampler(Protocol):
    def sample_steps(self, n, generator=None, known=None, mask=None): ...


class GaussianPosterior(Protocol):
    def encode_dist(self, x, y=None): ...

    def decode_logits(self, z, y=None): ...


class ExactLikelihood(Protocol):
    def nll(self, x): ...


class TextEncoder(Protocol):
    def encode_text(self, ids): ...

    def tokenize(self, texts): ...


def placeholder(method):
    """Marks a base class's method that only raises NotImplementedError: it does not keep a promise."""
    method.placeholder = True
    return method


def protocol_methods(protocol: type) -> list[str]:
    """The methods a Protocol names, its bases' first."""
    names: list[str] = []
    for cls in reversed(protocol.__mro__):
        if cls is not protocol and not getattr(cls, "_is_protocol", False):
            continue
        names += [n for n, v in vars(cls).items() if callable(v) and not n.startswith("_") and n not in names]
    return names


def missing_methods(model_class: type, capabilities: Capabilities) -> list[tuple[str, type]]:
    """(method, Protocol) for each method ``capabilities`` promise that ``model_class`` does not implement."""
    out = []
    for protocol in capabilities.promises():
        for name in protocol_methods(protocol):
            method = getattr(model_class, name, None)
            if not callable(method) or getattr(method, "placeholder", False):
                out.append((name, protocol))
    return out


def check_promises(kind: str, model_class: type, capabilities: Capabilities) -> None:
    """TypeError naming the first method ``model_class`` lacks of those its capabilities promise."""
    missing = missing_methods(model_class, capabilities)
    if missing:
        name, protocol = missing[0]
        others = "".join(f", {n}()" for n, _ in missing[1:])
        raise TypeError(f"kind {kind!r}: {model_class.__name__} does not implement {name}(){others}, which its "
                        f"capabilities promise ({protocol.__name__})")
