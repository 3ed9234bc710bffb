"""Benchmark: the same retraining sweep on 1 vs 2 Ray workers on this machine; prints JSON with the scaling
ratio and appends a row to bench/RESULTS.md.  python bench/ray_scaling.py [--masks 8] [--train-images 8192]"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import ray  # noqa: E402

from oracle_core.experiment import envinfo, runner  # noqa: E402
from oracle_core.experiment.protocol import Recipe  # noqa: E402
from oracle_core.experiment.spec import make_spec  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--masks", type=int, default=8)
    p.add_argument("--train-images", type=int, default=8192)
    p.add_argument("--no-record", action="store_true")
    a = p.parse_args()
    spec = replace(make_spec(profile="smoke", layers="conv1"), n_masks=a.masks, train_subset=a.train_images,
                   test_subset=2048, retrain=Recipe(1, ((0, 0.001),), 256, 1e-4))
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
            try:
                res = runner.run_study(spec, "bench", Path(tmp) / f"w{workers}", progress=False, group_size=1,
                                       executor="ray")
            finally:
                ray.shutdown()
            walls[workers] = res.env["wall_s_this_invocation"]["retrain_s"]
    out = {"bench": "ray_scaling", "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "device": envinfo.device_name(envinfo.pick_device()), "code_version": envinfo.code_version(),
           "setting": f"lenet5_mini/mnist conv1@0.5, {a.masks} masks x 1 epoch x {a.train_images} images, 1 mask/shard",
           "retrain_wall_s": walls, "scaling_2_over_1": walls[1] / walls[2]}
    print(json.dumps(out, indent=2))
    if not a.no_record:
        from record import append_row

        append_row("bench/ray_scaling.py", "| date | device | setting | 1 worker s | 2 workers s | scaling |",
                   f"| {out['date_utc'][:10]} | {out['device']} | {out['setting']} | {walls[1]:.1f} | "
                   f"{walls[2]:.1f} | {out['scaling_2_over_1']:.2f} |")


if __name__ == "__main__":
    main()
