"""Ray executor: the same results as the local executor, and a killed sweep resumes without lost or doubled rows."""

import fcntl
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from conftest import REPO

from oracle_core.experiment import runner
from oracle_core.experiment.spec import make_spec
from oracle_core.experiment.store import RunStore

pytestmark = pytest.mark.ray

ray = pytest.importorskip("ray")  # a pinned requirement: present wherever `make test` ran


@pytest.fixture(autouse=True)
def one_thread():
    """Ray workers run one thread each; bit-for-bit equality needs the same thread count everywhere."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _local_reference(tmp_path_factory, spec):
    return runner.run_study(spec, "lenet_mnist", tmp_path_factory.mktemp("local"), progress=False, group_size=2)


def test_ray_sweep_equals_local_bit_for_bit(tmp_path_factory):
    spec = make_spec(profile="smoke", layers="conv2")
    local = _local_reference(tmp_path_factory, spec)
    root = tmp_path_factory.mktemp("ray")
    res = runner.run_study(spec, "lenet_mnist", root, progress=False, group_size=2, executor="ray")
    assert res.env["executor"] == "ray"
    pd.testing.assert_frame_equal(res.masks, local.masks, check_exact=True)
    assert res.summary["kendall_tau"] == local.summary["kendall_tau"]


def test_killed_ray_driver_resumes_to_the_uninterrupted_results(tmp_path_factory, tmp_path):
    spec = make_spec(profile="smoke", layers="conv3")
    local = _local_reference(tmp_path_factory, spec)
    cmd = [sys.executable, "-m", "oracle_core", "run", "--profile", "smoke", "--layers", "conv3", "--results",
           str(tmp_path), "--executor", "ray", "--group-size", "2"]  # as the local reference
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    store = RunStore(spec, "lenet_mnist", tmp_path)
    # hold the claim of the first shard (the sample's first two masks): its Ray task waits on it while the others
    # finish, so the kill below always leaves a partial sweep, however fast the others train
    first = [(str(m), 0) for m in local.masks["mask_id"].iloc[:2]]
    store.shards_dir.mkdir(parents=True)
    held = os.open(store.shards_dir / (RunStore.shard_name(first)[:-4] + ".claim"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and not any(not f.name.startswith("curves-") for f in store.shards_dir.glob("*.csv")):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and everything it started
    proc.wait()
    subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"], capture_output=True)
    os.close(held)
    assert not store.summary_json.exists(), "the sweep finished before it could be killed"
    done_before = store.done_keys()
    assert done_before and not set(first) & done_before
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = pd.read_csv(store.masks_csv, dtype={"mask_id": str})
    assert len(rows) == 6 and not rows.duplicated(["mask_id", "repeat"]).any()
    pd.testing.assert_frame_equal(rows, local.masks, check_exact=True)
