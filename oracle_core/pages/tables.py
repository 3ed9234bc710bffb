"""How every table in the book reads: whole (no "..." rows or cells), counts as integers, p-values with their
magnitude (1.5e-08, not 0.000), empty cells as a dash, large numbers with thousands separators. Installed by
pages.notebook.setup as the notebook's HTML form of a DataFrame, so a page's ``display(df)`` needs nothing else."""

from __future__ import annotations

import math
import re
from numbers import Number

import pandas as pd

EMPTY = "–"
_P_VALUE = re.compile(r"(^|[\s_(])p($|[\s_)])|p[_ ]value", re.IGNORECASE)


def _is_num(v) -> bool:
    return isinstance(v, Number) and not isinstance(v, bool)


def p_value(v) -> str:
    if not _is_num(v):
        return EMPTY if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    if math.isnan(v):
        return EMPTY
    return "0" if v == 0 else f"{v:.1e}" if abs(v) < 1e-3 else f"{v:.3f}"


def number(v) -> str:
    """One value: integral numbers without '.0' (thousands separated), others to 3 decimals below 1 and 2 above."""
    if v is None:
        return EMPTY
    if not _is_num(v):
        return str(v)
    if isinstance(v, float) and math.isnan(v):
        return EMPTY
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:.3f}" if abs(v) < 1 else f"{v:,.2f}"


def value_range(lo: float, hi: float, fmt: str = ".2f") -> str:
    """'lo to hi' in prose, or the one value when both print alike."""
    a, b = format(lo, fmt), format(hi, fmt)
    return a if a == b else f"{a} to {b}"


def tau(v) -> str:
    """A Kendall tau: signed, two decimals, everywhere in the book."""
    return f"{v:+.2f}" if _is_num(v) and not math.isnan(v) else number(v)


def halfwidth(v) -> str:
    """The half-width of an interval: two decimals, unsigned."""
    return f"{v:.2f}" if _is_num(v) and not math.isnan(v) else number(v)


def percent(v) -> str:
    """A percentage or percentage points: two decimals, everywhere in the book."""
    return f"{v:.2f}" if _is_num(v) and not math.isnan(v) and not float(v).is_integer() else number(v)


def formatter(column) -> callable:
    """One formatter per quantity, chosen by the column's name: p-values, taus, percentages, other numbers. Pages
    do not round before display, so one quantity prints one way on every page."""
    name = " ".join(map(str, column)) if isinstance(column, tuple) else str(column)
    if _P_VALUE.search(name):
        return p_value
    if "±" in name:  # a half-width: unsigned, as the interval's numbers print in prose
        return halfwidth
    if re.search(r"\btau\b", name, re.IGNORECASE) and "s.e." not in name and "CI" not in name:
        return tau
    if "%" in name or re.search(r"\bpp\b", name):
        return percent
    return number


def formatters(df: pd.DataFrame) -> dict:
    return {c: formatter(c) for c in df.columns}


def to_html(df: pd.DataFrame) -> str:
    """The DataFrame as the book shows it (every row and column, each value formatted by its column's kind)."""
    return df.to_html(formatters=formatters(df), na_rep=EMPTY, border=0, classes="oracle-table",
                     max_rows=None, max_cols=None, escape=True)
