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
    """Torch threads for a training run: every core but one, which the window keeps (issue S.4: with every
    core, the run's threads waited on each other whenever the window drew, and a busy machine slowed a bare
    training loop 4.5×; the run is also a separate process at lower priority, ``TRAIN_NICE``).
    ``LATENT_EXPLORER_TRAIN_THREADS`` overrides the count (e.g. every core, on a machine used for nothing
    else)."""
    env = os.environ.get("LATENT_EXPLORER_TRAIN_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 1) - 1)


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
