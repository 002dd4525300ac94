"""The job that runs a training run (:class:`models.training.run.RunSpec`, built by
:func:`models.training.run.prepare_run` as ``train`` builds its own). No Qt here: the job runs in a child process
(:mod:`explorer.procjob`), which imports this module and ``models`` only."""

from __future__ import annotations

import os

from latent_explorer.models.training.run import RunSpec

# the training process yields the CPU to the UI (POSIX nice; 0 = same priority as the UI)
_nice = os.environ.get("LATENT_EXPLORER_TRAIN_NICE", "")
TRAIN_NICE = int(_nice) if _nice.isdigit() else 10
# what a spare training process imports while it waits (torch._dynamo: the first optimizer needs it)
WARM_IMPORTS = ("torch", "torch._dynamo", "latent_explorer.models.training.train",
                "latent_explorer.models.training.run", "latent_explorer.training_job", "sklearn.datasets")


def training_threads() -> int:
    """Torch threads for a training run: every core. The run is a separate process at lower priority
    (``TRAIN_NICE``), so the UI thread, at normal priority, gets a core the moment it has work.
    ``LATENT_EXPLORER_TRAIN_THREADS`` overrides the count (e.g. cores - 1 to leave one always free)."""
    env = os.environ.get("LATENT_EXPLORER_TRAIN_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, os.cpu_count() or 1)


def run_training(spec: RunSpec, should_stop):
    """Load the data and build the model (in the child process), then train; yields ``Progress`` (and a
    ``Step`` for each note: skipped files, a resumed run's fresh optimizer)."""
    from latent_explorer.models.progress import Step
    from latent_explorer.models.training.run import prepare_run

    yield Step(0, 1, f"loading {spec.data}")
    run = prepare_run(spec)
    for note in run.notes:
        yield Step(0, 1, f"note: {note}")
    return (yield from run.train(should_stop=should_stop))
