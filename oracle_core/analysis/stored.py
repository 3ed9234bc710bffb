"""The settings of one figure, each with whatever the results store holds for it (a StoredSetting): a figure page
asks for its ``stored_settings`` and draws them. A setting not in the store yet carries the exact command that
produces it, so an unfinished grid still builds a truthful book."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..data import dataset_present
from ..experiment.commands import run_command
from ..experiment.grid import GridEntry, mnist_grid
from ..experiment.results import StudyResult, stored_result
from . import reference
from .like_for_like import Verdict, verdict_of
from .names import model_name, setting_name
from .trends import AXES


@dataclass
class StoredSetting:
    """One setting of a figure: the grid entry, our stored result (or None), and the paper's panel."""

    entry: GridEntry
    result: StudyResult | None
    panel: str | None  # the paper's scatter panel name in paper_points.csv, if it published one
    command: str  # the exact command that produces (or resumed) our result
    profile: str = ""  # the profile it was asked for
    root: Path | None = None  # the results root it was read from (None: the default)

    @property
    def verdict(self) -> Verdict:
        """How this setting compares with the paper's: the one reading every page prints (like_for_like)."""
        e = self.entry
        if self.result is None:
            return Verdict("not run yet")
        return verdict_of(self.profile, self.root, e.model, e.dataset, e.layers, e.ratio)

    @cached_property
    def twin(self) -> StoredSetting | None:
        """The released-code twin of a correct-wiring setting (same network, same sampled masks, the paper's code's
        wiring) with whatever the store holds for it, or None where the grid runs no twin of it at this profile (or
        this setting is not the correct wiring's, or was built without a profile). Looked up once per setting: a
        figure page's panels, table and command list all ask."""
        e = self.entry
        if not self.profile or e.wiring != "correct":
            return None
        found = stored_settings(self.profile, e.experiment, self.root, wiring="released_code",
                                where=lambda t: (t.model, t.dataset, t.layers, t.ratio) == (e.model, e.dataset,
                                                                                              e.layers, e.ratio))
        return found[0] if found else None

    @property
    def label(self) -> str:
        """The setting in full, for tables across figures: "LeNet5-Mini / mnist / conv1 @ 0.5"."""
        e = self.entry
        return setting_name(e.model, e.dataset, e.layers, e.ratio)

    @property
    def title(self) -> str:
        e = self.entry
        what = {"lenet_variants": model_name(e.model),
                "mnist_variants": e.dataset}.get(e.experiment, f"{e.layers} @ {e.ratio:g}")
        title = what if e.experiment != "lenet_mnist" else f"{e.layers} @ {e.ratio:g}"
        return title if e.wiring == "correct" else f"{title} ({e.wiring} wiring)"


def stored_settings(profile: str, experiment: str | None = None, results_root: Path | None = None,
          wiring: str = "correct", where=None) -> list[StoredSetting]:
    """The grid settings of one figure with whatever the store holds for them at ``profile``."""
    out = []
    for e in mnist_grid():
        auxiliary = e.repeats or e.short_retrain or e.seed  # noise ceiling, short runs, seeds: their own pages
        if (experiment and e.experiment != experiment) or e.wiring != wiring or (where and not where(e)) or (
                auxiliary and experiment != e.experiment):
            continue
        if not e.runs_at(profile):
            continue
        spec = e.spec(profile)
        res = stored_result(spec, e.experiment, results_root)
        cmd = run_command(spec, e.experiment)
        panel = reference.panel_name(e.model, e.dataset, e.layers, e.ratio)
        out.append(StoredSetting(e, res, panel, cmd, profile, results_root))
    order = {e: i for i, e in enumerate(_paper_order())}
    return sorted(out, key=lambda c: order.get(c.entry, 999))


def on_axis(name: str):
    """A ``where`` for stored_settings(): the settings on one of analysis.trends.AXES (by its name, e.g. "depth"), the
    axis's base setting included, so a figure page and the trend sentences select the same settings."""
    axis = next((a for a in AXES if a.name == name), None)
    if axis is None:
        raise ValueError(f"no complexity axis {name!r}: one of {', '.join(a.name for a in AXES)}")
    return lambda e: axis.holds(model=e.model, dataset=e.dataset, layers=e.layers, ratio=e.ratio)


def cannot_run(data_root: Path | None = None) -> dict[str, str]:
    """For the trend sentences: each dataset on a complexity axis whose files are not on the machine building the
    page, with where the fix is (trends.trend_sentences names it beside the missing setting)."""
    names = {v for a in AXES if a.vary == "dataset" for v in a.order}
    return {n: f"its files are not on the machine that built this page; `python -m oracle_core.data fetch {n}` "
               "says where they go" for n in sorted(names) if not dataset_present(n, data_root)}


def _paper_order() -> list[GridEntry]:
    """Figure order (layer, then ratio), not the grid's run order."""
    def k(e: GridEntry):
        return (e.experiment, e.model, e.dataset, e.layers.count("+"), e.layers, e.ratio)
    return sorted(mnist_grid(), key=k)
