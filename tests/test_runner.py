"""The store: a rerun does nothing, a killed run resumes to the same results, bad input writes nothing."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO

from oracle_core.base.errors import OracleError
from oracle_core.compute import engine
from oracle_core.experiment import runner
from oracle_core.experiment.spec import make_spec
from oracle_core.experiment.store import MASK_COLUMNS, RunStore


@pytest.mark.slow
def test_smoke_run_writes_every_file(smoke_results):
    spec = make_spec(profile="smoke")
    res = runner.run_study(spec, "lenet_mnist", smoke_results, progress=False)
    d = res.dir
    assert d == smoke_results / "lenet_mnist" / spec.key
    for f in ("spec.json", "env.json", "pretrained.pt", "masks.csv", "summary.json", "pruned.csv", "curves.csv"):
        assert (d / f).is_file(), f
    rows = pd.read_csv(d / "masks.csv")
    assert list(rows.columns) == MASK_COLUMNS and len(rows) == 6
    summary = json.loads((d / "summary.json").read_text())
    for key in ("n_masks", "kendall_tau", "p_value", "kendall_tau_loss", "p_value_loss", "anomaly_ratio",
                "anomaly_ratio_loss", "oracle_mask_id"):
        assert key in summary
    env = json.loads((d / "env.json").read_text())
    for key in ("code_version", "torch", "device", "dataset_md5"):
        assert env[key]
    import torch

    sd = torch.load(d / "pretrained.pt", weights_only=True)
    assert {"conv1.weight", "conv2.weight", "conv3.weight", "fc1.weight", "fc2.weight"} <= set(sd)


@pytest.mark.slow
def test_rerun_does_nothing(smoke_results, monkeypatch):
    spec = make_spec(profile="smoke")
    runner.run_study(spec, "lenet_mnist", smoke_results, progress=False)

    def boom(*a, **k):
        raise AssertionError("a finished setting must not train again")

    monkeypatch.setattr(engine, "train", boom)
    monkeypatch.setattr(runner, "StudyData", boom)
    runner.run_study(spec, "lenet_mnist", smoke_results, progress=False)


@pytest.mark.slow
def test_killed_run_resumes_to_identical_results(smoke_results, tmp_path, monkeypatch):
    spec = make_spec(profile="smoke", layers="conv2", seed=5)
    full = runner.run_study(spec, "lenet_mnist", smoke_results, progress=False, group_size=2)

    real_train, calls = engine.train, []

    def dies_in_second_group(*a, **k):  # call 1 pretrains, call 2 retrains group 1, call 3 is killed
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real_train(*a, **k)

    monkeypatch.setattr(engine, "train", dies_in_second_group)
    with pytest.raises(KeyboardInterrupt):
        runner.run_study(spec, "lenet_mnist", tmp_path, progress=False, group_size=2)
    store = RunStore(spec, "lenet_mnist", tmp_path)
    assert not store.summary_json.exists() and len(store.done_keys()) == 2
    monkeypatch.setattr(engine, "train", real_train)
    calls.clear()
    # resume with another group size: only the 4 unfinished sampled masks (and the criteria's picks, retrained
    # beside the sample) are retrained
    counted = []
    monkeypatch.setattr(engine, "train", lambda *a, **k: (counted.append(len(a[0])), real_train(*a, **k))[1])
    resumed = runner.run_study(spec, "lenet_mnist", tmp_path, progress=False, group_size=1)
    assert sum(counted) == 4 + resumed.criteria_picks["mask_id"].nunique()
    # the same bytes, not merely close: a mask's arithmetic does not depend on its group size (test_fused.py)
    drop = ["wall_s"]  # the one column that measures time, not arithmetic
    for a, b in ((resumed.criteria_picks, full.criteria_picks), (resumed.masks, full.masks)):
        pd.testing.assert_frame_equal(a.drop(columns=drop, errors="ignore"), b.drop(columns=drop, errors="ignore"),
                                      check_exact=True)
    assert resumed.summary["oracle_mask_id"] == full.summary["oracle_mask_id"]
    # the killed attempt left its record: code version, versions of the numerical libraries, start time
    killed = resumed.env["earlier_invocations"]
    assert len(killed) == 1 and killed[0]["status"] == "running (or killed)" and killed[0]["finished_utc"] is None
    assert killed[0]["code_version"] and {"numpy", "scipy", "pandas", "numba"} <= set(resumed.env)


@pytest.mark.slow
def test_a_killed_pruned_loss_pass_resumes_at_the_first_mask_it_lacks(smoke_results, tmp_path, monkeypatch):
    """The pruned-loss pass writes what it has measured as it goes (atomically), so a 1000-candidate pass killed
    late does not start over; the resumed table equals an uninterrupted run's; a damaged partial table is one line."""
    spec = make_spec(profile="smoke", layers="conv3", seed=8)
    full = RunStore(spec, "lenet_mnist", smoke_results)
    runner.run_study(spec, "lenet_mnist", smoke_results, progress=False, group_size=2)
    expected = pd.read_csv(full.pruned_csv, dtype={"mask_id": str})

    real_prune, calls = runner.prune, []

    def dies_in_third_group(*a, **k):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt("killed")
        return real_prune(*a, **k)

    monkeypatch.setattr(runner, "PRUNED_FLUSH_S", 0.0)  # write after every group
    monkeypatch.setattr(runner, "prune", dies_in_third_group)
    with pytest.raises(KeyboardInterrupt):
        runner.run_study(spec, "lenet_mnist", tmp_path, progress=False, group_size=2)
    store = RunStore(spec, "lenet_mnist", tmp_path)
    partial = pd.read_csv(store.pruned_csv, dtype={"mask_id": str})
    assert list(partial["mask_id"]) == list(expected["mask_id"][:4]) and not store.done_keys()

    saved = store.pruned_csv.read_bytes()
    store.pruned_csv.write_text(store.pruned_csv.read_text().replace("pruned_train_loss", "loss"))
    monkeypatch.setattr(runner, "prune", real_prune)
    with pytest.raises(OracleError) as e:
        runner.run_study(spec, "lenet_mnist", tmp_path, progress=False, group_size=2)
    assert "pruned.csv is damaged (missing columns" in str(e.value) and "\n" not in str(e.value)
    store.pruned_csv.write_bytes(saved)

    pruned_in_pass = []
    monkeypatch.setattr(runner, "prune", lambda *a, **k: (pruned_in_pass.append(1), real_prune(*a, **k))[1])
    runner.run_study(spec, "lenet_mnist", tmp_path, progress=False, group_size=2)
    assert len(pruned_in_pass) == len(expected) - 4  # only stage 2 prunes in the runner; shards prune their own
    resumed = pd.read_csv(store.pruned_csv, dtype={"mask_id": str})
    pd.testing.assert_frame_equal(resumed, expected, check_exact=False, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_a_run_differing_only_in_its_retraining_copies_the_pruned_losses(tmp_path, monkeypatch):
    """The lesson's short run (or more repeats, or another sample size) of a stored setting takes its pruned losses
    from that setting's folder instead of recomputing a 1000-candidate pass; another seed never does."""
    from oracle_core.experiment.spec import short_run_spec

    spec = make_spec(profile="smoke", layers="conv2", seed=11)
    full = runner.run_study(spec, "lenet_mnist", tmp_path, progress=False)
    real_prune, pruned_in_pass = runner.prune, []
    monkeypatch.setattr(runner, "prune", lambda *a, **k: (pruned_in_pass.append(1), real_prune(*a, **k))[1])
    short = short_run_spec(spec)
    assert short.retrain != spec.retrain and short.key != spec.key
    res = runner.run_study(short, "retrain_lesson", tmp_path, progress=False)
    assert not pruned_in_pass
    assert res.env["imported_pruned_losses"]["from"] == f"lenet_mnist/{spec.key}"
    a = pd.read_csv(RunStore(spec, "lenet_mnist", tmp_path).pruned_csv, dtype={"mask_id": str})
    b = pd.read_csv(RunStore(short, "retrain_lesson", tmp_path).pruned_csv, dtype={"mask_id": str})
    pd.testing.assert_frame_equal(a, b)
    assert res.per_mask["pruned_train_loss"].tolist() == full.per_mask["pruned_train_loss"].tolist()
    other = runner.run_study(make_spec(profile="smoke", layers="conv2", seed=12), "lenet_mnist", tmp_path,
                             progress=False)
    assert pruned_in_pass and "imported_pruned_losses" not in other.env


@pytest.mark.slow
def test_results_do_not_depend_on_group_size(smoke_results, tmp_path):
    spec = make_spec(profile="smoke", layers="conv3")
    a = runner.run_study(spec, "lenet_mnist", smoke_results, progress=False, group_size=1)
    b = runner.run_study(spec, "lenet_mnist", tmp_path, progress=False, group_size=6)
    cols = ["pruned_train_loss", "final_test_acc", "final_test_loss", "final_train_loss"]
    assert (a.masks["seed"] == b.masks["seed"]).all()
    assert (a.masks[cols] - b.masks[cols]).abs().to_numpy().max() < 1e-4


def test_spec_key_is_stable_and_depends_on_recipe():
    a, b = make_spec(profile="cpu"), make_spec(profile="cpu")
    assert a.key == b.key and a.key != make_spec(profile="paper").key != make_spec(profile="cpu", seed=1).key
    assert make_spec(layers="conv1+conv2", n_masks=1000, profile="cpu").n_masks == 100  # stated reduction


@pytest.mark.parametrize("kwargs,needle", [
    ({"ratio": 1.5}, "outside (0, 1)"), ({"ratio": 0.0}, "outside (0, 1)"), ({"ratio": 0.05}, "removes no filter"),
    ({"layers": "conv7"}, "not a prunable layer"), ({"model": "resnet9000"}, "unknown model"),
    ({"dataset": "svhn"}, "unknown dataset"), ({"profile": "huge"}, "unknown profile"),
    ({"wiring": "magic"}, "unknown wiring"), ({"n_masks": -3}, "negative"),
])
def test_bad_input_is_a_one_line_error(kwargs, needle):
    with pytest.raises(OracleError) as e:
        make_spec(**kwargs)
    assert needle in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("args,needle", [
    (["--ratio", "1.5"], "outside (0, 1)"), (["--layers", "conv9"], "not a prunable layer"),
    (["--dataset", "kmnist", "--data", "/nonexistent"], "missing"),
])
@pytest.mark.slow
def test_cli_exits_2_and_writes_nothing(tmp_path, args, needle):
    p = subprocess.run([sys.executable, "-m", "oracle_core", "run", "--profile", "smoke", "--results", str(tmp_path),
                        *args], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 2
    assert needle in p.stderr and p.stderr.strip().count("\n") == 0
    assert list(tmp_path.iterdir()) == []


def test_oracle_error_is_not_raised_for_valid_multi_layer():
    spec = make_spec(layers="conv1+conv3", n_masks=20, profile="smoke")
    assert spec.layers == ("conv1", "conv3") and spec.n_masks == 6
    with pytest.raises(OracleError):
        make_spec(layers="conv1+conv1")


@pytest.mark.slow
def test_released_code_wiring_runs_end_to_end_and_is_reported(smoke_results):
    from oracle_core.pages import wiring as wiring_page

    runs = {}
    for wiring in ("correct", "released_code"):
        spec = make_spec(profile="smoke", layers="conv1", wiring=wiring)
        runs["conv1", wiring] = runner.run_study(spec, "lenet_mnist", smoke_results, progress=False)
    a, b = runs["conv1", "correct"], runs["conv1", "released_code"]
    assert a.dir != b.dir and a.spec.pretrain_key() == b.spec.pretrain_key()  # same dense network, new folder
    merged = a.masks.merge(b.masks, on="mask_id")
    assert (merged["pruned_train_loss_x"] != merged["pruned_train_loss_y"]).any()  # mis-wired networks differ
    table = wiring_page.wiring_table(runs)
    assert list(table.index) == [("conv1", "correct"), ("conv1", "released_code")]
    assert "conv1" in wiring_page.wiring_conclusion(runs)


def test_wiring_meaning_reads_direction_and_verdict_from_the_numbers():
    from types import SimpleNamespace

    from oracle_core.pages import wiring

    def run(tau, p=1e-10, anomaly=0.01):
        return SimpleNamespace(summary={"kendall_tau": tau, "p_value": p, "anomaly_ratio": anomaly})

    same = {("conv1", "correct"): run(-0.50), ("conv1", "released_code"): run(-0.70)}
    text = wiring._wiring_meaning(same)
    assert "more negative" in text and "-0.20 to -0.20" in text and "same verdict" in text
    flip = {("conv1", "correct"): run(-0.10), ("conv1", "released_code"): run(-0.60)}
    assert "change verdict in conv1" in wiring._wiring_meaning(flip)


@pytest.mark.slow
def test_more_repeats_reuse_the_finished_fewer_repeat_run(smoke_results, tmp_path, monkeypatch):
    """The noise ceiling (2 repeats) copies repeat 0 from the finished 1-repeat run of the same spec, and
    those copied rows equal what retraining them again computes (same seeds): only repeat 1 is trained."""
    one = make_spec(profile="smoke", layers="conv3", seed=11)
    runner.run_study(one, "lenet_mnist", smoke_results, progress=False)
    two = make_spec(profile="smoke", layers="conv3", seed=11, repeats=2)
    # `grid --list` counts the copied repeat as done before the run starts, not as work left
    from types import SimpleNamespace

    from oracle_core.experiment.grid import progress
    n = len(pd.read_csv(RunStore(one, "lenet_mnist", smoke_results).masks_csv))
    row = {"entry": SimpleNamespace(experiment="noise_ceiling"), "spec": two, "masks": 2 * n, "data": True}
    (before,) = progress([row], smoke_results)
    assert (before["done"], before["left"], before["complete"]) == (n, n, False)

    trained = []
    real_shard = runner.retrain_shard

    def counting(ctx, shard):
        trained.extend(r for _, r in shard)
        return real_shard(ctx, shard)

    monkeypatch.setattr(runner, "retrain_shard", counting)
    reused = runner.run_study(two, "noise_ceiling", smoke_results, progress=False)
    assert trained and set(trained) == {1}
    assert reused.env["imported_repeats"]["from"] == f"lenet_mnist/{one.key}"
    monkeypatch.setattr(runner, "retrain_shard", real_shard)
    # its seconds per mask divide the retraining time by the rows it retrained, not by the ones it copied
    (after,) = progress([row], smoke_results)
    retrained = int((reused.masks["repeat"] == 1).sum())
    if len(reused.criteria_picks):
        retrained += int((reused.criteria_picks["repeat"] == 1).sum())
    assert after["complete"] and after["left"] == 0
    assert after["s_per_mask"] == pytest.approx(reused.env["wall_s_this_invocation"]["retrain_s"] / retrained)

    fresh_root = tmp_path / "fresh"  # the same 2-repeat spec computed from scratch (same pretrained net)
    (fresh_root / "pretrained").mkdir(parents=True)
    import shutil
    shutil.copytree(smoke_results / "pretrained" / one.pretrain_key(), fresh_root / "pretrained" / one.pretrain_key())
    fresh = runner.run_study(two, "noise_ceiling", fresh_root, progress=False)
    assert "imported_repeats" not in fresh.env
    cols = ["mask_id", "repeat", "seed", "pruned_train_loss", "final_test_acc", "final_test_loss"]
    pd.testing.assert_frame_equal(reused.masks[cols], fresh.masks[cols], check_exact=True)


def test_a_folder_written_before_a_spec_field_existed_still_resumes(tmp_path):
    """spec.json of an older run lacks fields added since (their defaults): it is the same spec; a real
    difference is still refused."""
    spec = make_spec(profile="cpu")
    store = RunStore(spec, "lenet_mnist", tmp_path)
    store.init()
    rec = json.loads(store.spec_json.read_text())
    del rec["spec"]["criteria_picks"]
    store.spec_json.write_text(json.dumps(rec))
    store.init()  # no error
    rec["spec"]["ratio"] = 0.4
    store.spec_json.write_text(json.dumps(rec))
    with pytest.raises(OracleError, match="holds a different spec"):
        store.init()


def test_every_committed_results_folder_is_named_by_its_specs_key():
    """Adding a field to StudySpec or Recipe must not rename the folders of results already computed."""
    from oracle_core.experiment.spec import StudySpec

    folders = sorted((REPO / "results").glob("*/*/spec.json"))
    assert folders
    for f in folders:
        rec = json.loads(f.read_text())
        assert StudySpec.from_dict(rec["spec"]).key == f.parent.name == rec["key"], f


def test_precision_is_part_of_a_runs_identity_only_when_not_fp32():
    base = make_spec("lenet5_mini", "mnist", "conv1", 0.5, profile="cpu")
    assert base.precision == "fp32" and "precision" not in base.non_default()
    bf16 = make_spec("lenet5_mini", "mnist", "conv1", 0.5, profile="cpu", precision="bf16")
    assert bf16.key != base.key and bf16.pretrain_key() == base.pretrain_key()  # pretraining stays fp32
    with pytest.raises(OracleError, match="unknown precision 'fp16'"):
        make_spec("lenet5_mini", "mnist", "conv1", 0.5, profile="cpu", precision="fp16")


@pytest.mark.parametrize("extra,flag", [({"precision": "bf16"}, "--precision bf16"), ({"seed": 1}, "--seed 1")])
def test_the_printed_command_reproduces_a_non_default_spec(extra, flag):
    from oracle_core.experiment import commands as cli
    from oracle_core.experiment.commands import run_command

    spec = make_spec("lenet5_mini", "mnist", "conv1", 0.5, profile="smoke", **extra)
    cmd = run_command(spec, "lenet_mnist")
    assert flag in cmd
    args = cli.build_parser().parse_args(cmd.split()[3:])  # after "python -m oracle_core"
    assert make_spec(args.model, args.dataset, args.layers, args.ratio, args.n_masks, args.seed, args.repeats,
                     args.profile, args.wiring, args.shared_order, args.precision).key == spec.key


@pytest.mark.slow
def test_a_second_process_on_the_same_spec_stops_naming_the_holder(smoke_results, tmp_path):
    spec = make_spec(profile="smoke", layers="conv3", seed=21)
    store = RunStore(spec, "lenet_mnist", tmp_path)
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from oracle_core.experiment.store import RunStore; "
            "from oracle_core.experiment.spec import make_spec; "
            "s = RunStore(make_spec(profile='smoke', layers='conv3', seed=21), "
            "'lenet_mnist', sys.argv[2]); l = s.lock(); l.__enter__(); print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(REPO), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OracleError, match=f"pid {holder.pid} on .* since .*two processes never share"):
            runner.run_study(spec, "lenet_mnist", tmp_path, progress=False)
        assert not store.spec_json.exists()  # nothing written by the refused process
    finally:
        holder.kill()
        holder.wait()
    runner.run_study(spec, "lenet_mnist", tmp_path, progress=False)  # the kernel dropped the dead holder's lock
    assert store.is_complete()


@pytest.mark.slow
def test_a_truncated_shard_is_set_aside_and_retrained(tmp_path, monkeypatch):
    spec = make_spec(profile="smoke", layers="conv2", seed=22)
    full = runner.run_study(spec, "lenet_mnist", tmp_path / "a", progress=False, group_size=3)
    real_train, calls = engine.train, []

    def dies_in_second_group(*a, **k):  # call 1 pretrains, call 2 retrains group 1, call 3 is killed
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_train(*a, **k)

    monkeypatch.setattr(engine, "train", dies_in_second_group)
    with pytest.raises(KeyboardInterrupt):
        runner.run_study(spec, "lenet_mnist", tmp_path / "b", progress=False, group_size=3)
    monkeypatch.setattr(engine, "train", real_train)
    store = RunStore(spec, "lenet_mnist", tmp_path / "b")
    shards = [p for p in store.shards_dir.glob("*.csv") if not p.name.startswith("curves-")]
    assert len(shards) == 1
    text = shards[0].read_text()
    shards[0].write_text(text[: len(text) - 25])  # cut mid-row, as a full disk or a crash would
    rows, _ = store.read_shards()
    assert len(rows) == 0 and (store.shards_dir / "damaged" / shards[0].name).exists()
    again = runner.run_study(spec, "lenet_mnist", tmp_path / "b", progress=False, group_size=3)
    pd.testing.assert_frame_equal(again.masks, full.masks)


def test_bad_group_size_experiment_and_device_write_nothing(tmp_path):
    spec = make_spec(profile="smoke", seed=23)
    for kwargs, msg in (({"group_size": -1}, "group size -1 must be a positive"),
                        ({"device": "nonsense"}, "not a device name"),
                        ({"device": "cuda:0"} if not __import__("torch").cuda.is_available() else {"device": "tpu"},
                         "CUDA GPU|not supported|not a device")):
        with pytest.raises(OracleError, match=msg):
            runner.run_study(spec, "lenet_mnist", tmp_path, progress=False, **kwargs)
    with pytest.raises(OracleError, match="not a plain folder name"):
        runner.run_study(spec, "../../x", tmp_path, progress=False)
    assert not any(tmp_path.rglob("*.json"))


@pytest.mark.slow
def test_a_finished_folder_whose_spec_json_was_edited_is_refused(tmp_path):
    spec = make_spec(profile="smoke", seed=24)
    res = runner.run_study(spec, "lenet_mnist", tmp_path, progress=False)
    rec = json.loads((res.dir / "spec.json").read_text())
    rec["spec"]["ratio"] = 0.3
    (res.dir / "spec.json").write_text(json.dumps(rec))
    with pytest.raises(OracleError, match="does not hold the spec of its folder"):
        runner.run_study(spec, "lenet_mnist", tmp_path, progress=False)
    from dataclasses import replace

    other = replace(spec, ratio=0.3)
    with pytest.raises(OracleError, match="does not hold|different spec") if other.key == res.dir.name else \
            __import__("contextlib").nullcontext():
        runner.run_study(other, "lenet_mnist", tmp_path / "fresh", progress=False)


@pytest.mark.slow
def test_a_damaged_pretrained_network_is_a_one_line_error_naming_it(tmp_path):
    from dataclasses import replace

    spec = make_spec(profile="smoke", seed=25)
    runner.run_study(spec, "lenet_mnist", tmp_path, progress=False)
    shared = RunStore(spec, "lenet_mnist", tmp_path).shared_pretrained_pt
    shared.write_bytes(b"not a checkpoint")
    other = replace(spec, ratio=0.3)  # same pretraining key: it loads the shared dense network
    with pytest.raises(OracleError, match=f"{shared} is not the network its pretrain.json recorded.*delete"):
        runner.run_study(other, "lenet_mnist", tmp_path, progress=False)


@pytest.fixture(scope="module")
def finished_root(tmp_path_factory):
    """One finished smoke run, copied by each damage case."""
    root = tmp_path_factory.mktemp("finished")
    runner.run_study(make_spec(profile="smoke", seed=26, n_masks=4), "lenet_mnist", root, progress=False)
    return root


@pytest.mark.parametrize("file,damage,needle", [
    ("summary.json", lambda t: t[: len(t) // 2], "summary.json is damaged (not valid JSON"),
    ("summary.json", lambda t: t.replace('"n_masks"', '"n_mask"'), "summary.json is damaged (no 'n_masks')"),
    ("summary.json", lambda t: json.dumps({**json.loads(t), "anomaly_ratio": "0.5"}),
     "summary.json is damaged ('anomaly_ratio' is '0.5')"),
    ("masks.csv", lambda t: "\n".join(t.splitlines()[:-1]) + "\n", "masks.csv is damaged (3 masks where"),
    ("masks.csv", lambda t: t.replace("final_test_acc", "final_acc"), "masks.csv is damaged (a missing column"),
    ("curves.csv", lambda t: t.replace(",", ";"), "curves.csv is damaged (it needs the columns"),
    ("env.json", lambda t: "[1, 2]", "env.json is damaged (not a JSON object)"),
])
@pytest.mark.slow
@pytest.mark.parametrize("sealed", [True, False])
def test_a_damaged_final_file_is_one_line_naming_it_and_the_fix(finished_root, tmp_path, file, damage, needle, sealed):
    """Every file of a finished folder is validated on read: a sealed folder's damaged file fails its checksum
    (experiment/integrity.py); an unsealed one (finished before sealing existed) fails its content check
    (experiment/records.py) instead of being sealed. Either stops the run, the page loader and the CLI with one line
    naming the file and what to do, and changes nothing."""
    import shutil

    from oracle_core.experiment import commands
    from oracle_core.experiment.results import load_run_dir

    spec = make_spec(profile="smoke", seed=26, n_masks=4)
    shutil.copytree(finished_root, tmp_path / "r")
    root = tmp_path / "r"
    folder = RunStore(spec, "lenet_mnist", root).dir
    if not sealed:
        (folder / "manifest.json").unlink()
    path = folder / file
    path.write_text(damage(path.read_text()))
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    loads = [lambda: runner.run_study(spec, "lenet_mnist", root, progress=False)]
    loads += [lambda: load_run_dir(folder)] if sealed else []  # a reader never seals: "no manifest", tested elsewhere
    for load in loads:
        with pytest.raises(OracleError) as e:
            load()
        msg = str(e.value)
        want = ((f"{file} does not match its checksum", "move the folder away") if sealed
                else (needle, "move its folder"))
        assert want[0] in msg and "\n" not in msg and want[1] in msg and str(path) in msg, msg
    assert commands.main(["run", "--profile", "smoke", "--seed", "26", "--n-masks", "4", "--results", str(root)]) == 2
    assert before == {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("damage,needle", [
    (lambda t: t[: len(t) // 2], "not valid JSON"),
    (lambda t: json.dumps({k: v for k, v in json.loads(t).items() if k != "recipe"}), "no 'recipe'"),
    (lambda t: json.dumps({**json.loads(t), "final_test_acc": 97.5}), "per-epoch test accuracies"),
])
@pytest.mark.slow
def test_a_damaged_pretrain_record_is_one_line_naming_it(finished_root, tmp_path, damage, needle):
    """pretrain.json is validated when the Reproducibility page reads it (collect.pretrain_table)."""
    import shutil

    from oracle_core.analysis import collect

    shutil.copytree(finished_root, tmp_path / "r")
    path = RunStore(make_spec(profile="smoke", seed=26, n_masks=4), "lenet_mnist", tmp_path / "r").shared_pretrain_json
    assert len(collect.pretrain_table(tmp_path / "r")) == 1
    path.write_text(damage(path.read_text()))
    with pytest.raises(OracleError) as e:
        collect.pretrain_table(tmp_path / "r")
    assert needle in str(e.value) and "pretrain.json is damaged" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.slow
def test_sigkill_at_several_points_resumes_to_byte_identical_files(tmp_path):
    """A real SIGKILL (not an exception the runner could catch) during pretraining, right after the pruned losses,
    and after one and after three finished shards; each rerun resumes, and the finished files equal byte for byte
    those of a run that was never interrupted."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    args = ["run", "--profile", "smoke", "--layers", "conv2", "--seed", "31", "--group-size", "1"]

    def start(root):
        return subprocess.Popen([sys.executable, "-m", "oracle_core", *args, "--results", str(root)], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    spec = make_spec(profile="smoke", layers="conv2", seed=31)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert start(clean).wait(timeout=600) == 0
    store = RunStore(spec, "lenet_mnist", killed)
    shards = lambda: len(list(store.shards_dir.glob("*.sha256"))) if store.shards_dir.exists() else 0  # noqa: E731
    points = [lambda: store.env_json.exists(),  # started and recorded: pretraining
              lambda: store.pruned_csv.exists(),  # the state right after pruning is stored
              lambda: shards() >= 1, lambda: shards() >= 3]
    kills = 0
    for reached in points:
        proc = start(killed)
        deadline = time.time() + 300
        while not reached() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
    assert kills >= 3, "the run finished before most kill points: nothing was tested"
    assert start(killed).wait(timeout=600) == 0
    a, b = RunStore(spec, "lenet_mnist", clean), store
    for name in ("masks.csv", "curves.csv", "summary.json", "pruned.csv", "criteria_picks.csv", "spec.json"):
        if (a.dir / name).exists() or (b.dir / name).exists():
            assert (a.dir / name).read_bytes() == (b.dir / name).read_bytes(), name
    assert a.shared_pretrained_pt.read_bytes() == b.shared_pretrained_pt.read_bytes()
    assert not b.shards_dir.exists()
    assert len(json.loads(b.env_json.read_text())["earlier_invocations"]) == kills


def test_repeats_zero_means_the_profiles_count():
    """The README's promise: --repeats 0 (and the notebooks' repeats = 0) is the profile's number of repeats."""
    from oracle_core.experiment.protocol import get_profile

    for profile in ("smoke", "cpu", "paper"):
        assert make_spec(profile=profile, repeats=0).repeats == get_profile(profile).repeats
    assert make_spec(profile="paper", repeats=2).repeats == 2
