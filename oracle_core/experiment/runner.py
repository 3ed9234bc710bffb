"""Run one setting end to end, resuming from the store: pretrain -> prune -> pruned loss -> retrain -> analyze.

``run_study(spec)`` computes only what the store lacks: a finished setting loads instantly (no data
needed), an interrupted one continues at the next unfinished group of masks.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..base.errors import OracleError
from ..base.io import atomic_torch_save, atomic_write_csv, atomic_write_json, read_json
from ..compute import engine, scoring, stats
from ..compute.masks import Mask, make_masks
from ..compute.surgery import layer_sizes, prune
from . import envinfo
from .executors import check_ray_address, run_shards_ray
from .inputs import StudyData, pretrained
from .integrity import seal, verify_contents
from .records import read_pruned
from .results import StudyResult, load_result
from .reuse import import_earlier_repeats, import_pruned_losses
from .shards import ShardContext, groups, retrain_shard
from .spec import StudySpec, derive_seed
from .store import MASK_COLUMNS, RunStore


def _earlier_invocations(store: RunStore) -> list[dict]:
    """The invocations recorded in an existing env.json (each killed attempt's record, oldest first); a damaged
    env.json is recorded as such instead of stopping the run."""
    if not store.env_json.exists():
        return []
    try:
        old = read_json(store.env_json)
    except (OSError, ValueError) as exc:
        return [{"unreadable_env_json": type(exc).__name__}]
    if not isinstance(old, dict):
        return [{"unreadable_env_json": "not an object"}]
    chain = old.pop("earlier_invocations", []) or []
    return [*(chain if isinstance(chain, list) else []), old]


def retrain_sample(candidates: list[Mask], m: int, seed: int) -> list[Mask]:
    """A seeded uniform sample of ``m`` candidates without replacement, in candidate order (all if m >= len)."""
    if m <= 0 or m >= len(candidates):
        return list(candidates)
    idx = np.sort(np.random.default_rng(seed).choice(len(candidates), m, replace=False))
    return [candidates[i] for i in idx]


def oracle_mask(candidates: list[Mask], pruned: pd.DataFrame) -> Mask:
    """The candidate with the lowest pruned train loss (ties: the smaller mask id): the oracle's choice."""
    return min(candidates, key=lambda m: (float(pruned.at[m.mask_id, "pruned_train_loss"]), m.mask_id))


def _criteria_picks(spec: StudySpec, dense: torch.nn.Module, d: StudyData) -> dict[str, Mask]:
    """The masks the non-oracle criteria pick from the dense network (scoring.py), to retrain beside a sample."""
    x, y = d.loss_x[:scoring.TAYLOR_IMAGES], d.loss_y[:scoring.TAYLOR_IMAGES]  # first training images, no augmentation
    return scoring.criterion_picks(dense, spec.layers, spec.ratio, x, y)


def check_group_size(group_size, name: str = "group size") -> None:
    """None (the device's default) or a positive int of masks per wide model; else a one-line error naming ``name``."""
    if group_size is not None and (not isinstance(group_size, int) or group_size < 1):
        raise OracleError(f"{name} {group_size!r} must be a positive number of masks per wide model, e.g. 1")


def run_study(spec: StudySpec, experiment: str = "lenet_mnist", results_root: Path | None = None,
              data_root: Path | None = None, device: str | None = None, group_size: int | None = None,
              progress: bool = True, executor: str = "local", ray_address: str | None = None) -> StudyResult:
    """Load or compute one setting; see the module doc. ``group_size`` = masks per wide model (engine K);
    ``executor`` = "local" (in this process) or "ray" (each shard a Ray task; ``ray_address`` None starts a
    local Ray instance, else joins that cluster, whose workers must see the same results and data folders)."""
    if executor not in ("local", "ray"):
        raise OracleError(f"unknown executor {executor!r}: use local or ray")
    if executor == "ray":
        check_ray_address(ray_address)
    check_group_size(group_size)
    store = RunStore(spec, experiment, results_root)  # refuses an experiment name that is not a plain folder
    if store.is_complete():
        return _finished(store)
    dev = envinfo.pick_device(device)
    d = StudyData(spec, dev, data_root)  # fails fast (one line) if the data is missing or corrupted
    with store.lock():  # a second process on this spec stops here, naming the holder
        if store.is_complete():  # finished by another process while this one loaded its data
            return _finished(store)
        return _compute(spec, experiment, store, d, dev, data_root, device, group_size, progress, executor,
                        ray_address)


def _finished(store: RunStore) -> StudyResult:
    """A finished folder, verified. One finished before folders were sealed (or killed between its summary and its
    manifest) is sealed now, under the folder's lock, if its contents pass every check."""
    store.check_spec()
    if not store.manifest_json.exists():
        verify_contents(store)  # before anything is written: a folder that fails is refused untouched
        with store.lock():
            if not store.manifest_json.exists():
                seal(store, later=True)
    return load_result(store)


def _outside(masks: list[Mask], picks: dict[str, Mask]) -> list[Mask]:
    """The criteria's picks that are not among ``masks``, once each, in pick order."""
    ids = {m.mask_id for m in masks}
    return list({m.mask_id: m for m in picks.values() if m.mask_id not in ids}.values())


def pretrain_stage(spec: StudySpec, store: RunStore, d: StudyData, dev: torch.device,
                   progress: bool) -> torch.nn.Module:
    """Stage 1: the dense network (shared across settings by its pretraining key), kept in the folder too."""
    dense = pretrained(spec, store, d, dev, progress)
    if not store.pretrained_pt.exists():
        atomic_torch_save(store.pretrained_pt, {k: v.cpu() for k, v in dense.state_dict().items()})
    return dense


PRUNED_FLUSH_S = 120.0  # seconds between the pruned-loss pass's partial writes (a 1000-candidate pass takes long)


def pruned_loss_stage(spec: StudySpec, store: RunStore, d: StudyData, dense: torch.nn.Module, every: list[Mask],
                      k: int, progress: bool) -> tuple[pd.DataFrame, dict | None]:
    """Stage 2: the state right after pruning (pruned train loss and accuracy) of every candidate and pick, stored
    in pruned.csv (flushed every PRUNED_FLUSH_S, so a killed pass resumes at the first mask it lacks), or copied
    from a setting that differs only in its retraining (reuse.py). Returns the table and what was copied."""
    imported = import_pruned_losses(spec, store)
    old = read_pruned(store.pruned_csv).reset_index() if store.pruned_csv.exists() else None
    missing = [m for m in every if old is None or m.mask_id not in set(old["mask_id"])]
    if missing:
        rows, flushed = [], time.monotonic()

        def flush():  # what is measured so far, atomically
            atomic_write_csv(store.pruned_csv, pd.concat([x for x in (old, pd.DataFrame(rows)) if x is not None]))

        with tqdm(total=len(missing), desc="pruned train loss", unit="mask", disable=not progress) as bar:
            for group in groups(missing, k):
                wide = engine.stack([prune(dense, m, spec.wiring, spec.ratio) for m in group], "auto")
                met = engine.evaluate(wide, len(group), d.loss_x, d.loss_y)
                rows += [{"mask_id": m.mask_id, "kept": m.text, "pruned_train_loss": met.loss[i],
                          "pruned_train_acc": met.acc[i]} for i, m in enumerate(group)]
                bar.update(len(group))
                if time.monotonic() - flushed >= PRUNED_FLUSH_S:
                    flush()
                    flushed = time.monotonic()
        flush()
    return read_pruned(store.pruned_csv), imported


def retrained_masks(spec: StudySpec, masks: list[Mask], picks: dict[str, Mask],
                    pruned: pd.DataFrame) -> tuple[list[Mask], dict[str, Mask]]:
    """Which candidates are retrained: all of them, or (a profile that retrains a sample) M drawn uniformly, the
    analysis set, with the oracle's own mask (lowest pruned loss over every candidate) added to the picks so that
    it is retrained beside them like the criteria's picks."""
    if not spec.retrain_sample:
        return masks, picks
    picks = {**picks, "oracle": oracle_mask(masks, pruned)}
    return retrain_sample(masks, spec.retrain_sample, derive_seed(spec.seed, "retrain-sample")), picks


def retrain_stage(spec: StudySpec, experiment: str, store: RunStore, d: StudyData, dense: torch.nn.Module,
                  pruned: pd.DataFrame, every: list[Mask], k: int, data_root: Path | None, device: str | None,
                  progress: bool, executor: str, ray_address: str | None) -> dict | None:
    """Stage 3: every (mask, repeat) not stored yet, retrained in shards of k masks (one wide model each), each
    shard one atomic file; earlier repeats of the same spec are copied first (reuse.py). Returns what was copied."""
    imported = import_earlier_repeats(spec, store)
    done = store.done_keys()
    todo = [(m, r) for r in range(spec.repeats) for m in every if (m.mask_id, r) not in done]
    shards = [[(m.text, r) for m, r in group] for group in groups(todo, k)]
    if executor == "ray":
        run_shards_ray(spec, experiment, store.root, data_root, device, shards, ray_address, progress)
    else:
        ctx = ShardContext(spec, store, d, dense, pruned)
        with tqdm(total=len(shards), desc=f"retrain: shards of {k} mask(s)", unit="shard", disable=not progress,
                  mininterval=2) as bar:
            for shard in shards:
                retrain_shard(ctx, shard)
                bar.update(1)
    return imported


def assemble_stage(spec: StudySpec, experiment: str, store: RunStore, masks: list[Mask], picks: dict[str, Mask],
                   extra: list[Mask], pruned: pd.DataFrame,
                   n_candidates: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Stage 4: the shards' rows in mask order (the picks outside the sample written apart, to criteria_picks.csv,
    never inside the analysis) and the summary, the paper's oracle over every candidate included. Returns the
    rows and curves of the analysed masks and the summary, for the caller to write."""
    rows, curves = store.read_shards()
    all_rows = rows
    sample_ids = {m.mask_id for m in masks}
    if extra:
        names = {m.mask_id: " & ".join(n for n, p in picks.items() if p.mask_id == m.mask_id) for m in extra}
        outside = ~rows["mask_id"].isin(sample_ids)
        picked = rows[outside][MASK_COLUMNS].assign(criterion=lambda t: t["mask_id"].map(names))
        atomic_write_csv(store.criteria_csv, picked.sort_values(["mask_id", "repeat"]))
        c_out = ~curves["mask_id"].isin(sample_ids)
        atomic_write_csv(store.criteria_curves_csv, curves[c_out].sort_values(["mask_id", "repeat", "epoch"]))
        rows, curves = rows[~outside], curves[~c_out]
    order = {(m.mask_id, r): i for i, (m, r) in enumerate((m, r) for r in range(spec.repeats) for m in masks)}
    rows = rows.assign(_o=[order[(str(a), int(b))] for a, b in zip(rows["mask_id"], rows["repeat"])])
    rows = rows.sort_values("_o").drop(columns="_o")[MASK_COLUMNS].reset_index(drop=True)
    pm = stats.per_mask(rows)
    summary = stats.summarize(pm)
    summary.update(profile=spec.profile, experiment=experiment, key=spec.key, candidates=n_candidates)
    if "oracle" in picks:  # the oracle over every candidate, retrained whether or not the sample holds it
        o = picks["oracle"]
        acc_o = float(all_rows.loc[all_rows["mask_id"] == o.mask_id, "final_test_acc"].mean())
        summary.update(global_oracle_mask_id=o.mask_id, global_oracle_kept=o.text,
                       global_oracle_pruned_train_loss=float(pruned.at[o.mask_id, "pruned_train_loss"]),
                       global_oracle_final_test_acc=acc_o,
                       global_oracle_acc_rank=int((pm["final_test_acc"].to_numpy() > acc_o).sum()) + 1)
    return rows, curves, summary


def _compute(spec: StudySpec, experiment: str, store: RunStore, d: StudyData, dev: torch.device,
             data_root: Path | None, device: str | None, group_size: int | None, progress: bool, executor: str,
             ray_address: str | None) -> StudyResult:
    """run_study's four stages, with the folder locked: pretrain_stage, pruned_loss_stage, retrain_stage (on
    retrained_masks), assemble_stage; then env.json, the files and the seal, written last."""
    store.init()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    env_at_start = envinfo.environment(dev)  # the code version that runs, not the one at the end
    # every invocation leaves a trace at once, so a killed attempt's code version and start stay on record
    earlier = _earlier_invocations(store)
    atomic_write_json(store.env_json, {**env_at_start, "started_utc": started, "finished_utc": None,
                                       "status": "running (or killed)", "earlier_invocations": earlier})
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    dense = pretrain_stage(spec, store, d, dev, progress)
    timings["pretrain_s"] = time.perf_counter() - t0

    masks = make_masks(layer_sizes(dense, spec.layers), spec.ratio, spec.n_masks,
                       derive_seed(spec.seed, "masks"))  # the candidates
    k = (group_size or engine.default_group_size(dev)) if engine.can_stack(dense) else 1
    picks = _criteria_picks(spec, dense, d) if spec.criteria_picks else {}

    t0 = time.perf_counter()
    pruned, imported_pruned = pruned_loss_stage(spec, store, d, dense, masks + _outside(masks, picks), k, progress)
    timings["pruned_eval_s"] = time.perf_counter() - t0

    retrained, picks = retrained_masks(spec, masks, picks, pruned)
    extra = _outside(retrained, picks)  # the picks are retrained like any mask, then kept apart (stage 4)

    t0 = time.perf_counter()
    imported = retrain_stage(spec, experiment, store, d, dense, pruned, retrained + extra, k, data_root, device,
                             progress, executor, ray_address)
    timings["retrain_s"] = time.perf_counter() - t0

    rows, curves, summary = assemble_stage(spec, experiment, store, retrained, picks, extra, pruned, len(masks))
    env = {**env_at_start, "dataset_md5": d.md5, "started_utc": started,
           "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "group_size": k,
           "kernel": engine.resolve_kernel("auto", [dense], dev, spec.precision),
           "executor": executor, "ray_address": ray_address,
           "wall_s_this_invocation": timings, "pretrained_key": spec.pretrain_key(),
           "seeds": {"base": spec.seed, "init": derive_seed(spec.seed, "init"),
                     "pretrain_order": derive_seed(spec.seed, "pretrain-order"),
                     "mask_sampling": derive_seed(spec.seed, "masks"),
                     "retrain_order": "per row of masks.csv (column seed)"}}
    if imported:
        env["imported_repeats"] = imported
    if imported_pruned:
        env["imported_pruned_losses"] = imported_pruned
    if earlier:  # the record of earlier (interrupted) invocations
        env["earlier_invocations"] = earlier
    atomic_write_json(store.env_json, env)
    atomic_write_csv(store.curves_csv, curves.sort_values(["mask_id", "repeat", "epoch"]) if len(curves) else curves)
    atomic_write_csv(store.masks_csv, rows)
    atomic_write_json(store.summary_json, summary)  # its presence means complete
    seal(store)  # the manifest, last: the checksums every reader checks (integrity.py)
    store.compact()  # masks.csv and curves.csv now hold every shard's rows
    return load_result(store)
