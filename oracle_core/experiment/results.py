"""A finished setting read back from its results folder: one StudyResult (spec, rows, per-mask table, summary,
environment, curves, the criteria's picks). Reading never trains."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..compute.stats import per_mask
from .integrity import verify_folder
from .records import damaged, read_curves, read_masks, read_object, read_summary
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
    """A finished folder read back after ``integrity.verify_folder`` (manifest, checksums, contents): a damaged,
    edited or unsealed one is a one-line error, never a result."""
    verify_folder(store.dir)
    summary = read_summary(store.summary_json, store.spec.key)
    rows = read_masks(store.masks_csv, summary["n_masks"])
    curves = read_curves(store.curves_csv) if store.curves_csv.exists() else pd.DataFrame()
    picks = pd.read_csv(store.criteria_csv, dtype={"mask_id": str}) if store.criteria_csv.exists() else pd.DataFrame()
    env = read_object(store.env_json) if store.env_json.exists() else {}
    return StudyResult(store.spec, store.dir, rows, per_mask(rows), summary, env, curves, picks)


def load_run_dir(path: Path) -> StudyResult:
    """A result from its folder alone (for the book's loaders)."""
    rec = read_object(Path(path) / SPEC_JSON)
    try:
        spec = StudySpec.from_dict(rec["spec"])
        experiment = rec["experiment"]
    except (KeyError, TypeError, ValueError) as exc:
        raise damaged(Path(path) / SPEC_JSON, f"no valid spec: {type(exc).__name__}") from None
    if spec.key != Path(path).name:
        raise damaged(Path(path) / SPEC_JSON, f"its spec hashes to {spec.key}, not to the folder's name")
    store = RunStore(spec, experiment, Path(path).parent.parent)
    return load_result(store)


def stored_result(spec: StudySpec, experiment: str, results_root: Path | None = None) -> StudyResult | None:
    """The stored result of ``spec`` if its run finished, else None (never trains)."""
    store = RunStore(spec, experiment, results_root)
    return load_result(store) if store.is_complete() else None
