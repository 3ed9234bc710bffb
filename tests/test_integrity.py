"""The results store verifies what it serves (issue 34): a finished folder is sealed with the checksums of its files,
every reader checks them and the contents' ranges, and a folder that fails is refused with one line. Each case copies
one finished smoke run into a scratch store and damages it the way the hostile cases did."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO

from oracle_core.analysis import collect
from oracle_core.base.errors import OracleError
from oracle_core.base.io import atomic_write_json, read_json
from oracle_core.experiment import runner
from oracle_core.experiment.grid import GridEntry, progress
from oracle_core.experiment.integrity import seal, verify_contents, verify_folder, verify_store
from oracle_core.experiment.results import load_run_dir
from oracle_core.experiment.spec import make_spec
from oracle_core.experiment.store import RunStore

pytestmark = pytest.mark.slow  # each case starts from one finished smoke run (about a minute, shared)

SPEC = make_spec(profile="smoke", layers="conv2", seed=5)  # the resume test's setting: computed once per session


@pytest.fixture(scope="module")
def finished(smoke_results) -> Path:
    runner.run_study(SPEC, "lenet_mnist", smoke_results, progress=False)
    return smoke_results


@pytest.fixture
def copy(finished, tmp_path) -> tuple[Path, Path]:
    """A scratch store holding the finished run and its shared network: (root, run folder)."""
    root = tmp_path / "results"
    for sub in (f"lenet_mnist/{SPEC.key}", f"pretrained/{SPEC.pretrain_key()}"):
        shutil.copytree(finished / sub, root / sub, ignore=shutil.ignore_patterns(".lock"))
    return root, root / "lenet_mnist" / SPEC.key


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oracle_core", *args], cwd=REPO, capture_output=True, text=True)


def _flip(data: bytes) -> bytes:
    """One byte in the middle changed (a zip's last bytes are often zeros already)."""
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]


def _unseal(folder: Path) -> None:
    """As a folder finished before sealing existed: the content checks alone decide."""
    (folder / "manifest.json").unlink()


def test_a_finished_run_is_sealed_and_the_whole_store_verifies(copy):
    root, folder = copy
    man = read_json(folder / "manifest.json")
    assert man["key"] == SPEC.key and {"masks.csv", "curves.csv", "pruned.csv", "pretrained.pt"} <= set(man["files"])
    assert verify_folder(folder).spec == SPEC
    p = _cli("verify", "--results", str(root))
    assert p.returncode == 0 and p.stdout.splitlines()[-1] == "2 folder(s): 0 failed", p.stdout


@pytest.mark.parametrize("damage,names", [
    (lambda f: (f / "masks.csv").write_text((f / "masks.csv").read_text().replace(",0,", ",1,", 1)), "masks.csv"),
    (lambda f: (f / "pretrained.pt").write_bytes(_flip((f / "pretrained.pt").read_bytes())), "pretrained.pt"),
    (lambda f: (f / "curves.csv").unlink(), "curves.csv is missing"),
    (lambda f: (f / "criteria_picks.csv").write_text("mask_id\nx\n"), "criteria_picks.csv"),
    (lambda f: (f / "summary.json").write_text("{}"), "summary.json"),
    (lambda f: (f / "spec.json").write_text((f / "spec.json").read_text().replace('"ratio": 0.5', '"ratio": 0.4')),
     "spec.json"),
])
def test_a_damaged_sealed_folder_is_refused_by_every_reader_with_one_line(copy, damage, names):
    root, folder = copy
    damage(folder)
    with pytest.raises(OracleError, match=names.replace(".", r"\.")) as e:
        verify_folder(folder)
    assert "\n" not in str(e.value)
    with pytest.raises(OracleError):
        load_run_dir(folder)  # the pages' and notebooks' reader
    with pytest.raises(OracleError):
        collect.runs_table(root)  # the book's tidy table
    p = _cli("verify", "--results", str(root))
    assert p.returncode == 1 and p.stdout.splitlines()[-1].startswith("2 folder(s): 1 failed")
    row = [ln for ln in p.stdout.splitlines() if ln.startswith("failed")]
    assert len(row) == 1 and f"lenet_mnist/{SPEC.key}" in row[0]


def _edit_masks(folder: Path, edit) -> None:
    rows = pd.read_csv(folder / "masks.csv", dtype={"mask_id": str})
    edit(rows).to_csv(folder / "masks.csv", index=False)


@pytest.mark.parametrize("edit,why", [
    (lambda f: _edit_masks(f, lambda r: r.assign(final_test_acc=[7.5] + list(r["final_test_acc"][1:]))),
     r"final_test_acc outside \[0, 1\]"),
    (lambda f: _edit_masks(f, lambda r: r.assign(repeat=[-4] + list(r["repeat"][1:]))), "repeat outside"),
    (lambda f: _edit_masks(f, lambda r: pd.concat([r, r.iloc[:1]])), "listed twice"),
    (lambda f: _edit_masks(f, lambda r: r.assign(pruned_train_loss=r["pruned_train_loss"] * 1.5)),
     "not this folder's pruned.csv"),
    (lambda f: atomic_write_json(f / "summary.json", {**read_json(f / "summary.json"), "final_acc_median": 1.7}),
     "final_acc_median"),
    (lambda f: (f / "curves.csv").write_text("\n".join((f / "curves.csv").read_text().splitlines()[:4]) + "\n"),
     "curves for"),
])
def test_an_unsealed_folder_is_sealed_only_if_its_contents_hold(copy, edit, why):
    """A folder finished before sealing existed is checked by content (``verify --seal``, or its next run): an
    accuracy of 7.5, a repeat of -4, a duplicated row, another setting's rows, an edited median or curves missing
    masks are refused, never sealed."""
    root, folder = copy
    _unseal(folder)
    edit(folder)
    with pytest.raises(OracleError, match=why):
        verify_contents(RunStore(SPEC, "lenet_mnist", root))
    p = _cli("verify", "--seal", "--results", str(root))
    assert p.returncode == 1 and not (folder / "manifest.json").exists()
    with pytest.raises(OracleError, match=why):
        runner.run_study(SPEC, "lenet_mnist", root, progress=False)


