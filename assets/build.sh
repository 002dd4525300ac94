#!/usr/bin/env bash
# Rebuilds the bundled models in assets/ with the exact commands used for the shipped files
# (`make assets`). Each run is seeded; expect a few minutes on a 2-core laptop CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
LE="$PY main.py"
# the app never writes into assets/ (bundled models are never overwritten): train into a scratch folder,
# then move the finished files in
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
train() { echo "== $*" >&2; $LE train --quiet "$@"; }

train --model ae   --data digits --latent-dim 8  --epochs 200 --seed 0 --out "$OUT"/digits-ae.safetensors
train --model vae  --data digits --latent-dim 2  --epochs 300 --seed 0 --out "$OUT"/digits-vae2d.safetensors
train --model vae  --data digits --latent-dim 16 --epochs 200 --seed 0 --out "$OUT"/digits-vae16.safetensors
train --model aae  --data digits --latent-dim 2  --epochs 300 --seed 0 --out "$OUT"/digits-aae.safetensors
train --model gan  --data digits --latent-dim 32 --epochs 300 --seed 0 --out "$OUT"/digits-gan.safetensors
train --model ddpm --data digits --conditional --epochs 400 --seed 0 --out "$OUT"/digits-ddpm.safetensors
train --model vae  --data shapes --latent-dim 6 --hidden 400 --epochs 60 --seed 0 \
      --out "$OUT"/shapes-vae.safetensors

mv "$OUT"/*.safetensors assets/
for f in assets/*.safetensors; do
  name=$(basename "$f" .safetensors)
  $LE sample "$f" --n 64 --seed 0 --out "assets/samples/$name.png"
done
ls -l assets/*.safetensors
