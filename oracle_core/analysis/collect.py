"""One loader for the whole results store: every finished run as one row of a tidy DataFrame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..base.errors import OracleError
from ..base.paths import default_results_root
from ..experiment.envinfo import code_version
from ..experiment.grid import mnist_grid
from ..experiment.integrity import verify_folder, verify_store
from ..experiment.records import read_object, read_pretrain, read_summary
from ..experiment.store import ENV_JSON, SPEC_JSON, SUMMARY_JSON, find_runs, pretrain_records
from . import reference
from .agreement import oracle_fails, under_trained
from .like_for_like import tau_intervals, verdict_in, verdicts
from .oracle import paper_oracle


def runs_table(root: Path | None = None) -> pd.DataFrame:
    """One row per finished run: its setting, profile, headline numbers, and how and where it was produced."""
    rows = []
    canonical = canonical_keys()
    for d in find_runs(root or default_results_root()):
        verify_folder(d)  # manifest, checksums and contents: a failing folder is one line, never a row
        rec, sm = read_object(d / SPEC_JSON), read_summary(d / SUMMARY_JSON, d.name)
        oracle = paper_oracle(sm)
        env = read_object(d / ENV_JSON) if (d / ENV_JSON).exists() else {}
        s = rec["spec"]
        walls = env.get("wall_s_this_invocation", {})
        rows.append({
            "experiment": rec["experiment"], "key": rec["key"], "model": s["model"], "dataset": s["dataset"],
            "layers": "+".join(s["layers"]), "ratio": s["ratio"], "profile": s["profile"], "wiring": s["wiring"],
            "n_masks": sm["n_masks"], "repeats": s["repeats"], "retrain_epochs": s["retrain"]["epochs"],
            # the paper's oracle (over all candidates: analysis/oracle.py); the within-sample argmin's beside it
            "kendall_tau": sm["kendall_tau"], "p_value": sm["p_value"], "anomaly_ratio": oracle.anomaly_ratio,
            "anomaly_ratio_within": sm["anomaly_ratio"], "oracle_scope": oracle.scope,
            "kendall_tau_loss": sm.get("kendall_tau_loss"), "anomaly_ratio_loss": sm.get("anomaly_ratio_loss"),
            "oracle_final_test_acc": oracle.final_test_acc, "final_acc_median": sm["final_acc_median"],
            "code_version": env.get("code_version"), "torch": env.get("torch"), "device": env.get("device"),
            "threads": env.get("torch_threads"),
            "seed": s["seed"], "started_utc": env.get("started_utc"), "finished_utc": env.get("finished_utc"),
            "wall_s": sum(walls.values()) if walls else None, "folder": f"{rec['experiment']}/{rec['key']}",
            "canonical": rec["key"] in canonical,
        })
    out = pd.DataFrame(rows)
    out.attrs["root"] = root  # which store these rows came from (with_paper reads its verdicts from the same)
    return out


# runs that check a setting rather than answer it (several retrainings, the short recipe, another seed, a precision):
# never "ours" in a figure's table or count
AUXILIARY_EXPERIMENTS = ("noise_ceiling", "retrain_lesson", "pretrain_seed", "precision")
PROFILE_PREFERENCE = ("paper", "converged", "cpu_long", "cpu_single", "cpu_15k", "cpu", "smoke")  # most thorough first


def canonical_keys() -> set[str]:
    """The folder key the grid produces for each of its settings under each profile (mask count, repeats, seed,
    wiring): when several finished runs share a setting and a profile, the book reads this one, whatever the
    others' folder names (a smaller ``--n-masks 3`` run beside it never replaces it)."""
    keys = set()
    for e in mnist_grid():
        for profile in PROFILE_PREFERENCE:
            if e.runs_at(profile):
                try:
                    keys.add(e.spec(profile).key)
                except OracleError:  # a setting this profile cannot run
                    continue
    return keys


