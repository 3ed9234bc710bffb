"""Evaluation speed of a pruned LeNet5-Mini with the strided-maxima pool against PyTorch's max_pool2d, in the
same run and process: the pruned-train-loss pass over 10k real MNIST images, 1 thread (a grid worker's setting).

Prints JSON with both throughputs and their ratio, and appends a row to bench/RESULTS.md (--no-record skips it).
The two paths give bit-identical losses (checked here too).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from oracle_core import data  # noqa: E402
from oracle_core.compute import engine  # noqa: E402
from oracle_core.compute.masks import make_masks  # noqa: E402
from oracle_core.compute.surgery import layer_sizes, prune  # noqa: E402
from oracle_core.experiment import envinfo  # noqa: E402
from oracle_core.models import build_model, lenet  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import append_row  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-record", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    info = data.get_dataset_info("mnist")
    split = data.load_split("mnist", True).head(a.images)
    x, y = data.to_float(split.images, info), split.labels
    torch.manual_seed(0)
    dense = build_model("lenet5_mini", 1, 10)
    out = {}
    fast = lenet.max_pool2x2
    paths = (("max_pool2d", lambda t: F.max_pool2d(t, 2)), ("strided maxima", fast))
    for layer in ("conv1", "conv2"):
        model = prune(dense, make_masks(layer_sizes(dense, (layer,)), 0.5, 0, 0)[0], "correct", 0.5)
        timings, losses = {}, {}
        try:
            for name, pool in paths:
                lenet.max_pool2x2 = pool  # the model's forward looks the pool up in its module
                best = float("inf")
                for _ in range(a.repeats):  # best of: robust to a shared machine
                    t0 = time.perf_counter()
                    m = engine.evaluate(model, 1, x, y)
                    best = min(best, time.perf_counter() - t0)
                timings[name], losses[name] = a.images / best, m.loss[0]
        finally:
            lenet.max_pool2x2 = fast
        assert losses["max_pool2d"] == losses["strided maxima"], losses  # bit-identical
        out[layer] = {"baseline_img_s": round(timings["max_pool2d"]), "new_img_s": round(timings["strided maxima"]),
                      "ratio": round(timings["strided maxima"] / timings["max_pool2d"], 2)}
    dev = envinfo.device_name(torch.device("cpu"))
    print(json.dumps({"device": dev, "images": a.images, "threads": 1, **out}, indent=2))
    if not a.no_record:
        append_row("bench/eval_pool.py",
                   "| date | device | setting | conv1-pruned img/s (max_pool2d -> strided) | conv2-pruned img/s "
                   "| ratio conv1 / conv2 | code |",
                   f"| {date.today()} | {dev} | eval of 1 pruned LeNet5-Mini, {a.images} MNIST images, 1 thread | "
                   f"{out['conv1']['baseline_img_s']} -> {out['conv1']['new_img_s']} | "
                   f"{out['conv2']['baseline_img_s']} -> {out['conv2']['new_img_s']} | "
                   f"{out['conv1']['ratio']} / {out['conv2']['ratio']} | {envinfo.code_version()[:10]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
