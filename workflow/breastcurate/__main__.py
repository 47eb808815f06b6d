"""`python -m breastcurate …` is the `breastcurate` command."""

import sys

from .cli import main

sys.exit(main())
