"""Retraining in shards: one group of (mask, repeat) pairs trained as one wide model and written as one atomic
file, named by its keys, so a killed run resumes at the next unfinished shard and a retried task never doubles a
row. Used in-process by the runner and as Ray tasks by the executors."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ..compute import engine
from ..compute.masks import Mask
from ..compute.surgery import prune
from . import envinfo
from .inputs import StudyData, load_dense
from .records import read_pruned
from .spec import StudySpec, derive_seed
from .store import MASK_COLUMNS, RunStore


def groups(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def retrain_seed(spec: StudySpec, mask: Mask, repeat: int) -> int:
    if spec.shared_order:
        return derive_seed(spec.seed, "retrain-shared", repeat)
    return derive_seed(spec.seed, "retrain", mask.mask_id, repeat)


@dataclass
class ShardContext:
    """What every shard of one setting needs, loaded once per process."""

    spec: StudySpec
    store: RunStore
    data: StudyData
    dense: torch.nn.Module
    pruned: pd.DataFrame  # pruned.csv indexed by mask_id


def retrain_shard(ctx: ShardContext, shard: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Retrain one shard ((mask text, repeat) pairs) as one wide model and write its rows atomically.
    A shard whose file exists is not recomputed. Returns its (mask_id, repeat) keys."""
    store = ctx.store
    group = [(Mask.parse(text), int(r)) for text, r in shard]
    keys = [(m.mask_id, r) for m, r in group]
    with store.claim_shard(keys):  # a retried Ray task waits for a still-running first attempt
        if store.has_shard(keys):
            return keys
        _retrain_group(ctx, group)
    return keys


def _retrain_group(ctx: ShardContext, group: list[tuple[Mask, int]]) -> None:
    spec, store, d = ctx.spec, ctx.store, ctx.data
    seeds = [retrain_seed(spec, m, r) for m, r in group]
    t0 = time.perf_counter()
    models = [prune(ctx.dense, m, spec.wiring, spec.ratio) for m, _ in group]
    results, _ = engine.train(models, d.retrain_x, d.retrain_y, d.test_x, d.test_y, spec.retrain, seeds,
                              augment=d.augment, precision=spec.precision)
    rows, curves = [], []
    for (m, r), seed, res in zip(group, seeds, results):
        rows.append({"mask_id": m.mask_id, "kept": m.text, "repeat": r, "seed": seed,
                     "pruned_train_loss": ctx.pruned.at[m.mask_id, "pruned_train_loss"],
                     "pruned_train_acc": ctx.pruned.at[m.mask_id, "pruned_train_acc"], **res.final})
        curves += [{"mask_id": m.mask_id, "repeat": r, "epoch": e + 1, "test_acc": res.test_acc[e],
                    "test_loss": res.test_loss[e], "train_loss": res.train_loss[e]} for e in range(len(res.test_acc))]
    wall = (time.perf_counter() - t0) / len(group)  # seconds per mask: grid --list projects the hours left from it
    store.write_shard(pd.DataFrame(rows, columns=MASK_COLUMNS).assign(wall_s=wall), pd.DataFrame(curves))


def load_context(spec: StudySpec, experiment: str, results_root: Path, data_root: Path | None,
                 device: str | None) -> ShardContext:
    """A worker's context from the store alone (data, pretrained network, pruned table): used by Ray tasks."""
    store = RunStore(spec, experiment, results_root)
    dev = envinfo.pick_device(device)
    d = StudyData(spec, dev, data_root)
    dense = load_dense(spec, d, store.pretrained_pt, dev)
    pruned = read_pruned(store.pruned_csv)
    return ShardContext(spec, store, d, dense, pruned)
