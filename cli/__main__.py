"""``python -m cli`` = ``uniform``."""

import sys

from .main import main

sys.exit(main())
