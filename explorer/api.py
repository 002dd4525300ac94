"""``latent_explorer.show(...)``: the window, in this process, on a user's live PyTorch objects (as napari's
``view_image``). In a script it blocks until the window closes; in IPython or Jupyter with a Qt event loop
running (``%gui qt``) it returns the window at once and the prompt stays usable.

    import latent_explorer
    latent_explorer.show(encoder=my_vae.encoder, decoder=my_vae.decoder, data=images, labels=labels)
    latent_explorer.show(model=my_autoencoder, data=dataset)         # a module with encode() and decode()
    latent_explorer.show(generator=my_gan.G, latent_dim=128)         # a GAN generator
    latent_explorer.show(denoiser=my_unet, betas=betas, image_shape=(1, 28, 28))  # ε(x_t, t), images in [-1, 1]
    latent_explorer.show(diffusers.DDPMPipeline(unet=unet, scheduler=scheduler))   # a diffusers pipeline

What is given is checked once before the window opens (one call of each module): a clear ConfigError or
DataError says what does not fit, and nothing opens."""

from __future__ import annotations

import sys

_shown = 0  # models shown in this process (each gets a name of its own)


def _event_loop_running() -> bool:
    """IPython/Jupyter with ``%gui qt``: Qt's events are already processed between prompts."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    loop = getattr(shell, "active_eventloop", None) if shell is not None else None
    return bool(loop) and str(loop).startswith("qt")


def _is_unconditional_pipeline(obj) -> bool:
    """A diffusers pipeline of an unconditional UNet2DModel and a scheduler (DDPMPipeline, DDIMPipeline)."""
    if obj is None or not type(obj).__module__.startswith("diffusers"):
        return False
    import diffusers

    return (isinstance(obj, diffusers.DiffusionPipeline) and isinstance(getattr(obj, "unet", None),
            diffusers.UNet2DModel) and getattr(obj, "scheduler", None) is not None)


def wrap(model=None, *, encoder=None, decoder=None, generator=None, latent_dim=None, denoiser=None, betas=None,
         scheduler=None, data=None, labels=None, class_names=None, image_range=None, image_shape=None,
         name: str | None = None):
    """What :func:`show` opens, without a window: (our model around the user's modules, its name). The data
    is kept for this process under ``python:NAME``: the model's own data in every view."""
    import torch

    from latent_explorer.models.data.memory import image_data, keep
    from latent_explorer.models.errors import ConfigError
    from latent_explorer.models.kinds.python_modules import from_modules

    global _shown
    _shown += 1
    if _is_unconditional_pipeline(model):  # a diffusers DDPMPipeline / DDIMPipeline: its UNet and scheduler
        unet, cfg = model.unet, model.unet.config
        size = cfg.sample_size if isinstance(cfg.sample_size, int) else tuple(cfg.sample_size)[0]
        model, denoiser, scheduler = None, unet, model.scheduler
        image_shape = image_shape or (int(cfg.in_channels), int(size), int(size))
    if not name:  # after the user's class: "VAE", then "VAE-2" for the next one shown
        owner = next((o for o in (model, encoder, generator, decoder, denoiser) if o is not None), None)
        cls = type(getattr(owner, "__self__", owner))
        role = "denoiser" if denoiser is not None else "generator" if generator is not None else "autoencoder"
        name = role if cls.__module__.startswith("torch.") else cls.__name__  # nn.Sequential: what it is
        name = name if _shown == 1 else f"{name}-{_shown}"
    images, spec, rng = None, None, image_range
    if data is not None:
        kept, rng = image_data(data, labels, class_names, image_range)
        images = torch.from_numpy(kept.images)
        spec = keep(name, kept)
    if denoiser is not None:  # a diffusion model: its images are in [-1, 1], as DDPM's are
        if any(o is not None for o in (model, encoder, decoder, generator)):
            raise ConfigError("a denoiser is shown alone: give denoiser= with betas= or scheduler=, nothing else")
        from latent_explorer.models.io.python_denoiser import from_denoiser

        built = from_denoiser(denoiser, betas=betas, scheduler=scheduler,
                              image_shape=image_shape or (tuple(images.shape[1:]) if images is not None else None))
    else:
        built = from_modules(model=model, encoder=encoder, decoder=decoder, generator=generator,
                             latent_dim=latent_dim, images=images, image_range=rng if rng is not None else (0.0, 1.0),
                             image_shape=image_shape)
    built.meta = {**built.meta, "data": {"spec": spec} if spec else {}}
    return built, name


def save(path, model=None, *, encoder=None, decoder=None, generator=None, latent_dim=None, data=None, labels=None,
         class_names=None, image_range=None, init=None, overwrite: bool = False):
    """Write the modules (and, for an autoencoder, its data) as a checkpoint that opens later, in the window or
    with ``latent-explorer``: the file names each module's class and the arguments that rebuild it (``init``,
    per role, where a module does not keep them as attributes), the weights stay safetensors, nothing is
    pickled. Opening it asks before the named code is imported. Returns the file's path."""
    from latent_explorer.models.data.memory import kept
    from latent_explorer.models.io import python_checkpoint

    built, _ = wrap(model, encoder=encoder, decoder=decoder, generator=generator, latent_dim=latent_dim, data=data,
                    labels=labels, class_names=class_names, image_range=image_range)
    spec = built.meta.get("data", {}).get("spec")
    return python_checkpoint.save(path, built, data=kept(spec) if spec else None, init=init, overwrite=overwrite)


def show(model=None, *, encoder=None, decoder=None, generator=None, latent_dim=None, denoiser=None, betas=None,
         scheduler=None, data=None, labels=None, class_names=None, image_range=None, image_shape=None,
         name: str | None = None, view: str | None = None, screenshot: str | None = None,
         size: tuple[int, int] = (1280, 800), block: bool | None = None):
    """Open the window on the given modules (see the module's docstring) and, with ``data``, their data;
    ``view``: the view shown first (default: the map, the Diffusion view for a denoiser).
    ``image_range``: what the modules' images span, e.g. (-1, 1); default: detected from ``data``.
    ``screenshot`` (or $LATENT_EXPLORER_SCREENSHOT): save the view as a PNG once it has settled, then close
    (no blocking; a script's pictures, a test). ``block``: wait
    for the window to close (default: unless an event loop already runs Qt, as IPython's ``%gui qt``)."""
    import os

    from .qt_compat import application
    from .view_table import VIEW_NAMES

    if view is not None and view not in VIEW_NAMES:  # before anything is built or opened
        raise ValueError(f"no view named {view!r} (views: {', '.join(VIEW_NAMES)})")
    screenshot = screenshot or os.environ.get("LATENT_EXPLORER_SCREENSHOT") or None
    built, name = wrap(model, encoder=encoder, decoder=decoder, generator=generator, latent_dim=latent_dim,
                       denoiser=denoiser, betas=betas, scheduler=scheduler, data=data, labels=labels,
                       class_names=class_names, image_range=image_range, image_shape=image_shape, name=name)
    app = application()
    app.setApplicationName("Latent Explorer")
    from .main_window import MainWindow, wait_until_ready

    win = MainWindow()
    win.library.set_current(win.library.add_live(name, built))
    view = view or ("diffusion" if built.capabilities.diffusion else "map")  # where it is first seen
    win.show_view(view)
    win.resize(*size)
    win.show()
    if screenshot:
        if view == "diffusion" and win.diffusion.model is not None:  # a picture of it: one recorded run
            win.diffusion.run_reverse()
        done = {"ok": None}

        def shoot(ok):
            done["ok"] = bool(win.grab().save(screenshot)) and ok
            win.close()

        wait_until_ready(win, shoot)
        while done["ok"] is None:
            app.processEvents()
            app.thread().msleep(10)
        if not done["ok"]:
            raise RuntimeError(f"the {view} view did not settle in time, or {screenshot} could not be written")
        return win
    if block if block is not None else not _event_loop_running():
        _exec_until_closed(app, win)
    return win


def _exec_until_closed(app, win) -> None:
    """Run the window's event loop until it closes. Ctrl+C, SIGTERM and SIGHUP close it as its button does, then
    take the script's own action for them (by default: Ctrl+C is a KeyboardInterrupt, the others end it)."""
    import signal

    from .quit_signals import QuitOnSignal

    guard = QuitOnSignal(win.close_unasked, win)
    try:
        status = app.exec()
    finally:
        guard.uninstall()
    if status > 128 and status - 128 in {int(s) for s in signal.Signals}:
        signal.raise_signal(status - 128)  # Python's default SIGINT handler: a KeyboardInterrupt, raised here
