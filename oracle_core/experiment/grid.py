"""The paper's MNIST-family grid as data, and a resumable runner for it.

Every setting of the paper's LeNet figures (Fig. 2, 4, 5, the lesson and the wiring check) is one ``GridEntry``;
the book's pages and ``python -m oracle_core grid`` read this one list, so a page and the grid cannot disagree
about which settings exist. Running the grid only computes what the results store lacks: a killed grid resumes.
Workers are separate processes with one thread each (two 1-thread processes beat one 2-thread process on a
2-core CPU: CPU_MEASUREMENTS.md).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from ..base.errors import OracleError
from ..base.io import read_json
from ..compute import native
from ..compute.masks import count_masks
from ..compute.surgery import layer_sizes
from ..data import dataset_present
from ..models import MODELS, build_model
from .envinfo import code_version
from .inputs import pretrain_only
from .integrity import verify_folder
from .order import CONVERGED_ORDER, DIFFERING_TWINS, FIRST_TWINS, MULTI_LAYERS, PRETRAIN_SEEDS, RATIOS, RELEASED_TWINS
from .reuse import reusable_repeats
from .runner import check_group_size, run_study
from .spec import StudySpec, make_spec, short_is_prefix, short_run_spec
from .store import RunStore


@dataclass(frozen=True)
class GridEntry:
    """One setting of the grid: the experiment folder it belongs to and make_spec's arguments."""

    experiment: str  # results/<experiment>/ and the book chapter that shows it
    layers: str
    ratio: float = 0.5
    model: str = "lenet5_mini"
    dataset: str = "mnist"
    n_masks: int = 0  # 0 = exhaustive; else the paper's sample size (the profile may reduce it)
    wiring: str = "correct"
    priority: int = 9  # lower runs first: the settings the book needs most
    repeats: int = 0  # 0 = the profile's; the noise ceiling asks for at least 2
    short_retrain: bool = False  # the lesson's separate short run (only where the short recipe is not a prefix)
    profiles: tuple[str, ...] = ()  # only under these profiles (empty: every profile)
    not_profiles: tuple[str, ...] = ()  # never under these
    seed: int = 0  # another seed: another pretrained network and another sample of masks

    def runs_at(self, profile: str) -> bool:
        """Whether this setting belongs to the grid under ``profile`` (profiles / not_profiles)."""
        return (not self.profiles or profile in self.profiles) and profile not in self.not_profiles

    @property
    def label(self) -> str:
        extra = "" if self.wiring == "correct" else f" [{self.wiring}]"
        extra += f" x{self.repeats} repeats" if self.repeats else ""
        extra += " [short retrain]" if self.short_retrain else ""
        extra += f" seed {self.seed}" if self.seed else ""
        return f"{self.model}/{self.dataset} {self.layers}@{self.ratio:g}{extra}"

    def spec(self, profile: str) -> StudySpec:
        spec = make_spec(self.model, self.dataset, self.layers, self.ratio, self.n_masks, self.seed,
                         self.repeats or None, profile, self.wiring)
        if self.short_retrain:
            spec = short_run_spec(spec)
        return spec


