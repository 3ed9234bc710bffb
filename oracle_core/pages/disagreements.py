"""Where our tau and the paper's differ: the under-trained settings (left out of the comparison) named first, then
every disagreement with the measurements stored for it (the same masks retrained longer, the released code's
wiring), and the candidate reasons named as untested where none is stored."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..analysis import reference
from ..analysis.agreement import TAU_DISAGREEMENT, UNDERTRAINED_PP
from ..experiment.results import stored_result
from .cells import Cell
from .setting import disagreement

CHECK_PROFILE = "cpu_long"  # the reduction with the paper's 30 retraining epochs, run where `cpu` disagrees


def longer_retraining_check(c: Cell, results_root: Path | None = None) -> str:
    """A sentence with our tau for the same setting retrained with the paper's full recipe (CHECK_PROFILE), when
    that run is stored: it measures, rather than guesses, how much of a disagreement the short retraining causes."""
    if c.result is None or c.result.spec.profile == CHECK_PROFILE:
        return ""
    r = stored_result(c.entry.spec(CHECK_PROFILE), c.entry.experiment, results_root)
    if r is None or r.summary["kendall_tau"] is None:
        return ""
    ref = reference.paper_row(c.entry.model, c.entry.dataset, tuple(c.entry.layers.split("+")), c.entry.ratio)
    paper = "" if ref is None else f" (paper {float(ref['kendall_tau']):+.2f})"
    return (f" Measured: the same {r.summary['n_masks']} masks retrained {r.spec.retrain.epochs} epochs "
            f"(`{CHECK_PROFILE}`, the Profiles page) give tau {r.summary['kendall_tau']:+.2f}{paper}, against "
            f"{c.result.summary['kendall_tau']:+.2f} after {c.result.spec.retrain.epochs}.")


def released_wiring_check(c: Cell, results_root: Path | None = None) -> str:
    """A sentence with our tau for the same setting and profile when the pruned loss is measured the paper's
    released-code way (mis-wired next layer), when that run is stored: the wiring reason, measured."""
    if c.result is None or c.entry.wiring == "released_code":
        return ""
    e = replace(c.entry, wiring="released_code")
    r = stored_result(e.spec(c.result.spec.profile), e.experiment, results_root)
    if r is None or r.summary["kendall_tau"] is None:
        return ""
    return (f" Measured: with the pruned loss taken the released code's way (mis-wired, the Wiring page) the same "
            f"masks give tau {r.summary['kendall_tau']:+.2f}, against {c.result.summary['kendall_tau']:+.2f} "
            "correctly wired.")


UNTESTED_REASONS = ("a different pretrained network (the paper's code seeds nothing; one network here)",
                    "one retraining per mask here where the paper averages 3 (the noise-ceiling page measures it)")


def disagreements(cs: list[Cell], results_root: Path | None = None) -> str:
    """Markdown: the settings whose networks are under-trained (left out of the comparison), then every setting
    whose tau differs from the paper's by more than TAU_DISAGREEMENT with the measurements stored for it (longer
    retraining, the released code's wiring); where none is stored, the candidate reasons are named as untested.
    Never empty, never hidden."""
    done = [c for c in cs if c.result is not None]
    if not done:
        return "No setting of this figure has been run yet at this profile, so nothing can be compared."
    under = [c for c in done if disagreement(c.result).startswith("**Under-trained")]
    lines = []
    for c in done:
        text = disagreement(c.result)
        if "Disagreement" not in text:
            continue
        measured = longer_retraining_check(c, results_root) + released_wiring_check(c, results_root)
        if not measured:
            measured = " No stored measurement explains it yet; untested: " + "; ".join(UNTESTED_REASONS) + "."
        lines.append(f"- **{c.title}**: " + text.replace("**Disagreement:** ", "") + measured)
    parts = []
    if under:
        parts.append(f"{len(under)} of {len(done)} settings run so far are **under-trained** (median final accuracy "
                     f"more than {UNDERTRAINED_PP:g} pp below the paper's), so their tau is not compared: "
                     + ", ".join(c.title for c in under) + ".")
    compared = len(done) - len(under)
    if not lines:
        parts.append(f"In all {compared} converged settings our Kendall tau lies within {TAU_DISAGREEMENT} of the "
                     "paper's." if compared else "No converged setting is left to compare.")
    else:
        parts.append(f"{len(lines)} of the {compared} converged settings differ from the paper's tau by more than "
                     f"{TAU_DISAGREEMENT}:\n\n" + "\n".join(lines))
    return "\n\n".join(parts)
