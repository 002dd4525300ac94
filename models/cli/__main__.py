"""``python -m models.cli``: the command line (``torchrun -m models.cli train ...`` starts a distributed run)."""

import sys

from models.cli import main

sys.exit(main())
