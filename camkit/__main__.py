"""``python -m camkit``: the same as the ``camkit`` command (see :mod:`camkit.apps.cli`)."""

import sys

from .apps.cli import main

sys.exit(main())
