"""Results reuse: rows a new setting shares with a finished one are copied, not recomputed, and recorded in env.json.
A setting with more repeats starts from the same spec's finished run with fewer (identical seeds, so identical
rows); a setting that differs only in its retraining copies the pruned losses of one with a byte-identical
pretrained network. A source is read only if it verifies (integrity.py)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from ..base.errors import OracleError
from ..base.io import atomic_write_csv, read_json
from .integrity import verify_folder
from .records import read_pruned
from .spec import StudySpec
from .store import MASK_COLUMNS, RunStore

__all__ = ["RETRAIN_ONLY", "import_earlier_repeats", "import_pruned_losses", "reusable_repeats"]


def _finished_fewer_repeats(spec: StudySpec, root):
    """(repeats, store) of the finished runs of ``spec`` with fewer repeats, most repeats first: the runs whose rows
    a run of ``spec`` copies instead of recomputing. Not verified here (the importer verifies what it copies)."""
    for fewer in range(spec.repeats - 1, 0, -1):
        sibling = replace(spec, repeats=fewer)
        for folder in sorted(root.glob(f"*/{sibling.key}")):
            other = RunStore(sibling, folder.parent.name, root)
            try:
                if other.is_complete() and StudySpec.from_dict(read_json(other.spec_json)["spec"]) == sibling:
                    yield fewer, other
            except (OracleError, KeyError, TypeError, ValueError):
                continue  # a spec this code cannot read is never a source


def reusable_repeats(spec: StudySpec, root) -> int:
    """How many of ``spec``'s repeats a finished run with fewer supplies (0 when none): what `grid --list` counts as
    done before the run starts, so its masks-left and hours-left figures do not count copied rows as work."""
    return next((fewer for fewer, _ in _finished_fewer_repeats(spec, root)), 0)


def import_earlier_repeats(spec: StudySpec, store: RunStore) -> dict | None:
    """A setting run with more repeats starts from a finished run of the same spec with fewer: repeat r of
    mask m has the same seed in both (``retrain_seed``), so those rows are the same computation and are copied
    (as one shard, with their curves) instead of recomputed. Returns what was imported, for env.json."""
    for fewer, other in _finished_fewer_repeats(spec, store.root):
        verify_folder(other.dir)  # its rows become ours: refused (one line) unless the folder verifies
        rows = pd.read_csv(other.masks_csv, dtype={"mask_id": str})
        curves = pd.read_csv(other.curves_csv, dtype={"mask_id": str})
        if other.criteria_csv.exists():  # the criteria's picks retrained beside a sample
            rows = pd.concat([rows, pd.read_csv(other.criteria_csv, dtype={"mask_id": str})[MASK_COLUMNS]])
            curves = pd.concat([curves, pd.read_csv(other.criteria_curves_csv, dtype={"mask_id": str})])
        done = store.done_keys()
        rows = rows[[(m, int(r)) not in done for m, r in zip(rows["mask_id"], rows["repeat"])]]
        if len(rows):
            keys = set(zip(rows["mask_id"], rows["repeat"].astype(int)))
            curves = curves[[(m, int(r)) in keys for m, r in zip(curves["mask_id"], curves["repeat"])]]
            store.write_shard(rows[MASK_COLUMNS], curves)
        env = read_json(other.env_json) if other.env_json.exists() else {}
        return {"from": f"{other.experiment}/{other.spec.key}", "repeats": list(range(fewer)),
                "code_version": env.get("code_version"), "torch": env.get("torch"),
                "why": "same spec with fewer repeats: identical seeds, so identical computations"}
    return None


# fields that only change retraining (the pruned loss is taken in fp32 whatever the retraining precision)
RETRAIN_ONLY = ("retrain", "repeats", "retrain_sample", "retrain_subset", "test_subset", "shared_order",
                "criteria_picks", "precision")


def import_pruned_losses(spec: StudySpec, store: RunStore) -> dict | None:
    """A setting that differs from a stored one only in its retraining (the lesson's short run, more repeats, another
    sample size) has the same pretrained network, candidates and loss data, so the same pruned losses: they are
    copied (pruned.csv, validated) instead of recomputed. The pretrained networks must be byte-identical."""
    if not store.pretrained_pt.exists():
        return None
    have = read_pruned(store.pruned_csv) if store.pruned_csv.exists() else None  # a killed pass's partial table
    ours = store.pretrained_pt.read_bytes()
    for spec_json in sorted(store.root.glob(f"*/*/{store.spec_json.name}")):
        folder = spec_json.parent
        if folder == store.dir or not (folder / store.pruned_csv.name).exists():
            continue
        try:
            other = StudySpec.from_dict(read_json(spec_json)["spec"])
        except (OracleError, KeyError, TypeError, ValueError):
            continue  # not a spec this code reads: never a source
        if replace(other, **{f: getattr(spec, f) for f in RETRAIN_ONLY}) != spec:
            continue
        pt = folder / store.pretrained_pt.name
        if not pt.exists() or pt.read_bytes() != ours:
            continue
        rows = read_pruned(folder / store.pruned_csv.name)
        if have is not None:
            rows = rows[~rows.index.isin(have.index)]
            if rows.empty:
                continue
            rows = pd.concat([have, rows])
        atomic_write_csv(store.pruned_csv, rows.reset_index())
        return {"from": f"{folder.parent.name}/{folder.name}", "masks": len(rows) - (0 if have is None else len(have)),
                "why": "same pretrained network, candidates and loss images; only the retraining differs"}
    return None
