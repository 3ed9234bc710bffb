"""One loader for the whole results store: every finished run as one row of a tidy DataFrame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import reference
from .store import default_results_root, find_runs, read_json


def runs_table(root: Path | None = None) -> pd.DataFrame:
    """One row per finished run: its setting, profile, headline numbers, and how and where it was produced."""
    rows = []
    for d in find_runs(root or default_results_root()):
        rec, sm = read_json(d / "spec.json"), read_json(d / "summary.json")
        env = read_json(d / "env.json") if (d / "env.json").exists() else {}
        s = rec["spec"]
        walls = env.get("wall_s_this_invocation", {})
        rows.append({
            "experiment": rec["experiment"], "key": rec["key"], "model": s["model"], "dataset": s["dataset"],
            "layers": "+".join(s["layers"]), "ratio": s["ratio"], "profile": s["profile"], "wiring": s["wiring"],
            "n_masks": sm["n_masks"], "repeats": s["repeats"], "retrain_epochs": s["retrain"]["epochs"],
            "kendall_tau": sm["kendall_tau"], "p_value": sm["p_value"], "anomaly_ratio": sm["anomaly_ratio"],
            "kendall_tau_loss": sm.get("kendall_tau_loss"), "anomaly_ratio_loss": sm.get("anomaly_ratio_loss"),
            "oracle_final_test_acc": sm["oracle_final_test_acc"], "final_acc_median": sm["final_acc_median"],
            "code_version": env.get("code_version"), "torch": env.get("torch"), "device": env.get("device"),
            "seed": s["seed"], "started_utc": env.get("started_utc"), "finished_utc": env.get("finished_utc"),
            "wall_s": sum(walls.values()) if walls else None, "folder": f"{rec['experiment']}/{rec['key']}",
        })
    return pd.DataFrame(rows)


def with_paper(runs: pd.DataFrame) -> pd.DataFrame:
    """Every published setting (reference_results.csv) with our run beside it where one exists (correct wiring)."""
    ref = reference.results_table().copy()
    ref["paper_tau"] = ref["kendall_tau"]
    ref = ref[["experiment", "model", "dataset", "layers", "ratio", "n_masks", "paper_tau", "p_value",
               "anomaly_ratio_percent", "oracle_final_acc_percent", "final_acc_median_percent"]].rename(columns={
                   "n_masks": "paper_n", "p_value": "paper_p", "anomaly_ratio_percent": "paper_anomaly_%",
                   "oracle_final_acc_percent": "paper_oracle_acc_%", "final_acc_median_percent": "paper_median_acc_%"})
    if runs.empty:
        return ref.assign(our_tau=None, profile=None)
    ours = runs[runs["wiring"] == "correct"].copy()
    ours["our_tau"] = ours["kendall_tau"]
    ours["our_anomaly_%"] = 100 * ours["anomaly_ratio"]
    ours["our_oracle_acc_%"] = 100 * ours["oracle_final_test_acc"]
    ours["our_median_acc_%"] = 100 * ours["final_acc_median"]
    ours = ours[["model", "dataset", "layers", "ratio", "profile", "n_masks", "our_tau", "our_anomaly_%",
                 "our_oracle_acc_%", "our_median_acc_%"]]
    return ref.merge(ours, on=["model", "dataset", "layers", "ratio"], how="left")
