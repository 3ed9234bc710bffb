"""Which criterion should a pruner use? Each criterion picks one mask from the same candidate set; we then read
off what that mask became after retraining (its final accuracy, rank among all masks, regret to the best mask)
and what the pick cost.

Criteria: the oracle (lowest pruned train loss), L1-norm magnitude (keep the largest mean |w| filters, the
paper's baseline), first-order Taylor (Molchanov et al. 2017: keep the filters with the largest mean
|activation x gradient| on training data), random (the expectation over the candidates), and two
retraining-aware ones read off the same retraining run: test accuracy after the profile's short retraining
(the lesson's "10% epochs"; its first epoch on the cpu profile) and the mean training loss over the first
retraining epoch ("loss after a few hundred steps": 30 SGD steps of 256 images on the cpu profile, 235 on the paper one).

Costs are in model-images: one image through one pruned network forward = 1, a training step on one image = 3
(forward + backward is about three forwards).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .engine import numerics
from .masks import Mask, n_removed
from .models import build_model
from .spec import profile_of
from .runner import StudyResult


def l1_mask(dense: nn.Module, layers: tuple[str, ...], ratio: float) -> Mask:
    """Keep, in each layer, the n - int(n * ratio) filters with the largest mean |w| (bias excluded)."""
    kept = []
    for name in layers:
        conv = dense.get_submodule(name)
        n = conv.out_channels
        score = conv.weight.detach().abs().reshape(n, -1).mean(1)
        order = torch.argsort(score, descending=True, stable=True).tolist()
        kept.append((name, tuple(sorted(order[: n - n_removed(n, ratio)]))))
    return Mask(tuple(kept))


def taylor_scores(dense: nn.Module, layers: tuple[str, ...], x: torch.Tensor, y: torch.Tensor,
                  batch_size: int = 256) -> dict[str, torch.Tensor]:
    """First-order Taylor importance per filter: the batch mean of |mean over the feature map of a * dL/da|,
    averaged over batches (Molchanov et al. 2017, without their per-layer l2 normalisation: we rank within a layer)."""
    dense = dense.eval()
    acts: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(module, inputs, output):  # returns None: the output is left unchanged
            output.retain_grad()
            acts[name] = output
        return hook

    hooks = [dense.get_submodule(n).register_forward_hook(keep(n)) for n in layers]
    total = {n: torch.zeros(dense.get_submodule(n).out_channels, dtype=torch.float64) for n in layers}
    batches = 0
    try:
        for s in range(0, len(y), batch_size):
            dense.zero_grad(set_to_none=True)
            with numerics("fp32", x.device):  # like the oracle's pruned loss: no TF32 on CUDA
                loss = nn.functional.cross_entropy(dense(x[s:s + batch_size]), y[s:s + batch_size])
                loss.backward()
            for n in layers:
                a = acts[n]
                total[n] += (a * a.grad).mean(dim=(2, 3)).abs().mean(0).double().cpu()
            batches += 1
    finally:
        for h in hooks:
            h.remove()
    return {n: t / batches for n, t in total.items()}


def taylor_mask(scores: dict[str, torch.Tensor], ratio: float) -> Mask:
    kept = []
    for name, sc in scores.items():
        n = len(sc)
        order = torch.argsort(sc, descending=True, stable=True).tolist()
        kept.append((name, tuple(sorted(order[: n - n_removed(n, ratio)]))))
    return Mask(tuple(kept))


TAYLOR_IMAGES = 2048  # the first training images, for the Taylor scores (forward + backward, dense network)


def criterion_picks(dense: nn.Module, layers: tuple[str, ...], ratio: float, x: torch.Tensor,
                    y: torch.Tensor) -> dict[str, Mask]:
    """The masks the two data-light criteria pick: L1 magnitude (weights only) and first-order Taylor (on x, y).
    The runner retrains them beside a sampled setting, so ``compare`` can read their outcome."""
    picks = {"L1": l1_mask(dense, layers, ratio),
             "Taylor": taylor_mask(taylor_scores(copy.deepcopy(dense), layers, x, y), ratio)}
    return picks


def dense_of(res: StudyResult) -> nn.Module:
    """The pretrained network of a stored result (weights_only load)."""
    from .data import get_dataset_info

    info = get_dataset_info(res.spec.dataset)
    model = build_model(res.spec.model, info.in_channels, info.num_classes)
    model.load_state_dict(torch.load(Path(res.dir) / "pretrained.pt", map_location="cpu", weights_only=True))
    return model


def compare(res: StudyResult, taylor_x: torch.Tensor | None = None, taylor_y: torch.Tensor | None = None) -> pd.DataFrame:
    """One row per criterion for one stored setting: its pick, the pick's final accuracy, rank (1 = best of N),
    regret to the best mask (percentage points), and selection cost (model-images). A criterion whose mask is
    not among the retrained candidates (L1/Taylor in a sampled setting) has no final accuracy: it says so."""
    pm = res.per_mask.copy()
    spec = res.spec
    acc = pm["final_test_acc"].to_numpy()
    best = acc.max()
    n = len(pm)
    short = profile_of(spec).short_retrain
    from .data import get_dataset_info

    info = get_dataset_info(spec.dataset)
    train_images = spec.train_subset or info.n_train
    retrain_images = spec.retrain_subset or train_images
    loss_images = spec.loss_subset or train_images
    test_images = spec.test_subset or info.n_test
    curves = res.curves
    first = curves[curves["epoch"] == 1].groupby("mask_id")[["train_loss"]].mean()
    from .figures import short_retrain_acc

    pm = pm.set_index("mask_id")
    pm["short_acc"] = short_retrain_acc(res)
    pm["epoch1_train_loss"] = first["train_loss"]
    pm = pm.reset_index()

    stored = res.criteria_picks  # picks outside a sample, retrained beside it by the runner
    outside = (stored.groupby("kept")["final_test_acc"].mean() if len(stored) else pd.Series(dtype=float))

    def stored_pick(tag: str) -> str | None:
        if not len(stored):
            return None
        hit = stored[stored["criterion"].str.split(" & ").apply(lambda names: tag in names)]
        return str(hit["kept"].iloc[0]) if len(hit) else None

    def row(name: str, idx: int | None, cost: float, how: str, mask_text: str | None = None) -> dict:
        if idx is None and mask_text in outside.index:  # retrained beside the sample: rank it among the sample
            a = float(outside[mask_text])
            return {"criterion": name, "pick": mask_text, "final acc %": 100 * a,
                    "rank (1 = best)": int((acc > a).sum()) + 1, "regret (pp)": 100 * (best - a),
                    "cost (model-images)": cost, "how": how + " (outside the sample: retrained beside it)"}
        if idx is None:
            return {"criterion": name, "pick": mask_text, "final acc %": np.nan, "rank (1 = best)": np.nan,
                    "regret (pp)": np.nan, "cost (model-images)": cost, "how": how + " (not among the retrained masks)"}
        a = acc[idx]
        return {"criterion": name, "pick": pm["kept"].iloc[idx], "final acc %": 100 * a,
                "rank (1 = best)": int((acc > a).sum()) + 1, "regret (pp)": 100 * (best - a),
                "cost (model-images)": cost, "how": how}

    where = {k: i for i, k in enumerate(pm["kept"])}
    dense = dense_of(res)
    rows = [row("oracle (lowest pruned train loss)", int(np.argmin(pm["pruned_train_loss"].to_numpy())),
                n * loss_images, f"{n} pruned networks x {loss_images} training images, forward")]
    l1 = stored_pick("L1") or l1_mask(dense, spec.layers, spec.ratio).text
    rows.append(row("L1 magnitude (largest mean |w|)", where.get(l1), 0, "weights only", l1))
    taylor = stored_pick("Taylor")
    if taylor is None and taylor_x is not None:
        taylor = taylor_mask(taylor_scores(dense, spec.layers, taylor_x, taylor_y), spec.ratio).text
    if taylor is not None:
        rows.append(row("first-order Taylor", where.get(taylor), 3 * TAYLOR_IMAGES,
                        f"dense network, {TAYLOR_IMAGES} training images, forward + backward", taylor))
    rows.append({"criterion": "random (expectation)", "pick": "any", "final acc %": 100 * acc.mean(),
                 "rank (1 = best)": float(np.mean([(acc > a).sum() + 1 for a in acc])),
                 "regret (pp)": 100 * (best - acc.mean()), "cost (model-images)": 0, "how": "mean over the candidates"})
    rows.append(row(f"short retraining ({short.epochs} epoch(s)), best test acc",
                    int(np.argmax(pm["short_acc"].to_numpy())),
                    n * (3 * short.epochs * retrain_images + short.epochs * test_images),
                    f"{n} masks x {short.epochs} epoch(s) on {retrain_images} images + test"))
    rows.append(row("training loss over the first retraining epoch", int(np.argmin(pm["epoch1_train_loss"].to_numpy())),
                    n * 3 * retrain_images, f"{n} masks x 1 epoch on {retrain_images} images"))
    out = pd.DataFrame(rows).set_index("criterion")
    out.attrs["n_masks"] = n
    return out
