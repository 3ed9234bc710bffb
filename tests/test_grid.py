"""The grid: every MNIST-family setting the paper published is in it, with the profile's stated mask counts, and
running it resumes, skips missing data with the fix, and refuses a filter that matches nothing."""

import json
import subprocess
import sys
from dataclasses import replace

import pytest
from conftest import REPO

from oracle_core.analysis import reference
from oracle_core.base.errors import OracleError
from oracle_core.experiment.grid import GridEntry, mnist_grid, plan, run_grid


def test_every_published_lenet_setting_is_in_the_grid_once():
    ref = reference.results_table()
    ref = ref[ref["model"].str.startswith("lenet5_mini")]
    keys = [(e.model, e.dataset, e.layers, e.ratio) for e in mnist_grid() if e.wiring == "correct" and not e.repeats
            and not e.short_retrain and not e.seed]
    assert len(keys) == len(set(keys))
    for _, r in ref.iterrows():
        assert (r["model"], r["dataset"], r["layers"], r["ratio"]) in keys, r["layers"]
    assert len(keys) == len(ref)  # nothing beyond the paper's settings, except the wiring checks
    wiring = [(e.layers, e.ratio) for e in mnist_grid() if e.wiring == "released_code" and not e.seed
              and e.experiment == "lenet_mnist"]
    figure2 = [(e.layers, e.ratio) for e in mnist_grid() if e.experiment == "lenet_mnist" and e.wiring == "correct"
               and not e.repeats and not e.short_retrain and not e.seed]
    assert len(figure2) == 25 and len(wiring) == len(set(wiring))  # issue 29: every Figure 2 panel has its twin
    assert sorted(wiring) == sorted(figure2)
    variants = {(e.model, e.dataset) for e in mnist_grid() if e.experiment in ("mnist_variants", "lenet_variants")
                and e.wiring == "correct"}  # Figures 4 and 5: every setting has its twin too (like for like)
    assert len(variants) == 8 and variants == {(e.model, e.dataset) for e in mnist_grid() if e.experiment in (
        "mnist_variants", "lenet_variants") and e.wiring == "released_code"}
    twins = [e for e in mnist_grid() if e.wiring == "released_code" and not e.seed]
    assert all(e.runs_at("converged") for e in twins)
    assert sorted((e.layers, e.ratio) for e in twins if e.runs_at("cpu")) == [(f"conv{i}", 0.5) for i in (1, 2, 3)]
    seeds = {(e.layers, e.ratio, e.seed, e.wiring) for e in mnist_grid() if e.seed}  # other networks, both wirings
    assert seeds == {(layer, r, s, w) for layer, r, n in (("conv1", 0.5, 5), ("conv2", 0.5, 3), ("conv3", 0.5, 3),
                                                          ("conv1", 0.8, 3), ("conv3", 0.8, 3))
                     for s in range(1, n) for w in ("correct", "released_code")}
    assert all(e.experiment == "pretrain_seed" and e.profiles == ("converged",) for e in mnist_grid() if e.seed)


def test_released_code_twins_share_the_network_and_the_sampled_masks():
    """A twin differs from its correct-wiring run only in wiring: same pretrained network key (so the same bytes,
    pretrained once) and the same candidates and seeded sample of masks to retrain."""
    rows = {r["entry"].label: r["spec"] for r in plan("converged")}
    twins = [label for label in rows if "[released_code]" in label and "repeats" not in label]
    assert len(twins) == 25 + 8 + 4 + 2 + 2 + 2 + 2  # every Figure 2, 4 and 5 setting (seed 0); conv1 seeds 1-4;
    # conv2, conv3, conv1 @ 0.8 and conv3 @ 0.8 seeds 1-2
    for label in twins:
        twin, base = rows[label], rows[label.replace(" [released_code]", "")]
        assert twin.pretrain_key() == base.pretrain_key() and twin.key != base.key
        assert {f: v for f, v in twin.to_dict().items() if f != "wiring"} == \
            {f: v for f, v in base.to_dict().items() if f != "wiring"}