def with_paper(runs: pd.DataFrame, profile: str | None = None, wiring: str = "correct") -> pd.DataFrame:
    """Every published setting (reference_results.csv) with our run beside it where one exists (at ``wiring``: the
    correct one, the study the paper intended, or "released_code", the twin run as the paper's code ran; at
    ``profile`` when given, else the most thorough profile that has one: one row per published setting), with
    the 95% interval of our tau over the masks and the pretrained networks (our_tau_lo, our_tau_hi; MNIST family)
    and the setting's verdict (like_for_like.Verdict.text, which compares the twin whatever ``wiring`` is)."""
    if profile is not None and not runs.empty:
        runs = runs[runs["profile"] == profile]
    ref = reference.results_table().copy()
    ref["paper_tau"] = ref["kendall_tau"]
    ref = ref[["experiment", "model", "dataset", "layers", "ratio", "n_masks", "paper_tau", "p_value",
               "anomaly_ratio_percent", "oracle_final_acc_percent", "final_acc_median_percent"]].rename(columns={
                   "n_masks": "paper_n", "p_value": "paper_p", "anomaly_ratio_percent": "paper_anomaly_%",
                   "oracle_final_acc_percent": "paper_oracle_acc_%", "final_acc_median_percent": "paper_median_acc_%"})
    if runs.empty:
        return ref.assign(our_tau=None, profile=None, under_trained=False, verdict="not run yet")
    ours = runs[(runs["wiring"] == wiring) & ~runs["experiment"].isin(AUXILIARY_EXPERIMENTS)].copy()
    ours["our_tau"] = ours["kendall_tau"]
    ours["our_p"] = ours["p_value"]
    ours["our_anomaly_%"] = 100 * ours["anomaly_ratio"]
    ours["our_oracle_acc_%"] = 100 * ours["oracle_final_test_acc"]
    ours["our_median_acc_%"] = 100 * ours["final_acc_median"]
    ours = ours[["model", "dataset", "layers", "ratio", "profile", "n_masks", "our_tau", "our_p", "our_anomaly_%",
                 "our_oracle_acc_%", "our_median_acc_%", "canonical", "folder"]]
    rank = {p: i for i, p in enumerate(PROFILE_PREFERENCE)}  # one run per setting: the most thorough profile,
    # and within it the grid's own (canonical) run; ties broken by folder name, never by which came first on disk
    ours = ours.assign(_r=ours["profile"].map(lambda p: rank.get(p, len(rank))), _c=~ours["canonical"],
                       _k=ours["folder"]).sort_values(["_r", "_c", "_k"], kind="stable").drop(columns=["_c", "_k"])
    ours = ours.drop_duplicates(["model", "dataset", "layers", "ratio"]).drop(columns=["_r", "canonical"])
    t = ref.merge(ours, on=["model", "dataset", "layers", "ratio"], how="left")
    ran = t["profile"].notna()
    t["under_trained"] = [bool(r) and under_trained(m, pm) for r, m, pm in
                          zip(ran, t["our_median_acc_%"], t["paper_median_acc_%"])]
    root = runs.attrs.get("root")  # the store runs_table read: the verdicts come from the same one
    intervals = {pr: tau_intervals(pr, root, wiring=wiring) for pr in t["profile"].dropna().unique()}
    ci = [intervals[pr].get((m, d, la, float(r)), (None, None)) if isinstance(pr, str) else (None, None)
          for pr, m, d, la, r in zip(t["profile"], t["model"], t["dataset"], t["layers"], t["ratio"])]
    t["our_tau_lo"], t["our_tau_hi"] = [c[0] for c in ci], [c[1] for c in ci]
    judged = {pr: verdicts(pr, root) for pr in intervals}  # once per profile, not once per row
    t["verdict"] = [verdict_in(judged[pr], m, d, la, r).text if isinstance(pr, str) else "not run yet"
                    for pr, m, d, la, r in zip(t["profile"], t["model"], t["dataset"], t["layers"], t["ratio"])]
    return t


