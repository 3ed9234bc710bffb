"""The results store: the only module that knows file names. Every write is atomic (temp file + rename).

``results/<experiment>/<spec key>/`` holds ``spec.json``, ``env.json``, ``pretrained.pt``, ``pruned.csv``
(the state right after pruning: one row per mask), ``shards/*.csv`` (retraining rows, one file per
finished group of masks, named by the hash of its (mask, repeat) keys, so concurrent writers never
collide and a finished group is never redone), and, once complete, ``masks.csv``, ``curves.csv`` and
``summary.json`` (written last; then the shards are dropped). A sampled setting also holds
``criteria_picks.csv`` / ``criteria_curves.csv``: the L1 and Taylor masks retrained beside the sample, kept out
of masks.csv so the paper's analysis stays on the uniform sample. Dense networks live once per pretraining key in
``results/pretrained/<key>/``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import socket
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..base.errors import OracleError
from ..base.io import atomic_write_bytes, atomic_write_json, read_json
from ..base.paths import default_results_root
from .spec import StudySpec

MASK_COLUMNS = ["mask_id", "kept", "repeat", "seed", "pruned_train_loss", "pruned_train_acc", "final_test_acc",
                "final_test_loss", "final_train_loss", "best_epoch"]
_NUMERIC = ["repeat", "seed", "pruned_train_loss", "pruned_train_acc", "final_test_acc", "final_test_loss",
            "final_train_loss", "best_epoch"]
# every file name of a results folder, here only (the store's readers elsewhere go through these)
SPEC_JSON, ENV_JSON, SUMMARY_JSON = "spec.json", "env.json", "summary.json"
MASKS_CSV, CURVES_CSV, PRUNED_CSV = "masks.csv", "curves.csv", "pruned.csv"
CRITERIA_CSV, CRITERIA_CURVES_CSV = "criteria_picks.csv", "criteria_curves.csv"
MANIFEST_JSON = "manifest.json"  # written last by a finished run: the checksums of the files above (integrity.py)
PRETRAINED_PT, PRETRAIN_JSON, PRETRAINED_DIR, SHARDS_DIR = "pretrained.pt", "pretrain.json", "pretrained", "shards"
EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_experiment(name: str) -> str:
    """An experiment is one folder name under the results root: letters, digits, '_' and '-' only."""
    if not EXPERIMENT_NAME.match(str(name)):
        raise OracleError(f"experiment {name!r} is not a plain folder name: use letters, digits, '_' or '-' "
                          "(e.g. lenet_mnist)")
    return str(name)


def valid_rows(df: pd.DataFrame) -> bool:
    """Whether a retraining table has every column of MASK_COLUMNS with a value of the right type in each row."""
    if list(df.columns[:len(MASK_COLUMNS)]) != MASK_COLUMNS or df.empty:
        return False
    num = df[_NUMERIC].apply(pd.to_numeric, errors="coerce")
    return not (num.isna().any().any() or df["mask_id"].isna().any() or df["kept"].isna().any())


class RunStore:
    """Paths and atomic I/O for one setting's results folder."""

    def __init__(self, spec: StudySpec, experiment: str, root: Path | None = None):
        check_experiment(experiment)
        self.spec = spec
        self.root = Path(root or default_results_root())
        self.experiment = experiment
        self.dir = self.root / experiment / spec.key
        self.pretrained_dir = self.root / PRETRAINED_DIR / spec.pretrain_key()

    spec_json = property(lambda self: self.dir / SPEC_JSON)
    env_json = property(lambda self: self.dir / ENV_JSON)
    pretrained_pt = property(lambda self: self.dir / PRETRAINED_PT)
    pruned_csv = property(lambda self: self.dir / PRUNED_CSV)
    shards_dir = property(lambda self: self.dir / SHARDS_DIR)
    masks_csv = property(lambda self: self.dir / MASKS_CSV)
    curves_csv = property(lambda self: self.dir / CURVES_CSV)
    summary_json = property(lambda self: self.dir / SUMMARY_JSON)
    manifest_json = property(lambda self: self.dir / MANIFEST_JSON)
    criteria_csv = property(lambda self: self.dir / CRITERIA_CSV)  # L1/Taylor picks outside the sample
    criteria_curves_csv = property(lambda self: self.dir / CRITERIA_CURVES_CSV)
    shared_pretrained_pt = property(lambda self: self.pretrained_dir / PRETRAINED_PT)
    shared_pretrain_json = property(lambda self: self.pretrained_dir / PRETRAIN_JSON)

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

    def check_spec(self) -> None:
        """A stored folder must hold the spec it is named after (an edited spec.json is refused, not served)."""
        try:
            stored = StudySpec.from_dict(read_json(self.spec_json)["spec"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OracleError(f"{self.spec_json} is unreadable ({type(exc).__name__}): move {self.dir} away and "
                              "rerun") from None
        if stored != self.spec or stored.key != self.dir.name:
            raise OracleError(f"{self.spec_json} does not hold the spec of its folder {self.dir.name} (edited?): "
                              f"move {self.dir} away and rerun")

    lock_file = property(lambda self: self.dir / ".lock")

    @contextmanager
    def lock(self, wait: bool = False):
        """Hold this folder for one process (an OS lock the kernel drops if the process dies). A second process on
        the same spec waits (``wait``) or stops at once, naming the holder's pid, host and start time."""
        for link in (self.dir, self.lock_file):
            if link.is_symlink():
                raise OracleError(f"{link} is a symlink: the store writes only its own files (remove the link and "
                                  "rerun)")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)  # never a symlink's target
        except OSError as exc:
            raise OracleError(f"cannot write to the results folder {self.root} ({exc.strerror}): give a writable "
                              "folder with --results (or $ORACLE_RESULTS)") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
                raise OracleError(f"{self.dir} is being computed by {holder}: wait for it to finish (or stop it); "
                                  "two processes never share a results folder") from None
            me = (f"pid {os.getpid()} on {socket.gethostname()} since "
                  f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}")
            os.ftruncate(fd, 0)
            os.pwrite(fd, me.encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock

    # ---- retraining shards ----
    @staticmethod
    def shard_name(keys: list[tuple[str, int]]) -> str:
        blob = ",".join(f"{m}/{r}" for m, r in sorted(keys))
        return hashlib.sha1(blob.encode()).hexdigest()[:16] + ".csv"

    def has_shard(self, keys: list[tuple[str, int]]) -> bool:
        return (self.shards_dir / self.shard_name(keys)).exists()

    def write_shard(self, rows: pd.DataFrame, curves: pd.DataFrame) -> None:
        """Curves, then their checksums, then the rows (whose file marks the shard done), each atomically."""
        keys = list(zip(rows["mask_id"], rows["repeat"].astype(int)))
        name = self.shard_name(keys)
        rows_bytes = rows.to_csv(index=False, float_format="%.8g").encode()
        curves_bytes = curves.to_csv(index=False, float_format="%.8g").encode()
        atomic_write_bytes(self.shards_dir / ("curves-" + name), curves_bytes)  # a row implies its curve
        atomic_write_json(self.shards_dir / (name[:-4] + ".sha256"),
                          {"rows": hashlib.sha256(rows_bytes).hexdigest(),
                           "curves": hashlib.sha256(curves_bytes).hexdigest()})
        atomic_write_bytes(self.shards_dir / name, rows_bytes)

    @contextmanager
    def claim_shard(self, keys: list[tuple[str, int]]):
        """Claim one shard before training it (Ray tasks of one setting share its folder): waits while another
        live process holds the claim; the kernel drops a claim when its process dies."""
        self.shards_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.shards_dir / (self.shard_name(keys)[:-4] + ".claim"),
                     os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _shard_ok(self, p: Path) -> bool:
        """A shard is used only if its checksum (when written) matches and its rows are complete and typed."""
        sums = p.with_suffix(".sha256")
        curves = p.parent / ("curves-" + p.name)
        try:  # a shard is trusted only with its checksum, and only as a regular file of its own
            if any(f.is_symlink() or not f.is_file() for f in (p, sums, curves)):
                return False
            want = read_json(sums)
            if hashlib.sha256(p.read_bytes()).hexdigest() != want["rows"]:
                return False
            if hashlib.sha256(curves.read_bytes()).hexdigest() != want["curves"]:
                return False
            return valid_rows(pd.read_csv(p, dtype={"mask_id": str}))
        except (OSError, ValueError, KeyError, TypeError, pd.errors.ParserError):
            return False

    def _set_aside(self, p: Path) -> None:
        """Move a damaged shard (and its curves and checksum) to shards/damaged/: it will be retrained."""
        aside = self.shards_dir / "damaged"
        aside.mkdir(exist_ok=True)
        for f in (p, p.parent / ("curves-" + p.name), p.with_suffix(".sha256")):
            if f.exists():
                os.replace(f, aside / f.name)

    def _row_files(self) -> list[Path]:
        """Each shard's rows file (its curves file and checksum sit beside it)."""
        return [p for p in sorted(self.shards_dir.glob("*.csv")) if not p.name.startswith("curves-")]

    def sealed_rows(self) -> int:
        """Rows in the shards whose checksum is written (a shard's rows file is written last), counted without judging
        them: what a progress display may read while a worker writes or compacts this folder (read_shards sets a
        damaged shard aside, which must not race the worker that owns it)."""
        n = 0
        for p in self._row_files():
            if p.with_suffix(".sha256").is_file():
                with open(p, "rb") as f:
                    n += max(0, sum(1 for _ in f) - 1)  # one line per (mask, repeat) under a header
        return n

    def read_shards(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        rows, curves = [], []
        if self.shards_dir.exists():
            for p in self._row_files():
                if not self._shard_ok(p):
                    self._set_aside(p)
                    continue
                rows.append(pd.read_csv(p, dtype={"mask_id": str}))
                c = p.parent / ("curves-" + p.name)
                if c.exists():
                    curves.append(pd.read_csv(c, dtype={"mask_id": str}))
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
    pattern = f"{experiment}/*/{SUMMARY_JSON}" if experiment else f"*/*/{SUMMARY_JSON}"
    return sorted(p.parent for p in root.glob(pattern))


def pretrain_records(root: Path | None = None) -> list[tuple[str, Path]]:
    """(pretraining key, its pretrain.json) for every dense network in the store."""
    base = Path(root or default_results_root()) / PRETRAINED_DIR
    return [(f.parent.name, f) for f in sorted(base.glob(f"*/{PRETRAIN_JSON}"))]
