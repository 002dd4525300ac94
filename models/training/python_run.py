"""A run trained in the user's own loop, recorded as ours are (``latent_explorer.Recorder``, issue P.3)::

    rec = latent_explorer.Recorder("runs/vae", encoder=vae.encoder, decoder=vae.decoder,
                                   images=held_out, labels=held_out_labels)
    for epoch in range(1, epochs + 1):
        ...                                   # the user's training steps
        rec.log(epoch, losses={"loss": mean_loss})
    rec.close()

Each ``log`` encodes the same held-out images (the Latent Map's Training movie), decodes a fixed set of
draws from where the model samples (the epoch's samples), keeps the epoch's losses, and writes
``runs/vae.record.safetensors`` (:mod:`models.training.run_record`, the record our runs write) and then
``runs/vae.safetensors`` (:mod:`models.io.python_checkpoint`: the modules' classes and weights, the held-out
images), each atomically. The window opened on ``runs/vae.safetensors`` follows the record while the loop
runs. Nothing here touches the user's optimizer, gradients or random streams: the modules are put in eval
mode for the record and back as they were, and the draws use a generator of their own."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from latent_explorer.models.errors import ConfigError
from latent_explorer.models.training.run_record import KEEP_SAMPLES, RECORD_N, RunRecord, finite_losses


class Recorder:
    """Records a user's training run; see the module's docstring. ``path``: the checkpoint's name (``.safetensors``
    added when missing), its record beside it. ``images``: the held-out images (a tensor, an array or a
    Dataset, in the modules' range, declared by ``image_range`` or detected); the first ``n`` are encoded after
    every epoch. ``init``: constructor arguments per role, where a module does not keep them as attributes
    (:func:`models.io.python_checkpoint.init_args`). An existing checkpoint is replaced only with ``overwrite``."""

    def __init__(self, path, model=None, *, encoder=None, decoder=None, generator=None, latent_dim=None,
                 images=None, labels=None, class_names=None, image_range=None, n: int = RECORD_N, seed: int = 0,
                 init: dict | None = None, overwrite: bool = False):
        from latent_explorer.models.data.memory import image_data
        from latent_explorer.models.io.checkpoint import check_output, safetensors_format
        from latent_explorer.models.io.python_checkpoint import FORMAT, name_modules
        from latent_explorer.models.io.python_code import script_warning
        from latent_explorer.models.kinds.python_modules import from_modules
        from latent_explorer.models.training.run_record import record_path

        path = Path(path).expanduser()
        self.path = path if path.suffix == ".safetensors" else path.with_name(path.name + ".safetensors")
        if not self.path.parent.exists():  # "runs/vae": its folder is made, as a log writer's is
            self.path.parent.mkdir(parents=True)
        if self.path.exists() and safetensors_format(self.path) != FORMAT:
            raise ConfigError(f"{self.path} exists and is not a run recorded from Python: it is never replaced")
        if self.path.exists() and not overwrite:
            raise ConfigError(f"{self.path} exists: pass overwrite=True to record over it, or another name")
        check_output(self.path, force=True)  # the folder, a bundled model, a record's name, a file beside
        self.record_path = record_path(self.path)
        self.data = None
        rng = image_range
        if images is not None:
            self.data, rng = image_data(images, labels, class_names, image_range)
        elif model is not None or encoder is not None:
            raise ConfigError("give images= (held-out images): the record keeps their codes after every epoch")
        x = None if self.data is None else torch.from_numpy(self.data.images)
        self.model = from_modules(model=model, encoder=encoder, decoder=decoder, generator=generator,
                                  latent_dim=latent_dim, images=x, image_range=rng if rng is not None else (0.0, 1.0))
        self.named = name_modules(self.model, init)  # now, not after the first epoch: a missing argument at once
        self.modules: list[nn.Module] = list(self.named.modules.values())
        for module in self.modules:
            if (said := script_warning(module)) is not None:
                warnings.warn(said, stacklevel=2)
        m = min(int(n), len(self.data.images)) if self.data is not None else 0
        self.x = None if self.data is None else self.data.images[:m]
        y = None if self.data is None or self.data.labels is None else np.asarray(self.data.labels[:m], np.int64)
        self.record = RunRecord([], y, list(self.data.class_names) if y is not None else [])
        g = torch.Generator().manual_seed(seed)
        self.noise = torch.randn(KEEP_SAMPLES, self.model.latent_dim, generator=g)  # the same draws every epoch
        self.vae = self.model.meta.get("posterior") == "gaussian"
        self.history: list[dict] = []
        self.t0 = time.perf_counter()
        self.closed = False

    @torch.no_grad()
    def log(self, epoch: int, losses: dict | None = None) -> Path:
        """Record epoch ``epoch`` (after the last logged one) with its mean ``losses``; returns the checkpoint."""
        if self.closed:
            raise ConfigError("this recorder was closed: make a new one for another run")
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0 or (
                self.record.epochs and epoch <= self.record.epochs[-1]):
            last = self.record.epochs[-1] if self.record.epochs else None
            raise ConfigError(f"epoch must be a whole number after the last one logged ({last}), got {epoch!r}")
        try:
            kept = finite_losses(losses)
        except (TypeError, ValueError):
            raise ConfigError(f"losses must be a dict of numbers, got {losses!r}"[:200]) from None
        was = [m.training for m in self.modules]
        for m in self.modules:
            m.eval()
        try:
            model, rec = self.model, self.record
            if self.x is not None and model.capabilities.encoder:
                z = np.concatenate([model.encode(torch.from_numpy(self.x[i : i + 256])).cpu().numpy()
                                    for i in range(0, len(self.x), 256)])
                rec.z.append(z)
                if not self.vae:  # an autoencoder samples where its codes lie now
                    model.z_mean.copy_(torch.from_numpy(z.mean(0)))
                    model.z_std.copy_(torch.from_numpy(z.std(0).clip(1e-6) if len(z) > 1 else np.ones_like(z[0])))
            draws = self.noise.to(model.device) * model.z_std + model.z_mean
            rec.samples.append(model.decode(draws).cpu().numpy())
        finally:
            for m, w in zip(self.modules, was):
                m.train(w)
        rec.epochs.append(int(epoch))
        rec.histograms.append({})
        rec.coverage.append(None)
        rec.losses.append(kept)
        rec.why_no_classes = "a run from your own training loop: its samples are not sorted by class"
        self.history.append({"epoch": int(epoch), "train": kept})
        return self._save("running")

    def _save(self, status: str) -> Path:
        from latent_explorer.models.io.checkpoint import atomic_write
        from latent_explorer.models.io.python_checkpoint import checkpoint_bytes
        from latent_explorer.models.training.run_record import save_record

        if self.record.epochs:  # before the checkpoint that names it
            save_record(self.record, self.record_path)
        training = {"status": status, "epochs_done": len(self.history), "record": self.record_path.name,
                    "history": self.history, "seconds": round(time.perf_counter() - self.t0, 2),
                    "loop": "your own (latent_explorer.Recorder)"}
        blob = checkpoint_bytes(self.model, self.named, self.data, training)
        return atomic_write(self.path, blob)

    def close(self) -> Path:
        """Mark the run finished (the list no longer says "running")."""
        path = self.path
        if not self.closed:
            path = self._save("finished")
            self.closed = True
        return path

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        if kind is None:
            self.close()
        elif not self.closed:
            self._save("stopped")
            self.closed = True
