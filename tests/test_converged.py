"""The converged profile: the paper's per-mask protocol, reduced only in how many masks are retrained."""

import json
from dataclasses import replace

import pandas as pd
import pytest

from oracle_core.compute.masks import enumerate_masks
from oracle_core.experiment import runner
from oracle_core.experiment.protocol import LENET_PRETRAIN, LENET_RETRAIN, PROFILES
from oracle_core.experiment.spec import make_spec


def test_the_profile_keeps_the_papers_recipe_and_data_and_reduces_only_the_retrained_masks():
    paper = make_spec(profile="paper")
    conv = make_spec(profile="converged")
    assert conv.retrain == LENET_RETRAIN and conv.pretrain == LENET_PRETRAIN
    assert (conv.train_subset, conv.retrain_subset, conv.loss_subset, conv.test_subset) == (0, 0, 0, 0)
    same = {k for k, v in paper.to_dict().items() if conv.to_dict()[k] == v}
    differ = set(paper.to_dict()) - same
    assert differ == {"profile", "repeats", "retrain_sample", "criteria_picks"}, differ
    assert conv.retrain_sample == 45 and conv.repeats == 1 and conv.n_masks == 0  # 252 candidates, 45 retrained
    # the paper's 1000-mask sample stays the candidate set where it samples
    multi = make_spec(layers="conv1+conv3", n_masks=1000, profile="converged")
    assert multi.n_masks == 1000 and multi.retrain_sample == 45
    # 45 candidates (ratio 0.8): exhaustive, nothing to sample, no picks to add
    small = make_spec(ratio=0.8, profile="converged")
    assert small.retrain_sample == 0 and not small.criteria_picks
    # a profile that retrains fewer masks than it scores gets its own results folder
    assert conv.key != replace(conv, retrain_sample=0).key
    assert PROFILES["converged"].retrain.epochs == 30


def test_the_retrained_sample_is_seeded_uniform_and_in_candidate_order():
    cands = enumerate_masks({"conv1": 10}, 0.5)
    a, b = runner.retrain_sample(cands, 45, 7), runner.retrain_sample(cands, 45, 7)
    assert a == b and len(set(a)) == 45 and set(a) <= set(cands)
    assert [cands.index(m) for m in a] == sorted(cands.index(m) for m in a)
    assert runner.retrain_sample(cands, 45, 8) != a
    assert runner.retrain_sample(cands, 300, 7) == cands
    # uniform: over many seeds every candidate is drawn about equally often
    counts = pd.Series([m.mask_id for s in range(200) for m in runner.retrain_sample(cands, 45, s)]).value_counts()
    assert len(counts) == 252 and counts.max() < 3 * counts.mean()


@pytest.mark.slow
def test_a_sampled_run_scores_every_candidate_and_retrains_the_sample_and_the_oracle(smoke_results):
    spec = replace(make_spec(profile="smoke", layers="conv2", seed=11), retrain_sample=3, criteria_picks=True)
    res = runner.run_study(spec, "lenet_mnist", smoke_results, progress=False)
    pruned = pd.read_csv(res.dir / "pruned.csv", dtype={"mask_id": str})
    assert len(res.masks) == 3 and res.summary["n_masks"] == 3 and res.summary["candidates"] == 6
    assert set(res.masks["mask_id"]) <= set(pruned["mask_id"])
    candidates = pruned.iloc[:6]  # the candidates come first, the criteria's picks after them
    oracle = candidates.sort_values(["pruned_train_loss", "mask_id"]).iloc[0]
    assert res.summary["global_oracle_mask_id"] == oracle["mask_id"]
    retrained = set(res.masks["mask_id"]) | set(res.criteria_picks.get("mask_id", []))
    assert oracle["mask_id"] in retrained  # always retrained, in the sample or beside it
    if oracle["mask_id"] not in set(res.masks["mask_id"]):
        assert "oracle" in " & ".join(res.criteria_picks["criterion"])
    summary = json.loads((res.dir / "summary.json").read_text())
    assert summary["global_oracle_final_test_acc"] is not None


def test_every_stored_twin_shares_its_networks_bytes_and_its_sampled_masks():
    """A released-code twin (issue 28) differs from its correct-wiring run only in wiring: the same pretrained network
    (byte for byte) and the same sampled masks retrained; read from the committed store."""
    from oracle_core.analysis import collect
    from oracle_core.base.paths import default_results_root

    root = default_results_root()
    runs = collect.runs_table(root)
    twins = runs[(runs["wiring"] == "released_code") & (runs["profile"] == "converged")]
    assert len(twins), "no released-code twin is stored at converged"
    key = ["experiment", "model", "dataset", "layers", "ratio", "seed", "profile", "repeats"]
    from oracle_core.experiment.spec import StudySpec

    for _, t in twins.iterrows():
        a = root / t["folder"]
        mine = set(pd.read_csv(a / "masks.csv", dtype={"mask_id": str})["mask_id"])
        assert len(mine) == 45, t["folder"]
        base = runs[(runs["wiring"] == "correct")].merge(t[key].to_frame().T, on=key)
        if len(base):
            assert len(base) == 1, t["folder"]
            b = root / base["folder"].iloc[0]
            assert (a / "pretrained.pt").read_bytes() == (b / "pretrained.pt").read_bytes()
            assert mine == set(pd.read_csv(b / "masks.csv", dtype={"mask_id": str})["mask_id"]), t["folder"]
            continue
        # the grid may run a twin before its correct run (conv3 @ 0.8's other networks): the same network as the
        # shared pretrained store's, and every mask the correct run has retrained so far is one of the twin's
        spec = StudySpec.from_dict(json.loads((a / "spec.json").read_text())["spec"])
        shared = root / "pretrained" / spec.pretrain_key() / "pretrained.pt"
        assert (a / "pretrained.pt").read_bytes() == shared.read_bytes(), t["folder"]
        b = root / t["experiment"] / replace(spec, wiring="correct").key
        done = [f for f in (b / "shards").glob("*.csv") if not f.name.startswith("curves")] if b.exists() else []
        if b.exists():
            assert (b / "pretrained.pt").read_bytes() == shared.read_bytes(), b
        for f in done:
            assert set(pd.read_csv(f, dtype={"mask_id": str})["mask_id"]) <= mine, f
