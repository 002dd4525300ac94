"""``latent-explorer train``: a run built by :func:`models.training.run.prepare_run`, with progress on stderr and a
clean stop on Ctrl+C (the checkpoint of the last whole epoch is kept)."""

from __future__ import annotations

import os
import sys

from latent_explorer.models import registry
from latent_explorer.models.cli.progress import ProgressBar
from latent_explorer.models.cli.progress import fmt_time as _fmt_time
from latent_explorer.models.errors import (
    CheckpointError,
    ConfigError,
)


def cmd_train(a, world=None) -> int:
    from latent_explorer.models.io.checkpoint import check_output
    from latent_explorer.models.training.run import RunSpec, prepare_run

    is_main = world is None or world.rank == 0
    _kind_and_data(a)
    kind = registry.get(a.model)
    over = {}
    for p in registry.all_params():
        value = getattr(a, f"param_{p.name}")
        if value is None:
            continue
        if kind.param(p.name) is None:
            raise ConfigError(f"{p.flag} does not apply to {a.model} (it applies to "
                              f"{', '.join(registry.kinds_with_param(p.name))})")
        over[p.name] = kind.param(p.name).parse(value)  # this kind's limits (another's may share the name)
    spec = RunSpec(a.model, a.data, a.out, a.epochs, a.batch_size, a.lr, a.latent_dim, over, a.conditional,
                   a.size, a.seed, preview_every=0.0, channels=a.channels, record_n=a.record_n, resume=a.resume,
                   max_steps=a.max_steps, max_minutes=a.minutes, device=a.device,
                   binarise=a.binarise)
    spec.check()
    try:  # never the command's own input: the checkpoint resumed, a part file named, a data file
        check_output(os.path.abspath(a.out), force=a.force, inputs=spec.inputs())
    except CheckpointError as e:
        raise ConfigError(f"--out: {e}") from None
    run = prepare_run(spec)
    model, data = run.model, run.data
    if is_main:
        for note in run.notes:
            print(f"note: {note}", file=sys.stderr)
        n_params = sum(p.numel() for p in model.parameters())
        print(f"training {a.model} on {data.spec}: {len(data)} images {data.shape}, {n_params:,} parameters",
              file=sys.stderr)
    bar = ProgressBar(enabled=not a.quiet and is_main)
    stop = _StopSignals() if world is None else None  # under torchrun, the launcher handles signals
    gen = run.train(should_stop=stop, world=world)
    try:
        for p in gen:
            if p.event == "step":
                bar.update(p)
            elif p.event == "epoch" and is_main:
                bar.update(p, force=True)
                tr = " ".join(f"{k}={v:.4f}" for k, v in p.losses.items())
                va = " ".join(f"{k}={v:.4f}" for k, v in (p.val or {}).items())
                bar.line(f"epoch {p.epoch}/{p.epochs}  train: {tr}  val: {va}  ({_fmt_time(p.elapsed_s)})")
                if p.message:  # a save that failed: the run goes on
                    bar.line(f"warning: {p.message}")
            elif p.event == "done" and is_main:
                if p.message != "finished":  # the output could not be written: where the weights went
                    print(f"warning: {p.message}", file=sys.stderr)
                print(f"saved {p.checkpoint} ({_fmt_time(p.elapsed_s)})", file=sys.stderr)
            elif p.event == "stopped":
                if p.checkpoint and os.path.abspath(p.checkpoint) != os.path.abspath(a.out):
                    bar.line(f"warning: {p.message}")
                saved = (f"the weights of step {p.step} (epoch {p.epoch}) were saved to {p.checkpoint}"
                         if p.checkpoint else "nothing was saved (no step had been taken)")
                bar.line(f"interrupted ({stop.name if stop else 'stopped'}): {saved}")
                return 128 + (stop.signum if stop else 2)
    except KeyboardInterrupt:  # a second Ctrl+C: leave at once, and say what is on disk
        gen.close()
        print(f"\ninterrupted again: stopped without saving; {_on_disk(a.out)}", file=sys.stderr)
        return 130
    finally:
        if stop is not None:
            stop.restore()
    return 0


def _kind_and_data(a) -> None:
    """--model and --data as given, or, with --resume, the checkpoint's own (read from its header)."""
    if a.resume is not None and (a.model is None or a.data is None):
        from latent_explorer.models.training.run import resume_info

        try:
            info = resume_info(a.resume)
        except CheckpointError as e:
            raise ConfigError(f"--resume: {e}") from None
        a.model = a.model or info.kind
        if a.data is None:
            if info.data is None:
                raise ConfigError(f"--resume: {os.path.basename(a.resume)} does not say what data it was trained "
                                  "on: name it with --data")
            a.data = info.data
    missing = [flag for flag, v in (("--model", a.model), ("--data", a.data)) if v is None]
    if missing:
        raise ConfigError(f"train needs {' and '.join(missing)} (or --resume FILE, to go on with a run)")


class _StopSignals:
    """SIGINT, SIGTERM and SIGHUP ask training to stop at the end of the current step, where the trainer
    saves the weights it has (a signal inside a step would otherwise kill it mid-update with nothing saved).
    A second Ctrl+C stops at once. Callable: the trainer's ``should_stop``."""

    def __init__(self):
        import signal

        self.signum, self.name = 0, ""
        self._old = {}
        for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is None:
                continue
            try:
                if signal.getsignal(sig) is signal.SIG_IGN:
                    continue  # ignored on purpose (a background job's Ctrl+C, nohup): keep it so
                self._old[sig] = signal.signal(sig, self._on_signal)
            except (ValueError, OSError):  # not the main thread: nothing to install
                pass

    def _on_signal(self, signum, frame):
        import signal

        if self.signum:  # asked twice: Ctrl+C leaves at once (and a third is ignored while it does)
            if signum == signal.SIGINT:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                raise KeyboardInterrupt
            return
        self.signum, self.name = signum, signal.Signals(signum).name
        print(f"\n{self.name}: stopping after this step and saving the weights (Ctrl+C again to stop at once, "
              "without saving)", file=sys.stderr, flush=True)

    def __call__(self) -> bool:
        return bool(self.signum)

    def restore(self) -> None:
        import signal

        for sig, old in self._old.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError, TypeError):
                pass
        self._old = {}


def _on_disk(path: str) -> str:
    """What a checkpoint path holds now, in words (after an interrupt)."""
    from latent_explorer.models.io.checkpoint import load

    if not os.path.exists(path):
        return f"nothing was saved to {path}"
    try:
        t = load(path).meta.get("training", {})
        return (f"{path} holds an earlier save (epoch {t.get('epochs_done', '?')}, status "
                f"{t.get('status', '?')})")
    except Exception:  # noqa: BLE001 - describing, never failing
        return f"{path} exists but could not be read back"
