"""What the store has measured about why one setting's tau differs from the paper's: the same masks retrained
longer, tau's bootstrap interval over the masks, other pretrained networks, several retrainings per mask (the noise
ceiling) and the released code's wiring. Each reading is None (or empty) when its run is not stored; the figure
pages word them (pages/disagreements.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..compute.stats import bootstrap
from ..experiment.grid import mnist_grid
from ..experiment.results import stored_result
from . import reference
from .agreement import below_paper
from .stored import StoredSetting
from .uncertainty import repeat_taus, within_networks_range

__all__ = ["CHECK_PROFILE", "LongerRetraining", "OtherNetworks", "SampleInterval", "longer_retraining",
           "noise_ceiling", "other_networks", "paper_tau", "released_wiring", "sample_interval"]

CHECK_PROFILE = "cpu_long"  # the reduction with the paper's 30 retraining epochs, run where `cpu` disagrees


def paper_tau(c: StoredSetting) -> float | None:
    e = c.entry
    ref = reference.paper_row(e.model, e.dataset, e.layers, e.ratio)
    return None if ref is None else float(ref["kendall_tau"])


@dataclass(frozen=True)
class LongerRetraining:
    """The same setting retrained with CHECK_PROFILE's recipe, beside ours."""

    n: int  # masks in that run
    tau: float  # its tau
    ours: float  # our tau
    epochs: int  # its retraining epochs
    our_epochs: int
    images: int  # its retraining images (0 = all)
    paper: float | None


def longer_retraining(c: StoredSetting, results_root: Path | None = None) -> LongerRetraining | None:
    """The setting's CHECK_PROFILE run, when stored: it measures, rather than guesses, how much of a disagreement
    the short retraining causes."""
    if c.result is None or c.result.spec.profile == CHECK_PROFILE:
        return None
    r = stored_result(c.entry.spec(CHECK_PROFILE), c.entry.experiment, results_root)
    if r is None or r.summary["kendall_tau"] is None:
        return None
    return LongerRetraining(int(r.summary["n_masks"]), float(r.summary["kendall_tau"]),
                            float(c.result.summary["kendall_tau"]), r.spec.retrain.epochs,
                            c.result.spec.retrain.epochs, int(r.spec.retrain_subset or 0), paper_tau(c))


@dataclass(frozen=True)
class SampleInterval:
    """Our tau's 95% bootstrap interval over the retrained masks, against the paper's tau."""

    n: int
    lo: float
    hi: float
    paper: float

    @property
    def contains_paper(self) -> bool:
        return self.lo <= self.paper <= self.hi


def sample_interval(c: StoredSetting) -> SampleInterval | None:
    if c.result is None or c.result.summary["kendall_tau"] is None:
        return None
    paper = paper_tau(c)
    if paper is None:
        return None
    pm = c.result.per_mask
    lo, hi = bootstrap(pm["pruned_train_loss"].to_numpy(), pm["final_test_acc"].to_numpy())["kendall_tau"]
    return SampleInterval(len(pm), float(lo), float(hi), paper)


def _checks(c: StoredSetting, experiment: str):
    """The grid entries of ``experiment`` that check this setting at its profile."""
    e = c.entry
    for g in mnist_grid():
        if g.experiment == experiment and g.runs_at(c.result.spec.profile) and (
                g.model, g.dataset, g.layers, g.ratio, g.wiring) == (e.model, e.dataset, e.layers, e.ratio, e.wiring):
            yield g


@dataclass(frozen=True)
class OtherNetworks:
    """The same setting from other pretrained networks (other seeds, each with its own sample of masks), those far
    below the paper's accuracy left out (their tau answers nothing, as everywhere)."""

    ours: float  # seed 0's tau
    others: tuple[tuple[int, float, float], ...]  # (seed, tau, median final accuracy) of each other network
    paper: float | None

    @property
    def lo(self) -> float:
        """The lowest tau of every network, ours included."""
        return min(self.ours, *(t for _, t, _ in self.others))

    @property
    def hi(self) -> float:
        return max(self.ours, *(t for _, t, _ in self.others))

    @property
    def spread(self) -> float:
        """Range of every network's tau, ours included."""
        return self.hi - self.lo

    @property
    def paper_within(self) -> bool | None:
        """Whether the paper's tau lies within our networks' range (uncertainty.within_networks_range)."""
        return within_networks_range(self.paper, [self.ours, *(t for _, t, _ in self.others)])


def other_networks(c: StoredSetting, results_root: Path | None = None) -> OtherNetworks | None:
    if c.result is None or c.entry.seed or c.result.summary["kendall_tau"] is None:
        return None
    others = []
    e = c.entry
    for g in _checks(c, "pretrain_seed"):
        r = stored_result(g.spec(c.result.spec.profile), g.experiment, results_root)
        if r is not None and r.summary["kendall_tau"] is not None and not below_paper(
                e.model, e.dataset, e.layers, e.ratio, 100 * float(r.summary["final_acc_median"])):
            others.append((g.seed, float(r.summary["kendall_tau"]), float(r.summary["final_acc_median"])))
    if not others:
        return None
    return OtherNetworks(float(c.result.summary["kendall_tau"]), tuple(others), paper_tau(c))


def noise_ceiling(c: StoredSetting, results_root: Path | None = None) -> dict | None:
    """The setting's noise ceiling at the same profile, when stored (uncertainty.repeat_taus' reading): tau against
    the mean of several retrainings (the paper averages 3) beside one retraining, and how alike two retrainings rank
    the masks."""
    if c.result is None or c.entry.repeats:
        return None
    for g in _checks(c, "noise_ceiling"):
        r = stored_result(g.spec(c.result.spec.profile), g.experiment, results_root)
        if r is not None:
            return repeat_taus(r.masks)
    return None


def released_wiring(c: StoredSetting, results_root: Path | None = None) -> tuple[float, float] | None:
    """(tau with the pruned loss taken the released code's way, our correctly wired tau) for the same setting and
    profile, when that run is stored."""
    if c.result is None or c.entry.wiring == "released_code":
        return None
    e = replace(c.entry, wiring="released_code")
    r = stored_result(e.spec(c.result.spec.profile), e.experiment, results_root)
    if r is None or r.summary["kendall_tau"] is None:
        return None
    return float(r.summary["kendall_tau"]), float(c.result.summary["kendall_tau"])
