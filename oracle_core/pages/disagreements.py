"""Where our tau and the paper's differ: the under-trained settings (left out of the comparison) named first, then
every disagreement with the measurements stored for it (the same masks retrained longer, the released code's
wiring, the noise ceiling's several retrainings per mask), and the candidate reasons still untested named as such."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..analysis import reference
from ..analysis.agreement import UNDERTRAINED_PP
from ..analysis.stored import StoredSetting
from ..analysis.uncertainty import repeat_taus
from ..compute.stats import bootstrap
from ..experiment.grid import mnist_grid
from ..experiment.results import stored_result
from .setting import disagreement

CHECK_PROFILE = "cpu_long"  # the reduction with the paper's 30 retraining epochs, run where `cpu` disagrees


def longer_retraining_check(c: StoredSetting, results_root: Path | None = None) -> str:
    """A sentence with our tau for the same setting retrained with the paper's full recipe (CHECK_PROFILE), when
    that run is stored: it measures, rather than guesses, how much of a disagreement the short retraining causes."""
    if c.result is None or c.result.spec.profile == CHECK_PROFILE:
        return ""
    r = stored_result(c.entry.spec(CHECK_PROFILE), c.entry.experiment, results_root)
    if r is None or r.summary["kendall_tau"] is None:
        return ""
    ref = reference.paper_row(c.entry.model, c.entry.dataset, tuple(c.entry.layers.split("+")), c.entry.ratio)
    paper = "" if ref is None else f" (paper {float(ref['kendall_tau']):+.2f})"
    ours, theirs = c.result.spec.retrain, r.spec.retrain
    if theirs.epochs > ours.epochs:
        return (f" Measured: the same {r.summary['n_masks']} masks retrained {theirs.epochs} epochs "
                f"(`{CHECK_PROFILE}`, the Profiles page) give tau {r.summary['kendall_tau']:+.2f}{paper}, against "
                f"{c.result.summary['kendall_tau']:+.2f} after {ours.epochs}.")
    images = f"{r.spec.retrain_subset:,}" if r.spec.retrain_subset else "all"
    return (f" Measured: a second {theirs.epochs}-epoch retraining of {r.summary['n_masks']} masks of this setting, "
            f"on {images} training images (`{CHECK_PROFILE}`, the Profiles page), gives tau "
            f"{r.summary['kendall_tau']:+.2f}{paper}, against our {c.result.summary['kendall_tau']:+.2f}.")


def sample_interval_check(c: StoredSetting) -> str:
    """A sentence with our tau's 95% bootstrap interval over the retrained masks, against the paper's tau: whether the
    difference is within what the choice of masks alone (a sample of M where the paper retrains more) can move."""
    if c.result is None or c.result.summary["kendall_tau"] is None:
        return ""
    ref = reference.paper_row(c.entry.model, c.entry.dataset, tuple(c.entry.layers.split("+")), c.entry.ratio)
    if ref is None:
        return ""
    pm = c.result.per_mask
    lo, hi = bootstrap(pm["pruned_train_loss"].to_numpy(), pm["final_test_acc"].to_numpy())["kendall_tau"]
    paper = float(ref["kendall_tau"])
    inside = lo <= paper <= hi
    return (f" Measured: over our {len(pm)} masks tau's 95% bootstrap interval is [{lo:+.2f}, {hi:+.2f}], which "
            + ("contains the paper's: the masks drawn alone could account for the difference."
               if inside else "excludes the paper's: the masks drawn alone do not account for the difference."))


def _checks(c: StoredSetting, experiment: str):
    """The grid entries of ``experiment`` that check this cell's setting at its profile."""
    e = c.entry
    for g in mnist_grid():
        if g.experiment == experiment and g.runs_at(c.result.spec.profile) and (
                g.model, g.dataset, g.layers, g.ratio, g.wiring) == (e.model, e.dataset, e.layers, e.ratio, e.wiring):
            yield g


