"""Latent Explorer: a desktop application for looking inside generative image models.

Installed, this folder is the package ``latent_explorer`` (the window: state objects, views, workers) and
``models/`` is ``latent_explorer.models`` (pure PyTorch, no Qt). From your own Python:

    import latent_explorer
    latent_explorer.show(encoder=enc, decoder=dec, data=images)   # the window on your live modules
    latent_explorer.save("vae.safetensors", encoder=enc, decoder=dec, data=images)  # a file that opens later
    rec = latent_explorer.Recorder("runs/vae", encoder=enc, decoder=dec, images=held_out)
    rec.log(epoch, losses={"loss": loss})                          # in your training loop

Nothing here imports Qt or PyTorch until it is called: ``latent_explorer.models`` stays Qt-free.
"""

__all__ = ["Recorder", "save", "show", "wrap"]


def show(*args, **kwargs):
    """Open the window on your own modules and data: see :func:`latent_explorer.api.show`."""
    from latent_explorer.api import show as _show

    return _show(*args, **kwargs)


def wrap(*args, **kwargs):
    """Your modules as a model of ours, without a window: see :func:`latent_explorer.api.wrap`."""
    from latent_explorer.api import wrap as _wrap

    return _wrap(*args, **kwargs)


def save(*args, **kwargs):
    """Write your modules (and data) as a checkpoint that opens later: see :func:`latent_explorer.api.save`."""
    from latent_explorer.api import save as _save

    return _save(*args, **kwargs)


def __getattr__(name):
    if name == "Recorder":  # a class: imported (with PyTorch) when first asked for
        from latent_explorer.models.training.python_run import Recorder

        return Recorder
    raise AttributeError(f"module 'latent_explorer' has no attribute {name!r}")
