"""One setting as a page reads it: its spec (the model's paper protocol where the page's profile is not defined for
the model), the stored result, the command and papermill parameters that produce it, the stored summary checked
against its masks, our analysis of the paper's own points, and which data files are missing and where they go.
Pages word and format these; nothing here writes a sentence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base.errors import OracleError
from ..base.paths import REPO
from ..compute.stats import analyze, per_mask, summarize
from ..data import dataset_present, default_root, get_dataset_info, raw_dir
from ..experiment.commands import layers_arg, run_command
from ..experiment.protocol import get_profile
from ..experiment.results import StudyResult, stored_result
from ..experiment.spec import StudySpec, make_spec, profile_of
from ..models import MODELS, ModelRecord
from . import reference

# StudyResult, StudySpec, run_command and stored_result are the experiment layer's, re-exported: pages reach the
# store only through analysis/ (tests/test_layers.py)
__all__ = ["LargeRun", "MissingData", "PageSpec", "PointsCheck", "StudyResult", "StudySpec", "check_summary",
           "large_runs", "missing_data", "model_pages", "page_spec", "points_check", "profile_headline",
           "rerun_params", "run_command", "stored_result"]


@dataclass(frozen=True)
class PageSpec:
    """The spec a page shows. ``fallback`` is empty when it is the profile asked for; otherwise the reason the
    model's paper protocol is shown instead (a model with no such profile: ResNet18 has no cpu one)."""

    spec: StudySpec
    asked: str
    fallback: str = ""


def page_spec(model: str, dataset: str, layers: str, ratio: float, n_masks: int, seed: int, repeats: int | None,
              profile: str, wiring: str, compute: bool, precision: str = "fp32") -> PageSpec:
    """A single-setting page's spec. A book build (``compute`` False) asks every page for one profile; where the
    model does not define it, the page shows the paper protocol. A page that computes never falls back."""
    try:
        return PageSpec(make_spec(model, dataset, layers, ratio, n_masks, seed, repeats, profile, wiring,
                                  precision=precision), profile)
    except OracleError as exc:
        if compute or "is not defined for" not in str(exc):
            raise
        spec = make_spec(model, dataset, layers, ratio, n_masks, seed, repeats, "paper", wiring, precision=precision)
        return PageSpec(spec, profile, str(exc))


def profile_headline(spec_or_name: StudySpec | str) -> str:
    """One sentence on what a profile reduces (the LeNet family's table for a name; a spec's own family)."""
    if isinstance(spec_or_name, str):
        return get_profile(spec_or_name).headline
    return profile_of(spec_or_name).headline


def rerun_params(spec: StudySpec) -> dict[str, str]:
    """The papermill parameters of a single-setting notebook that re-run ``spec``."""
    return {"model": spec.model, "dataset": spec.dataset, "layers": layers_arg(spec), "ratio": f"{spec.ratio:g}",
            "profile": spec.profile}


def check_summary(res: StudyResult) -> None:
    """Assert that the stored summary is what the analysis computes from the stored masks.csv (a page asserts its
    key numbers before printing them)."""
    again = summarize(per_mask(res.masks))
    for key in ("n_masks", "kendall_tau", "p_value", "kendall_tau_loss", "anomaly_ratio", "anomaly_ratio_loss",
                "oracle_mask_id"):
        a, b = res.summary[key], again[key]
        if isinstance(a, float) or isinstance(b, float):
            assert (a is None and b is None) or np.isclose(a, b, rtol=1e-9, atol=1e-12), (key, a, b)
        else:
            assert a == b, (key, a, b)


@dataclass(frozen=True)
class PointsCheck:
    """Our analysis of the paper's recovered points of one panel, beside what the paper printed for it."""

    panel: str
    n: int  # points recovered
    tau: float  # Kendall tau-b of pruned train loss vs final accuracy over those points
    anomaly_ratio: float  # a fraction
    printed_n: int
    printed_tau: float
    printed_anomaly_percent: float


def points_check(panel: str) -> PointsCheck:
    """The paper's points of ``panel`` through the same analysis as ours."""
    pts, row = reference.paper_points(panel), reference.paper_panel(panel)
    st = analyze(pts["pruned_train_loss"].to_numpy(), pts["final_test_acc"].to_numpy())
    return PointsCheck(panel, int(st["n_masks"]), float(st["kendall_tau"]), float(st["anomaly_ratio"]),
                       int(row["n_points"]), float(row["printed_tau"]), float(row["printed_anomaly_percent"]))


@dataclass(frozen=True)
class MissingData:
    """A dataset whose files are not on this machine: which files, the folder they go in (relative to the checkout
    when inside it, so a page never prints the building machine's path) and where a networked machine gets them."""

    dataset: str
    files: tuple[str, ...]
    folder: Path
    source: str


def missing_data(dataset: str, data_root: Path | None = None) -> MissingData | None:
    """None when ``dataset``'s files are present; else what is missing and where it goes."""
    if dataset_present(dataset, data_root):
        return None
    info = get_dataset_info(dataset)
    folder = raw_dir(info, Path(data_root or default_root()))
    if folder.is_relative_to(REPO):
        folder = folder.relative_to(REPO)
    return MissingData(dataset, tuple(info.files), folder, info.source)


@dataclass(frozen=True)
class LargeRun:
    """What exists of our own run of one large model's page (a model record whose page is a section of the
    large-model page): its spec at the profile asked (else the model's cpu one, else the paper's), the stored result,
    the data files missing here, and the command that produces it."""

    model: str
    dataset: str
    spec: StudySpec
    result: StudyResult | None
    missing: MissingData | None
    command: str


def model_pages() -> list[ModelRecord]:
    """The record of every registered model with a single-setting page (``.page``), in registration order: what
    the book's page list and the notebook generator read."""
    return [r for r in MODELS.values() if r.page is not None]


def large_runs(profile: str, results_root: Path | None = None, data_root: Path | None = None) -> list[LargeRun]:
    """One LargeRun per registered model whose page sits under the large-model page, in registration order."""
    out = []
    for rec in model_pages():
        page = rec.page
        if page.parent != "large_models":
            continue
        spec = None
        for prof in (profile, "cpu", "paper"):  # the page's profile, else the model's cpu one, else the paper's
            try:
                spec = make_spec(rec.name, rec.dataset, page.layers, 0.5, page.n_masks, profile=prof)
                break
            except OracleError:
                continue
        res = stored_result(spec, page.experiment, results_root)
        out.append(LargeRun(rec.name, rec.dataset, spec, res,
                            None if res is not None else missing_data(rec.dataset, data_root),
                            run_command(spec, page.experiment)))
    return out
