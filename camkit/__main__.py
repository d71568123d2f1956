"""``python -m camkit``: the same as the ``camkit`` command (see :mod:`camkit.cli`)."""

import sys

from .cli import main

sys.exit(main())
