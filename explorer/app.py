"""Build the application and open the window; ``--screenshot`` renders a view offscreen and exits."""

from __future__ import annotations

import argparse
import sys


def parse(argv):
    from latent_explorer.models.cli import command_lines

    from .view_table import VIEW_NAMES

    lines = command_lines()
    width = max(len(name) for name, _ in lines) + 2
    commands = "\n".join(f"  {name:<{width}}{text}" for name, text in lines)
    p = argparse.ArgumentParser(
        prog="latent-explorer", formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [MODEL] [options]     open the window\n       %(prog)s COMMAND ...            run a command",
        description="Look inside generative image models. With no command, the window opens (options below).",
        epilog=f"commands (latent-explorer COMMAND --help: its options):\n{commands}")
    p.add_argument("file", nargs="?", metavar="MODEL", help="a model file to open (as --open MODEL)")
    p.add_argument("--open", metavar="FILE", help="open this model and make it current")
    p.add_argument("--view", choices=VIEW_NAMES, help="view to show")
    p.add_argument("--prompt", help="Text to Image view: generate from this prompt (then --frame: show that step)")
    p.add_argument("--screenshot", metavar="OUT.png", help="render the window once loaded, save, exit")
    p.add_argument("--map-mode", choices=("points", "grid", "both"), help="Latent Map: points, decoded grid, "
                   "or both")
    p.add_argument("--frame", type=int, help="Diffusion, Text to Image views: record a trajectory and show this frame "
                   "(default with --screenshot: the middle one)")
    p.add_argument("--random-z", type=int, metavar="SEED", help="Latent Editor: start from a random z")
    p.add_argument("--gif", metavar="OUT.gif", help="Diffusion view: record a trajectory, save it as a GIF, exit")
    p.add_argument("--train-demo", action="store_true", help="Training view: start a short VAE run on digits "
                   "(saved in a temporary folder); with --screenshot, shoot it in progress")
    p.add_argument("--size", default="1280x800", help="window size for screenshots, e.g. 1280x800")
    p.add_argument("--no-bundled", action="store_true", help="do not list the bundled models")
    p.add_argument("--debug", action="store_true", help="print the traceback of every error the window answers "
                   "(as LATENT_EXPLORER_DEBUG=1 does; before a command: its errors' tracebacks)")
    a = p.parse_args(argv)
    if a.debug:
        from latent_explorer.models.errors import start_debugging

        start_debugging()
    return a


def main(argv=None) -> int:
    import os

    argv = list(sys.argv[1:] if argv is None else argv)
    words = [w for w in argv if w != "--debug"]
    first = words[0] if words else "-"
    if not first.startswith("-") and not os.path.exists(first) and not os.path.splitext(first)[1]:
        from latent_explorer.models.cli import COMMANDS  # a mistyped command (and its flags), not a model file

        print(f"error: no command or file {first!r} (commands: {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    try:
        a = parse(argv)
    except SystemExit as e:
        return int(e.code or 0)
    a.open = a.open or a.file
    if a.screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from .platform_check import check

    if check():  # a missing system library: the command that installs it, never Qt's abort
        return 1
    from .qt_compat import application, finish

    application(sys.argv[:1])  # guards PySide6 6.12's emit refcount bug on Python 3.11
    try:
        return _run(a)
    finally:
        finish()  # windows closed and garbage collected while Qt still lives


def _run(a) -> int:

    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow, wait_until_ready

    app = QApplication.instance()
    app.setApplicationName("Latent Explorer")
    app.setOrganizationName("LatentExplorer")
    win = MainWindow(load_bundled=not a.no_bundled)
    from .quit_signals import QuitOnSignal

    QuitOnSignal(win.close_unasked, win)  # Ctrl+C in the terminal, SIGTERM, SIGHUP: closed as by its button
    if a.open:
        if not win.open_path(a.open):
            print(f"error: {win.last_error}", file=sys.stderr)
            if a.screenshot:
                return 2
    if a.view:
        from .view_table import VIEW_NAMES

        if a.view not in VIEW_NAMES:  # (argparse's choices say so first; win.views holds only views built)
            print(f"error: the {a.view} view is not available", file=sys.stderr)
            return 2
        win.show_view(a.view)
    if a.view == "diffusion" and (a.screenshot or a.frame is not None) and win.diffusion.model is not None:
        d = win.diffusion

        def at_frame():
            d.frame.setValue(a.frame if a.frame is not None else d.frame.maximum() // 2)

        d.ready.connect(at_frame)
        d.run_reverse()
    if a.view == "txt2img" and a.prompt is not None and win.txt2img.model is not None:
        t = win.txt2img
        if a.frame is not None:
            t.ready.connect(lambda: t.frame.setValue(a.frame) if t.frame.value() == t.frame.maximum() else None)
        if a.screenshot:  # the CFG strip too, once the images are there
            def strip_once():
                t.ready.disconnect(strip_once)
                t.make_strip()

            t.ready.connect(strip_once)
        t.prompt.setText(a.prompt)
        t.generate()
    if a.view == "quality" and a.screenshot:
        win.quality.n.setValue(500)
        win.quality.measure()
    if a.random_z is not None and win.latent.model is not None:
        win.editor.seed_box.setValue(a.random_z)
        win.editor.randomise()
    if a.gif:
        return _export_gif(app, win, a.gif)
    if a.train_demo:
        _start_demo_run(win)
    if a.map_mode:
        win.map.mode.setCurrentIndex({"points": 0, "grid": 1, "both": 2}[a.map_mode])
    if a.screenshot:
        try:
            w, h = (int(v) for v in a.size.lower().split("x"))
        except ValueError:
            print(f"error: --size must look like 1280x800, got {a.size!r}", file=sys.stderr)
            return 2
        win.resize(w, h)
        win.show()
        result = {"code": 0}

        def shoot(ok):
            if not win.grab().save(a.screenshot):
                print(f"error: cannot write {a.screenshot}", file=sys.stderr)
                result["code"] = 2
            elif not ok:
                print("warning: the view did not finish loading in time", file=sys.stderr)
            win.close()
            app.quit()

        wait_until_ready(win, shoot)
        app.exec()
        return result["code"]
    win.show()
    return app.exec()


def _export_gif(app, win, out: str) -> int:
    """Record a DDPM trajectory of the current model and save it as a GIF (README pictures)."""
    d = win.diffusion
    if d.model is None:
        print("error: --gif needs a DDPM model (--open a diffusion checkpoint)", file=sys.stderr)
        return 2
    result = {"code": 0}

    def done():
        try:
            d.export_gif(out)
        except Exception as e:  # noqa: BLE001
            print(f"error: {e}", file=sys.stderr)
            result["code"] = 2
        win.close()
        app.quit()

    d.ready.connect(done)
    d.run_reverse()
    app.exec()
    return result["code"]


def _start_demo_run(win) -> None:
    import tempfile
    from pathlib import Path

    from .training_view import RunSpec

    folder = tempfile.mkdtemp(prefix="latent-explorer-demo-")
    run = win.training.start(RunSpec("vae", "digits", str(Path(folder) / "demo-vae.safetensors"), 120, 64, 1e-3, 2,
                                     preview_every=0.5))
    win.show_view("training")
    win.ask_stop_runs = lambda: True  # closing after the screenshot stops the demo quietly
    win.training.is_ready = lambda: run.fraction >= 0.45 or run.worker is None
