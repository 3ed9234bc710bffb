"""The data behind a page's charts, one click away: each setting's per-mask table (ours) and the paper's recovered
points, as CSV files.

In the book build (``ORACLE_BOOK_DOWNLOADS`` names the book's ``_static/data`` folder, set by pages/build.py) the
files are written there and linked with an ``oracle-static:`` address that book/_ext/offline_html.py turns into the
page's relative path to ``_static/``. Elsewhere (a notebook run by hand) nothing is written: the links name the
files in the checkout that hold the same rows."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pandas as pd

from ..analysis import reference
from ..analysis.stored import StoredSetting, StudyResult
from ..base.io import atomic_write_csv
from ..base.paths import REPO

DOWNLOADS_ENV = "ORACLE_BOOK_DOWNLOADS"
STATIC_PREFIX = "oracle-static:"  # rewritten to the page's relative path to _static/ by the book's extension
OUR_COLUMNS = ["mask_id", "kept", "repeat", "seed", "pruned_train_loss", "pruned_train_acc", "final_test_acc",
               "final_test_loss", "final_train_loss", "best_epoch"]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def _folder() -> Path | None:
    d = os.environ.get(DOWNLOADS_ENV)
    return Path(d) if d else None


def _link(name: str, df: pd.DataFrame, fallback: str, label: str) -> str:
    folder = _folder()
    if folder is None:
        return f"{html.escape(label)} (<code>{html.escape(fallback)}</code>)"
    atomic_write_csv(folder / name, df)
    return f'<a href="{STATIC_PREFIX}data/{name}" download>{html.escape(label)}</a>'


def ours(result: StudyResult, label: str) -> str:
    """Link to one stored run's per-mask table (every mask and repeat: kept filters, pruned train loss, final test
    accuracy and loss, seed)."""
    s = result.spec
    name = _safe(f"ours_{s.profile}_{s.model}_{s.dataset}_{s.layers_text}_{s.ratio:g}_{s.wiring}") + ".csv"
    cols = [c for c in OUR_COLUMNS if c in result.masks]
    rel = result.dir.relative_to(REPO) if result.dir.is_relative_to(REPO) else result.dir
    return _link(name, result.masks[cols], f"{rel}/masks.csv", label)


def paper(panel: str, label: str) -> str:
    """Link to the paper's recovered points of one published panel."""
    pts = reference.paper_points(panel)
    return _link(_safe(f"paper_{panel}") + ".csv", pts, f"reference/paper_points.csv, panel {panel}", label)


def downloads(cs: list[StoredSetting], profile: str) -> str:
    """HTML: the per-mask CSV of every stored setting of ``cs`` and the paper's points of every published panel."""
    our = [ours(c.result, c.title) for c in cs if c.result is not None]
    theirs = [paper(c.panel, c.title) for c in cs if c.panel is not None]
    parts = []
    if our:
        parts.append(f"<p><b>Ours (profile <code>{html.escape(profile)}</code>), one row per mask and "
                     f"retraining:</b> {', '.join(our)}.</p>")
    if theirs:
        parts.append(f"<p><b>The paper's recovered points:</b> {', '.join(theirs)}.</p>")
    if not parts:
        return "<p>No data behind this page yet.</p>"
    return block(parts)


def block(paragraphs: list[str]) -> str:
    """The box every page's CSV links sit in (one title, the given paragraphs)."""
    return ('<div class="oracle-downloads"><p class="oracle-downloads-title">Data behind the charts (CSV)</p>'
            + "".join(paragraphs) + "</div>")