def mnist_grid() -> list[GridEntry]:
    """Every LeNet5-Mini / MNIST-family setting the paper publishes, plus the released-code wiring check and the
    noise ceiling (the same masks retrained twice with different seeds)."""
    g: list[GridEntry] = []
    for layer in ("conv1", "conv2", "conv3"):
        for r in RATIOS:
            g.append(GridEntry("lenet_mnist", layer, r, priority=0 if r == 0.5 else 3))
        g.append(GridEntry("lenet_mnist", layer, 0.5, wiring="released_code", priority=1))
    for layers in MULTI_LAYERS:
        g.append(GridEntry("lenet_mnist", layers, 0.5, n_masks=1000, priority=2))
    g.append(GridEntry("mnist_variants", "conv1", dataset="fashion_mnist", priority=1))
    g.append(GridEntry("mnist_variants", "conv1", dataset="kmnist", priority=1))
    for rec in MODELS.values():  # the depth and width variants (Fig. 5): each model's record names its settings
        for s in rec.grid:
            g.append(GridEntry(s.experiment, s.layers, s.ratio, model=rec.name, dataset=rec.dataset,
                               n_masks=s.n_masks, priority=2))
    for layers in ("conv1", "conv2", "conv3") + MULTI_LAYERS:  # the lesson's short runs (paper profile only)
        g.append(GridEntry("retrain_lesson", layers, 0.5, n_masks=1000 if "+" in layers else 0, short_retrain=True,
                           priority=4))
    for layer in ("conv1", "conv2", "conv3"):  # beyond the paper: how reproducible is the final ranking at all?
        g.append(GridEntry("noise_ceiling", layer, 0.5, repeats=2, priority=1,  # cheap: repeat 0 is reused
                           not_profiles=("converged",)))
    for layers in ("conv1", "conv1+conv3"):  # converged: 3 retrainings (the paper's count) of the sampled masks
        g.append(GridEntry("noise_ceiling", layers, 0.5, n_masks=1000 if "+" in layers else 0, repeats=3,
                           priority=1, profiles=("converged",)))
    for layers, r in DIFFERING_TWINS:  # and of each twin whose tau differs from the paper's: the paper averages 3
        g.append(GridEntry("noise_ceiling", layers, r, repeats=3, wiring="released_code", priority=2,
                           profiles=("converged",)))
    # released-code twins of Figure 2's converged settings beyond the wiring check's three (same network, same
    # sampled masks): the paper's points resemble that wiring (analysis/which_protocol.py), so every panel is run
    # the way the paper's code ran it beside the way the paper intended it
    for layer, r in RELEASED_TWINS:
        g.append(GridEntry("lenet_mnist", layer, r, n_masks=1000 if "+" in layer else 0, wiring="released_code",
                           priority=2 if (layer, r) in FIRST_TWINS else 3, profiles=("converged",)))
    # and of Figures 4 and 5's settings (the other datasets, the depth and width variants): every published
    # MNIST-family tau is compared with the paper's only as the paper's code ran it (analysis/like_for_like.py)
    for e in [e for e in g if e.experiment in ("mnist_variants", "lenet_variants") and e.wiring == "correct"]:
        g.append(replace(e, wiring="released_code", priority=3, profiles=("converged",)))
    # the paper's code seeds nothing: single-layer settings from other pretrained networks (each its own sample of
    # masks), under both wirings, so that how far the network alone moves tau is measured for each protocol
    for (layer, ratio), seeds in PRETRAIN_SEEDS.items():
        for seed in seeds:
            for wiring in ("correct", "released_code"):
                g.append(GridEntry("pretrain_seed", layer, ratio, seed=seed, wiring=wiring, priority=2,
                                   profiles=("converged",)))
    return sorted(g, key=lambda e: e.priority)


def order_key(entry: GridEntry, profile: str) -> tuple[int, int]:
    """Run order: CONVERGED_ORDER first under the converged profile, then by priority."""
    if profile == "converged" and entry.label in CONVERGED_ORDER:
        return (0, CONVERGED_ORDER.index(entry.label))
    return (1, entry.priority)


def _n_masks(spec) -> int:
    if spec.retrain_sample:  # the uniform sample; the oracle's and criteria's picks may add up to 3
        return spec.retrain_sample
    if spec.n_masks:
        return spec.n_masks
    return count_masks(layer_sizes(build_model(spec.model, 1, 10), spec.layers), spec.ratio)


def plan(profile: str, only: str = "", data_root: Path | None = None) -> list[dict]:
    """The grid's settings for a profile: spec, mask count, and whether its data is present. ``only``: comma-separated
    texts; a setting is kept if its label contains any of them."""
    rows = []
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    if only.strip() and not wanted:
        raise OracleError(f"--only {only!r} names no setting: give label texts separated by commas, "
                          "e.g. 'conv2@,fashion'")
    for e in sorted(mnist_grid(), key=lambda e: order_key(e, profile)):
        if wanted and not any(w in e.label for w in wanted):
            continue
        if not e.runs_at(profile):
            continue
        if e.short_retrain and short_is_prefix(replace(e, short_retrain=False).spec(profile)):
            continue  # the short run is the full run's first epochs: read off its curve instead
        spec = e.spec(profile)
        rows.append({"entry": e, "spec": spec, "masks": _n_masks(spec) * spec.repeats,
                     "data": dataset_present(e.dataset, data_root)})
    return rows


