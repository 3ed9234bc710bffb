"""Where our tau and the paper's differ: the under-trained settings and those whose released-code twin ends far below
the paper's accuracy (left out of the comparison, the latter with its collapsed retrainings counted) named first, then
every disagreement with the measurements stored for it (the same masks retrained longer, the released code's
wiring, the noise ceiling's several retrainings per mask), and the candidate reasons still untested named as such."""

from __future__ import annotations

from pathlib import Path

from ..analysis import reasons
from ..analysis.agreement import UNDERTRAINED_PP
from ..analysis.like_for_like import comparison_state
from ..analysis.reasons import CHECK_PROFILE
from ..analysis.stored import StoredSetting
from .setting import disagreement

__all__ = ["CHECK_PROFILE", "disagreements", "longer_retraining_check", "noise_ceiling_check", "pretrain_seed_check",
           "released_wiring_check", "sample_interval_check"]


def _paper(tau: float | None) -> str:
    return "" if tau is None else f" (paper {tau:+.2f})"


def longer_retraining_check(c: StoredSetting, results_root: Path | None = None) -> str:
    """A sentence with our tau for the same setting retrained with the paper's full recipe (CHECK_PROFILE), when
    that run is stored: it measures, rather than guesses, how much of a disagreement the short retraining causes."""
    m = reasons.longer_retraining(c, results_root)
    if m is None:
        return ""
    if m.epochs > m.our_epochs:
        return (f" Measured: the same {m.n} masks retrained {m.epochs} epochs "
                f"(`{CHECK_PROFILE}`, the Profiles page) give tau {m.tau:+.2f}{_paper(m.paper)}, against "
                f"{m.ours:+.2f} after {m.our_epochs}.")
    images = f"{m.images:,}" if m.images else "all"
    return (f" Measured: a second {m.epochs}-epoch retraining of {m.n} masks of this setting, "
            f"on {images} training images (`{CHECK_PROFILE}`, the Profiles page), gives tau "
            f"{m.tau:+.2f}{_paper(m.paper)}, against our {m.ours:+.2f}.")


def sample_interval_check(c: StoredSetting) -> str:
    """A sentence with our tau's 95% bootstrap interval over the retrained masks, against the paper's tau: whether the
    difference is within what the choice of masks alone (a sample of M where the paper retrains more) can move. ``c`` is
    the run the verdict compared (the released-code twin where stored)."""
    m = reasons.sample_interval(c)
    if m is None:
        return ""
    whose = "our released-code twin's" if c.entry.wiring == "released_code" else "our"
    return (f" Measured: over {whose} {m.n} masks tau's 95% bootstrap interval is [{m.lo:+.2f}, {m.hi:+.2f}], which "
            + ("contains the paper's: the masks drawn alone could account for the difference." if m.contains_paper
               else "excludes the paper's: the masks drawn alone do not account for the difference."))


def pretrain_seed_check(c: StoredSetting, results_root: Path | None = None) -> str:
    """A sentence with the same setting from another pretrained network (another seed, so its own sample of
    masks), when stored: the paper's code seeds nothing, so its network is one draw among many. ``c`` is the run the
    verdict compared (the released-code twin where stored), so the gap to the paper is that run's."""
    m = reasons.other_networks(c, results_root)
    if m is None:
        return ""
    out = [f"{tau:+.2f} (seed {seed}, median accuracy {100 * acc:.2f}%)" for seed, tau, acc in m.others]
    ours = "our released-code twin's" if c.entry.wiring == "released_code" else "our"
    text = (f" Measured: from another pretrained network, with its own sample of masks, tau is {', '.join(out)}, "
            f"against {ours} {m.ours:+.2f} (seed 0).")
    if m.paper_within is None:
        return text
    return text + (f" The {len(m.others) + 1} pretrained networks' taus range from {m.lo:+.2f} to {m.hi:+.2f}; the "
                   f"paper's ({m.paper:+.2f}) lies "
                   + ("within that range: which network was pretrained can by itself account for the difference, and "
                      "one network's tau (the paper's too) is one draw of a spread this wide." if m.paper_within else
                      "outside it: the pretrained network alone does not account for the difference."))


def noise_ceiling_check(c: StoredSetting, results_root: Path | None = None) -> str:
    """A sentence with the setting's noise ceiling at the same profile, when stored: tau against the mean of several
    retrainings (the paper averages 3) beside one retraining, and how alike two retrainings rank the masks. It
    measures, rather than guesses, what one retraining per mask does to tau."""
    t = reasons.noise_ceiling(c, results_root)
    if t is None:
        return ""
    return (f" Measured (noise ceiling, Beyond page): against the mean of {t['repeats']} retrainings of "
            f"{t['N']} masks, as the paper averages, tau is {t['tau pruned loss vs mean of repeats']:+.2f} "
            f"(one retraining: {t['tau pruned loss vs one retraining']:+.2f}); two retrainings of the same masks "
            f"rank them alike at tau {t['tau between repeats']:.2f}.")


def released_wiring_check(c: StoredSetting, results_root: Path | None = None) -> str:
    """A sentence with our tau for the same setting and profile when the pruned loss is measured the paper's
    released-code way (mis-wired, the Wiring page), when that run is stored: the wiring reason, measured."""
    m = reasons.released_wiring(c, results_root)
    if m is None:
        return ""
    return (f" Measured: with the pruned loss taken the released code's way (mis-wired, the Wiring page) the same "
            f"masks give tau {m[0]:+.2f}, against {m[1]:+.2f} correctly wired.")


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
    states = {id(c): comparison_state(c.result) for c in done}
    under = [c for c in done if states[id(c)] == "under-trained"]
    short = [c for c in done if states[id(c)] == "twin not comparable"]
    waiting = [c for c in done if states[id(c)] == "twin not stored"]
    lines = []
    for c in done:
        if states[id(c)] != "differs":
            continue
        text = disagreement(c.result)
        judged = c.twin if c.twin is not None and c.twin.result is not None else c  # "differs": twin compared
        seed = pretrain_seed_check(judged, results_root)  # the networks of the run the verdict compared
        noise = noise_ceiling_check(judged, results_root)  # the compared run's retrainings, as its networks
        measured = (sample_interval_check(judged) + longer_retraining_check(c, results_root)
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
    if short:
        parts.append(f"{len(short)} of {len(done)} settings run so far are **not compared**: the run of the paper's "
                     "protocol (our released-code twin) ends far below the paper's accuracy.\n\n"
                     + "\n".join(f"- **{c.title}**: {disagreement(c.result)}" for c in short))
    if waiting:
        parts.append(f"{len(waiting)} of {len(done)} settings run so far are **not compared yet**: only the correctly "
                     "wired run is stored, and the paper's numbers come from its code's wiring; the grid queues the "
                     "released-code twin of " + ", ".join(c.title for c in waiting) + ".")
    compared = len(done) - len(under) - len(short) - len(waiting)
    if not lines:
        parts.append(f"In all {compared} converged settings the paper's Kendall tau lies inside the interval that the "
                     "masks and the pretrained network give around ours." if compared
                     else "No converged setting is left to compare.")
    else:
        parts.append(f"{len(lines)} of the {compared} converged settings differ from the paper's tau beyond the "
                     "interval that the masks and the pretrained network give:\n\n" + "\n".join(lines))
    return "\n\n".join(parts)