def test_cpu_plan_keeps_exhaustive_settings_exhaustive_and_reduces_sampled_ones():
    rows = {r["entry"].label: r for r in plan("cpu")}
    assert rows["lenet5_mini/mnist conv1@0.2"]["masks"] == 45
    assert rows["lenet5_mini/mnist conv3@0.5"]["masks"] == 252
    assert rows["lenet5_mini_d8/mnist conv1@0.5"]["masks"] == 252
    assert rows["lenet5_mini/mnist conv1+conv2@0.5"]["masks"] == 100  # 1000 in the paper
    assert rows["lenet5_mini_w40/mnist conv1@0.5"]["masks"] == 100
    paper = {r["entry"].label: r for r in plan("paper")}
    assert paper["lenet5_mini/mnist conv1+conv2@0.5"]["masks"] == 3000  # 1000 masks x 3 repeats
    assert paper["lenet5_mini/mnist conv1@0.2"]["masks"] == 135


def test_only_filters_by_any_of_several_texts():
    labels = [r["entry"].label for r in plan("cpu", "conv1@0.2,fashion")]
    assert labels == ["lenet5_mini/fashion_mnist conv1@0.5", "lenet5_mini/mnist conv1@0.2"] or sorted(labels) == sorted(
        ["lenet5_mini/fashion_mnist conv1@0.5", "lenet5_mini/mnist conv1@0.2"])


@pytest.mark.slow
def test_a_filter_matching_nothing_is_one_line_error(tmp_path):
    with pytest.raises(OracleError, match="no grid setting matches"):
        run_grid("smoke", 1, "conv9@0.5", tmp_path)
    p = subprocess.run([sys.executable, "-m", "oracle_core", "grid", "--only", "conv9", "--results", str(tmp_path)],
                       cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.startswith("error: no grid setting matches") and p.stderr.count("\n") == 1


def test_missing_data_is_skipped_with_the_command_that_fetches_it(tmp_path):
    log = []
    out = run_grid("smoke", 1, "kmnist", tmp_path / "results", tmp_path / "no-data", log=log.append)
    assert out == []
    assert any("skip" in line and "fetch kmnist" in line for line in log)
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("summary.json"))


def test_grid_ran_every_selected_setting_and_a_rerun_does_nothing(smoke_grid):
    from conftest import SMOKE_GRID

    rows = plan("smoke", SMOKE_GRID)
    assert len(rows) == 10  # 6 figure settings, 2 released-code wirings, 2 noise-ceiling runs (x2 repeats)
    for r in rows:
        assert (smoke_grid / r["entry"].experiment / r["spec"].key / "summary.json").is_file(), r["entry"].label
    log = []
    assert run_grid("smoke", 2, SMOKE_GRID, smoke_grid, log=log.append) == []
    assert "0 to run" in log[-1]


