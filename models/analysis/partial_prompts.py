"""Short prompts, as users type them: does a text-to-image model keep what a partial prompt names, and vary
what it leaves unsaid as the data does?

"a blue star" names two of a scene's five factors (shape, colour, size, position, background). A model that
only ever read whole captions tends to draw one default for the rest (the same size, place and background
every time); one trained with phrase dropout (``LatentDiffusionConfig.phrase_drop``) should spread them as
the data spreads them. Two figures, read by the ``scenes`` yardstick classifier:

- **named**: per factor, the share of images whose reading is the factor the prompt names;
- **unnamed spread**: per factor, the entropy of the readings of ``per_prompt`` images of one prompt, over
  the same entropy of as many real images that match the prompt's named factors (the data's own spread at
  that sample size, so the small-sample bias of the plug-in entropy cancels). 1.0 varies as the data does.
"""

from __future__ import annotations

import numpy as np

from latent_explorer.models.data import scenes
from latent_explorer.models.progress import Step


def cut_prompts(prompts: list[str], seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Each whole caption cut to a random subset of its phrases that names at least one factor and leaves at
    least one out: (prompts, named (n, 5) bool in :data:`models.data.scenes.FACTORS` order)."""
    rng = np.random.default_rng(seed)
    k = len(scenes.FACTORS)
    out, named = [], np.zeros((len(prompts), k), bool)
    for i, text in enumerate(prompts):
        keep = np.zeros(k, bool)
        while keep.all() or not keep.any():
            keep = rng.random(k) < 0.5
        named[i] = keep
        out.append(scenes.partial_caption(text, dict(zip(scenes.FACTORS, keep.tolist()))))
    return out, named


def _entropy(values: np.ndarray) -> float:
    """Plug-in entropy (nats) of the integer ``values``."""
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def reference_spread(data_factors: np.ndarray, factors: np.ndarray, named: np.ndarray, per_prompt: int,
                     seed: int = 0) -> np.ndarray:
    """(n, 5) entropy of each unnamed factor among ``per_prompt`` real images that match each prompt's named
    factors (NaN where named, or where no real image matches)."""
    rng = np.random.default_rng(seed)
    out = np.full(named.shape, np.nan)
    for i in range(len(named)):
        match = np.flatnonzero((data_factors[:, named[i]] == factors[i, named[i]]).all(axis=1))
        if len(match) == 0:
            continue
        pick = data_factors[rng.choice(match, per_prompt, replace=len(match) < per_prompt)]
        for j in np.flatnonzero(~named[i]):
            out[i, j] = _entropy(pick[:, j])
    return out


def partial_adherence(model, prompts: list[str], factors: np.ndarray, named: np.ndarray, classifier,
                      data_factors: np.ndarray, per_prompt: int = 16, guidance: float = 5.0, sampler: str = "ddim",
                      steps: int | None = 25, seed: int = 0, eta: float = 0.0):
    """A generator of Steps; returns {"named": {factor: accuracy}, "unnamed_spread": {factor: ratio},
    "unnamed_spread_all": ratio, "n_prompts", "per_prompt"} (see the module's docstring)."""
    heads = ["shape" if h == "label" else h for h in classifier.head_names]
    cols = [heads.index(f) for f in scenes.FACTORS]
    spread = np.full(named.shape, np.nan)
    hits = np.zeros(named.shape)
    for i, text in enumerate(prompts):
        yield Step(i, len(prompts), f"prompt {i + 1}/{len(prompts)} at guidance {guidance:g}")
        x = model.txt2img([text] * per_prompt, sampler=sampler, steps=steps, guidance=guidance, seed=seed + i,
                          eta=eta)
        pred = classifier.predict(x.clamp(0, 1).numpy())[1][:, cols]  # (per_prompt, 5)
        for j in range(len(scenes.FACTORS)):
            if named[i, j]:
                hits[i, j] = (pred[:, j] == factors[i, j]).mean()
            else:
                spread[i, j] = _entropy(pred[:, j])
    ref = reference_spread(data_factors, factors, named, per_prompt, seed)
    ok = ~np.isnan(ref) & ~named
    out_named = {f: round(float(hits[named[:, j], j].mean()), 4) for j, f in enumerate(scenes.FACTORS)
                 if named[:, j].any()}
    out_spread = {f: round(float(spread[ok[:, j], j].sum() / max(ref[ok[:, j], j].sum(), 1e-12)), 4)
                  for j, f in enumerate(scenes.FACTORS) if ok[:, j].any()}
    return {"named": out_named, "unnamed_spread": out_spread,
            "unnamed_spread_all": round(float(spread[ok].sum() / max(ref[ok].sum(), 1e-12)), 4),
            "n_prompts": len(prompts), "per_prompt": per_prompt}
