"""Does reduced-precision retraining change the study's results beyond retraining noise?

Retrains N sampled masks of LeNet5-Mini / MNIST conv1 @ 0.5 (the `cpu` profile) with ``--precision`` (bf16 by
default) into results/precision/, then compares them with the stored fp32 runs of the same masks, which used the
same seeds (so the only difference is the arithmetic): the noise ceiling's two fp32 repeats
(results/noise_ceiling/) give the baseline, what a different retraining seed alone changes. Prints JSON and
appends a row to bench/RESULTS.md. The arithmetic question does not depend on the device (bf16 rounds the same
everywhere, both CPU and GPU kernels accumulate in float32); the speed column does, so on a CPU it says little.

    python bench/precision.py [--precision bf16] [--n-masks 60]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from oracle_core.base.errors import OracleError  # noqa: E402
from oracle_core.compute import stats  # noqa: E402
from oracle_core.experiment import envinfo  # noqa: E402
from oracle_core.experiment.results import load_result
from oracle_core.experiment.runner import run_study  # noqa: E402
from oracle_core.experiment.spec import make_spec  # noqa: E402
from oracle_core.experiment.store import RunStore  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import append_row  # noqa: E402


def _acc(res, repeat: int):
    m = res.masks[res.masks["repeat"] == repeat]
    return m.set_index("mask_id")["final_test_acc"]


def compare(low, fp32_two_repeats) -> dict:
    """Rank agreement and accuracy gaps of the low-precision run against fp32 (same seeds) and of fp32 against
    its own second repeat (a different seed), over the masks the low-precision run retrained."""
    ids = list(low.per_mask["mask_id"])
    a_low, a0, a1 = _acc(low, 0).loc[ids], _acc(fp32_two_repeats, 0).loc[ids], _acc(fp32_two_repeats, 1).loc[ids]
    loss = low.per_mask.set_index("mask_id")["pruned_train_loss"].loc[ids]
    tau = lambda x, y: round(stats.kendall(np.asarray(x), np.asarray(y))[0], 3)  # noqa: E731
    return {"n_masks": len(ids),
            "tau_acc_low_vs_fp32_same_seed": tau(a_low, a0),
            "tau_acc_fp32_seed_vs_other_seed": tau(a1, a0),
            "mean_abs_acc_gap_pp_low_vs_fp32": round(100 * float(np.mean(np.abs(a_low - a0))), 3),
            "mean_abs_acc_gap_pp_seed_vs_seed": round(100 * float(np.mean(np.abs(a1 - a0))), 3),
            "mean_acc_shift_pp_low_minus_fp32": round(100 * float(np.mean(a_low - a0)), 3),
            "tau_pruned_loss_vs_acc_low": tau(loss, a_low), "tau_pruned_loss_vs_acc_fp32": tau(loss, a0)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--precision", default="bf16")
    p.add_argument("--n-masks", type=int, default=60)
    p.add_argument("--device", default=None)
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args(argv)
    try:
        base = make_spec("lenet5_mini", "mnist", "conv1", 0.5, profile="cpu", repeats=2)
        ref_store = RunStore(base, "noise_ceiling")
        if not ref_store.is_complete():
            raise OracleError(f"the fp32 reference {ref_store.dir} is not finished: run `make grid` first")
        spec = make_spec("lenet5_mini", "mnist", "conv1", 0.5, args.n_masks, profile="cpu", repeats=1,
                         precision=args.precision)
        low = run_study(spec, "precision", device=args.device)
    except OracleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ref = load_result(ref_store)
    out = {"bench": "precision", "precision": args.precision, "device": low.env.get("device"),
           "setting": f"lenet5_mini/mnist conv1@0.5 cpu profile, {spec.n_masks} sampled masks",
           "results": f"precision/{spec.key}", **compare(low, ref),
           "retrain_s_per_mask_low": round(low.env["wall_s_this_invocation"].get("retrain_s", float("nan"))
                                           / max(1, len(low.masks)), 2),
           "code": envinfo.code_version()[:10]}
    print(json.dumps(out, indent=1))
    if not args.no_record:
        append_row("bench/precision.py",
                   "| date | precision | device | setting | tau acc: low vs fp32 (same seeds) | tau acc: fp32 seed vs "
                   "seed | mean abs gap pp: low vs fp32 / seed vs seed | mean shift pp | tau loss-acc: low / fp32 | "
                   "code |",
                   f"| {date.today()} | {args.precision} | {out['device']} | {out['setting']} | "
                   f"{out['tau_acc_low_vs_fp32_same_seed']} | {out['tau_acc_fp32_seed_vs_other_seed']} | "
                   f"{out['mean_abs_acc_gap_pp_low_vs_fp32']} / {out['mean_abs_acc_gap_pp_seed_vs_seed']} | "
                   f"{out['mean_acc_shift_pp_low_minus_fp32']} | {out['tau_pruned_loss_vs_acc_low']} / "
                   f"{out['tau_pruned_loss_vs_acc_fp32']} | {out['code']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
