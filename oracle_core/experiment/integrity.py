"""One integrity record per finished results folder, and the one check every reader of the store goes through.

Why: the book, the notebooks and the runner used to trust whatever a finished folder held: an edited median, an
accuracy of 7.5, another setting's masks.csv copied in, a curves.csv missing half its masks or a replaced
pretrained network were served as results. Now a finished run writes ``manifest.json`` last: the SHA-256 of every
file a reader uses (and of the pretrained network it started from) and its spec key. ``verify_folder`` checks the
manifest, that every file is a regular file inside the store (never a symlink, device or FIFO), and the contents'
ranges and shapes (accuracies in [0, 1], finite non-negative losses, one row per (mask, repeat), the masks and the
kept-filter counts the spec implies, curves for every retrained mask, the summary's numbers recomputed from its
rows). A folder that fails is refused with one line naming the file and the fix (``python -m oracle_core verify``).
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..base.errors import OracleError
from ..base.io import atomic_write_json, read_json
from ..compute.masks import count_masks
from ..compute.stats import per_mask
from ..compute.surgery import layer_sizes
from ..models import build_model
from .records import CURVE_COLUMNS, damaged, read_object, read_pruned, read_summary
from .spec import StudySpec
from .store import (
    CRITERIA_CSV,
    CRITERIA_CURVES_CSV,
    CURVES_CSV,
    ENV_JSON,
    MANIFEST_JSON,
    MASKS_CSV,
    PRETRAIN_JSON,
    PRETRAINED_PT,
    PRUNED_CSV,
    SPEC_JSON,
    SUMMARY_JSON,
    RunStore,
    valid_rows,
)

SEALED = (SPEC_JSON, ENV_JSON, SUMMARY_JSON, MASKS_CSV, CURVES_CSV, CRITERIA_CSV, CRITERIA_CURVES_CSV, PRUNED_CSV,
          PRETRAINED_PT)
MAX_BYTES = 4 << 30  # no file of the store is larger (a ViT-B/16 checkpoint is 350 MB): a bigger one is refused
FIX = "move the folder away and rerun the command that produced it (its spec.json names it)"


def regular_file(path: Path, root: Path | None = None) -> Path:
    """``path`` itself (not a symlink's target) as a regular file of at most MAX_BYTES inside ``root``; else a
    one-line error. What the store reads and writes must stay the store's own file."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise OracleError(f"{path} is missing: {FIX}") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        raise OracleError(f"{path} is {kind}: the store only reads its own regular files; {FIX}")
    if st.st_size > MAX_BYTES:
        raise OracleError(f"{path} is {st.st_size} bytes, more than any results file: {FIX}")
    if root is not None and not path.resolve().is_relative_to(Path(root).resolve()):
        raise OracleError(f"{path} lies outside the results folder {root}: {FIX}")
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(regular_file(path), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def seal(store: RunStore, later: bool = False) -> dict:
    """Write manifest.json (last): every sealed file present, its SHA-256, the spec key and the pretrained network's
    checksum. ``later``: a folder finished by code that did not seal yet (checked by content first)."""
    files = {name: sha256(store.dir / name) for name in SEALED if (store.dir / name).exists()}
    record = {"key": store.spec.key, "experiment": store.experiment, "files": files,
              "pretrained_key": store.spec.pretrain_key()}
    if later:
        record["sealed_later"] = "finished before folders were sealed; its contents passed verify_contents"
    atomic_write_json(store.dir / MANIFEST_JSON, record)
    _verify.cache_clear()
    return record


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)


def _check_rows(path: Path, rows: pd.DataFrame, spec: StudySpec, sizes: dict[str, int] | None) -> None:
    """One retraining table (masks.csv or criteria_picks.csv): types, ranges, one row per (mask, repeat), every
    repeat of every mask, and the kept-filter count each layer must have."""
    if not valid_rows(rows):
        raise damaged(path, "a missing column or a row without a value")
    for col in ("pruned_train_acc", "final_test_acc"):
        if not ((_num(rows, col) >= 0) & (_num(rows, col) <= 1)).all():
            raise damaged(path, f"a {col} outside [0, 1]")
    for col in ("pruned_train_loss", "final_test_loss", "final_train_loss"):
        v = _num(rows, col)
        if not (np.isfinite(v) & (v >= 0)).all():
            raise damaged(path, f"a {col} that is not a finite non-negative number")
    rep, best = _num(rows, "repeat"), _num(rows, "best_epoch")
    if not ((rep >= 0) & (rep < spec.repeats) & (rep == np.round(rep))).all():
        raise damaged(path, f"a repeat outside 0..{spec.repeats - 1}")
    if not ((best >= 1) & (best <= spec.retrain.epochs)).all():
        raise damaged(path, f"a best epoch outside 1..{spec.retrain.epochs}")
    if rows.duplicated(["mask_id", "repeat"]).any():
        raise damaged(path, "a (mask, repeat) listed twice")
    if (rows.groupby("mask_id")["repeat"].nunique() != spec.repeats).any():
        raise damaged(path, f"a mask without its {spec.repeats} repeat(s)")
    if sizes:
        want = {name: n - int(n * spec.ratio) for name, n in sizes.items()}
        for kept in rows["kept"].unique():
            got = {part.split(":")[0]: len(part.split(":")[1].split(",")) for part in str(kept).split("|")}
            if spec.wiring == "correct" and got != want:
                raise damaged(path, f"mask {kept!r} does not keep {want} filters, as the spec's ratio implies")


def _check_curves(path: Path, curves: pd.DataFrame, rows: pd.DataFrame, spec: StudySpec) -> None:
    """Every retrained (mask, repeat) has one row per retraining epoch, in range, and its best epoch's accuracy is
    the final accuracy its table records."""
    if [c for c in CURVE_COLUMNS if c not in curves]:
        raise damaged(path, f"it needs the columns {', '.join(CURVE_COLUMNS)}")
    acc = _num(curves, "test_acc")
    if not ((acc >= 0) & (acc <= 1)).all() or not np.isfinite(_num(curves, "test_loss")).all():
        raise damaged(path, "a test accuracy outside [0, 1] or a loss that is not a number")
    c = curves.assign(repeat=_num(curves, "repeat"), epoch=_num(curves, "epoch"))
    counts = c.groupby(["mask_id", "repeat"]).size()
    want = set(zip(rows["mask_id"], _num(rows, "repeat")))
    if set(counts.index) != want or (counts != spec.retrain.epochs).any():
        raise damaged(path, f"curves for {len(counts)} (mask, repeat) pairs where its table has {len(want)}, "
                            f"each of {spec.retrain.epochs} epochs")
    at_best = c.set_index(["mask_id", "repeat", "epoch"])["test_acc"]
    best = [at_best.get((m, r, b)) for m, r, b in zip(rows["mask_id"], _num(rows, "repeat"), _num(rows, "best_epoch"))]
    if not np.allclose(np.asarray(best, float), _num(rows, "final_test_acc"), rtol=0, atol=1e-7):
        raise damaged(path, "a final accuracy that is not its curve's accuracy at the best epoch")


def verify_contents(store: RunStore) -> None:
    """The range and shape checks of a finished folder (no checksums): what sealing a legacy folder requires."""
    spec, d = store.spec, store.dir
    summary = read_summary(regular_file(d / SUMMARY_JSON), spec.key)
    for name in (ENV_JSON, SPEC_JSON):
        if (d / name).exists():
            read_object(regular_file(d / name))
    try:
        sizes = layer_sizes(build_model(spec.model, 1, 10), spec.layers) if spec.model.startswith("lenet") else None
    except Exception:  # noqa: BLE001 - a model this code cannot build: the count checks are skipped
        sizes = None
    rows = pd.read_csv(regular_file(d / MASKS_CSV), dtype={"mask_id": str})
    _check_rows(d / MASKS_CSV, rows, spec, sizes)
    n = rows["mask_id"].nunique()
    candidates = spec.n_masks or (count_masks(sizes, spec.ratio) if sizes else n)
    expected = spec.retrain_sample if spec.retrain_sample else candidates
    if n != summary["n_masks"] or (sizes and n != expected):
        raise damaged(d / MASKS_CSV, f"{n} masks where the spec implies {expected} and summary.json says "
                                     f"{summary['n_masks']}")
    pm = per_mask(rows)
    median = float(pm["final_test_acc"].median())
    if not math.isclose(median, summary["final_acc_median"], abs_tol=1e-6):
        raise damaged(d / SUMMARY_JSON, f"final_acc_median {summary['final_acc_median']} where masks.csv gives "
                                        f"{median}")
    if (d / CURVES_CSV).exists() or spec.retrain.epochs:
        _check_curves(d / CURVES_CSV, pd.read_csv(regular_file(d / CURVES_CSV), dtype={"mask_id": str}), rows, spec)
    if (d / PRUNED_CSV).exists():
        pruned = read_pruned(regular_file(d / PRUNED_CSV))
        extra = 2 if spec.criteria_picks else 0  # the L1 and Taylor picks when they are not candidates
        if sizes and not candidates <= len(pruned) <= candidates + extra:
            raise damaged(d / PRUNED_CSV, f"{len(pruned)} masks where the spec implies {candidates} candidates"
                                          + (f" and up to {extra} criteria picks" if extra else ""))
        mine = pruned.reindex(rows["mask_id"])["pruned_train_loss"].to_numpy(dtype=float)
        if not np.allclose(mine, _num(rows, "pruned_train_loss"), rtol=1e-6, atol=0):
            raise damaged(d / MASKS_CSV, "pruned losses that are not this folder's pruned.csv (another setting's?)")
    if (d / CRITERIA_CSV).exists():
        picks = pd.read_csv(regular_file(d / CRITERIA_CSV), dtype={"mask_id": str})
        _check_rows(d / CRITERIA_CSV, picks, spec, sizes)
        _check_curves(d / CRITERIA_CURVES_CSV, pd.read_csv(regular_file(d / CRITERIA_CURVES_CSV),
                                                            dtype={"mask_id": str}), picks, spec)


@dataclass(frozen=True)
class Verified:
    """A folder that passed: its spec and experiment, read from the folder itself."""

    spec: StudySpec
    experiment: str


def _spec_of(folder: Path) -> tuple[StudySpec, str]:
    rec = read_json(regular_file(folder / SPEC_JSON)) if (folder / SPEC_JSON).exists() else None
    try:
        spec, experiment = StudySpec.from_dict(rec["spec"]), rec["experiment"]
    except (KeyError, TypeError, ValueError) as exc:
        raise damaged(folder / SPEC_JSON, f"no valid spec: {type(exc).__name__}") from None
    if spec.key != folder.name:
        raise damaged(folder / SPEC_JSON, f"its spec hashes to {spec.key}, not to the folder's name")
    return spec, experiment


def _stamp(folder: Path) -> tuple:
    """What the cache of verify_folder is keyed on: every sealed file's size and modification time."""
    out = []
    for name in (*SEALED, MANIFEST_JSON):
        try:
            st = os.lstat(folder / name)
            out.append((name, st.st_size, st.st_mtime_ns, st.st_mode))
        except OSError:
            out.append((name, None))
    return tuple(out)


def verify_folder(folder: Path) -> Verified:
    """Refuse (one line) a finished folder whose manifest, checksums, files or contents do not hold up."""
    folder = Path(folder)
    return _verify(folder.resolve(), _stamp(folder))


@lru_cache(maxsize=4096)
def _verify(folder: Path, _stamp_key: tuple) -> Verified:
    spec, experiment = _spec_of(folder)
    store = RunStore(spec, experiment, folder.parent.parent)
    man_path = folder / MANIFEST_JSON
    if not man_path.exists():
        raise OracleError(f"{folder} has no {MANIFEST_JSON} (finished before folders were sealed, or killed while "
                          "sealing): run `python -m oracle_core verify --seal` to check and seal it")
    man = read_json(regular_file(man_path))
    files = man.get("files") if isinstance(man, dict) else None
    if not isinstance(files, dict) or man.get("key") != spec.key:
        raise damaged(man_path, "not this folder's manifest")
    for name in SEALED:
        listed, present = name in files, (folder / name).exists() or (folder / name).is_symlink()
        if listed != present:
            raise OracleError(f"{folder / name} is {'missing' if listed else 'not in the manifest'}: {FIX}")
        if listed and sha256(folder / name) != files[name]:
            raise OracleError(f"{folder / name} does not match its checksum in {MANIFEST_JSON} (edited or "
                              f"replaced): {FIX}")
    verify_contents(store)
    return Verified(spec, experiment)


def verify_pretrained(folder: Path) -> None:
    """A shared dense network: pretrain.json readable and the network's bytes those it recorded."""
    rec = read_json(regular_file(folder / PRETRAIN_JSON))
    want = rec.get("sha256") if isinstance(rec, dict) else None
    if not want:
        raise OracleError(f"{folder / PRETRAIN_JSON} records no checksum of its network: run "
                          "`python -m oracle_core verify --seal` to check and seal it")
    if sha256(folder / PRETRAINED_PT) != want:
        raise OracleError(f"{folder / PRETRAINED_PT} is not the network its {PRETRAIN_JSON} recorded (replaced?): "
                          "delete that folder and rerun (the network is retrained from its seed)")


def seal_pretrained(folder: Path) -> None:
    """Record the checksum of a shared dense network in its pretrain.json (written after the network)."""
    rec = read_json(regular_file(folder / PRETRAIN_JSON))
    rec["sha256"] = sha256(folder / PRETRAINED_PT)
    atomic_write_json(folder / PRETRAIN_JSON, rec)


@dataclass(frozen=True)
class FolderCheck:
    """One line of ``python -m oracle_core verify``: a folder of the store and what its check found."""

    folder: str  # <experiment>/<key> or pretrained/<key>
    state: str  # ok, sealed (checked and sealed now), in progress, or failed
    detail: str


def _check_partial(folder: Path) -> FolderCheck:
    """An unfinished folder: the shards it would resume from must each carry their checksum."""
    name = f"{folder.parent.name}/{folder.name}"
    shards = [p for p in sorted((folder / "shards").glob("*.csv")) if not p.name.startswith("curves-")]
    unchecked = [p.name for p in shards if not p.with_suffix(".sha256").is_file() or p.is_symlink()]
    if unchecked:
        return FolderCheck(name, "failed", f"shard {unchecked[0]} has no checksum: it would be retrained, not used")
    return FolderCheck(name, "in progress", f"{len(shards)} shard(s), each with its checksum")


def verify_store(root: Path, seal_unsealed: bool = False) -> list[FolderCheck]:
    """Every folder of the store checked, as ``git fsck`` checks a repository. ``seal_unsealed``: a finished folder
    (or shared network) written before sealing existed is checked by content and sealed, instead of failing."""
    out: list[FolderCheck] = []
    root = Path(root)
    for folder in sorted(p for p in root.glob("*/*") if p.is_dir() and not p.name.startswith((".", "_"))):
        name = f"{folder.parent.name}/{folder.name}"
        try:
            if folder.parent.name == "pretrained":
                rec = read_json(regular_file(folder / PRETRAIN_JSON)) if (folder / PRETRAIN_JSON).exists() else {}
                if seal_unsealed and isinstance(rec, dict) and not rec.get("sha256"):
                    seal_pretrained(folder)
                    out.append(FolderCheck(name, "sealed", "network checksum recorded"))
                    continue
                verify_pretrained(folder)
                out.append(FolderCheck(name, "ok", "network matches its recorded checksum"))
                continue
            if not (folder / SUMMARY_JSON).exists():
                out.append(_check_partial(folder))
                continue
            if seal_unsealed and not (folder / MANIFEST_JSON).exists():
                spec, experiment = _spec_of(folder)
                store = RunStore(spec, experiment, root)
                verify_contents(store)
                seal(store, later=True)
                verify_folder(folder)
                out.append(FolderCheck(name, "sealed", "contents checked, manifest written"))
                continue
            verify_folder(folder)
            out.append(FolderCheck(name, "ok", "manifest, checksums and contents hold"))
        except (OracleError, OSError, ValueError) as exc:
            out.append(FolderCheck(name, "failed", str(exc).replace(str(folder), name)))
    return out
