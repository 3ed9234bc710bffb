"""``python -m oracle_core.data fetch|verify ...`` (data/cli.py)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
