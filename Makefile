# Latent Explorer — the two commands: `make run` and `make test`.
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
export QT_QPA_PLATFORM ?= offscreen

.PHONY: run test install assets bench lint clean screenshots

$(VPY):
	$(PY) -m venv $(VENV)

$(STAMP): $(VPY) pyproject.toml
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Qt's window plugin needs system libraries: checked (and installed where we may) before Qt starts
run: $(STAMP)
	QT_QPA_PLATFORM= $(VPY) -m latent_explorer.platform_check --install
	QT_QPA_PLATFORM= $(VPY) main.py

# two workers (pytest-xdist): the suite waits on child processes and the window's event loop about half
# the time, so two share two cores well; `$(VPY) -m pytest tests/…` runs a part in one process
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VPY) -m pytest -n 2

lint: $(STAMP)
	$(VPY) -m ruff check .

# Rebuild the bundled models in assets/ with the exact commands (see assets/README.md).
assets: $(STAMP)
	bash assets/build.sh $(VPY)

# README pictures; uses $$DISPLAY when set (e.g. Xvfb), offscreen otherwise.
SHOT = rm -f /tmp/le-shot.ini && QT_QPA_PLATFORM= LATENT_EXPLORER_SETTINGS=/tmp/le-shot.ini $(VPY) main.py
screenshots: $(STAMP)
	$(SHOT) --open assets/mnist-vae2d.safetensors --view map --map-mode both --screenshot docs/map.png
	$(SHOT) --open assets/scenes-vae.safetensors --view editor --random-z 7 --screenshot docs/editor.png
	$(SHOT) --open assets/mnist-ddpm.safetensors --view diffusion --frame 700 --screenshot docs/diffusion.png
	$(SHOT) --open assets/mnist-ddpm.safetensors --view diffusion --gif docs/diffusion.gif
	$(SHOT) --open assets/scenes-ldm.safetensors --view txt2img --size 1500x950 --frame 15 \
	        --prompt "a large red triangle at the center on a white background" --screenshot docs/txt2img.png
	$(SHOT) --open assets/mnist-cgan.safetensors --view quality --screenshot docs/quality.png
	$(SHOT) --open assets/digits-vae16.safetensors --view inspect --size 1300x820 --screenshot docs/inspect.png
	$(SHOT) --train-demo --screenshot docs/training.png

bench: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VPY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info