def test_grid_list_prints_every_setting_and_its_state(smoke_grid):
    p = subprocess.run([sys.executable, "-m", "oracle_core", "grid", "--profile", "smoke", "--list", "--results",
                        str(smoke_grid)], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0
    lines = p.stdout.strip().splitlines()
    assert len(lines) == len(plan("smoke")) + 1  # (the lesson's short runs are not needed at smoke)
    assert sum(" done" in line for line in lines) == 10
    # a setting whose data is not here is not "0 left": the summary says which data it waits for
    assert "data missing" in p.stdout and "wait for their data" in lines[-1] and "kmnist" in lines[-1]


@pytest.mark.slow
def test_a_grid_worker_has_every_module_a_run_needs_once_the_grid_is_imported():
    """All imports are top-level, so importing the grid loads everything a run reaches (a worker never imports a
    module later, half-edited by someone working beside a long grid)."""
    import subprocess
    import sys

    code = ("import sys; from oracle_core.experiment import grid; grid._init_worker(); "
            "print(all(m in sys.modules for m in ('oracle_core.compute.scoring', 'oracle_core.experiment.runner', "
            "'oracle_core.experiment.shards', 'oracle_core.models.vit', 'oracle_core.data.imagenet', "
            "'oracle_core.compute.fused')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "True", out.stderr[-2000:]


def test_converged_plan_runs_the_priority_settings_first_and_projects_the_hours_left(tmp_path):
    import pandas as pd

    from oracle_core.experiment.grid import CONVERGED_ORDER, progress, projected_hours
    from oracle_core.experiment.store import MASK_COLUMNS, RunStore

    rows = plan("converged")
    labels = [r["entry"].label for r in rows]
    assert labels[:len(CONVERGED_ORDER)] == list(CONVERGED_ORDER)  # the order: conv1, conv2, conv3 @ 0.5, ...
    # a setting whose correct run is stored gets its released-code twin before Figure 2's new settings start
    twin = labels.index("lenet5_mini/mnist conv1+conv2+conv3@0.5 [released_code]")
    assert twin < labels.index("lenet5_mini/mnist conv2@0.2") > labels.index("lenet5_mini/mnist conv1+conv3@0.5")
    assert all(r["spec"].retrain.epochs == 30 for r in rows if not r["entry"].short_retrain)
    noise = [r for r in rows if r["entry"].experiment == "noise_ceiling"]
    assert [r["spec"].repeats for r in noise] == [3, 3, 3] and all(r["masks"] == 135 for r in noise)
    # the differing twin's 3 retrainings: the twin's own spec but for repeats, so its run is repeat 0 (reused)
    (differing,) = [r for r in noise if r["entry"].wiring == "released_code"]
    twin = next(r for r in rows if r["entry"].label == "lenet5_mini/mnist conv1@0.8 [released_code]")
    assert replace(differing["spec"], repeats=1) == twin["spec"]
    assert all(r["masks"] == 45 for r in rows if r["entry"].experiment == "lenet_mnist")
    prog = progress(rows, tmp_path)
    assert all(p["done"] == 0 and p["s_per_mask"] is None for p in prog)
    assert projected_hours(prog, 2) == (None, None)
    # two retrained masks of the first setting, 100 s each by their shard's clock
    first = rows[0]
    store = RunStore(first["spec"], first["entry"].experiment, tmp_path)
    shard = pd.DataFrame([{c: 0 for c in MASK_COLUMNS} | {"mask_id": f"m{i}", "repeat": 0} for i in range(2)])
    store.write_shard(shard.assign(wall_s=100.0), pd.DataFrame({"mask_id": ["m0"], "repeat": [0], "epoch": [1]}))
    prog = progress(rows, tmp_path)
    assert prog[0]["done"] == 2 and prog[0]["left"] == 43 and prog[0]["s_per_mask"] == 100.0
    hours, typical = projected_hours(prog, 2)
    left = sum(p["left"] for p in prog if p["data"])
    assert typical == 100.0 and hours == pytest.approx(left * 100.0 / 3600 / 2)
    # a second setting measured at 20 s per mask by a run of the current training step: the median the rest takes
    second = rows[1]
    s2 = RunStore(second["spec"], second["entry"].experiment, tmp_path)
    s2.write_shard(shard.assign(wall_s=20.0), pd.DataFrame({"mask_id": ["m0"], "repeat": [0], "epoch": [1]}))
    s2.env_json.write_text('{"training_step": "C step"}')
    prog = progress(rows, tmp_path)
    assert prog[1]["step"] == "C step" and prog[0]["step"] is None
    hours, typical = projected_hours(prog, 2, step="C step")
    assert typical == 20.0
    assert hours == pytest.approx((43 * 100.0 + 43 * 20.0 + (left - 43 - 45) * 20.0) / 3600 / 2)
    assert projected_hours(prog, 2, step="autograd")[1] == 60.0  # none measured that way: the median of all


def test_zero_workers_is_one_line_and_exit_2(tmp_path, capsys):
    from oracle_core.experiment import commands

    assert commands.main(["grid", "--profile", "smoke", "--workers", "0", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--workers 0 must be at least 1" in err
    assert not list(tmp_path.iterdir())


def test_a_bad_group_size_is_one_line_error(tmp_path):
    with pytest.raises(OracleError, match="--group-size 0 must be a positive number"):
        run_grid("smoke", 1, "conv1@0.5", tmp_path, group_size=0)
    p = subprocess.run([sys.executable, "-m", "oracle_core", "grid", "--group-size", "0", "--results", str(tmp_path)],
                       cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.startswith("error: --group-size 0") and p.stderr.count("\n") == 1


@pytest.mark.slow
def test_the_grid_trains_at_the_group_size_it_is_given(tmp_path):
    """A GPU grid cut off by a call's time limit keeps only whole groups: --group-size reaches every setting's run."""
    from oracle_core.experiment import grid

    entry = GridEntry("lenet_mnist", "conv1", 0.5)
    spec = entry.spec("smoke")
    label, _, status = grid._run_one((entry, spec, tmp_path, None, 3))
    assert (label, status) == (entry.label, "done")
    env = json.loads((tmp_path / entry.experiment / spec.key / "env.json").read_text())
    assert env["group_size"] == 3


def test_the_plans_repeated_twins_cover_every_twin_the_committed_store_calls_differing():
    """order.DIFFERING_TWINS is the run plan's copy of a finding (analysis cannot be imported by the experiment
    layer): every converged setting whose released-code twin the like-for-like reading calls "differs" must get its
    3 retrainings, so a newly differing twin fails here until the plan names it."""
    from oracle_core.analysis.like_for_like import verdicts
    from oracle_core.experiment.order import DIFFERING_TWINS

    differing = {(layers, ratio) for (model, dataset, layers, ratio), v in verdicts("converged").items()
                 if v.state == "differs" and v.twin and (model, dataset) == ("lenet5_mini", "mnist")}
    assert differing, "the committed store has a differing twin (conv1 @ 0.8) this test reads"
    assert differing <= {(layers, float(r)) for layers, r in DIFFERING_TWINS}
    repeated = {r["entry"].label for r in plan("converged") if r["spec"].repeats == 3}
    assert all(f"lenet5_mini/mnist {layers}@{r:g} [released_code] x3 repeats" in repeated for layers, r in differing)


def test_the_bar_counts_masks_as_their_shards_land_and_never_an_unsealed_shard(tmp_path):
    """stored_masks is what the grid's bar shows between finished settings: each sealed shard's rows, capped at
    the setting's count; a rows file whose checksum is not written yet is not counted; a finished setting counts
    whole (its shards are compacted away)."""
    import shutil

    import pandas as pd

    from oracle_core.experiment.grid import stored_masks
    from oracle_core.experiment.store import RunStore

    rows = plan("smoke", "lenet5_mini/mnist conv1@0.2")
    r = rows[0]
    assert stored_masks(rows, tmp_path) == 0
    store = RunStore(r["spec"], r["entry"].experiment, tmp_path)
    for ids in (["a", "b"], ["c"]):
        store.write_shard(pd.DataFrame({"mask_id": ids, "repeat": [0] * len(ids)}), pd.DataFrame({"epoch": [1]}))
    assert stored_masks(rows, tmp_path) == 3
    (store.shards_dir / "unsealed.csv").write_text("mask_id,repeat\nd,0\ne,0\n")  # a worker mid-write
    assert stored_masks(rows, tmp_path) == 3
    store.write_shard(pd.DataFrame({"mask_id": [f"m{i}" for i in range(2 * r["masks"])], "repeat": 0}),
                      pd.DataFrame({"epoch": [1]}))
    assert stored_masks(rows, tmp_path) == r["masks"]
    shutil.rmtree(store.shards_dir)  # finished: the shards are compacted into masks.csv beside summary.json
    store.masks_csv.write_text("mask_id,repeat\n")
    store.summary_json.write_text("{}")
    assert stored_masks(rows, tmp_path) == r["masks"]
    assert stored_masks(rows + plan("smoke", "lenet5_mini/mnist conv2@0.5"), tmp_path) == r["masks"]


@pytest.mark.slow
def test_the_grid_bar_is_refreshed_while_a_setting_trains_and_ends_at_every_mask(tmp_path, monkeypatch, capsys):
    from oracle_core.experiment import grid

    monkeypatch.setattr(grid, "POLL_S", 0.05)  # re-read the store many times while the one setting trains
    log = []
    out = run_grid("smoke", 1, "lenet5_mini/mnist conv1@0.2", tmp_path, log=log.append)
    assert [s for _, _, s in out] == ["done"]
    n = plan("smoke", "lenet5_mini/mnist conv1@0.2")[0]["masks"]
    assert f"{n} of their {n} mask-retrainings left" in log[0]
    assert f"{n}/{n}" in capsys.readouterr().err.replace("\r", "\n").splitlines()[-1]
