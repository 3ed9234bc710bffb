#!/usr/bin/env bash
# Run part of the converged grid on a lent GPU machine (the `device` tool), inside one call's time limit.
#
# Why: the MNIST-family grid is ~50 s per mask-retraining on one CPU thread; on a GPU the engine stacks every
# mask of a setting into one wide model (engine.default_group_size: 256 on cuda), so a setting is one group.
# The GPU machine has no git, no registry and no MNIST: the caller carries `.devdata/` holding `mnist.tgz`
# (data/MNIST/raw packed) and `commit` (the commit the working tree is, recorded as each run's code version).
#
#   usage (on the device machine, in the repository root): bash tools/device_grid.sh SECONDS 'ONLY' WORKERS GROUP
#
# Size WORKERS to the call (measured on an H200, bench/RESULTS.md): a setting is one group of ~48 masks, 86 million
# model-images, about 150 s of the GPU alone at the engine's K = 8 rate, and nothing of it is stored until the
# group ends. 12 workers for 430 s kept the GPU at 99% and finished no setting; 3 workers should finish 3 settings in about 7.5 min (projected from that rate, not yet run),
# and GROUP (default 16 masks per wide model) stores a shard per group, so a setting cut off keeps its whole groups.
#
# It checks the GPU path first with a smoke run into a scratch store (a failure stops here, costing seconds),
# then runs `grid --profile converged --only ONLY` for at most SECONDS (a setting cut off mid-way keeps the
# shards of its finished groups; the store resumes it), and packs every file the grid wrote under results/
# into $OUT/results.tgz, with the grid's log and the GPU's utilisation beside it.
set -u
secs=${1:?seconds for the grid}; only=${2:?--only patterns}; workers=${3:-3}; group=${4:-16}
export PYTHONUNBUFFERED=1 ORACLE_CODE_VERSION="$(cat .devdata/commit)" ORACLE_DATA=/tmp/data ORACLE_RESULTS="$PWD/results"
mkdir -p /tmp/data && tar -xzf .devdata/mnist.tgz -C /tmp/data || exit 2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, numpy, pandas, scipy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 > "$OUT/gpu_util.csv" 2>&1 &
t0=$(date +%s)
timeout 120 python3 -m oracle_core run --profile smoke --layers conv1 --ratio 0.5 --results /tmp/smoke --device cuda \
  > "$OUT/smoke.log" 2>&1 || { echo "smoke run on cuda failed:"; tail -30 "$OUT/smoke.log"; exit 3; }
echo "smoke on cuda ok in $(( $(date +%s) - t0 )) s"; grep -h '"device\|group_size\|kernel' /tmp/smoke/*/*/env.json | head -4
touch /tmp/stamp
timeout -s TERM "$secs" python3 -m oracle_core grid --profile converged --workers "$workers" --group-size "$group" --only "$only" \
  > "$OUT/grid.log" 2>&1
echo "grid exit $? after $(( $(date +%s) - t0 )) s"; grep -E "^(done|failed|grid \()" "$OUT/grid.log" | tail -40
(cd results && find . -type f -newer /tmp/stamp ! -name '*.lock' ! -name '*.claim' -print0 \
  | tar -czf "$OUT/results.tgz" --null -T -) && ls -la "$OUT"
