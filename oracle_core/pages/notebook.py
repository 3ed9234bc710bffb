"""The first call of every notebook: charts rendered offline, the project's one-line errors instead of a
traceback, and the papermill parameters checked. A misspelt ``-p`` name is an error naming the parameters the
notebook takes (papermill itself only warns and runs the default); a value of the wrong type (``-p n_masks abc``)
is an error naming the parameter and an example."""

from __future__ import annotations

import ast

import pandas as pd
from IPython import get_ipython

from ..base.errors import OracleError
from . import charts, tables


def _assigned(source: str) -> dict[str, object]:
    """Names assigned at the top level of a cell, with their literal values (None when not a literal)."""
    out: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    try:
                        out[t.id] = ast.literal_eval(node.value)
                    except ValueError:
                        out[t.id] = None
    return out


def check_parameters(cells: list[str], namespace: dict) -> None:
    """``cells``: the sources run before this one, the parameters cell first (then papermill's injected cell). A name
    the injected cell sets that the parameters cell does not declare is an error, and so is a value whose type differs
    from the default's (an int where a float is declared is converted in ``namespace``)."""
    if not cells:
        return
    declared = _assigned(cells[0])
    for source in cells[1:]:
        for name in _assigned(source):
            if name not in declared:
                raise OracleError(f"unknown parameter {name!r}: this notebook takes {', '.join(declared)} "
                                  "(a misspelt -p name?)")
    for name, default in declared.items():
        value = namespace.get(name)
        if isinstance(default, bool) or default is None:
            if isinstance(default, bool) and not isinstance(value, bool):
                raise OracleError(f"parameter {name}={value!r} must be True or False, e.g. -p {name} {default}")
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            namespace[name] = float(value)
        elif not isinstance(value, type(default)) or isinstance(value, bool):
            kind = {int: "an integer", float: "a number", str: "text"}.get(type(default), type(default).__name__)
            raise OracleError(f"parameter {name}={value!r} must be {kind}, e.g. -p {name} {default!r}")


def _one_line(shell, etype, evalue, tb, tb_offset=None):  # IPython's custom exception handler signature
    shell._showtraceback(etype, evalue, [f"error: {evalue}"])


def setup(namespace: dict) -> None:
    """Offline charts; tables shown whole and formatted (pages/tables.py); OracleError shown as its one line; the
    parameters of the cells run so far checked."""
    charts.enable_offline()
    shell = get_ipython()
    if shell is None:  # imported outside a kernel (a test): nothing to hook or check
        return
    shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, tables.to_html)
    shell.set_custom_exc((OracleError,), _one_line)
    history = [c for c in namespace.get("In", [])[1:-1] if c.strip()]  # the cells before this one
    check_parameters(history, namespace)
