"""``python -m model_core``: see :mod:`model_core.cli`."""

import sys

from .cli import main

sys.exit(main())
