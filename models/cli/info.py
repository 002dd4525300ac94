"""``latent-explorer info FILE``: what a checkpoint is, as JSON on stdout.

By default a summary a screen can hold: the kind, its shapes and size, the data, and the training's totals
(epochs, steps, final losses, time) with a few epochs of its history; ``--full`` prints the whole metadata,
every epoch of it. A TorchScript generator: its sidecar and listing (none of its code run); an ONNX one: its
graph's input and its sidecar (no decode is run). A PNG: the generation parameters it carries.
"""

from __future__ import annotations

import json
from pathlib import Path

from latent_explorer.models.errors import ConfigError

HISTORY_SHOWN = 3  # epochs of the history in the summary: the first and the last two
LIST_SHOWN = 40  # items of any other list in the summary (class names...)
WIDTH = 110  # a JSON object or list that fits in this many characters is printed on one line


def add_parser(sub) -> None:
    i = sub.add_parser("info", help="print what a checkpoint is (or a PNG's generation parameters) as JSON")
    i.add_argument("file")
    i.add_argument("--full", action="store_true",
                   help="the whole metadata: every epoch of the training history (default: a summary)")


def cmd_info(a) -> int:
    from latent_explorer.models.io.checkpoint import load
    from latent_explorer.models.io.external import UntrustedCode, describe_torchscript
    from latent_explorer.models.io.python_checkpoint import UntrustedModules, describe_file

    if Path(a.file).suffix.lower() == ".png":  # PNG Info: the generation parameters an image carries
        from latent_explorer.models.io.images import png_text

        try:
            text = png_text(a.file)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        print(compact_json({"path": a.file, "parameters": text.get("parameters"), "text": text}))
        return 0
    try:
        model = load(a.file, probe=False)  # an ONNX graph: read and checked, never run (a Loop may not end)
    except UntrustedModules as e:  # a model saved from Python: what its header says, nothing imported
        print(compact_json(describe_file(e.path)))
        return 0
    except UntrustedCode as e:  # TorchScript: its sidecar and listing, and none of its code run
        print(compact_json(describe_torchscript(e.path)))
        return 0
    meta = dict(model.meta)
    meta["parameters"] = sum(p.numel() for p in model.parameters())
    print(compact_json(meta if a.full else summary(model, meta)))
    return 0


def summary(model, meta: dict) -> dict:
    """``meta`` with the training's history cut to :data:`HISTORY_SHOWN` epochs, one line each (and a line
    saying so), its time in words, and every other long list cut to :data:`LIST_SHOWN` items; the model's
    kind, title, image shape and latent size first."""
    out = {"path": meta.get("path"), "kind": model.kind, "title": model.spec.title,
           "image_shape": list(model.image_shape)}
    if model.latent_dim:
        out["latent_dim"] = model.latent_dim
    out.update({k: _cut(v) for k, v in meta.items() if k not in ("path", "kind", "training")})
    t = meta.get("training")
    if isinstance(t, dict) and t:
        training = {k: _cut(v) for k, v in t.items() if k != "history"}
        if isinstance(t.get("seconds"), (int, float)):
            from latent_explorer.models.cli.progress import fmt_time

            training["time"] = fmt_time(t["seconds"])
        history = t.get("history")
        if isinstance(history, list) and history:
            shown = history if len(history) <= HISTORY_SHOWN else [history[0], *history[1 - HISTORY_SHOWN:]]
            training["history"] = [_epoch_line(e) for e in shown]
            if len(shown) < len(history):
                training["history_shown"] = f"{len(shown)} of {len(history)} epochs (info --full: every one)"
        out["training"] = training
    return out


def _epoch_line(e) -> str:
    """An epoch of the history on one line: ``epoch 3: train loss 27.1 kl 0.05; val loss 27.08 mse 0.0746``."""
    if not isinstance(e, dict):
        return json.dumps(e)[:200]
    parts = [f"epoch {e.get('epoch', '?')}"]
    for key in ("train", "val"):
        figures = e.get(key)
        if isinstance(figures, dict) and figures:
            parts.append(f"{key} " + " ".join(f"{k} {_g(v)}" for k, v in figures.items()))
    return parts[0] + ": " + "; ".join(parts[1:]) if len(parts) > 1 else parts[0]


def _g(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _cut(value):
    """For the summary: floats to 6 significant digits, and a list of more than LIST_SHOWN items cut, its last
    item saying how many more there are."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, list):
        cut = [_cut(v) for v in value[:LIST_SHOWN]]
        return cut + [f"... {len(value) - LIST_SHOWN} more (info --full: all)"] if len(value) > LIST_SHOWN else cut
    if isinstance(value, dict):
        return {k: _cut(v) for k, v in value.items()}
    return value


def compact_json(obj, indent: int = 2, width: int = WIDTH, _level: int = 0, _col: int = 0) -> str:
    """JSON as ``json.dumps(obj, indent=2)`` would write it, except that an object or a list that fits in
    ``width`` characters stays on one line: a shape is ``[1, 28, 28]``, an epoch of history one line."""
    one = json.dumps(obj)
    if not isinstance(obj, (dict, list)) or not obj or _col + len(one) <= width:
        return one
    pad, inner, level = " " * _level, " " * (_level + indent), _level + indent
    if isinstance(obj, dict):
        items = [inner + (key := f"{json.dumps(str(k))}: ") + compact_json(v, indent, width, level, level + len(key))
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if not any(isinstance(v, (dict, list)) for v in obj):  # words or numbers: as many to a line as fit
        lines, line = [], ""
        for word in map(json.dumps, obj):
            if line and level + len(line) + len(word) + 2 > width:
                lines.append(line)
                line = ""
            line += (", " if line else "") + word
        return "[\n" + ",\n".join(inner + ln for ln in [*lines, line]) + "\n" + pad + "]"
    items = [inner + compact_json(v, indent, width, level, level) for v in obj]
    return "[\n" + ",\n".join(items) + "\n" + pad + "]"
