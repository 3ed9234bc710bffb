"""The results store: the only module that knows file names. Every write is atomic (temp file + rename).

``results/<experiment>/<spec key>/`` holds ``spec.json``, ``env.json``, ``pretrained.pt``, ``pruned.csv``
(the state right after pruning: one row per mask), ``shards/*.csv`` (retraining rows, one file per
finished group of masks, named by the hash of its (mask, repeat) keys, so concurrent writers never
collide and a finished group is never redone), and, once complete, ``masks.csv``, ``curves.csv`` and
``summary.json`` (written last; then the shards are dropped). A sampled setting also holds
``criteria_picks.csv`` / ``criteria_curves.csv``: the L1 and Taylor masks retrained beside the sample, kept out
of masks.csv so the paper's analysis stays on the uniform sample. Dense networks live once per pretraining key in ``results/pretrained/<key>/``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import torch

from .errors import OracleError
from .spec import StudySpec

MASK_COLUMNS = ["mask_id", "kept", "repeat", "seed", "pruned_train_loss", "pruned_train_acc", "final_test_acc",
                "final_test_loss", "final_train_loss", "best_epoch"]


def default_results_root() -> Path:
    env = os.environ.get("ORACLE_RESULTS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "results"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; results are meant to be read
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode())


def atomic_write_csv(path: Path, df: pd.DataFrame) -> None:
    atomic_write_bytes(path, df.to_csv(index=False, float_format="%.8g").encode())


def atomic_torch_save(path: Path, obj: object) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def _json_default(o: object) -> object:
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def read_json(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


class RunStore:
    """Paths and atomic I/O for one setting's results folder."""

    def __init__(self, spec: StudySpec, experiment: str, root: Path | None = None):
        self.spec = spec
        self.root = Path(root or default_results_root())
        self.experiment = experiment
        self.dir = self.root / experiment / spec.key
        self.pretrained_dir = self.root / "pretrained" / spec.pretrain_key()

    spec_json = property(lambda self: self.dir / "spec.json")
    env_json = property(lambda self: self.dir / "env.json")
    pretrained_pt = property(lambda self: self.dir / "pretrained.pt")
    pruned_csv = property(lambda self: self.dir / "pruned.csv")
    shards_dir = property(lambda self: self.dir / "shards")
    masks_csv = property(lambda self: self.dir / "masks.csv")
    curves_csv = property(lambda self: self.dir / "curves.csv")
    summary_json = property(lambda self: self.dir / "summary.json")
    criteria_csv = property(lambda self: self.dir / "criteria_picks.csv")  # L1/Taylor picks outside the sample
    criteria_curves_csv = property(lambda self: self.dir / "criteria_curves.csv")
    shared_pretrained_pt = property(lambda self: self.pretrained_dir / "pretrained.pt")
    shared_pretrain_json = property(lambda self: self.pretrained_dir / "pretrain.json")

    def init(self) -> None:
        """Create the folder with spec.json, or check that an existing one holds the same spec."""
        record = {"experiment": self.experiment, "key": self.spec.key, "spec": self.spec.to_dict(),
                  "non_default": self.spec.non_default()}
        if self.spec_json.exists():
            old = read_json(self.spec_json)
            if StudySpec.from_dict(old.get("spec", {})) != self.spec:  # fields added later take their defaults
                raise OracleError(f"{self.spec_json} holds a different spec: move that folder away and rerun")
            return
        atomic_write_json(self.spec_json, record)

    def is_complete(self) -> bool:
        return self.summary_json.exists() and self.masks_csv.exists()

    # ---- retraining shards ----
    @staticmethod
    def shard_name(keys: list[tuple[str, int]]) -> str:
        blob = ",".join(f"{m}/{r}" for m, r in sorted(keys))
        return hashlib.sha1(blob.encode()).hexdigest()[:16] + ".csv"

    def has_shard(self, keys: list[tuple[str, int]]) -> bool:
        return (self.shards_dir / self.shard_name(keys)).exists()

    def write_shard(self, rows: pd.DataFrame, curves: pd.DataFrame) -> None:
        keys = list(zip(rows["mask_id"], rows["repeat"].astype(int)))
        name = self.shard_name(keys)
        atomic_write_csv(self.shards_dir / ("curves-" + name), curves)  # curves first: a row implies its curve
        atomic_write_csv(self.shards_dir / name, rows)

    def read_shards(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        rows, curves = [], []
        if self.shards_dir.exists():
            for p in sorted(self.shards_dir.glob("*.csv")):
                (curves if p.name.startswith("curves-") else rows).append(pd.read_csv(p, dtype={"mask_id": str}))
        rows_df = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=MASK_COLUMNS)
        curves_df = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
        if len(rows_df):
            rows_df = rows_df.drop_duplicates(["mask_id", "repeat"], keep="first")
        if len(curves_df):
            curves_df = curves_df.drop_duplicates(["mask_id", "repeat", "epoch"], keep="first")
        return rows_df, curves_df

    def compact(self) -> None:
        """Drop the shard files of a complete run (their rows are in masks.csv and curves.csv)."""
        if self.is_complete() and self.shards_dir.exists():
            shutil.rmtree(self.shards_dir)

    def done_keys(self) -> set[tuple[str, int]]:
        rows, _ = self.read_shards()
        return set(zip(rows["mask_id"].astype(str), rows["repeat"].astype(int)))


def find_runs(root: Path | None = None, experiment: str | None = None) -> list[Path]:
    """Every complete run folder (has summary.json) under the results root."""
    root = Path(root or default_results_root())
    pattern = f"{experiment}/*/summary.json" if experiment else "*/*/summary.json"
    return sorted(p.parent for p in root.glob(pattern))
