"""``python -m sage``: the command line, so launchers that take a module (``torchrun -m``) can start it."""

import sys

from sage.cli import main

sys.exit(main())
