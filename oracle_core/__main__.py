"""``python -m oracle_core run|grid ...``: the command line (experiment/commands.py)."""

import sys

from .experiment.commands import main

if __name__ == "__main__":
    sys.exit(main())