def pretrain_seed_check(c: StoredSetting, results_root: Path | None = None) -> str:
    """A sentence with the same setting from another pretrained network (another seed, so its own sample of
    masks), when stored: the paper's code seeds nothing, so its network is one draw among many."""
    if c.result is None or c.entry.seed:
        return ""
    out, taus = [], [c.result.summary["kendall_tau"]]
    for g in _checks(c, "pretrain_seed"):
        r = stored_result(g.spec(c.result.spec.profile), g.experiment, results_root)
        if r is not None and r.summary["kendall_tau"] is not None:
            out.append(f"{r.summary['kendall_tau']:+.2f} (seed {g.seed}, median accuracy "
                       f"{100 * r.summary['final_acc_median']:.2f}%)")
            taus.append(r.summary["kendall_tau"])
    if not out:
        return ""
    text = (f" Measured: from another pretrained network, with its own sample of masks, tau is {', '.join(out)}, "
            f"against our {c.result.summary['kendall_tau']:+.2f} (seed 0).")
    ref = reference.paper_row(c.entry.model, c.entry.dataset, tuple(c.entry.layers.split("+")), c.entry.ratio)
    if ref is None or taus[0] is None:
        return text
    spread, gap = max(taus) - min(taus), abs(taus[0] - float(ref["kendall_tau"]))
    return text + (f" The {len(taus)} pretrained networks' taus span {spread:.2f}, "
                   + (f"more than our gap to the paper's ({gap:.2f}): which network was pretrained can by itself "
                      "account for the difference, and one network's tau (the paper's too) is one draw of a "
                      "spread this wide." if spread >= gap else
                      f"less than our gap to the paper's ({gap:.2f}): the pretrained network alone does not "
                      "account for the difference."))


def noise_ceiling_check(c: StoredSetting, results_root: Path | None = None) -> str:
    """A sentence with the setting's noise ceiling at the same profile, when stored: tau against the mean of several
    retrainings (the paper averages 3) beside one retraining, and how alike two retrainings rank the masks. It
    measures, rather than guesses, what one retraining per mask does to tau."""
    if c.result is None or c.entry.repeats:
        return ""
    for g in _checks(c, "noise_ceiling"):
        r = stored_result(g.spec(c.result.spec.profile), g.experiment, results_root)
        if r is None:
            continue
        t = repeat_taus(r.masks)
        return (f" Measured (noise ceiling, Beyond page): against the mean of {t['repeats']} retrainings of "
                f"{t['N']} masks, as the paper averages, tau is {t['tau pruned loss vs mean of repeats']:+.2f} "
                f"(one retraining: {t['tau pruned loss vs one retraining']:+.2f}); two retrainings of the same masks "
                f"rank them alike at tau {t['tau between repeats']:.2f}.")
    return ""


def released_wiring_check(c: StoredSetting, results_root: Path | None = None) -> str:
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


def disagreements(cs: list[StoredSetting], results_root: Path | None = None) -> str:
    """Markdown: the settings whose networks are under-trained (left out of the comparison), then every setting
    whose tau differs from the paper's beyond the like-for-like interval, with the measurements stored for it (longer
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
        seed, noise = pretrain_seed_check(c, results_root), noise_ceiling_check(c, results_root)
        measured = (sample_interval_check(c) + longer_retraining_check(c, results_root)
                    + released_wiring_check(c, results_root) + seed + noise)
        untested = [r for r, done in zip(UNTESTED_REASONS, (seed, noise)) if not done]
        if not measured:
            measured = " No stored measurement explains it yet; untested: " + "; ".join(untested) + "."
        elif untested:
            measured += " Still untested: " + "; ".join(untested) + "."
        lines.append(f"- **{c.title}**: " + text.replace("**Disagreement:** ", "") + measured)
    parts = []
    if under:
        parts.append(f"{len(under)} of {len(done)} settings run so far are **under-trained** (median final accuracy "
                     f"more than {UNDERTRAINED_PP:g} pp below the paper's), so their tau is not compared: "
                     + ", ".join(c.title for c in under) + ".")
    compared = len(done) - len(under)
    if not lines:
        parts.append(f"In all {compared} converged settings the paper's Kendall tau lies inside the interval that the "
                     "masks and the pretrained network give around ours." if compared
                     else "No converged setting is left to compare.")
    else:
        parts.append(f"{len(lines)} of the {compared} converged settings differ from the paper's tau beyond the "
                     "interval that the masks and the pretrained network give:\n\n" + "\n".join(lines))
    return "\n\n".join(parts)
