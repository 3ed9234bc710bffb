"""A finished setting read back from its results folder: one StudyResult (spec, rows, per-mask table, summary,
environment, curves, the criteria's picks). Reading never trains."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..base.io import read_json
from ..compute.stats import per_mask
from .spec import StudySpec
from .store import SPEC_JSON, RunStore


@dataclass
class StudyResult:
    spec: StudySpec
    dir: Path
    masks: pd.DataFrame  # one row per mask and repeat (masks.csv)
    per_mask: pd.DataFrame  # one row per mask, repeats averaged
    summary: dict
    env: dict
    curves: pd.DataFrame
    criteria_picks: pd.DataFrame = field(default_factory=pd.DataFrame)  # L1/Taylor picks outside a sample


def load_result(store: RunStore) -> StudyResult:
    rows = pd.read_csv(store.masks_csv, dtype={"mask_id": str})
    curves = pd.read_csv(store.curves_csv, dtype={"mask_id": str}) if store.curves_csv.exists() else pd.DataFrame()
    picks = pd.read_csv(store.criteria_csv, dtype={"mask_id": str}) if store.criteria_csv.exists() else pd.DataFrame()
    return StudyResult(store.spec, store.dir, rows, per_mask(rows), read_json(store.summary_json),
                       read_json(store.env_json) if store.env_json.exists() else {}, curves, picks)


def load_run_dir(path: Path) -> StudyResult:
    """A result from its folder alone (for the book's loaders)."""
    rec = read_json(Path(path) / SPEC_JSON)
    spec = StudySpec.from_dict(rec["spec"])
    store = RunStore(spec, rec["experiment"], Path(path).parent.parent)
    return load_result(store)


def stored_result(spec: StudySpec, experiment: str, results_root: Path | None = None) -> StudyResult | None:
    """The stored result of ``spec`` if its run finished, else None (never trains)."""
    store = RunStore(spec, experiment, results_root)
    return load_result(store) if store.is_complete() else None
