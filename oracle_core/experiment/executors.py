"""Scale-out: every retraining shard as a Ray task (local Ray by default, or an existing cluster).

Each task loads its context (data, pretrained network, pruned table) from the store once per worker process,
skips a shard whose file already exists, and writes its rows atomically, so a retried or duplicated task
never loses or doubles a row. The driver shows one bar: shards done / total with an ETA.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from ..base.errors import OracleError
from ..base.paths import REPO
from .shards import load_context, retrain_shard
from .spec import StudySpec

_CONTEXTS: dict[tuple, object] = {}  # per worker process: (spec key, roots, device) -> ShardContext


def shard_task(spec_dict: dict, experiment: str, results_root: str, data_root: str | None, device: str | None,
               shard: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """One Ray task: retrain one shard (see runner.retrain_shard)."""
    spec = StudySpec.from_dict(spec_dict)
    key = (spec.key, experiment, results_root, data_root, device)
    if key not in _CONTEXTS:
        _CONTEXTS[key] = load_context(spec, experiment, Path(results_root), Path(data_root) if data_root else None,
                                      device)
    return retrain_shard(_CONTEXTS[key], shard)


RAY_PROBE_S = 60.0  # how long a cluster address may take to answer before the run stops, before any work


def check_ray_address(address: str | None, timeout: float = RAY_PROBE_S) -> None:
    """A cluster address must answer before anything is computed: a cluster that is not there would otherwise hang
    the run after pretraining. First a TCP connection to its head, then a Ray client joining it in a child process
    (some networks accept any TCP connection), each within ``timeout``. None, 'auto' and 'local' are Ray's own."""
    if address in (None, "", "auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    why = ""
    try:
        socket.create_connection((host or hostport, int(port or 6379)), timeout=min(timeout, 5.0)).close()
        probe = f"import ray; ray.init(address={address!r}, include_dashboard=False, log_to_driver=False)"
        if subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=timeout).returncode != 0:
            why = "it does not speak Ray"
    except subprocess.TimeoutExpired:
        why = f"no answer within {timeout:g} s"
    except (OSError, ValueError) as exc:
        why = type(exc).__name__
    if why:
        raise OracleError(f"no Ray cluster answers at {address!r} ({why}): start one there with `ray start --head`, "
                          "or drop --ray-address to use a local Ray")


def run_shards_ray(spec: StudySpec, experiment: str, results_root: Path, data_root: Path | None,
                   device: str | None, shards: list[list[tuple[str, int]]], ray_address: str | None,
                   progress: bool = True, num_cpus: int | None = None) -> None:
    """Submit every shard as a task (1 CPU each, plus 1 GPU where CUDA is used) and wait for all of them."""
    import ray  # imported here: starting Ray is optional and its import alone takes seconds

    started_here = not ray.is_initialized()
    if started_here:
        repo = str(REPO)
        path = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p)
        ray.init(address=ray_address, num_cpus=num_cpus if ray_address is None else None, include_dashboard=False,
                 log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        use_gpu = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
        task = ray.remote(num_cpus=1, num_gpus=1 if use_gpu else 0, max_retries=3)(shard_task)
        root = str(Path(results_root).resolve())
        data = str(Path(data_root).resolve()) if data_root else None
        spec_dict = spec.to_dict()
        pending = [task.remote(spec_dict, experiment, root, data, device, shard) for shard in shards]
        with tqdm(total=len(shards), desc="retrain on Ray: shards", unit="shard", disable=not progress,
                  mininterval=2) as bar:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                ray.get(ready)  # re-raises a task's error after its retries are spent
                bar.update(len(ready))
    finally:
        if started_here:
            ray.shutdown()
