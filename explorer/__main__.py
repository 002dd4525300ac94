"""``python -m latent_explorer [MODEL | COMMAND ...]``: as the ``latent-explorer`` command."""

from latent_explorer.launch import run

run()
