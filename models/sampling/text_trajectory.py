"""What the Text-to-Image view records and shows, without Qt: one generation recorded step by step (the
decoded z_t and ẑ_0, the predicted noise, where each prompt token is looked at, the latents themselves),
the same seed at several guidance scales, and the autoencoder's latent "atlas" a trajectory is drawn on.

Every job is a generator of :class:`~models.progress.Step` records; only numpy leaves it.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np
import torch

from latent_explorer.models.analysis.latent import PCA
from latent_explorer.models.errors import ConfigError
from latent_explorer.models.io.meta import meta_of
from latent_explorer.models.nn.tokenizer import UnknownWords
from latent_explorer.models.progress import Step

FRAME_DTYPE = np.float16
CFG_STRIP = (1.0, 3.0, 5.0, 7.0, 9.0)


@dataclass
class PromptCheck:
    """What the text encoder makes of a prompt: its words as tokens, the unknown ones, and whether it fits."""

    words: list[str]
    unknown: list[str]
    truncated: bool
    context: int  # words that fit (the context less <bos> and <eos>)
    tokens: int = 0  # the encoder's context in tokens, where a word may be several (0: one token a word)

    def problems(self, what: str = "the prompt") -> list[str]:
        out = []
        if self.unknown:
            out.append(str(UnknownWords(self.unknown)))
        if self.truncated:
            limit = f"{self.tokens - 2} tokens" if self.tokens else f"{self.context} words"
            out.append(f"{what} is longer than the text encoder's {limit}: the rest is left out")
        return out


def check_prompt(model, text: str) -> PromptCheck:
    tok = model.parts[1].tokenizer
    words, fit = tok.words(text), tok.fitting(text)
    return PromptCheck(words, tok.unknown(text), len(words) > fit, fit, tok.context if tok.subwords else 0)


EAGER_PIXELS = 64 * 64  # frames of images up to this size are decoded while sampling; larger ones when shown
DECODED_KEPT = 64  # decoded frames of larger images kept for scrubbing back and forth


class LazyFrames:
    """Frames of a generation as latents (K+1, N, zc, h, w), decoded to images (C, H, W) in [0, 1] when one
    is read — ``frames[k]`` (N, C, H, W) or ``frames[k, i]`` — and kept for the next reads."""

    def __init__(self, latents: np.ndarray, decode: Callable, image_shape: tuple[int, int, int]):
        self.latents, self.decode = latents, decode
        self.shape = (*latents.shape[:2], *image_shape)
        self._kept: dict[tuple[int, int], np.ndarray] = {}

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return self.latents.nbytes + sum(a.nbytes for a in self._kept.values())

    def _one(self, k: int, i: int) -> np.ndarray:
        k, i = k % self.shape[0], i % self.shape[1]
        if (k, i) not in self._kept:
            while len(self._kept) >= DECODED_KEPT:
                self._kept.pop(next(iter(self._kept)))
            z = torch.from_numpy(self.latents[k, i : i + 1].astype(np.float32))
            self._kept[k, i] = self.decode(z)[0].numpy().astype(FRAME_DTYPE)
        return self._kept[k, i]

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return self._one(*key)
        return np.stack([self._one(key, i) for i in range(self.shape[1])])


@dataclass
class TextTrajectory:
    """One recorded generation of ``n`` images from one prompt: frame k holds z_t before step k (the last
    frame is the final z_0) and what the network made of it."""

    prompt: str
    negative: str
    tokens: list[str]  # the prompt as its maps are shown: <bos> words… <eos>
    timesteps: np.ndarray  # (K+1,), the last frame t = -1
    x: np.ndarray | LazyFrames  # (K+1, N, C, H, W) decoded z_t in [0, 1]
    x0: np.ndarray | LazyFrames  # (K+1, N, C, H, W) decoded ẑ_0 (the last frame repeats)
    eps: np.ndarray  # (K+1, N, zc, h, w) predicted noise ε̂ in latent units (the last frame repeats)
    z: np.ndarray  # (K+1, N, D) the latents themselves, for the atlas
    attention: np.ndarray  # (K+1, N, tokens, h, w) where each word is looked at (cross-attention)
    settings: dict  # sampler, steps, guidance, seed, eta

    def __len__(self) -> int:
        return len(self.timesteps)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.x, self.x0, self.eps, self.z, self.attention))

    @property
    def word_tokens(self) -> list[int]:
        """Indices of the tokens that are words (not <bos>/<eos>)."""
        return [i for i, t in enumerate(self.tokens) if not t.startswith("<")]


_THREADS = weakref.WeakKeyDictionary()  # model -> the PyTorch threads measured fastest for its sampling


def sampling_threads(model) -> int:
    """The PyTorch threads for sampling ``model`` (:mod:`models.threads`: one, unless more are faster by a
    margin), measured once per model on two DDIM steps of four images."""
    from latent_explorer.models.threads import measure_threads

    if model not in _THREADS:
        try:
            _THREADS[model], _ = measure_threads(lambda: model.txt2img(["a"] * 4, sampler="ddim", steps=2,
                                                                       guidance=5.0, seed=0), reps=2)
        except Exception:  # noqa: BLE001 - not measurable (the run itself will say what is wrong): as it is
            return torch.get_num_threads()
    return _THREADS[model]


def record_txt2img(model, prompt: str, negative: str = "", n: int = 4, sampler: str = "ddim",
                   steps: int | None = 25, guidance: float = 5.0, eta: float = 0.0, seed: int = 0,
                   should_stop: Callable[[], bool] | None = None, init=None, mask=None, strength: float = 1.0,
                   size=None, resample: int = 1) -> Generator[Step, None, TextTrajectory | None]:
    """``model.txt2img([prompt] * n, …)`` recorded frame by frame (the same noise draws, so the last frame is
    the image txt2img makes for the same settings); None when stopped. ``init``, ``mask``: img2img and
    inpainting, as txt2img takes them (the scrub shows the masked region filling in)."""
    from latent_explorer.models.nn.word_maps import merge_words

    if not np.isfinite(guidance) or guidance < 0:
        raise ConfigError(f"the guidance scale must be a number ≥ 0, got {guidance}")
    ae = model.parts[0]
    g = torch.Generator().manual_seed(int(seed))
    sched = model.make_scheduler(sampler, steps, eta)
    if init is not None:  # one image for the whole batch
        init = torch.as_tensor(init, dtype=torch.float32).expand(n, *init.shape[1:])
    mask = None if mask is None else torch.as_tensor(mask, dtype=torch.float32)
    z, inp = model.start(n, sched, g, init, mask, strength, size, None, resample)
    ts = sched.timesteps.tolist()
    k = len(ts)
    names, groups = model.word_groups(prompt)
    zc, lh, lw = z.shape[1:]
    c, f = model.image_shape[0], model.image_shape[1] // model.config.latent_shape[1]  # pixels a latent cell
    h, w = lh * f, lw * f
    lazy = h * w > EAGER_PIXELS

    def frames(*shape):
        return np.empty((k + 1, n, *shape), FRAME_DTYPE)

    x = frames(zc, lh, lw) if lazy else frames(c, h, w)
    x0 = frames(zc, lh, lw) if lazy else frames(c, h, w)
    traj = TextTrajectory(prompt, negative, names, np.array(ts + [-1]), x, x0, frames(zc, lh, lw),
                          np.empty((k + 1, n, z[0].numel()), np.float32), frames(len(names), lh, lw),
                          dict(sampler=sampler, steps=k, guidance=float(guidance), seed=int(seed), eta=float(eta)))
    with torch.no_grad():
        for i, (t, z_t, eps, z0, prev, maps) in enumerate(
                model.reverse(z, [prompt] * n, negative, sched, guidance, g, keep_attention=True, inpaint=inp)):
            traj.z[i] = z_t.flatten(1).numpy()
            x[i] = z_t.numpy() if lazy else ae.decode_latents(z_t).numpy()
            x0[i] = z0.numpy() if lazy else ae.decode_latents(z0).numpy()
            traj.eps[i] = eps.numpy()
            traj.attention[i] = merge_words(maps, groups).numpy()
            z = prev
            yield Step(i + 1, k, f"t = {t}")
            if should_stop is not None and should_stop():
                return None
        traj.z[k] = z.flatten(1).numpy()
        x[k] = z.numpy() if lazy else ae.decode_latents(z).numpy()
    x0[k], traj.eps[k], traj.attention[k] = x0[k - 1], traj.eps[k - 1], traj.attention[k - 1]
    if lazy:
        traj.x, traj.x0 = (LazyFrames(a, ae.decode_latents, (c, h, w)) for a in (x, x0))
        yield Step(k, k, "decoding the images")
        traj.x[-1]  # the final images, decoded now: the grid shows them
    return traj


def cfg_strip(model, prompt: str, negative: str = "", n: int = 1, sample: int = 0, sampler: str = "ddim",
              steps: int | None = 25, seed: int = 0, eta: float = 0.0, scales=CFG_STRIP,
              should_stop: Callable[[], bool] | None = None) -> Generator[Step, None, np.ndarray | None]:
    """Image ``sample`` of a batch of ``n`` (the same noise as the grid it came from) at each guidance
    scale: (len(scales), C, H, W) in [0, 1]."""
    out = []
    for j, w in enumerate(scales):
        yield Step(j, len(scales), f"guidance {w:g}")
        if should_stop is not None and should_stop():
            return None
        out.append(model.txt2img([prompt] * n, negative, sampler, steps, w, seed, eta=eta)[sample])
    return torch.stack(out).numpy()


@dataclass
class Atlas:
    """The autoencoder's latents of some data, on their first two principal components (and on any t-SNE or
    UMAP map fitted since, :mod:`models.analysis.embedding`), with the data's factors to colour them by; any latent (a
    trajectory) is placed on the same plane, by the PCA's projection or the fitted map's ``transform``."""

    xy: np.ndarray  # (N, 2) on the PCA plane
    factors: dict[str, np.ndarray]  # name -> (N,) value index
    classes: dict[str, list[str]]  # name -> value names
    pca: PCA
    z: np.ndarray | None = None  # (N, D) the latents themselves (what a t-SNE or UMAP map is fitted on)
    maps: dict = field(default_factory=dict)  # "tsne" / "umap" -> models.analysis.embedding.Embedding

    def points(self, method: str = "pca") -> np.ndarray:
        return self.xy if method == "pca" else self.maps[method].xy

    def place(self, z: np.ndarray, method: str = "pca") -> np.ndarray:
        z = np.asarray(z, np.float32).reshape(-1, self.pca.components.shape[1])
        return self.pca.transform(z) if method == "pca" else self.maps[method].place(z)


def latent_atlas(model, n: int = 2000, seed: int = 0, spec: str | None = None
                 ) -> Generator[Step, None, Atlas]:
    """Encode ``n`` images of the model's data (or ``spec``) with its autoencoder and fit the plane."""
    from latent_explorer.models.data import load_dataset

    spec = spec or meta_of(model).data.spec
    if not spec:
        raise ConfigError("the checkpoint names no dataset to draw the latent map of")
    yield Step(0, 2, f"loading {spec}")
    data = load_dataset(spec).conform(*model.image_shape[:2])
    idx = np.sort(np.random.default_rng(seed).choice(len(data), min(n, len(data)), replace=False))
    yield Step(1, 2, f"encoding {len(idx)} images")
    ae = model.parts[0]
    with torch.no_grad():
        z = torch.cat([ae.encode(torch.from_numpy(data.images[idx[i : i + 500]]))
                       for i in range(0, len(idx), 500)]).numpy()
    pca = PCA(z, 2)
    factors, classes = {}, {}
    if data.factors is not None:
        for j, name in enumerate(data.factor_names):
            if name in data.factor_classes:
                factors[name] = np.asarray(data.factors[idx, j], np.int64)
                classes[name] = list(data.factor_classes[name])
    elif data.labels is not None:
        factors["label"], classes["label"] = np.asarray(data.labels[idx], np.int64), list(data.class_names)
    return Atlas(pca.transform(z), factors, classes, pca, z)


