"""The command line under bad input and unexpected failures: one line on stderr, the right exit code, a log with
the full traceback for what is not the user's mistake, and nothing written."""

from __future__ import annotations

import re

import pytest

from oracle_core.experiment import commands


def test_an_unwritable_results_folder_is_one_line_and_exit_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = commands.main(["run", "--profile", "smoke", "--results", str(blocker / "results")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert "cannot write to the results folder" in err and "--results" in err


def test_an_unexpected_failure_is_one_line_naming_a_log_with_the_traceback(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("something deep went wrong\nsecond line")

    monkeypatch.setattr(commands, "run_study", broken)
    code = commands.main(["run", "--profile", "smoke", "--results", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.count("\n") == 0
    assert err.startswith("error: unexpected RuntimeError: something deep went wrong (full traceback in ")
    log = re.search(r"full traceback in (\S+);", err).group(1)
    text = open(log).read()
    assert "Traceback (most recent call last)" in text and "def broken" not in text and "broken" in text
    assert not list(tmp_path.iterdir())  # nothing was written


def test_debug_shows_the_traceback_itself(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(commands, "run_study", broken)
    with pytest.raises(RuntimeError, match="boom"):
        commands.main(["--debug", "run", "--profile", "smoke", "--results", str(tmp_path)])


@pytest.mark.parametrize("param,value,message", [
    ("ratios", "0.7", "unknown parameter 'ratios': this notebook takes model, dataset, layers, ratio,"),
    ("n_masks", "abc", "parameter n_masks='abc' must be an integer, e.g. -p n_masks 0"),
])
def test_a_bad_notebook_parameter_stops_the_notebook_with_one_line(tmp_path, param, value, message):
    """papermill only warns about a misspelt -p name and runs the default; our notebooks stop at their first cell
    with the project's one-line error (and nothing is computed)."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    out = tmp_path / "out.ipynb"
    run = subprocess.run([sys.executable, "-m", "papermill", str(REPO / "notebooks" / "lenet_mnist.ipynb"), str(out),
                          "-k", "python3", "--cwd", str(REPO), "-p", param, value, "-p", "results_root", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode != 0
    errors = [o for c in json.loads(out.read_text())["cells"] for o in c.get("outputs", [])
              if o["output_type"] == "error"]
    assert len(errors) == 1 and len(errors[0]["traceback"]) == 1
    assert errors[0]["traceback"][0].startswith("error: " + message)
    assert not (tmp_path / "lenet_mnist").exists()
