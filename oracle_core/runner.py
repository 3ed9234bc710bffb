"""Run one setting end to end, resuming from the store: pretrain -> prune -> pruned loss -> retrain -> analyze.

``run_study(spec)`` computes only what the store lacks: a finished setting loads instantly (no data
needed), an interrupted one continues at the next unfinished group of masks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from . import analysis, data, engine, envinfo
from .augment import CropFlip
from .masks import Mask, make_masks
from .models import build_model
from .errors import OracleError
from .spec import StudySpec, derive_seed
from .store import MASK_COLUMNS, RunStore, atomic_torch_save, atomic_write_csv, atomic_write_json, read_json
from .surgery import layer_sizes, prune


@dataclass
class StudyResult:
    spec: StudySpec
    dir: Path
    masks: pd.DataFrame  # one row per mask and repeat (masks.csv)
    per_mask: pd.DataFrame  # one row per mask, repeats averaged
    summary: dict
    env: dict
    curves: pd.DataFrame
    criteria_picks: pd.DataFrame = field(default_factory=pd.DataFrame)  # L1/Taylor picks outside a sample


def load_result(store: RunStore) -> StudyResult:
    rows = pd.read_csv(store.masks_csv, dtype={"mask_id": str})
    curves = pd.read_csv(store.curves_csv, dtype={"mask_id": str}) if store.curves_csv.exists() else pd.DataFrame()
    picks = pd.read_csv(store.criteria_csv, dtype={"mask_id": str}) if store.criteria_csv.exists() else pd.DataFrame()
    return StudyResult(store.spec, store.dir, rows, analysis.per_mask(rows), read_json(store.summary_json),
                       read_json(store.env_json) if store.env_json.exists() else {}, curves, picks)


def load_run_dir(path: Path) -> StudyResult:
    """A result from its folder alone (for the book's loaders)."""
    rec = read_json(Path(path) / "spec.json")
    spec = StudySpec.from_dict(rec["spec"])
    store = RunStore(spec, rec["experiment"], Path(path).parent.parent)
    return load_result(store)


def _head(x, n: int):
    return x.head(n) if isinstance(x, data.DeviceImages) else x[:n]


class _Data:
    def __init__(self, spec: StudySpec, device: torch.device, root: Path | None):
        info = data.get_dataset_info(spec.dataset)
        if info.fmt == "imagefolder":
            self._lazy(spec, info, device, root)
            return
        train = data.load_split(spec.dataset, True, root).head(spec.train_subset)
        test = data.load_split(spec.dataset, False, root).head(spec.test_subset)
        self.info = info
        if info.fmt == "cifar":  # uint8 on the device, normalized per batch (identical numbers, 4x less memory)
            self.train_x, self.test_x = data.DeviceImages(train.images, info, device), data.DeviceImages(test.images, info, device)
        else:  # the MNIST family is small: one float tensor (the committed results were computed this way)
            self.train_x, self.test_x = data.to_float(train.images, info, device), data.to_float(test.images, info, device)
        self.train_y, self.test_y = train.labels.to(device), test.labels.to(device)
        n = spec.retrain_subset or len(self.train_y)
        self.retrain_x, self.retrain_y = _head(self.train_x, n), self.train_y[:n]
        n = spec.loss_subset or len(self.train_y)
        self.loss_x, self.loss_y = _head(self.train_x, n), self.train_y[:n]
        self.md5 = data.dataset_md5s(spec.dataset, root)
        self.augment = (CropFlip(info.mean, info.std, info.in_channels) if info.augment == "crop_flip" else None)

    def _lazy(self, spec: StudySpec, info, device: torch.device, root: Path | None) -> None:
        """ImageNet: images decoded per batch (imagenet.LazyImages); subsets are seeded random draws."""
        from . import imagenet

        self.md5 = data.dataset_md5s(spec.dataset, root)  # fails fast (one line) if the data is missing
        train, test = imagenet.splits(Path(root or data.default_root()), device, derive_seed(spec.seed, "decode"))
        train, test = train.head(spec.train_subset, spec.seed), test.head(spec.test_subset, spec.seed)
        self.info, self.augment = info, None  # the training crops and flips happen while decoding
        self.train_x, self.train_y = train, train.labels().to(device)
        self.test_x, self.test_y = test, test.labels().to(device)
        retrain = train.head(spec.retrain_subset, spec.seed)
        self.retrain_x, self.retrain_y = retrain, retrain.labels().to(device)
        loss = train.head(spec.loss_subset, spec.seed)  # the pruned train loss sees the evaluation transform
        self.loss_x = imagenet.LazyImages(loss.samples, False, 0, device)
        self.loss_y = loss.labels().to(device)


def _load_dense(spec: StudySpec, d: _Data, path: Path, device: torch.device) -> torch.nn.Module:
    """The stored dense network (weights only); a damaged or mismatched file is a one-line error naming it."""
    model = build_model(spec.model, d.info.in_channels, d.info.num_classes).to(device)
    try:
        model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    except Exception as exc:  # noqa: BLE001 - unpickling and shape errors alike
        raise OracleError(f"{path} is damaged or not a {spec.model} checkpoint ({type(exc).__name__}): delete it "
                          "and rerun (the dense network is retrained from its seed)") from None
    return model


def _pretrained(spec: StudySpec, store: RunStore, d: _Data, device: torch.device, progress: bool) -> torch.nn.Module:
    """The dense network of this pretraining key: loaded if stored, else trained (seeded) and stored."""
    if store.shared_pretrained_pt.exists():
        return _load_dense(spec, d, store.shared_pretrained_pt, device)
    if spec.pretrain.epochs == 0:  # the dense network is a published checkpoint (torchvision's weights)
        return _published(spec, store, d, device)
    torch.manual_seed(derive_seed(spec.seed, "init"))
    model = build_model(spec.model, d.info.in_channels, d.info.num_classes).to(device)
    total = spec.pretrain.epochs * len(d.train_y)
    t0 = time.perf_counter()
    with tqdm(total=total, desc="pretrain", unit="img", unit_scale=True, disable=not progress) as bar:
        res = engine.pretrain(model, d.train_x, d.train_y, d.test_x, d.test_y, spec.pretrain,
                              derive_seed(spec.seed, "pretrain-order"), on_step=bar.update, augment=d.augment)
    atomic_write_json(store.shared_pretrain_json, {
        "model": spec.model, "dataset": spec.dataset, "recipe": spec.to_dict()["pretrain"], "seed": spec.seed,
        "init_seed": derive_seed(spec.seed, "init"), "order_seed": derive_seed(spec.seed, "pretrain-order"),
        "train_images": len(d.train_y), "test_acc_per_epoch": res.test_acc, "test_loss_per_epoch": res.test_loss,
        "final_test_acc": res.test_acc[-1], "wall_s": time.perf_counter() - t0, **envinfo.environment(device)})
    atomic_torch_save(store.shared_pretrained_pt, {k: v.cpu() for k, v in model.state_dict().items()})
    return model


def _published(spec: StudySpec, store: RunStore, d: _Data, device: torch.device) -> torch.nn.Module:
    from .models.resnet_imagenet import pretrained_state

    state, record = pretrained_state(spec.model)
    model = build_model(spec.model, d.info.in_channels, d.info.num_classes).to(device)
    model.load_state_dict(state)
    t0 = time.perf_counter()
    met = engine.evaluate(model, 1, d.test_x, d.test_y)
    atomic_write_json(store.shared_pretrain_json, {
        "model": spec.model, "dataset": spec.dataset, "recipe": spec.to_dict()["pretrain"], "source": record,
        "test_images": len(d.test_y), "final_test_acc": met.acc[0], "test_acc_per_epoch": [met.acc[0]],
        "test_loss_per_epoch": [met.loss[0]], "wall_s": time.perf_counter() - t0, **envinfo.environment(device)})
    atomic_torch_save(store.shared_pretrained_pt, {k: v.cpu() for k, v in model.state_dict().items()})
    return model


def pretrain_only(spec: StudySpec, results_root: Path | None = None, data_root: Path | None = None,
                  device: str | None = None, progress: bool = False) -> Path:
    """Train (or find) the dense network of ``spec``'s pretraining key; lets a grid pretrain in parallel."""
    store = RunStore(spec, "pretrain", results_root)
    if not store.shared_pretrained_pt.exists():
        dev = envinfo.pick_device(device)
        _pretrained(spec, store, _Data(spec, dev, data_root), dev, progress)
    return store.shared_pretrained_pt


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


def _groups(items: list, size: int) -> list[list]:
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
    data: "_Data"
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


def _criteria_picks(spec: StudySpec, dense: torch.nn.Module, d: "_Data") -> dict[str, Mask]:
    """The masks the non-oracle criteria pick from the dense network (criteria.py), to retrain beside a sample."""
    from . import criteria

    x, y = d.loss_x[:criteria.TAYLOR_IMAGES], d.loss_y[:criteria.TAYLOR_IMAGES]  # first training images, no augmentation
    return criteria.criterion_picks(dense, spec.layers, spec.ratio, x, y)


def _import_earlier_repeats(spec: StudySpec, store: RunStore) -> dict | None:
    """A setting run with more repeats starts from a finished run of the same spec with fewer: repeat r of
    mask m has the same seed in both (``retrain_seed``), so those rows are the same computation and are copied
    (as one shard, with their curves) instead of recomputed. Returns what was imported, for env.json."""
    if spec.repeats < 2:
        return None
    for fewer in range(spec.repeats - 1, 0, -1):
        sibling = replace(spec, repeats=fewer)
        for folder in sorted(store.root.glob(f"*/{sibling.key}")):
            other = RunStore(sibling, folder.parent.name, store.root)
            if not other.is_complete() or StudySpec.from_dict(read_json(other.spec_json)["spec"]) != sibling:
                continue
            rows = pd.read_csv(other.masks_csv, dtype={"mask_id": str})
            curves = pd.read_csv(other.curves_csv, dtype={"mask_id": str})
            if other.criteria_csv.exists():  # the criteria's picks retrained beside a sample
                rows = pd.concat([rows, pd.read_csv(other.criteria_csv, dtype={"mask_id": str})[MASK_COLUMNS]])
                curves = pd.concat([curves, pd.read_csv(other.criteria_curves_csv, dtype={"mask_id": str})])
            done = store.done_keys()
            rows = rows[[(m, int(r)) not in done for m, r in zip(rows["mask_id"], rows["repeat"])]]
            if len(rows):
                keys = set(zip(rows["mask_id"], rows["repeat"].astype(int)))
                curves = curves[[(m, int(r)) in keys for m, r in zip(curves["mask_id"], curves["repeat"])]]
                store.write_shard(rows[MASK_COLUMNS], curves)
            env = read_json(other.env_json) if other.env_json.exists() else {}
            return {"from": f"{other.experiment}/{sibling.key}", "repeats": list(range(fewer)),
                    "code_version": env.get("code_version"), "torch": env.get("torch"),
                    "why": "same spec with fewer repeats: identical seeds, so identical computations"}
    return None


def load_context(spec: StudySpec, experiment: str, results_root: Path, data_root: Path | None,
                 device: str | None) -> ShardContext:
    """A worker's context from the store alone (data, pretrained network, pruned table): used by Ray tasks."""
    store = RunStore(spec, experiment, results_root)
    dev = envinfo.pick_device(device)
    d = _Data(spec, dev, data_root)
    dense = _load_dense(spec, d, store.pretrained_pt, dev)
    pruned = pd.read_csv(store.pruned_csv, dtype={"mask_id": str}).set_index("mask_id")
    return ShardContext(spec, store, d, dense, pruned)


def run_study(spec: StudySpec, experiment: str = "lenet_mnist", results_root: Path | None = None,
              data_root: Path | None = None, device: str | None = None, group_size: int | None = None,
              progress: bool = True, executor: str = "local", ray_address: str | None = None) -> StudyResult:
    """Load or compute one setting; see the module doc. ``group_size`` = masks per wide model (engine K);
    ``executor`` = "local" (in this process) or "ray" (each shard a Ray task; ``ray_address`` None starts a
    local Ray instance, else joins that cluster, whose workers must see the same results and data folders)."""
    if executor not in ("local", "ray"):
        raise OracleError(f"unknown executor {executor!r}: use local or ray")
    if group_size is not None and (not isinstance(group_size, int) or group_size < 1):
        raise OracleError(f"group size {group_size!r} must be a positive number of masks per wide model, e.g. 1")
    store = RunStore(spec, experiment, results_root)  # refuses an experiment name that is not a plain folder
    if store.is_complete():
        store.check_spec()
        return load_result(store)
    dev = envinfo.pick_device(device)
    d = _Data(spec, dev, data_root)  # fails fast (one line) if the data is missing or corrupted
    with store.lock():  # a second process on this spec stops here, naming the holder
        if store.is_complete():  # finished by another process while this one loaded its data
            store.check_spec()
            return load_result(store)
        return _compute(spec, experiment, store, d, dev, data_root, device, group_size, progress, executor,
                        ray_address)


def _compute(spec: StudySpec, experiment: str, store: RunStore, d: "_Data", dev: torch.device,
             data_root: Path | None, device: str | None, group_size: int | None, progress: bool, executor: str,
             ray_address: str | None) -> StudyResult:
    """run_study's four stages, with the folder locked: pretrain, pruned loss, retrain in shards, analyze."""
    store.init()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    env_at_start = envinfo.environment(dev)  # the code version that runs, not the one at the end
    # every invocation leaves a trace at once, so a killed attempt's code version and start stay on record
    earlier = _earlier_invocations(store)
    atomic_write_json(store.env_json, {**env_at_start, "started_utc": started, "finished_utc": None,
                                       "status": "running (or killed)", "earlier_invocations": earlier})
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    dense = _pretrained(spec, store, d, dev, progress)
    if not store.pretrained_pt.exists():
        atomic_torch_save(store.pretrained_pt, {k: v.cpu() for k, v in dense.state_dict().items()})
    timings["pretrain_s"] = time.perf_counter() - t0

    sizes = layer_sizes(dense, spec.layers)
    masks = make_masks(sizes, spec.ratio, spec.n_masks, derive_seed(spec.seed, "masks"))  # the candidates
    k = (group_size or engine.default_group_size(dev)) if engine.can_stack(dense) else 1
    picks = _criteria_picks(spec, dense, d) if spec.criteria_picks else {}
    candidate_ids = {m.mask_id for m in masks}
    every = masks + list({m.mask_id: m for m in picks.values() if m.mask_id not in candidate_ids}.values())

    # ---- stage 2: the state right after pruning (pruned train loss) of every candidate, stored separately ----
    t0 = time.perf_counter()
    old = pd.read_csv(store.pruned_csv, dtype={"mask_id": str}) if store.pruned_csv.exists() else None
    missing = [m for m in every if old is None or m.mask_id not in set(old["mask_id"])]
    if missing:
        rows = []
        with tqdm(total=len(missing), desc="pruned train loss", unit="mask", disable=not progress) as bar:
            for group in _groups(missing, k):
                wide = engine.stack([prune(dense, m, spec.wiring, spec.ratio) for m in group], "auto")
                met = engine.evaluate(wide, len(group), d.loss_x, d.loss_y)
                rows += [{"mask_id": m.mask_id, "kept": m.text, "pruned_train_loss": met.loss[i],
                          "pruned_train_acc": met.acc[i]} for i, m in enumerate(group)]
                bar.update(len(group))
        atomic_write_csv(store.pruned_csv, pd.concat([x for x in (old, pd.DataFrame(rows)) if x is not None]))
    pruned = pd.read_csv(store.pruned_csv, dtype={"mask_id": str}).set_index("mask_id")
    timings["pruned_eval_s"] = time.perf_counter() - t0

    # a profile that retrains a sample: M candidates drawn uniformly (the analysis set), and the oracle's own mask
    # (lowest pruned loss over every candidate) retrained beside them like the criteria's picks
    n_candidates = len(masks)
    if spec.retrain_sample:
        picks = {**picks, "oracle": oracle_mask(masks, pruned)}
        masks = retrain_sample(masks, spec.retrain_sample, derive_seed(spec.seed, "retrain-sample"))
    sample_ids = {m.mask_id for m in masks}
    extra = list({m.mask_id: m for m in picks.values() if m.mask_id not in sample_ids}.values())
    every = masks + extra  # the picks are retrained like any mask, then kept apart (stage 4)

    # ---- stage 3: retraining, in shards of k masks (one wide model each), each shard one atomic file ----
    t0 = time.perf_counter()
    imported = _import_earlier_repeats(spec, store)
    done = store.done_keys()
    todo = [(m, r) for r in range(spec.repeats) for m in every if (m.mask_id, r) not in done]
    shards = [[(m.text, r) for m, r in group] for group in _groups(todo, k)]
    if executor == "ray":
        from .executors import run_shards_ray

        run_shards_ray(spec, experiment, store.root, data_root, device, shards, ray_address, progress)
    else:
        ctx = ShardContext(spec, store, d, dense, pruned)
        with tqdm(total=len(shards), desc=f"retrain: shards of {k} mask(s)", unit="shard", disable=not progress,
                  mininterval=2) as bar:
            for shard in shards:
                retrain_shard(ctx, shard)
                bar.update(1)
    timings["retrain_s"] = time.perf_counter() - t0

    # ---- stage 4: assemble and analyze ----
    rows, curves = store.read_shards()
    all_rows = rows
    if extra:  # the criteria's own picks: stored beside the sample, never inside its analysis
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
    pm = analysis.per_mask(rows)
    summary = analysis.summarize(pm)
    summary.update(profile=spec.profile, experiment=experiment, key=spec.key, candidates=n_candidates)
    if "oracle" in picks:  # the oracle over every candidate, retrained whether or not the sample holds it
        o = picks["oracle"]
        acc_o = float(all_rows.loc[all_rows["mask_id"] == o.mask_id, "final_test_acc"].mean())
        summary.update(global_oracle_mask_id=o.mask_id, global_oracle_kept=o.text,
                       global_oracle_pruned_train_loss=float(pruned.at[o.mask_id, "pruned_train_loss"]),
                       global_oracle_final_test_acc=acc_o,
                       global_oracle_acc_rank=int((pm["final_test_acc"].to_numpy() > acc_o).sum()) + 1)
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
    if earlier:  # the record of earlier (interrupted) invocations
        env["earlier_invocations"] = earlier
    atomic_write_json(store.env_json, env)
    atomic_write_csv(store.curves_csv, curves.sort_values(["mask_id", "repeat", "epoch"]) if len(curves) else curves)
    atomic_write_csv(store.masks_csv, rows)
    atomic_write_json(store.summary_json, summary)  # its presence means complete
    store.compact()  # masks.csv and curves.csv now hold every shard's rows
    return load_result(store)
