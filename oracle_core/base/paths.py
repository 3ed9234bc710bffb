"""Every root folder of the project, worked out once: the repository, results, data and the paper's reference
tables. ``$ORACLE_RESULTS`` and ``$ORACLE_DATA`` move the two working folders (a second disk, a worktree that
shares the main checkout's results)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent  # the checkout: book/, notebooks/, reference/, results/
REFERENCE_DIR = REPO / "reference"  # the paper's published numbers and recovered points (CSV)


def default_results_root() -> Path:
    """``$ORACLE_RESULTS`` or ``results/`` at the repository root."""
    env = os.environ.get("ORACLE_RESULTS")
    return Path(env) if env else REPO / "results"


def default_data_root() -> Path:
    """``$ORACLE_DATA`` or ``data/`` at the repository root."""
    env = os.environ.get("ORACLE_DATA")
    return Path(env) if env else REPO / "data"
