"""Where a retraining step's time goes: torch.profiler over the engine's training and evaluation, per kernel path.

Profiles one pruned LeNet5-Mini (conv1 @ 0.5, K = 1) and a stack of K = 4 under PyTorch's kernels (grouped
convolutions), under the fused CPU blocks with autograd (oracle_core/compute/fused.py, ``ORACLE_STEP=autograd``) and
with the whole step in C (native_step.c, which times its own phases: milliseconds per step of 256 images), training
and evaluation separately, on real MNIST images, one thread. Prints JSON and writes the top operators of each case
(share of the profiled time) into bench/RESULTS.md. Shares, not absolute times, are the point: they say what to
optimise next.

    python bench/profile_step.py [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from oracle_core import data  # noqa: E402
from oracle_core.compute import engine, native  # noqa: E402
from oracle_core.compute.masks import enumerate_masks  # noqa: E402
from oracle_core.compute.surgery import prune  # noqa: E402
from oracle_core.experiment import envinfo  # noqa: E402
from oracle_core.experiment.protocol import LENET_RETRAIN, Recipe  # noqa: E402
from oracle_core.models import build_model  # noqa: E402

SECTION = "bench/profile_step.py (where a step's time goes)"


def top_ops(prof, n: int = 6) -> list[tuple[str, float]]:
    rows = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    total = sum(t for _, t in rows) or 1.0
    rows.sort(key=lambda r: -r[1])
    return [(name, 100 * t / total) for name, t in rows[:n]]


def _phases(seconds: dict[str, float], steps: int) -> list[tuple[str, float]]:
    """(phase, share %) sorted, each name carrying its milliseconds per step."""
    total = sum(seconds.values()) or 1.0
    rows = sorted(seconds.items(), key=lambda r: -r[1])
    return [(f"{name} {1000 * t / steps:.2f} ms", 100 * t / total) for name, t in rows]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=40, help="training steps of batch 256 per case")
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    info = data.get_dataset_info("mnist")
    tr, te = data.load_split("mnist", True), data.load_split("mnist", False)
    n = 256 * args.steps
    x, y = data.to_float(tr.images[:n], info, cpu), tr.labels[:n]
    xt, yt = data.to_float(te.images[:512], info, cpu), te.labels[:512]
    torch.manual_seed(0)
    dense = build_model("lenet5_mini")
    masks = enumerate_masks({"conv1": 10}, 0.5)
    rec = Recipe(epochs=1, lr_steps=LENET_RETRAIN.lr_steps, batch_size=256, weight_decay=1e-4)
    out = {}
    for kernel, step in (("torch", "autograd"), ("fused", "autograd"), ("fused", "c")):
        os.environ[native.STEP_ENV] = step  # "autograd": the fused blocks under autograd (the engine before the C step)
        label = f"{kernel} ({'whole step in C' if step == 'c' else 'autograd'})" if kernel == "fused" else kernel
        for k in (1, 4):
            models = [prune(dense, m) for m in masks[:k]]
            engine.train(models, x[:512], y[:512], xt[:256], yt[:256], rec, list(range(k)), kernel=kernel)  # warm-up
            if step == "c":  # one ctypes call per step: the C code times its own phases
                with native.profiled() as seconds:
                    t0 = time.perf_counter()
                    engine.train(models, x, y, xt[:256], yt[:256], rec, list(range(k)), kernel=kernel)
                    wall = time.perf_counter() - t0
                seconds["outside the C step (Python, data order, test pass)"] = wall - sum(seconds.values())
                out[f"train {label} K={k}"] = _phases(seconds, args.steps)
                continue
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                engine.train(models, x, y, xt[:256], yt[:256], rec, list(range(k)), kernel=kernel)
            out[f"train {label} K={k}"] = top_ops(prof)
            wide = engine.stack(models, kernel)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                engine.evaluate(wide, k, x, y)
            out[f"eval {label} K={k}"] = top_ops(prof)
    os.environ.pop(native.STEP_ENV)
    result = {"bench": "profile_step", "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "device": envinfo.device_name(cpu), "code_version": envinfo.code_version(),
              "setting": f"lenet5_mini/mnist conv1@0.5, {args.steps} steps of 256", "top_ops_percent": out}
    print(json.dumps(result, indent=2))
    if not args.no_record:
        from record import append_row

        for case, ops in out.items():
            append_row(SECTION, "| date | device | case | top operators (share of profiled CPU time) | code |",
                       f"| {result['date_utc'][:10]} | {result['device']} | {case} | "
                       + "; ".join(f"{name} {pct:.0f}%" for name, pct in ops)
                       + f" | {result['code_version'][:10]} |")


if __name__ == "__main__":
    main()