def test_an_unsealed_folder_with_sound_contents_is_sealed_by_its_next_run(copy):
    root, folder = copy
    _unseal(folder)
    with pytest.raises(OracleError, match="verify --seal"):
        load_run_dir(folder)  # a reader never seals: it names the command
    res = runner.run_study(SPEC, "lenet_mnist", root, progress=False)
    assert "sealed_later" in read_json(folder / "manifest.json") and res.summary["key"] == SPEC.key


def test_the_filesystem_cannot_be_turned_against_the_store(copy, tmp_path):
    root, folder = copy
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    os.symlink(outside, folder / ".lock")
    with pytest.raises(OracleError, match="symlink"):
        with RunStore(SPEC, "lenet_mnist", root).lock():
            pass
    assert outside.read_text() == "keep me"
    (folder / ".lock").unlink()
    (folder / "pretrained.pt").unlink()
    os.symlink("/dev/zero", folder / "pretrained.pt")
    with pytest.raises(OracleError, match="pretrained.pt is a symlink"):
        verify_folder(folder)


def test_a_replaced_shared_network_is_refused_before_any_setting_uses_it(copy, tmp_path):
    root, _ = copy
    net = root / "pretrained" / SPEC.pretrain_key() / "pretrained.pt"
    net.write_bytes(_flip(net.read_bytes()))
    checks = {c.folder: c for c in verify_store(root)}
    assert checks[f"pretrained/{SPEC.pretrain_key()}"].state == "failed"
    other = make_spec(profile="smoke", layers="conv1", seed=5)  # same network, not run yet
    with pytest.raises(OracleError, match="not the network its pretrain.json recorded"):
        runner.run_study(other, "lenet_mnist", root, progress=False)


def test_a_shard_without_its_checksum_is_retrained_not_trusted(copy):
    root, folder = copy
    store = RunStore(SPEC, "lenet_mnist", root)
    rows = pd.read_csv(folder / "masks.csv", dtype={"mask_id": str}).iloc[:1]
    store.write_shard(rows, pd.read_csv(folder / "curves.csv", dtype={"mask_id": str}).iloc[:0])
    assert len(store.read_shards()[0]) == 1
    for f in store.shards_dir.glob("*.sha256"):
        f.unlink()
    assert store.read_shards()[0].empty  # set aside as damaged


def test_a_setting_is_done_only_when_its_folder_verifies(copy):
    root, folder = copy
    row = {"entry": GridEntry("lenet_mnist", "conv2", seed=5), "spec": SPEC, "masks": SPEC.retrain_sample or 8,
           "data": True}
    assert progress([row], root)[0]["complete"]
    (folder / "summary.json").write_text("")  # an empty summary.json is not done
    (after,) = progress([row], root)
    assert not after["complete"] and "summary.json" in after["failed"]


def test_the_book_reads_the_grids_own_run_when_several_share_a_setting(copy):
    """A smaller run of the same setting and profile (``--n-masks 3``) never replaces the grid's run in the book,
    whatever the folders' names: the canonical one is the key the grid produces."""
    root, _ = copy
    small = make_spec(profile="smoke", layers="conv2", seed=5, n_masks=3)
    runner.run_study(small, "lenet_mnist", root, progress=False)
    runs = collect.runs_table(root)
    assert set(runs["key"]) == {SPEC.key, small.key}
    canonical = collect.canonical_keys()
    picked = collect.with_paper(runs, "smoke")
    picked = picked[picked["profile"].notna()]
    assert len(picked) == 1
    want = SPEC.key if SPEC.key in canonical else small.key if small.key in canonical else sorted([SPEC.key,
                                                                                                    small.key])[0]
    assert picked["folder"].iloc[0] == f"lenet_mnist/{want}"


def test_more_repeats_import_earlier_rows_only_from_a_folder_that_verifies(copy):
    root, folder = copy
    _edit_masks(folder, lambda r: r.assign(final_test_acc=[0.5] + list(r["final_test_acc"][1:])))
    more = make_spec(profile="smoke", layers="conv2", seed=5, repeats=2)
    with pytest.raises(OracleError, match="masks.csv"):
        runner.run_study(more, "lenet_mnist", root, progress=False)
    assert not (root / "lenet_mnist" / more.key / "summary.json").exists()


def test_user_mistakes_on_the_command_line_are_one_line():
    for args, text in ((["grid", "--workers", "1000", "--list"], None), (["grid", "--workers", "1000"], "CPUs"),
                       (["grid", "--only", ",,,"], "names no setting"), (["run", "--ratio", "abc"], "see `"),
                       (["run", "--executor", "ray", "--ray-address", "127.0.0.1:1", "--profile", "smoke"],
                        "no Ray cluster answers")):
        p = _cli(*args)
        if text is None:
            assert p.returncode == 0  # --list runs nothing: any worker count may be asked what it would take
            continue
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and text in p.stderr, (args, p.stderr)


def test_seal_records_what_it_checked(copy):
    root, folder = copy
    _unseal(folder)
    verify_contents(RunStore(SPEC, "lenet_mnist", root))
    rec = seal(RunStore(SPEC, "lenet_mnist", root), later=True)
    assert rec["sealed_later"] and verify_folder(folder).experiment == "lenet_mnist"
