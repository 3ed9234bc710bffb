"""Shared fixtures. Real MNIST comes from `make data` (the test command fetches it first)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory) -> Path:
    """One shared smoke-profile results root (pretraining is reused across tests)."""
    return tmp_path_factory.mktemp("results")
