"""Every file of a finished results folder is validated when it is read back: summary.json and env.json against a
schema, masks.csv and curves.csv by columns, types and row count. A damaged file stops with one line naming it and
the fix, instead of a traceback or, worse, a silently wrong page."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..base.errors import OracleError
from ..base.io import read_json
from .store import MASK_COLUMNS, valid_rows

_NUM, _OPT_NUM = (int, float), (int, float, type(None))
# summary.json: every key a page reads, with the types it may hold (an undefined tau is stored as null)
SUMMARY_SCHEMA: dict[str, tuple[type, ...]] = {
    "n_masks": (int,), "kendall_tau": _OPT_NUM, "p_value": _OPT_NUM, "anomaly_ratio": _NUM,
    "kendall_tau_loss": _OPT_NUM, "anomaly_ratio_loss": _NUM, "oracle_mask_id": (str,), "oracle_kept": (str,),
    "oracle_pruned_train_loss": _NUM, "oracle_final_test_acc": _NUM, "oracle_final_test_loss": _NUM,
    "oracle_acc_rank": (int,), "final_acc_median": _NUM, "final_acc_best": _NUM, "final_acc_worst": _NUM,
    "best_mask_id": (str,), "repeats_per_mask": (int,), "profile": (str,), "experiment": (str,), "key": (str,)}
# pretrain.json (one per pretrained network): what the pages and the runner read of it
PRETRAIN_SCHEMA: dict[str, tuple[type, ...]] = {
    "model": (str,), "dataset": (str,), "recipe": (dict,), "final_test_acc": _NUM, "wall_s": _NUM,
    "test_acc_per_epoch": (list,)}
CURVE_COLUMNS = ["mask_id", "repeat", "epoch", "test_acc", "test_loss", "train_loss"]


def damaged(path: Path, why: str) -> OracleError:
    return OracleError(f"{path} is damaged ({why}): move its folder {Path(path).parent} away and rerun the command "
                       "that produced it (its spec.json names the setting); nothing else reads it")


def read_object(path: Path) -> dict:
    """A JSON file that must hold an object."""
    try:
        obj = read_json(path)
    except (OSError, ValueError) as exc:
        raise damaged(path, f"not valid JSON: {type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise damaged(path, "not a JSON object")
    return obj


def read_summary(path: Path, key: str | None = None) -> dict:
    """summary.json checked against SUMMARY_SCHEMA (and, given ``key``, that it belongs to that folder)."""
    s = read_object(path)
    for name, types in SUMMARY_SCHEMA.items():
        if name not in s:
            raise damaged(path, f"no {name!r}")
        v = s[name]
        if not isinstance(v, types) or isinstance(v, bool) or (isinstance(v, float) and math.isnan(v)):
            raise damaged(path, f"{name!r} is {v!r}")
    if s["n_masks"] < 1 or not 0 <= s["anomaly_ratio"] <= 1:
        raise damaged(path, f"n_masks {s['n_masks']}, anomaly_ratio {s['anomaly_ratio']}")
    if key is not None and s["key"] != key:
        raise damaged(path, f"it belongs to folder {s['key']}, not {key}")
    return s


def read_pretrain(path: Path) -> dict:
    """pretrain.json checked against PRETRAIN_SCHEMA: a test accuracy in [0, 1] and one per pretraining epoch."""
    p = read_object(path)
    for name, types in PRETRAIN_SCHEMA.items():
        if name not in p:
            raise damaged(path, f"no {name!r}")
        if not isinstance(p[name], types) or isinstance(p[name], bool):
            raise damaged(path, f"{name!r} is {p[name]!r}")
    accs = p["test_acc_per_epoch"]
    if not accs or not all(isinstance(a, _NUM) and 0 <= a <= 1 for a in accs) or p["final_test_acc"] != accs[-1]:
        raise damaged(path, "its per-epoch test accuracies are not fractions ending at final_test_acc")
    return p


def read_masks(path: Path, n_masks: int) -> pd.DataFrame:
    """masks.csv: MASK_COLUMNS with a value of the right type in every row, and the summary's number of masks."""
    try:
        rows = pd.read_csv(path, dtype={"mask_id": str})
    except (OSError, ValueError) as exc:
        raise damaged(path, f"not a readable CSV: {type(exc).__name__}") from None
    if not valid_rows(rows):
        raise damaged(path, f"it needs the columns {', '.join(MASK_COLUMNS)} with a value in every row")
    if rows["mask_id"].nunique() != n_masks:
        raise damaged(path, f"{rows['mask_id'].nunique()} masks where summary.json says {n_masks}")
    return rows


def read_curves(path: Path) -> pd.DataFrame:
    """curves.csv (per-epoch test accuracy and losses): its columns present and numeric."""
    try:
        curves = pd.read_csv(path, dtype={"mask_id": str})
    except (OSError, ValueError) as exc:
        raise damaged(path, f"not a readable CSV: {type(exc).__name__}") from None
    missing = [c for c in CURVE_COLUMNS if c not in curves]
    if missing or curves[CURVE_COLUMNS[1:]].apply(pd.to_numeric, errors="coerce").isna().any().any():
        raise damaged(path, f"missing columns {missing}" if missing else "a value that is not a number")
    return curves


PRUNED_COLUMNS = ["mask_id", "kept", "pruned_train_loss", "pruned_train_acc"]


def read_pruned(path: Path) -> pd.DataFrame:
    """pruned.csv (every candidate's state right after pruning): its columns, a finite loss and an accuracy in
    [0, 1] in every row, each mask once. Indexed by mask_id."""
    try:
        rows = pd.read_csv(path, dtype={"mask_id": str, "kept": str})
    except (OSError, ValueError) as exc:
        raise damaged(path, f"not a readable CSV: {type(exc).__name__}") from None
    missing = [c for c in PRUNED_COLUMNS if c not in rows]
    if missing:
        raise damaged(path, f"missing columns {missing}")
    num = rows[PRUNED_COLUMNS[2:]].apply(pd.to_numeric, errors="coerce")
    if (rows[PRUNED_COLUMNS[:2]].isna().any().any() or not np.isfinite(num.to_numpy()).all()
            or not num["pruned_train_acc"].between(0, 1).all()):
        raise damaged(path, "a row without a mask, a loss that is not a finite number or an accuracy outside [0, 1]")
    if rows["mask_id"].duplicated().any():
        raise damaged(path, "a mask listed twice")
    return rows.set_index("mask_id")
