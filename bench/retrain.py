"""Benchmark: retraining many masks, the paper's official-style loop against our engine, in one run.

(a) official-style baseline: one dense *masked* LeNet5-Mini at a time (removed filters zeroed and kept at zero
    by a weight mask), torchvision MNIST decoded per sample through PIL Resize/ToTensor/Normalize in a
    DataLoader, and, every epoch, the loss over the whole training set and the test evaluation (as the
    released code does);
(b) our engine as it was: physically pruned networks, data as one in-memory tensor, K masks per wide model
    (grouped convolutions; kernel "torch"), the pruned train loss once, test metrics every epoch;
(c) the engine with the fused CPU kernels (oracle_core/compute/fused.py; kernel "fused"), otherwise as (b).
With ``--against autograd`` (b) is instead the engine with the fused per-block C kernels under autograd (the engine
before the whole step moved to C: ``ORACLE_STEP=autograd``) and (c) the whole step in C (native_step.c); the row goes
to its own table, with training and the pruned-loss pass measured separately, and ``--no-baseline`` skips (a).
Same setting for all: conv1 at 0.5, the first ``--masks`` masks, ``--epochs`` retraining epochs over the first
``--train-images`` training images (default: the paper recipe's shape, all 60k), the 10k test images every epoch.
Each variant runs in its own process, one thread (peak memory is per process). Prints JSON (model-images/s, time
per mask projected to the paper's 30 epochs, peak memory, CPU model, GFLOP/s against a large matmul measured in
the same run, the ratios c/b and c/a) and appends a row to bench/RESULTS.md.

With ``--repeats R`` every variant runs R times, the variants interleaved (baseline, as-was, new, baseline, ...) so
that a slow spell of a shared machine falls on all of them; each figure is the median over the repeats and the
ratios come with their range over the paired repeats.

    python bench/retrain.py [--masks 2] [--train-images 60000] [--group-sizes 1,4] [--repeats 3] [--device cuda]
    python bench/retrain.py --against autograd --group-sizes 1,2 --repeats 3 [--no-baseline]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from oracle_core import data  # noqa: E402
from oracle_core.compute import engine  # noqa: E402
from oracle_core.compute.masks import enumerate_masks  # noqa: E402
from oracle_core.compute.surgery import prune  # noqa: E402
from oracle_core.experiment import envinfo  # noqa: E402
from oracle_core.experiment.protocol import LENET_RETRAIN, Recipe  # noqa: E402
from oracle_core.models import build_model  # noqa: E402


def recipe(epochs: int) -> Recipe:
    return Recipe(epochs=epochs, lr_steps=LENET_RETRAIN.lr_steps, batch_size=256, weight_decay=1e-4)


def dense_model(device) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("lenet5_mini").to(device)


def peak_mem_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_baseline(args, device) -> dict:
    import torchvision
    from torch.utils.data import DataLoader, Subset
    from torchvision import transforms

    tf = transforms.Compose([transforms.Resize(32), transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    root = str(data.default_root())
    train = Subset(torchvision.datasets.MNIST(root, train=True, transform=tf), range(args.train_images))
    test = torchvision.datasets.MNIST(root, train=False, transform=tf)
    dense = dense_model(device)
    masks = enumerate_masks({"conv1": 10}, 0.5)[: args.masks]
    rec = recipe(args.epochs)
    t0 = time.perf_counter()
    for mask in masks:
        model = copy.deepcopy(dense)
        keep = torch.zeros(10, device=device)
        keep[list(mask.as_dict()["conv1"])] = 1
        wmask = keep.view(10, 1, 1, 1)
        with torch.no_grad():
            model.conv1.weight.mul_(wmask)
            model.conv1.bias.mul_(keep)
        opt = torch.optim.SGD(model.parameters(), lr=rec.lr_at(0), momentum=0.9, weight_decay=rec.weight_decay)
        for epoch in range(rec.epochs):
            for g in opt.param_groups:
                g["lr"] = rec.lr_at(epoch)
            model.train()
            for x, y in DataLoader(train, batch_size=256, shuffle=True):
                x, y = x.to(device), y.to(device)
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    model.conv1.weight.mul_(wmask)
                    model.conv1.bias.mul_(keep)
            model.eval()
            with torch.no_grad():
                for loader in (DataLoader(train, batch_size=1024), DataLoader(test, batch_size=1024)):
                    for x, y in loader:
                        F.cross_entropy(model(x.to(device)), y.to(device), reduction="sum")
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"wall_s": time.perf_counter() - t0}


def run_engine(args, device, k: int, kernel: str) -> dict:
    info = data.get_dataset_info("mnist")
    tr, te = data.load_split("mnist", True), data.load_split("mnist", False)
    x, y = data.to_float(tr.images[: args.train_images], info, device), tr.labels[: args.train_images].to(device)
    xt, yt = data.to_float(te.images, info, device), te.labels.to(device)
    dense = dense_model(device)
    masks = enumerate_masks({"conv1": 10}, 0.5)[: args.masks]
    rec = recipe(args.epochs)
    warm = [prune(dense, masks[0]) for _ in range(k)]  # compile / load the kernels before the clock starts
    engine.train(warm, x[:512], y[:512], xt[:256], yt[:256], recipe(1), list(range(k)), kernel=kernel)
    t0 = time.perf_counter()
    eval_s = 0.0
    for s in range(0, len(masks), k):
        group = [prune(dense, m) for m in masks[s:s + k]]
        t1 = time.perf_counter()
        engine.evaluate(engine.stack(group, kernel), len(group), x, y)  # pruned train loss
        eval_s += time.perf_counter() - t1
        engine.train(group, x, y, xt, yt, rec, list(range(s, s + len(group))), kernel=kernel)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"wall_s": time.perf_counter() - t0, "pruned_loss_s": eval_s}


def flops_per_image(device) -> float:
    """Forward+backward FLOPs of one pruned LeNet5-Mini training image (torch's flop counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = prune(dense_model(device), enumerate_masks({"conv1": 10}, 0.5)[0])
    x = torch.randn(256, 1, 32, 32, device=device)
    with FlopCounterMode(display=False) as fc:
        F.cross_entropy(model(x), torch.zeros(256, dtype=torch.long, device=device)).backward()
    return fc.get_total_flops() / 256


def matmul_gflops(device) -> float:
    n = 4096 if device.type == "cuda" else 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    reps = 20 if device.type == "cuda" else 5
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def cpu_model() -> str:
    """The CPU model and its widest vector extension (these machines vary: AVX-512 on some, not on others)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "unknown")
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), [])
    vec = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name}, {vec}"


def child(args) -> None:
    device = envinfo.pick_device(args.device)
    torch.set_num_threads(1)
    out = run_baseline(args, device) if args.variant == "baseline" else run_engine(args, device, args.k, args.variant)
    out["peak_mem_mb"] = peak_mem_mb(device)
    print(json.dumps(out))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--masks", type=int, default=2)
    p.add_argument("--train-images", type=int, default=60000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--group-sizes", default="1,4")
    p.add_argument("--repeats", type=int, default=1, help="runs of each variant, interleaved; medians reported")
    p.add_argument("--device", default=None)
    p.add_argument("--against", choices=("torch", "autograd"), default="torch",
                   help="the engine compared: torch kernels, or the fused blocks under autograd (against the C step)")
    p.add_argument("--no-baseline", action="store_true", help="skip the official-style loop")
    p.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    p.add_argument("--k", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = p.parse_args()
    if args.variant:
        return child(args)
    device = envinfo.pick_device(args.device)
    common = [sys.executable, __file__, "--masks", str(args.masks), "--train-images", str(args.train_images),
              "--epochs", str(args.epochs)] + (["--device", args.device] if args.device else [])

    def measure(variant: str, k: int = 1) -> dict:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        if variant == "autograd":  # the fused per-block kernels under autograd: the engine before the C step
            variant, env["ORACLE_STEP"] = "fused", "autograd"
        r = subprocess.run(common + ["--variant", variant, "--k", str(k)], capture_output=True, text=True, check=True,
                           env=env)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        imgs = args.masks * args.epochs * args.train_images
        res.update(model_images_per_s=imgs / res["wall_s"], wall_s_per_mask=res["wall_s"] / args.masks)
        # a converged retraining: the pruned train loss once (engine) or every epoch (baseline), 30 epochs
        per_epoch = (res["wall_s"] - res.get("pruned_loss_s", 0.0)) / args.masks / args.epochs
        res["s_per_mask_at_30_epochs"] = res.get("pruned_loss_s", 0.0) / args.masks + 30 * per_epoch
        res["train_model_images_per_s"] = imgs / (res["wall_s"] - res.get("pruned_loss_s", 0.0))
        if res.get("pruned_loss_s"):
            res["pruned_loss_images_per_s"] = args.masks * args.train_images / res["pruned_loss_s"]
        return res

    gflop_img = flops_per_image(device)
    peak = matmul_gflops(device)
    sizes = list(map(int, args.group_sizes.split(",")))
    if args.against == "autograd":
        return against_autograd(args, device, sizes, measure, gflop_img, peak)
    variants = [("baseline", 1)] + [("torch", k) for k in sizes] + ([("fused", k) for k in sizes]
                                                                    if device.type == "cpu" else [])
    runs: dict[tuple[str, int], list[dict]] = {v: [] for v in variants}
    for _ in range(args.repeats):  # interleaved: a slow spell of the machine falls on every variant
        for v in variants:
            runs[v].append(measure(*v))

    def median(v):
        rs = sorted(runs[v], key=lambda r: r["model_images_per_s"])
        mid = dict(rs[len(rs) // 2])
        mid["model_images_per_s_all"] = [round(r["model_images_per_s"]) for r in runs[v]]
        return mid

    baseline = median(("baseline", 1))
    was = {k: median(("torch", k)) for k in sizes}
    new = {k: median(("fused", k)) for k in sizes} if device.type == "cpu" else {}
    best_was = max(was, key=lambda k: was[k]["model_images_per_s"])
    now = new or was
    best_new = max(now, key=lambda k: now[k]["model_images_per_s"])
    for r in [baseline, *was.values(), *new.values()]:
        r["train_gflops_per_s"] = r["model_images_per_s"] * gflop_img / 1e9
        r["fraction_of_matmul_peak"] = r["train_gflops_per_s"] / peak
    hours_45 = 45 * now[best_new]["s_per_mask_at_30_epochs"] / 3600
    result = {
        "bench": "retrain", "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": envinfo.device_name(device), "cpu_model": cpu_model(), "threads_per_process": 1,
        "torch": torch.__version__, "code_version": envinfo.code_version(),
        "setting": (f"lenet5_mini/mnist conv1@0.5, {args.masks} masks, {args.epochs} epoch(s) x "
                    f"{args.train_images} images"
                    + (f", {args.repeats} interleaved runs each" if args.repeats > 1 else "")),
        "baseline_official_style": baseline, "engine_as_was_by_group_size": was, "engine_fused_by_group_size": new,
        "best_group_size": {"as_was": best_was, "new": best_new},
        "ratio_new_over_was": now[best_new]["model_images_per_s"] / was[best_was]["model_images_per_s"],
        "ratio_new_over_baseline": now[best_new]["model_images_per_s"] / baseline["model_images_per_s"],
        "repeats": args.repeats,
        "ratio_new_over_was_per_repeat": [
            n["model_images_per_s"] / w["model_images_per_s"]
            for n, w in zip(runs[("fused" if new else "torch", best_new)], runs[("torch", best_was)])],
        "matmul_gflops_per_s": peak, "train_flops_per_image": gflop_img,
        "hours_per_converged_45_mask_setting": {"one_worker": hours_45, "two_1_thread_workers": hours_45 / 2},
    }
    print(json.dumps(result, indent=2))
    if not args.no_record:
        def fmt(d):
            return ", ".join(f"K={k}: {v['model_images_per_s']:.0f}" for k, v in d.items()) or "-"

        b = now[best_new]
        per = result["ratio_new_over_was_per_repeat"]
        spread = f" (paired runs {min(per):.2f}-{max(per):.2f}, median of {args.repeats})" if args.repeats > 1 else ""
        line = (f"| {result['date_utc'][:10]} | {result['cpu_model']} (1 thread/process) | {result['setting']} | "
                f"{baseline['model_images_per_s']:.0f} | {fmt(was)} | {fmt(new)} | "
                f"{result['ratio_new_over_was']:.2f}{spread} | {result['ratio_new_over_baseline']:.1f} | "
                f"{b['s_per_mask_at_30_epochs']:.0f} | {hours_45:.2f} / {hours_45 / 2:.2f} | "
                f"{b['peak_mem_mb']:.0f} / {was[best_was]['peak_mem_mb']:.0f} / {baseline['peak_mem_mb']:.0f} | "
                f"{b['train_gflops_per_s']:.1f} of {peak:.0f} ({100 * b['fraction_of_matmul_peak']:.1f}%) | "
                f"{result['code_version'][:10]} |")
        from record import append_row

        append_row("bench/retrain.py (engine as was vs fused kernels)",
                   "| date | CPU | setting | official-style model-img/s | engine as was (torch kernels) model-img/s | "
                   "engine with fused kernels model-img/s | ratio new / was | ratio new / official | s per mask at 30 "
                   "epochs (new) | h per converged 45-mask setting: 1 worker / 2 workers "
                   "| peak MB new / was / official | new GFLOP/s of matmul GFLOP/s | code |", line)


def against_autograd(args, device, sizes, measure, gflop_img: float, peak: float) -> None:
    """The whole step in C (native_step.c) against the engine before it (the fused per-block C kernels under
    autograd), interleaved, training and the pruned-loss pass measured apart; a row in its own table."""
    from oracle_core.compute import native

    if device.type != "cpu" or not native.step_applies():
        raise SystemExit(f"the C step runs on the CPU with a C compiler only (here: {native.describe_step()})")
    variants = ([] if args.no_baseline else [("baseline", 1)]) + [(v, k) for k in sizes for v in ("autograd", "fused")]
    runs: dict[tuple[str, int], list[dict]] = {v: [] for v in variants}
    for i in range(args.repeats):  # interleaved: a slow spell of the machine falls on every variant
        for v in variants:
            runs[v].append(measure(*v))
            print(f"repeat {i + 1}/{args.repeats} {v}: {runs[v][-1]['train_model_images_per_s']:.0f} model-img/s",
                  file=sys.stderr)

    def med(v, key):
        xs = sorted(r[key] for r in runs[v])
        return xs[len(xs) // 2]

    was = {k: med(("autograd", k), "train_model_images_per_s") for k in sizes}
    new = {k: med(("fused", k), "train_model_images_per_s") for k in sizes}
    kw, kn = max(was, key=was.get), max(new, key=new.get)
    per_train = [n["train_model_images_per_s"] / w["train_model_images_per_s"]
                 for n, w in zip(runs[("fused", kn)], runs[("autograd", kw)])]
    pl_was, pl_new = med(("autograd", kw), "pruned_loss_images_per_s"), med(("fused", kn), "pruned_loss_images_per_s")
    per_pl = [n["pruned_loss_images_per_s"] / w["pruned_loss_images_per_s"]
              for n, w in zip(runs[("fused", kn)], runs[("autograd", kw)])]
    s30 = med(("fused", kn), "s_per_mask_at_30_epochs")
    s30_was = med(("autograd", kw), "s_per_mask_at_30_epochs")
    gflops = new[kn] * gflop_img / 1e9
    result = {
        "bench": "retrain_against_autograd", "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": envinfo.device_name(device), "cpu_model": cpu_model(), "threads_per_process": 1,
        "code_version": envinfo.code_version(), "training_step": native.describe_step(),
        "native_kernels": native.describe(),
        "setting": f"lenet5_mini/mnist conv1@0.5, {args.masks} masks, {args.epochs} epoch(s) x {args.train_images} "
                   f"images, {args.repeats} interleaved runs each",
        "runs": {f"{v}/K={k}": runs[(v, k)] for v, k in variants},
        "train_model_images_per_s": {"was": was, "new": new},
        "ratio_train": new[kn] / was[kw], "ratio_train_per_repeat": per_train,
        "pruned_loss_images_per_s": {"was": pl_was, "new": pl_new}, "ratio_pruned_loss": pl_new / pl_was,
        "ratio_pruned_loss_per_repeat": per_pl,
        "s_per_mask_at_30_epochs": {"was": s30_was, "new": s30},
        "hours_per_converged_45_mask_setting": {"one_worker": 45 * s30 / 3600, "two_1_thread_workers": 45 * s30 / 7200},
        "train_gflops_per_s": gflops, "matmul_gflops_per_s": peak, "fraction_of_matmul_peak": gflops / peak,
    }
    if not args.no_baseline:
        result["baseline_official_style_model_images_per_s"] = med(("baseline", 1), "model_images_per_s")
    print(json.dumps(result, indent=2))
    if args.no_record:
        return
    from record import append_row

    def fmt(d):
        return ", ".join(f"K={k}: {v:.0f}" for k, v in d.items())

    h = result["hours_per_converged_45_mask_setting"]
    line = (f"| {result['date_utc'][:10]} | {result['cpu_model']} (1 thread/process) | {result['setting']} | "
            f"{fmt(was)} | {fmt(new)} | {result['ratio_train']:.2f} (paired runs {min(per_train):.2f}-"
            f"{max(per_train):.2f}) | {pl_was:.0f} / {pl_new:.0f} | {result['ratio_pruned_loss']:.2f} (paired runs "
            f"{min(per_pl):.2f}-{max(per_pl):.2f}) | {s30_was:.0f} / {s30:.0f} | {h['one_worker']:.2f} / "
            f"{h['two_1_thread_workers']:.2f} | {gflops:.1f} of {peak:.0f} ({100 * gflops / peak:.1f}%) | "
            f"{native.describe()} | {result['code_version'][:10]} |")
    append_row("bench/retrain.py --against autograd (the whole step in C vs the engine before it)",
               "| date | CPU | setting | previous engine (fused C blocks under autograd) train model-img/s | C step "
               "train model-img/s | ratio train: C step / previous engine | pruned-loss pass img/s: previous / C "
               "step | ratio pruned-loss: C step / previous engine | s per converged mask (30 epochs): previous / "
               "C step | h per 45-mask setting (C step): 1 worker / 2 workers | C step GFLOP/s of one-core matmul "
               "GFLOP/s | kernels built | code |", line)


if __name__ == "__main__":
    main()
