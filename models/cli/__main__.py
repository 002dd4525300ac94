"""``python -m latent_explorer.models.cli``: the command line (``torchrun -m latent_explorer.models.cli train ...``
starts a distributed run)."""

import sys

from latent_explorer.models.cli import main

sys.exit(main())