def progress(rows: list[dict], results_root: Path | None = None) -> list[dict]:
    """For each planned setting: masks retrained so far, the measured seconds per mask (from its shards, which
    record each group's wall time, or from a finished run's env.json), and the masks left."""
    out = []
    for r in rows:
        store = RunStore(r["spec"], r["entry"].experiment, results_root)
        done, secs, step = 0, [], None
        if store.env_json.exists():  # how its (latest) invocation trained: the C step or autograd
            try:
                step = read_json(store.env_json).get("training_step")
            except (OSError, ValueError, AttributeError):
                pass
        if store.is_complete():
            done = r["masks"]
            try:
                env = read_json(store.env_json)
                copied = set((env.get("imported_repeats") or {}).get("repeats", []))  # rows copied, not retrained
                n = sum(int((~pd.read_csv(f)["repeat"].isin(copied)).sum())
                        for f in (store.masks_csv, store.criteria_csv) if f.exists())
                retrain_s = env.get("wall_s_this_invocation", {}).get("retrain_s")
                if retrain_s and n and not env.get("earlier_invocations"):
                    secs = [retrain_s / n]
            except (OSError, ValueError, KeyError):  # a damaged folder: verify_folder below names what fails
                pass
        else:
            if store.shards_dir.exists():
                shard_rows, _ = store.read_shards()
                done = len(shard_rows)
                if "wall_s" in shard_rows:  # copied rows carry no wall time
                    secs = list(shard_rows["wall_s"].dropna())
            # a finished run with fewer repeats supplies those rows when this one starts (reuse.py): not work left
            done = max(done, reusable_repeats(r["spec"], store.root) * (r["masks"] // r["spec"].repeats))
        complete, failed = store.is_complete(), ""
        if complete and store.manifest_json.exists():  # unsealed (finished by older code) is sealed by its next run
            try:
                verify_folder(store.dir)
            except OracleError as exc:  # done only when its folder verifies (an empty summary.json is not done)
                complete, failed = False, str(exc)
        out.append({**r, "done": min(done, r["masks"]), "s_per_mask": float(pd.Series(secs).median()) if secs else None,
                    "left": 0 if complete else max(0, r["masks"] - done), "complete": complete, "failed": failed,
                    "step": step})
    return out


POLL_S = 30.0  # how often the grid's bar re-reads the store while every worker is mid-setting


def stored_masks(rows: list[dict], results_root: Path | None = None) -> int:
    """Masks retrained so far over ``rows`` as the store holds them at this moment: a complete setting's count,
    else its sealed shard rows (RunStore.sealed_rows). What the grid's progress bar shows per mask, not per finished
    setting. Read-only and tolerant of a worker writing or compacting a folder at the same moment: unlike progress(),
    it never sets a shard aside, so it cannot race a worker."""
    n = 0
    for r in rows:
        store = RunStore(r["spec"], r["entry"].experiment, results_root)
        try:
            n += r["masks"] if store.is_complete() else min(store.sealed_rows(), r["masks"])
        except OSError:  # a shard compacted away as it was read: the next poll counts the finished setting
            pass
    return n


def projected_hours(prog: list[dict], workers: int, step: str | None = None) -> tuple[float | None, float | None]:
    """Hours left with ``workers`` 1-thread workers: each setting's own measured seconds per mask, or the median
    over the measured settings where it has none yet; None when nothing is measured. Also that median. The median
    is taken over the settings trained the way this machine trains now (``step``, default native.describe_step():
    the C step is several times faster than autograd) where any is measured, else over all."""
    measured = [p["s_per_mask"] for p in prog if p["s_per_mask"]]
    if not measured:
        return None, None
    step = native.describe_step() if step is None else step
    measured = [p["s_per_mask"] for p in prog if p["s_per_mask"] and p.get("step") == step] or measured
    typical = statistics.median(measured)
    total = sum(p["left"] * (p["s_per_mask"] or typical) for p in prog if p["data"])
    return total / 3600 / max(1, workers), typical


def _init_worker() -> None:
    """One thread per worker (two 1-thread processes beat one 2-thread process on a 2-core CPU). Every module a
    run needs is imported when this module is (all imports are top-level), so editing the code while a long
    grid runs cannot hand a worker a half-edited module."""
    torch.set_num_threads(1)


def _run_one(job: tuple) -> tuple[str, float, str]:
    entry, spec, results_root, data_root, group_size = job
    t0 = time.perf_counter()
    try:
        run_study(spec, entry.experiment, results_root, data_root, group_size=group_size, progress=False)
    except OracleError as exc:
        return entry.label, time.perf_counter() - t0, f"error: {exc}"
    return entry.label, time.perf_counter() - t0, "done"


def _pretrain_one(job: tuple) -> str:
    spec, results_root, data_root = job
    pretrain_only(spec, results_root, data_root)
    return spec.pretrain_key()


def run_grid(profile: str = "cpu", workers: int = 2, only: str = "", results_root: Path | None = None,
             data_root: Path | None = None, log=print, group_size: int | None = None) -> list[tuple[str, float, str]]:
    """Run (or resume) every setting of the grid. Settings whose data is missing are skipped with the fix.
    ``group_size``: masks per wide model (default: the device's, engine.default_group_size); on a GPU a smaller one
    stores a shard every ``group_size`` masks, so a run cut off by a time limit keeps what it finished."""
    check_group_size(group_size, "--group-size")
    if not isinstance(workers, int) or workers < 1:
        raise OracleError(f"--workers {workers} must be at least 1 (two 1-thread workers suit a 2-core machine)")
    cpus = os.cpu_count() or 1
    if workers > cpus:
        raise OracleError(f"--workers {workers} is more than this machine's {cpus} CPUs: give at most {cpus} "
                          "(each worker is one 1-thread process)")
    rows = plan(profile, only, data_root)
    if not rows:
        raise OracleError(f"no grid setting matches {only!r}: see `python -m oracle_core grid --list`")
    todo = []
    for r in rows:
        if not r["data"]:
            log(f"skip {r['entry'].label}: dataset {r['entry'].dataset!r} is missing "
                f"(`python -m oracle_core.data fetch {r['entry'].dataset}` says where its files go)")
        elif not RunStore(r["spec"], r["entry"].experiment, results_root).is_complete():
            todo.append(r)
    total = sum(r["masks"] for r in todo)
    start = stored_masks(todo, results_root)
    left = f", {total - start} of their {total} mask-retrainings left" if todo else ""
    log(f"grid ({profile}): {len(rows)} settings, {len(todo)} to run{left}, {workers} worker(s)")
    if not todo:
        return []
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["ORACLE_CODE_VERSION"] = code_version()  # what the workers import now, not what HEAD is later
    ctx = mp.get_context("spawn")
    # a SIGTERM (kill, a scheduler's timeout) must take the workers down too, not orphan them mid-setting
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # a dense network shared by several settings is pretrained once, first (two workers must not both train
    # it); one used by a single setting is pretrained inside that setting's job
    users: dict[str, list] = {}
    for r in todo:
        users.setdefault(r["spec"].pretrain_key(), []).append(r["spec"])
    pre = [(specs[0], results_root, data_root) for specs in users.values() if len(specs) > 1]
    out = []
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        for key in tqdm(pool.imap_unordered(_pretrain_one, pre), total=len(pre), desc="pretrain", unit="net"):
            log(f"pretrained {key}")
        jobs = [(r["entry"], r["spec"], results_root, data_root, group_size) for r in todo]
        # the bar counts masks as their shards land (re-read every POLL_S), so its rate and ETA move while a
        # 45-mask setting trains for most of an hour, not only when a whole setting finishes
        with tqdm(total=total, initial=start, desc="grid", unit="mask", smoothing=0) as bar:
            results = pool.imap_unordered(_run_one, jobs)
            while len(out) < len(jobs):
                try:
                    finished = results.next(timeout=POLL_S)
                except mp.TimeoutError:
                    finished = None
                bar.update(max(0, stored_masks(todo, results_root) - bar.n))
                if finished is not None:
                    label, secs, status = finished
                    log(f"{status}: {label} in {secs / 60:.1f} min")
                    out.append(finished)
    return out