def _done_converged(t: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A with_paper table's settings we have a run of, and those of them not under-trained (every count reads these)."""
    done = t[t["profile"].notna()]
    return done, done[~done["under_trained"].astype(bool)]


def _flags(t: pd.DataFrame) -> dict[str, int]:
    """The paper's failure flags (agreement.oracle_fails) on a with_paper table: our converged settings, how many the
    flags mark as failing on our numbers and on the paper's numbers for the same settings, and on all the paper's."""
    done, converged = _done_converged(t)
    paper_p = pd.to_numeric(t["paper_p"].astype(str).str.replace("<", "", regex=False), errors="coerce")
    fails_paper = [oracle_fails(a, b, c / 100) for a, b, c in zip(t["paper_tau"], paper_p, t["paper_anomaly_%"])]
    return {"n_done": len(done), "n_converged": len(converged),
            "n_fail_ours": int(sum(oracle_fails(a, b, c / 100) for a, b, c in
                                   zip(converged["our_tau"], converged["our_p"], converged["our_anomaly_%"]))),
            "n_fail_paper_same": int(sum(f for f, i in zip(fails_paper, t.index) if i in converged.index)),
            "n_fail_paper": int(sum(fails_paper))}


def _is_headline(t: pd.DataFrame) -> pd.Series:
    return (t["model"] == "lenet5_mini") & (t["dataset"] == "mnist") & (t["layers"] == "conv1") & (t["ratio"] == 0.5)


def headline(runs: pd.DataFrame, profile: str) -> dict[str, object]:
    """The front page's numbers, computed from the store: how many settings were re-run (correct wiring), how many
    of them are under-trained (left out of every count), how many converged ones agree with the paper, where the
    paper's flags say the oracle fails (on our released-code twins, the runs compared with the paper's numbers
    (``*_twin``), and on our correctly wired runs, the study the paper intended; the paper's flags on the same
    settings beside each), and the headline tau (the twin's, which the paper's is compared with, and the correct)."""
    t = with_paper(runs, profile)
    tw = with_paper(runs, profile, wiring="released_code")
    flags, twin_flags = _flags(t), _flags(tw)
    done, converged = _done_converged(t)
    head = done[_is_headline(done)]
    head_twin = tw[tw["profile"].notna() & _is_headline(tw)]
    devices = sorted(str(d) for d in runs["device"].dropna().unique()) if not runs.empty else []
    return {
        "profile_name": f"`{profile}`", "n_published": len(t), "n_done": flags["n_done"],
        "n_under": flags["n_done"] - flags["n_converged"], "n_converged": flags["n_converged"],
        "n_agree": int(converged["verdict"].str.startswith("agrees").sum()),
        "n_disagree": int(converged["verdict"].str.startswith("differs").sum()),
        "n_fail_ours": flags["n_fail_ours"], "n_fail_paper": flags["n_fail_paper"],
        "n_fail_paper_same": flags["n_fail_paper_same"],
        "n_twin_converged": twin_flags["n_converged"], "n_fail_twin": twin_flags["n_fail_ours"],
        "n_fail_paper_twin_same": twin_flags["n_fail_paper_same"],
        "tau_headline_ours": float(head["our_tau"].iloc[0]) if len(head) else float("nan"),
        "tau_headline_twin": float(head_twin["our_tau"].iloc[0]) if len(head_twin) else float("nan"),
        "tau_headline_paper": float(t[_is_headline(t)]["paper_tau"].iloc[0]),
        "headline_md": _headline_md(head, head_twin),
        "n_converged_runs": int((runs["profile"] == "converged").sum()) if not runs.empty else 0,
        "n_runs": len(runs), "devices_md": ", ".join(f"`{d}`" for d in devices) or "no device yet",
        "hours": float(runs["wall_s"].fillna(0).sum() / 3600) if not runs.empty else 0.0,
    }


def _headline_md(head: pd.DataFrame, head_twin: pd.DataFrame) -> str:
    """The headline setting in words: the released-code twin's tau (the number the paper's is compared with) and the
    correctly wired run's beside it, each flagged when under-trained."""
    def one(h: pd.DataFrame) -> str:
        r = h.iloc[0]
        return f"**{float(r['our_tau']):+.2f}**" + (
            f" (under-trained: median final accuracy {float(r['our_median_acc_%']):.2f}% against the paper's "
            f"{float(r['paper_median_acc_%']):.2f}%)" if bool(r["under_trained"]) else "")
    if not len(head) and not len(head_twin):
        return "we have no finished run at this profile yet"
    twin = (f"our run of the protocol its code ran (the released-code twin) gives tau {one(head_twin)}"
            if len(head_twin) else "the run of the protocol its code ran (the released-code twin) is not stored yet")
    return twin + (f", our correctly wired run {one(head)}" if len(head) else "")


def profile_pairs(runs: pd.DataFrame, short: str = "cpu", full: str = "converged") -> pd.DataFrame:
    """The settings both profiles ran (figure settings, correct wiring, one retraining per mask), one row each: tau,
    anomaly ratio and median final accuracy under each profile beside the paper's, and whether the short one is
    under-trained. What too little retraining does to the study's answer, measured on the same settings."""
    key = ["model", "dataset", "layers", "ratio"]
    cols = {"kendall_tau": "tau", "anomaly_ratio": "anomaly_%", "final_acc_median": "median_acc_%", "n_masks": "N"}
    if runs.empty:
        return pd.DataFrame()
    sel = runs[(runs["wiring"] == "correct") & ~runs["experiment"].isin(AUXILIARY_EXPERIMENTS) & (runs["repeats"] <= 1)]

    def side(profile: str) -> pd.DataFrame:
        t = sel[sel["profile"] == profile][key + list(cols)].drop_duplicates(key)
        t = t.assign(anomaly_ratio=100 * t["anomaly_ratio"], final_acc_median=100 * t["final_acc_median"])
        return t.rename(columns={c: f"{v} {profile}" for c, v in cols.items()})

    both = side(short).merge(side(full), on=key)
    ref = with_paper(runs.iloc[:0])[key + ["paper_tau", "paper_anomaly_%", "paper_median_acc_%"]]
    both = both.merge(ref, on=key, how="left")
    both[f"under-trained {short}"] = [under_trained(a, b) for a, b in
                                      zip(both[f"median_acc_% {short}"], both["paper_median_acc_%"])]
    names = {"mnist": "", "fashion_mnist": "Fashion-MNIST ", "kmnist": "KMNIST "}
    both.index = [(m.replace("lenet5_mini", "").lstrip("_").upper() + " " if m != "lenet5_mini" else "")
                  + f"{names.get(d, d + ' ')}{la} @ {r:g}" for m, d, la, r in
                  zip(both["model"], both["dataset"], both["layers"], both["ratio"])]
    return both.drop(columns=key)


def pretrain_table(root: Path | None = None) -> pd.DataFrame:
    """One row per pretrained dense network in the store: what it is, its accuracy, and how it was made."""
    rows = []
    for key, f in pretrain_records(root):
        p = read_pretrain(f)
        rows.append({"pretrained": key, "model": p.get("model"), "dataset": p.get("dataset"),
                     "seed": p.get("seed"), "epochs": p.get("recipe", {}).get("epochs"),
                     "train images": p.get("train_images"), "final test acc": p.get("final_test_acc"),
                     "code_version": str(p.get("code_version", ""))[:12], "torch": p.get("torch"),
                     "device": p.get("device"), "wall_s": p.get("wall_s")})
    return pd.DataFrame(rows)


def reproducibility_summary(runs: pd.DataFrame) -> str:
    """One paragraph: how many runs, on which devices and profiles, how much compute in all."""
    if runs.empty:
        return "The results store holds no finished run."
    hours = runs["wall_s"].fillna(0).sum() / 3600
    devices = ", ".join(sorted(str(d) for d in runs["device"].dropna().unique()))
    profiles = ", ".join(f"{k}: {v}" for k, v in runs["profile"].value_counts().items())
    versions = runs["code_version"].dropna().str[:12].nunique()
    return (f"{len(runs)} finished runs ({profiles}); {hours:.1f} hours of recorded wall time in all; devices: "
            f"{devices}; {versions} code version(s); torch {', '.join(sorted(runs['torch'].dropna().unique()))}.")


def verification_table(root: Path | None = None) -> pd.DataFrame:
    """``python -m oracle_core verify`` as a table: one row per folder of the store (finished runs, runs in
    progress, pretrained networks) with its state (ok / in progress / failed) and what was checked or why it fails."""
    checks = verify_store(Path(root or default_results_root()))
    return pd.DataFrame([{"folder": c.folder, "state": c.state, "detail": c.detail} for c in checks])


def built_from() -> str:
    """The commit the pages are executed from (a downloadable archive of it sits in the built book's static files)."""
    return code_version()