def trajectory_atlas(traj: TextTrajectory) -> Atlas:
    """The map of a model without data of its own (Stable Diffusion): the generation's own latents, every step
    of every sample, on their first two principal components, coloured by sample and by step."""
    k, n = traj.z.shape[:2]
    z = traj.z.reshape(k * n, -1)
    pca = PCA(z, 2)
    steps = np.repeat(np.arange(k), n)
    factors = {"sample": np.tile(np.arange(n), k), "step": np.minimum(steps * 5 // k, 4)}
    classes = {"sample": [f"sample {i + 1}" for i in range(n)],
               "step": [f"steps {j * k // 5}–{min(k, (j + 1) * k // 5) - 1}" for j in range(5)]}
    return Atlas(pca.transform(z), factors, classes, pca, z)


PARAM_LINE = re.compile(r"(?:^|, )([A-Za-z ]+): ([^,]*)")


def parse_parameters(text: str) -> dict:
    """The web UIs' "parameters" text (:func:`models.io.images.generation_parameters`) back into settings:
    prompt, negative, and whichever of steps, sampler (its title), cfg, seed, strength, model it names."""
    lines = str(text).split("\n")
    if len(lines) < 2 or "Steps:" not in lines[-1]:
        raise ValueError("no generation parameters in this text (no 'Steps:' line)")
    out: dict = {"prompt": lines[0], "negative": ""}
    for line in lines[1:-1]:
        if line.startswith("Negative prompt: "):
            out["negative"] = line[len("Negative prompt: "):]
    kinds = {"Steps": ("steps", int), "Sampler": ("sampler", str), "CFG scale": ("cfg", float),
             "Seed": ("seed", int), "Denoising strength": ("strength", float), "Model": ("model", str),
             "Size": ("size", str)}
    for key, value in PARAM_LINE.findall(lines[-1]):
        if key.strip() in kinds:
            name, conv = kinds[key.strip()]
            try:
                out[name] = conv(value.strip())
            except ValueError:
                raise ValueError(f"{key.strip()}: {value.strip()[:40]!r} is not a {conv.__name__}") from None
    return out
