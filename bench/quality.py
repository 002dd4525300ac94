"""The README's sample-quality table: ``latent-explorer eval`` on every real-size bundled model, one command
per row (shown in the table), and the ladder of real images against real images on the same yardstick.

    python -m bench.quality            # prints the Markdown table (minutes: the DDPM samples 2,000 images)
    python -m bench.quality mnist-wgan # only the rows named (and the ladder)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name -> extra eval arguments (diffusion: DDIM steps and guidance, stated in the command)
MODELS = {
    "mnist-ae": [], "mnist-vae2d": [], "mnist-vae16": [], "mnist-cvae": [], "mnist-aae": [],
    "mnist-dcgan": [], "mnist-wgan": [], "mnist-cgan": [],
    "mnist-ddpm": ["--steps", "50", "--guidance", "2"],
    "scenes-vae": [], "mnist-stylegan": [], "scenes-stylegan": [],
}


def ladder() -> list[str]:
    from latent_explorer.models.analysis.classifier import CLASSIFIER_DIR, load_classifier
    from latent_explorer.models.analysis.quality import real_vs_real
    from latent_explorer.models.data import load_dataset

    rows = []
    for name in ("mnist", "scenes"):
        path = CLASSIFIER_DIR / f"{name}.safetensors"
        if not path.exists():
            continue
        net = load_classifier(path)
        train, val = load_dataset(name).split(0.1)
        fds = [real_vs_real(net, val, train, noise) for noise in (0.0, 0.1, 0.3)]
        acc = ", ".join(f"{k} {v:.3f}" for k, v in net.config.held_out_accuracy.items())
        rows.append(f"| `{name}` | {fds[0]:.1f} | {fds[1]:.1f} | {fds[2]:.1f} | {acc} |")
    return rows


def main() -> int:
    rows = []
    wanted = sys.argv[1:] or list(MODELS)
    unknown = sorted(set(wanted) - set(MODELS))
    if unknown:
        print(f"unknown rows {unknown}; the rows are {list(MODELS)}", file=sys.stderr)
        return 2
    for name, extra in MODELS.items():
        if name not in wanted:
            continue
        path = ROOT / "assets" / f"{name}.safetensors"
        if not path.exists():
            print(f"skipping {name}: not built", file=sys.stderr)
            continue
        cmd = ["latent-explorer", "eval", f"assets/{name}.safetensors", *extra]
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "main.py", *cmd[1:]], cwd=ROOT, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{name}: {r.stderr.strip()}", file=sys.stderr)
            continue
        d = json.loads(r.stdout)
        print(f"{name}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
        acc = d.get("conditional_accuracy")
        rows.append(f"| `{' '.join(cmd)}` | {d['frechet_distance']:.1f} | {d['precision']:.3f} | {d['recall']:.3f} "
                    f"| {d['class_coverage']:.2f} | {'—' if acc is None else f'{acc:.3f}'} |")
    print("| command | Fréchet distance ↓ | precision ↑ | recall ↑ | class coverage ↑ | conditional accuracy ↑ |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n| data | FD held-out vs train | + N(0, 0.1²) noise | + N(0, 0.3²) noise | classifier held-out accuracy |")
    print("|---|---|---|---|---|")
    print("\n".join(ladder()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
