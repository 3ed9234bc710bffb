"""ResNet56 / CIFAR-shaped data through the engine: training and evaluation throughput of the dense network, of one
pruned network (the 27 block conv1s at 0.5) and of K pruned networks stacked into one wide model, with memory.

The baseline, measured in the same run, is one pruned network at a time (K = 1). From the measured rates it
projects (1) the `cpu` profile of ResNet56 (experiment/protocol.py) in minutes and (2) the paper's full ResNet56
experiment (1000 masks x 3 repeats x 120 epochs on 50k images + the pruned train loss + a test pass per epoch) in
device-hours.
Random images of CIFAR's shape are enough: the arithmetic does not depend on the pixels. Prints JSON and appends a
row to bench/RESULTS.md (--no-record skips it).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from oracle_core import data  # noqa: E402
from oracle_core.compute import augment, engine  # noqa: E402
from oracle_core.compute.masks import make_masks  # noqa: E402
from oracle_core.compute.surgery import layer_sizes, prune  # noqa: E402
from oracle_core.experiment import envinfo  # noqa: E402
from oracle_core.experiment.protocol import FAMILY_PROFILES, Recipe  # noqa: E402
from oracle_core.experiment.spec import make_spec  # noqa: E402
from oracle_core.models import build_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import append_row  # noqa: E402


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def train_rate(models, x, y, dev, aug, batch: int, precision: str = "fp32", channels_last: bool = False) -> float:
    """Model-images per second of one training epoch over x (after one warm-up step)."""
    recipe = Recipe(epochs=1, lr_steps=((0, 0.01),), batch_size=batch, weight_decay=5e-4)
    k = len(models)
    tx, ty = x[:2], y[:2]
    kw = {"augment": aug, "precision": precision, "channels_last": channels_last}
    engine.train(models, x[:batch], y[:batch], tx, ty, recipe, list(range(k)), **kw)  # warm-up
    _sync(dev)
    t0 = time.perf_counter()
    engine.train(models, x, y, tx, ty, recipe, list(range(k)), **kw)
    _sync(dev)
    return k * len(y) / (time.perf_counter() - t0)


def eval_rate(model, x, y, dev) -> float:
    engine.evaluate(model, 1, x[:256], y[:256])
    _sync(dev)
    t0 = time.perf_counter()
    engine.evaluate(model, 1, x, y)
    _sync(dev)
    return len(y) / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    p.add_argument("--images", type=int, default=0, help="training images per timed epoch (default 512 cpu, 8192 cuda)")
    p.add_argument("--ks", default="", help="stack sizes to time, e.g. 1,4 (default 1,2 cpu; 1,8,32,64 cuda)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's)")
    p.add_argument("--variants", default="", help="arithmetic/layout at the best K, e.g. tf32,bf16,fp32+cl,bf16+cl "
                   "(cl = channels_last; default: those four on cuda, none on cpu)")
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args(argv)
    dev = envinfo.pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    n = args.images or (8192 if cuda else 512)
    ks = [int(k) for k in (args.ks or ("1,8,32,64" if cuda else "1,2")).split(",")]
    info = data.get_dataset_info("cifar10")
    g = torch.Generator().manual_seed(0)
    x = data.to_float(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g), info, dev)
    y = torch.randint(0, 10, (n,), generator=g).to(dev)
    aug = augment.CropFlip(info.mean, info.std, 3)

    torch.manual_seed(0)
    dense = build_model("resnet56", 3, 10).to(dev)
    spec = make_spec("resnet56", "cifar10", "layer*.conv1", 0.5, 1000, profile="paper")
    masks = make_masks(layer_sizes(dense, spec.layers), 0.5, max(ks), 0)
    dense_train = train_rate([build_model("resnet56", 3, 10).to(dev)], x, y, dev, aug, 128)
    pruned_eval = eval_rate(prune(dense, masks[0]), x, y, dev)
    rates = {}
    for k in ks:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        rates[k] = train_rate([prune(dense, m) for m in masks[:k]], x, y, dev, aug, 256)
        if cuda:
            rates[k] = (rates[k], torch.cuda.max_memory_allocated() / 2**20)
    per = {k: (r[0] if cuda else r) for k, r in rates.items()}
    best_k = max(per, key=per.get)
    variants = {}  # the same best-K stack with another arithmetic or memory layout, against its fp32 rate
    for v in [v for v in (args.variants or ("tf32,bf16,fp32+cl,bf16+cl" if cuda else "")).split(",") if v]:
        precision, cl = v.split("+")[0], v.endswith("+cl")
        r = train_rate([prune(dense, m) for m in masks[:best_k]], x, y, dev, aug, 256, precision, cl)
        variants[v] = {"model_img_s": round(r, 1), "ratio_vs_fp32": round(r / per[best_k], 2)}
    mem = {k: round(r[1]) for k, r in rates.items()} if cuda else {"process_peak": round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}

    # projections from the measured rates (train at the best K, evaluation one pruned network at a time)
    cpu = FAMILY_PROFILES[("resnet_cifar", "cpu")]
    nm = cpu.sampled_masks
    cpu_s = (cpu.pretrain.epochs * cpu.train_subset / dense_train
             + (cpu.pretrain.epochs + nm * cpu.retrain.epochs) * cpu.test_subset / pruned_eval
             + nm * cpu.loss_subset / pruned_eval + nm * cpu.retrain.epochs * cpu.train_subset / per[best_k])
    paper = FAMILY_PROFILES[("resnet_cifar", "paper")]
    runs = 1000 * paper.repeats
    paper_s = (paper.pretrain.epochs * 50000 / dense_train + 1000 * 50000 / pruned_eval
               + runs * paper.retrain.epochs * (50000 / per[best_k] + 10000 / pruned_eval))
    out = {"device": envinfo.environment(dev)["device"], "threads": torch.get_num_threads(), "images": n,
           "dense_train_img_s": round(dense_train, 1), "pruned_eval_img_s": round(pruned_eval, 1),
           "pruned_train_model_img_s": {k: round(v, 1) for k, v in per.items()},
           "ratio_best_k_vs_k1": round(per[best_k] / per[1], 2) if 1 in per else None, "best_k": best_k,
           "variants_at_best_k": variants,
           "memory_mb": mem, "projected_cpu_profile_min": round(cpu_s / 60, 1),
           "projected_paper_resnet56_device_hours": round(paper_s / 3600, 1),
           "code": envinfo.code_version()[:10]}
    print(json.dumps(out, indent=1))
    if not args.no_record:
        append_row("bench/resnet_cifar.py",
                   "| date | device | threads | dense train img/s | pruned eval img/s | pruned train model-img/s by K "
                   "| ratio best K / K=1 | variants at best K vs fp32 | memory MB | cpu profile, projected min "
                   "| paper ResNet56, projected device-h | code |",
                   f"| {date.today()} | {out['device']} | {out['threads']} | {out['dense_train_img_s']} | "
                   f"{out['pruned_eval_img_s']} | " + ", ".join(f"K={k}: {v}" for k,
                                                                v in out["pruned_train_model_img_s"].items())
                   + f" | {out['ratio_best_k_vs_k1']} | "
                   + (", ".join(f"{v}: {r['ratio_vs_fp32']}x" for v,
                                r in variants.items()) or "-") + f" | {mem} | {out['projected_cpu_profile_min']} | "
                   f"{out['projected_paper_resnet56_device_hours']} | {out['code']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
