"""Shared fixtures. Real MNIST comes from `make data` (the test command fetches it first)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent  # oracle_core itself is installed (`pip install -e .`, make venv)


def pytest_collection_modifyitems(items):
    """Markers for `make test-fast`: tests on the smoke grid or book are slow, notebook runs are `notebook`."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & {"smoke_grid", "smoke_book"}:
            item.add_marker(pytest.mark.slow)
        if "smoke_book" in fixtures or "notebook" in item.name:
            item.add_marker(pytest.mark.notebook)


def pytest_terminal_summary(terminalreporter):
    """The machine the tests ran on, last in the output (CI's report shows the tail): results and tolerances are
    promised on every CPU kind, so a failure must say which kind it came from."""
    import torch

    from oracle_core.experiment.envinfo import device_name

    terminalreporter.write_line(f"machine: {device_name(torch.device('cpu'))}, torch kernels "
                                f"{torch.backends.cpu.get_cpu_capability()}")


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory) -> Path:
    """One shared smoke-profile results root (pretraining is reused across tests)."""
    return tmp_path_factory.mktemp("results")


# a few settings of every figure page (both wirings, a ratio, a multi-layer set, a dataset, a depth variant, and
# the noise ceiling of conv1 and conv2); the rest of each page shows its placeholders and commands
SMOKE_GRID = ("lenet5_mini/mnist conv1@0.5,lenet5_mini/mnist conv2@0.5,lenet5_mini/mnist conv1@0.2,"
              "lenet5_mini/mnist conv1+conv2@0.5,lenet5_mini/fashion_mnist,lenet5_mini_d6/")


@pytest.fixture(scope="session")
def smoke_grid(tmp_path_factory) -> Path:
    """A results root holding the SMOKE_GRID settings at the smoke profile (run by the grid CLI, 2 workers)."""
    results = tmp_path_factory.mktemp("grid-results")
    g = subprocess.run([sys.executable, "-m", "oracle_core", "grid", "--profile", "smoke", "--results", str(results),
                        "--only", SMOKE_GRID], cwd=REPO, capture_output=True, text=True)
    assert g.returncode == 0, g.stdout[-3000:] + g.stderr[-3000:]
    return results


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory, smoke_grid):
    """The book rendered at the smoke profile from the smoke grid: (folder, build log)."""
    dest = tmp_path_factory.mktemp("book")
    results = smoke_grid
    p = subprocess.run([sys.executable, "-m", "oracle_core.pages.build", "--profile", "smoke", "--dest", str(dest),
                        "--results", str(results)], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return dest, p.stdout + p.stderr


def assert_same_trajectory(refs, news, steps: int, tol: float = 1e-4) -> None:
    """Two trainings of the same models follow one trajectory: every step's loss and every final value agree."""
    for a, b in zip(refs, news, strict=True):
        assert len(a.step_loss) == steps
        assert max(abs(p - q) for p, q in zip(a.step_loss, b.step_loss)) < tol
        for key, v in a.final.items():
            assert abs(v - b.final[key]) < tol, key


def run_notebook(name: str, out: Path, env: dict | None = None, **params) -> str:
    """Execute notebooks/<name>.ipynb with papermill into ``out`` (what a user runs); returns the executed text.
    Fails the test with papermill's stderr if the notebook fails."""
    import os

    cmd = [sys.executable, "-m", "papermill", str(REPO / "notebooks" / f"{name}.ipynb"), str(out), "-k", "python3",
           "--cwd", str(REPO)]
    for k, v in params.items():
        cmd += ["-p", k, str(v)]
    run = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return Path(out).read_text()
