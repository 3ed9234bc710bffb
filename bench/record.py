"""Append one row to a section's table in bench/RESULTS.md (creating the section if it is new)."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def append_row(section: str, header: str, row: str, path: Path = RESULTS) -> None:
    """``header`` is the table's header line (the separator is derived); ``row`` one '| ... |' line."""
    lines = path.read_text().splitlines() if path.exists() else ["# Benchmark results (appended by bench/*.py)"]
    title = f"## {section}"
    if title not in lines:
        ncol = header.count("|") - 1
        lines += ["", title, "", header, "|" + "---|" * ncol]
    start = lines.index(title)
    end = start + 1
    while end < len(lines) and not lines[end].startswith("## "):
        end += 1
    last_table_line = max(i for i in range(start, end) if lines[i].startswith("|"))
    lines.insert(last_table_line + 1, row)
    path.write_text("\n".join(lines) + "\n")
