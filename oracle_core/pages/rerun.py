"""The "Re-run this page" box at the top of every figure page: the exact command that redraws the page from the
stored results, the commands that recompute them at each profile, and the time that takes, computed from the
seconds per mask the store measured (never typed)."""

from __future__ import annotations

import html
from pathlib import Path

from ..analysis.collect import built_from
from ..analysis.hours import setting_hours
from ..analysis.stored import StoredSetting

WORKERS = 2  # the grid's default: two 1-thread workers on a 2-core CPU


def _code(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def _hours(profile: str, cs: list[StoredSetting], results_root: Path | None) -> str:
    """Measured and projected hours for the settings of ``cs`` at ``profile`` (analysis.hours), in words."""
    h = setting_hours(profile, cs, results_root, WORKERS)
    if not h.total:
        return f"the grid has none of these settings at `{profile}`"
    text = f"{h.done} of {h.total} settings stored"
    if h.done and h.spent:
        text += f" (about {h.spent:.1f} h with {WORKERS} 1-thread workers, measured)"
    if h.done < h.total:
        text += (f"; about {h.left:.1f} h left at the measured seconds per mask" if h.left is not None else
                 "; time not measured yet at this profile")
    return text


def figure_box(notebook: str, profile: str, cs: list[StoredSetting], results_root: Path | None = None,
               profiles: tuple[str, ...] = ("converged", "cpu")) -> str:
    """HTML for a figure page built from grid settings: redraw (seconds), recompute per profile (hours)."""
    items = [f"<p>Redraw this page from the stored results (seconds; nothing is trained):</p>"
             f"{_code(f'papermill notebooks/{notebook}.ipynb out.ipynb -p profile {profile}')}"]
    for p in dict.fromkeys((profile, *profiles)):
        items.append(f"<p>Recompute its results at <code>{p}</code>: {_hours(p, cs, results_root)}. The grid runs "
                     f"every figure's settings and resumes; <code>--list</code> shows what is left:</p>"
                     f"{_code(f'python -m oracle_core grid --profile {p} --workers {WORKERS}')}")
    one = "\n".join(c.command for c in cs)
    items.append(f"<details><summary>One command per setting of this page (profile {html.escape(profile)})"
                 f"</summary>{_code(one)}</details>")
    return box(items, notebook)


def setting_box(notebook: str, params: dict, command: str, measured_s: float | None) -> str:
    """HTML for a single-setting page: the papermill command with its parameters, the CLI equivalent, and the
    measured time of the stored run (or that none is measured)."""
    args = " ".join(f"-p {k} {v}" for k, v in params.items())
    when = (f"The stored run took {measured_s / 3600:.1f} h of recorded wall time." if measured_s else
            "No run of this setting is stored here, so its time is not measured yet.")
    return box([f"<p>Recompute this page (runs the setting if the store lacks it, then draws it). {when}</p>"
                 f"{_code(f'papermill notebooks/{notebook}.ipynb out.ipynb {args}'.rstrip())}",
                 f"<p>The same run from the command line:</p>{_code(command)}"], notebook)


PAPER_URL = "https://arxiv.org/abs/2412.00143"
CODE_URL = "https://github.com/fscdc/Oracle-Pruning-Sanity-Check"


SOURCE_ARCHIVE = "oracle-core-source.tar.gz"  # written into the built book's _static/ by pages/build.py


def source_link(prefix: str = "../") -> str:
    """A link to this companion's code, notebooks, reference data and results store at the commit the book was
    built from (``prefix``: from a page in experiments/ to the book's root)."""
    return (f'<a href="{prefix}_static/{SOURCE_ARCHIVE}" download>this companion\'s code at commit '
            f'<code>{html.escape(built_from()[:12])}</code></a> (unpack it and run <code>make book</code>)')


def links(notebook: str | None = None) -> str:
    """The paper, the authors' released code, and this page's notebook in this companion's code (downloadable)."""
    own = f" · this page's notebook: <code>notebooks/{html.escape(notebook)}.ipynb</code> in {source_link()}" \
        if notebook else ""
    return (f'<p class="oracle-links">The paper: <a href="{PAPER_URL}">arXiv 2412.00143</a> · the authors\' '
            f'released code: <a href="{CODE_URL}">fscdc/Oracle-Pruning-Sanity-Check</a>{own}.</p>')


def box(items: list[str], notebook: str | None = None) -> str:
    return ('<div class="admonition tip oracle-rerun"><p class="admonition-title">Re-run this page</p>'
            + "".join(items) + links(notebook) + "</div>")
