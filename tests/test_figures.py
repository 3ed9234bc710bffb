"""The figure pages' computations: read-only cells, ours-vs-paper tables with stated disagreements, the lesson's
short retraining, the front page's numbers."""

import copy
import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from oracle_core.analysis import collect, reasons, stored
from oracle_core.analysis import lesson as lessons
from oracle_core.compute import engine
from oracle_core.experiment import spec as spec_rules
from oracle_core.experiment.grid import GridEntry
from oracle_core.experiment.protocol import CPU_SHORT_RETRAIN, LENET_SHORT_RETRAIN, SMOKE_RETRAIN, SMOKE_SHORT_RETRAIN
from oracle_core.models import build_model
from oracle_core.pages import disagreements, figure, lesson, profiles

Stored = stored.StoredSetting


def test_cells_hold_stored_results_and_commands_for_the_rest(smoke_grid):
    cs = stored.stored_settings("smoke", "lenet_mnist", smoke_grid, where=lambda e: e.layers == "conv1")
    assert len(cs) == 7  # conv1 at 0.2 ... 0.8
    done = {c.entry.ratio for c in cs if c.result is not None}
    assert done == {0.2, 0.5}
    todo = [c for c in cs if c.result is None]
    assert all("--profile smoke" in c.command and f"--ratio {c.entry.ratio:g}" in c.command for c in todo)
    text = figure.missing_commands(cs)
    assert text.count("python -m oracle_core run") == 5
    assert [c.entry.ratio for c in cs] == sorted(c.entry.ratio for c in cs)  # figure order


def _fake(tau, anomaly=0.1, median=0.98, global_rank=None):
    """A summary with the keys every stored one has (records.SUMMARY_SCHEMA); ``global_rank``: the paper's oracle
    (over every candidate) was retrained beside a sample of 10 and ranks there."""
    sm = {"n_masks": 10, "kendall_tau": tau, "p_value": 0.01, "anomaly_ratio": anomaly, "oracle_mask_id": "m",
          "oracle_kept": "conv1:0", "oracle_pruned_train_loss": 0.5, "oracle_acc_rank": 2,
          "oracle_final_test_acc": 0.98, "final_acc_median": median, "kendall_tau_loss": -tau,
          "anomaly_ratio_loss": 0.0}
    if global_rank is not None:
        sm.update(candidates=252, global_oracle_mask_id="g", global_oracle_kept="conv1:9",
                  global_oracle_pruned_train_loss=0.1, global_oracle_final_test_acc=0.99,
                  global_oracle_acc_rank=global_rank)
    return SimpleNamespace(summary=sm)


def test_setting_table_states_agreement_and_disagreement_against_the_paper(monkeypatch):
    """The verdict is like_for_like's (the interval of the masks and the pretrained networks), here on a fabricated
    store: (model, dataset, layers, ratio, wiring, seed) -> (tau, bootstrap se, median accuracy %)."""
    from oracle_core.analysis import like_for_like

    stored = {("lenet5_mini", "mnist", "conv1", 0.5, "correct", 0): (-0.45, 0.05, 98.5),
              ("lenet5_mini", "mnist", "conv1", 0.5, "correct", 1): (-0.38, 0.05, 98.4),  # a second network
              ("lenet5_mini", "mnist", "conv2", 0.5, "correct", 0): (0.10, 0.05, 98.3),
              ("lenet5_mini", "mnist", "conv2", 0.6, "correct", 0): (-0.42, 0.05, 96.9),
              ("lenet5_mini", "mnist", "conv1", 0.8, "correct", 0): (-0.30, 0.05, 98.0),
              # the released-code twins (the protocol the paper's code ran): only they are compared
              ("lenet5_mini", "mnist", "conv1", 0.5, "released_code", 0): (-0.45, 0.05, 98.5),
              ("lenet5_mini", "mnist", "conv2", 0.5, "released_code", 0): (0.10, 0.05, 98.3)}
    monkeypatch.setattr(like_for_like, "_stored", lambda profile, root: stored)
    e = GridEntry("lenet_mnist", "conv1", 0.5)  # paper tau -0.51
    cs = [Stored(e, _fake(-0.45), None, "cmd"), Stored(GridEntry("lenet_mnist", "conv2", 0.5),
                                                                    _fake(+0.10), None, "cmd"),
          Stored(GridEntry("lenet_mnist", "conv3", 0.5), None, None, "cmd"),
          # paper median 98.18% at conv2 @ 0.5: 1.1 pp below it is under-trained, whatever the tau
          Stored(GridEntry("lenet_mnist", "conv2", 0.6), _fake(-0.42, median=0.969), None, "cmd"),
          Stored(GridEntry("lenet_mnist", "conv1", 0.8), _fake(-0.3, anomaly=0.6, global_rank=1), None, "cmd")]
    t = figure.setting_table(cs)
    # the paper's oracle (over every candidate) decides the anomaly ratio and the oracle's accuracy, not the sample's
    assert t.loc["conv1 @ 0.8", "anomaly % ours"] == 0.0 and t.loc["conv1 @ 0.8", "oracle acc % ours"] == 99.0
    assert re.fullmatch(r"agrees \(\+0\.06 within ±0\.\d\d, released-code twin\)", t.loc["conv1 @ 0.5", "verdict"])
    assert re.fullmatch(r"differs \(\+0\.61 beyond ±0\.\d\d, released-code twin\)", t.loc["conv2 @ 0.5", "verdict"])
    assert t.loc["conv1 @ 0.8", "verdict"] == "not compared yet (the released-code twin is not stored)"
    assert t.loc["conv3 @ 0.5", "verdict"] == "not run yet"
    assert t.loc["conv2 @ 0.6", "verdict"] == "under-trained (median -1.2 pp vs the paper's)"  # paper 98.10%
    assert t.loc["conv1 @ 0.5", "tau paper"] == pytest.approx(-0.51)
    assert t.loc["conv1 @ 0.5", "anomaly % ours"] == pytest.approx(10.0)


def test_short_retraining_is_the_prefix_of_the_full_one():
    """The cpu/smoke lesson reads the short-retrain accuracy off the full run's first epoch(s). That is only
    right if a separate short run is identical: train both from the same start with the same seed."""
    torch.manual_seed(0)
    base = build_model("lenet5_mini", 1, 10)
    x, y = torch.randn(512, 1, 32, 32), torch.randint(0, 10, (512,))
    full, _ = engine.train([copy.deepcopy(base)], x, y, x[:256], y[:256], SMOKE_RETRAIN, [7])
    short, _ = engine.train([copy.deepcopy(base)], x, y, x[:256], y[:256], SMOKE_SHORT_RETRAIN, [7])
    assert short[0].test_acc[0] == full[0].test_acc[0]
    assert short[0].test_loss[0] == full[0].test_loss[0]
    assert CPU_SHORT_RETRAIN.lr_at(0) == LENET_SHORT_RETRAIN.lr_at(0)


def test_lesson_reads_the_curve_or_waits_for_a_separate_short_run(smoke_grid, tmp_path):
    [c] = stored.stored_settings("smoke", "lenet_mnist", smoke_grid,
                                 where=lambda e: e.layers == "conv1" and e.ratio == 0.5)
    acc = lessons.short_retrain_acc(c.result)
    curves = c.result.curves
    first = curves[curves["epoch"] == 1].set_index("mask_id")["test_acc"]
    assert np.allclose(acc.loc[first.index].to_numpy(), first.to_numpy())
    t = lessons.lesson_table([c])
    assert -1 <= t.iloc[0]["tau short vs full, ours"] <= 1 and t.iloc[0]["tau short vs full, paper"] == 0.70
    assert (t.iloc[0]["short epochs, paper"], t.iloc[0]["full epochs, paper"]) == (3, 30)  # from the paper's table
    paper_like = SimpleNamespace(spec=c.result.spec.__class__(**{**c.result.spec.__dict__, "profile": "paper"}),
                                 curves=curves)
    assert not spec_rules.short_is_prefix(paper_like.spec)  # the paper's 3-epoch compressed schedule
    assert lessons.short_retrain_acc(paper_like, tmp_path) is None  # its separate short run is not stored


def test_paper_points_reproduce_printed_tau_on_every_figure_2_panel():
    cs = stored.stored_settings("cpu", "lenet_mnist")
    t = figure.paper_check_table(cs)
    assert len(t) == 25
    assert (t["tau, our code on its points"] - t["tau printed"]).abs().max() < 0.005 + 1e-9
    assert (t["anomaly %, our code on its points"] - t["anomaly % printed"]).abs().max() <= 1.0


def test_missing_dataset_note_says_which_files_go_where(tmp_path):
    e = GridEntry("mnist_variants", "conv1", dataset="kmnist")
    note = figure.data_notes([Stored(e, None, "km-mnist/kmnist_conv1_0.5", "python -m oracle_core run ...")],
                              tmp_path)
    assert "train-images-idx3-ubyte.gz" in note and str(tmp_path) in note and "fetch kmnist" in note
    assert "-0.32" in note  # the paper's tau for KMNIST


def test_headline_numbers_come_from_the_store():
    runs = collect.runs_table()
    facts = collect.headline(runs, "cpu_single")
    row = runs[(runs["profile"] == "cpu_single") & (runs["wiring"] == "correct") & (runs["layers"] == "conv1")]
    assert facts["n_done"] >= 1 and facts["n_published"] == 36
    assert facts["tau_headline_ours"] == pytest.approx(float(row["kendall_tau"].iloc[0]))
    assert facts["tau_headline_paper"] == pytest.approx(-0.51)
    assert facts["n_agree"] + facts["n_disagree"] == facts["n_converged"]
    assert facts["n_converged"] + facts["n_under"] == facts["n_done"]
    # the cpu profile's 3-epoch retraining leaves most settings more than 1 pp below the paper's median
    cpu = collect.headline(runs, "cpu")
    table = collect.with_paper(runs, "cpu")
    assert cpu["n_under"] == int(table["under_trained"].sum()) > cpu["n_converged"]
    conv3 = table[(table["layers"] == "conv3") & (table["ratio"] == 0.8) & (table["model"] == "lenet5_mini")].iloc[0]
    assert conv3["under_trained"] and conv3["verdict"].startswith("under-trained")


@pytest.mark.slow
def test_a_non_prefix_short_recipe_uses_its_own_stored_run(tmp_path, monkeypatch):
    """The paper profile's short recipe compresses the schedule, so its lesson needs separate short runs: the page
    says which command is missing until the run is stored, then reads it."""
    from dataclasses import replace

    from oracle_core.experiment import protocol
    from oracle_core.experiment.protocol import Recipe
    from oracle_core.experiment.runner import run_study

    compressed = Recipe(epochs=1, lr_steps=((0, 0.005),), batch_size=256, weight_decay=1e-4)
    monkeypatch.setitem(protocol.PROFILES, "smoke", replace(protocol.PROFILES["smoke"], short_retrain=compressed))
    e = GridEntry("lenet_mnist", "conv1", 0.5)
    full = run_study(e.spec("smoke"), "lenet_mnist", tmp_path, progress=False)
    assert not spec_rules.short_is_prefix(full.spec)
    cell = Stored(e, full, None, "cmd")
    assert lessons.short_retrain_acc(full, tmp_path) is None
    assert "--short-retrain" in lesson.lesson_missing([cell], "smoke", tmp_path)
    from oracle_core.analysis import criteria

    x, y = torch.randn(64, 1, 32, 32), torch.randint(0, 10, (64,))
    shown = criteria.compare(full, x, y)  # the criteria table leaves the short-retraining row out until it is stored
    assert not shown.index.str.startswith("short retraining").any() and len(shown) == 5
    short = run_study(spec_rules.short_run_spec(full.spec), "retrain_lesson", tmp_path, progress=False)
    row = criteria.compare(full, x, y).filter(like="short retraining", axis=0)
    best = short.per_mask.set_index("mask_id")["final_test_acc"].idxmax()
    assert len(row) == 1 and row["pick"].iloc[0] == full.per_mask.set_index("mask_id").loc[best, "kept"]
    assert short.spec.retrain == compressed and short.spec.pretrain_key() == full.spec.pretrain_key()
    frame = lessons.lesson_frame(full, tmp_path)
    assert len(frame) == len(full.per_mask)
    assert np.allclose(frame.set_index("mask_id")["short_retrain_test_acc"].sort_index(),
                       short.per_mask.set_index("mask_id")["final_test_acc"].sort_index())
    assert lesson.lesson_missing([cell], "smoke", tmp_path).startswith("Every lesson setting")


@pytest.mark.slow
def test_disagreements_quote_the_long_profile_and_released_wiring_runs_of_the_same_setting(tmp_path, monkeypatch):
    """Where `cpu` disagrees with the paper, the page quotes the same masks retrained longer (CHECK_PROFILE) once
    that run is stored, and the Profiles page compares the two runs mask by mask."""
    from dataclasses import replace

    from oracle_core.experiment import protocol
    from oracle_core.experiment.runner import run_study
    from oracle_core.pages.setting import disagreement

    smoke = protocol.PROFILES["smoke"]
    longer = replace(smoke, name=disagreements.CHECK_PROFILE, retrain=replace(smoke.retrain, epochs=3))
    monkeypatch.setitem(protocol.PROFILES, disagreements.CHECK_PROFILE, longer)
    e = GridEntry("lenet_mnist", "conv1", 0.8)
    short = run_study(e.spec("smoke"), e.experiment, tmp_path, progress=False)
    cell = Stored(e, short, None, "cmd")
    assert disagreements.longer_retraining_check(cell, tmp_path) == ""  # nothing stored yet: nothing claimed
    assert profiles.profile_fidelity(tmp_path, ("smoke", disagreements.CHECK_PROFILE), e)["frame"] is None
    long = run_study(e.spec(disagreements.CHECK_PROFILE), e.experiment, tmp_path, progress=False)
    assert long.spec.retrain.epochs == 3 and long.spec.pretrain_key() == short.spec.pretrain_key()
    text = disagreements.longer_retraining_check(cell, tmp_path)
    assert f"give tau {long.summary['kendall_tau']:+.2f} (paper +0.24)" in text
    assert f"against {short.summary['kendall_tau']:+.2f} after 2" in text
    assert disagreements.released_wiring_check(cell, tmp_path) == ""
    released = run_study(replace(e, wiring="released_code").spec("smoke"), e.experiment, tmp_path, progress=False)
    wired = disagreements.released_wiring_check(cell, tmp_path)
    assert f"give tau {released.summary['kendall_tau']:+.2f}, against {short.summary['kendall_tau']:+.2f}" in wired
    listed = disagreements.disagreements([cell], tmp_path)
    assert (text + wired in listed) == ("Disagreement" in disagreement(short))
    fid = profiles.profile_fidelity(tmp_path, ("smoke", disagreements.CHECK_PROFILE), e)
    assert list(fid["table"].index) == ["smoke", disagreements.CHECK_PROFILE, "paper"]
    assert list(fid["table"]["retraining epochs"]) == [2, 3, 30]
    assert fid["table"].loc["paper", "tau (pruned loss vs final acc)"] == pytest.approx(0.24)


def test_the_long_profile_differs_from_cpu_only_in_its_retraining():
    """The check is only fair if nothing but the retraining length changes (same pretraining, data, masks)."""
    from dataclasses import asdict

    from oracle_core.experiment.protocol import LENET_RETRAIN, PROFILES

    cpu, long = asdict(PROFILES["cpu"]), asdict(PROFILES[disagreements.CHECK_PROFILE])
    assert PROFILES[disagreements.CHECK_PROFILE].retrain == LENET_RETRAIN
    same = {k for k in cpu if k not in ("name", "retrain", "short_retrain", "why", "summary")}
    assert {k: cpu[k] for k in same} == {k: long[k] for k in same}
    e = GridEntry("lenet_mnist", "conv1", 0.8)
    assert e.spec("cpu").pretrain_key() == e.spec(disagreements.CHECK_PROFILE).pretrain_key()


def test_the_missing_data_note_names_the_checkout_folder_not_this_machines_path():
    """Built from the default data folder, the page says `data/KMNIST/raw/`, not an absolute path of the machine
    that built the book."""
    from oracle_core.base.paths import REPO

    e = GridEntry("mnist_variants", "conv1", dataset="kmnist")
    note = figure.data_notes([Stored(e, None, "km-mnist/kmnist_conv1_0.5", "python -m oracle_core run ...")],
                              REPO / "data")
    assert "`data/KMNIST/raw/`" in note and str(REPO) not in note


def _run(profile, layers, tau, acc, anomaly=0.1, **kw):
    return {"experiment": "lenet_mnist", "model": "lenet5_mini", "dataset": "mnist", "layers": layers, "ratio": 0.5,
            "profile": profile, "wiring": "correct", "repeats": 1, "kendall_tau": tau, "anomaly_ratio": anomaly,
            "final_acc_median": acc, "n_masks": 45, **kw}


def test_profile_pairs_and_the_short_retraining_lesson_are_computed_from_the_runs(monkeypatch):
    """The Profiles page's cpu-vs-converged lesson: only settings both profiles ran (no noise ceiling, no other
    wiring), the under-trained mark from the paper's median, and a sentence that follows the numbers' direction."""
    import pandas as pd

    runs = pd.DataFrame([_run("cpu", "conv1", -0.5, 0.90), _run("converged", "conv1", -0.3, 0.985),
                         _run("cpu", "conv2", -0.4, 0.980), _run("converged", "conv2", -0.2, 0.982),
                         _run("cpu", "conv3", -0.6, 0.80),  # converged not run: left out
                         _run("converged", "conv3", 0.0, 0.97, experiment="noise_ceiling", repeats=3),
                         _run("converged", "conv2", 0.3, 0.97, wiring="released_code")])
    t = collect.profile_pairs(runs)
    assert list(t.index) == ["conv1 @ 0.5", "conv2 @ 0.5"]  # LeNet5-Mini on MNIST unless named
    assert t.loc["conv1 @ 0.5", "median_acc_% cpu"] == pytest.approx(90.0)
    assert t["paper_tau"].round(2).tolist() == [-0.51, -0.51]  # the paper's conv1 and conv2 @ 0.5
    assert t["under-trained cpu"].tolist() == [True, False]  # paper medians 98.47 and 98.18
    monkeypatch.setattr(collect, "runs_table", lambda root=None: runs)
    out = profiles.short_vs_converged()
    assert "On the 2 settings" in out["text"] and "more negative in 2 of 2" in out["text"]
    assert "1 of 2 are under-trained" in out["text"] and "looks valid" in out["text"]
    flipped = runs.assign(kendall_tau=-runs["kendall_tau"])
    monkeypatch.setattr(collect, "runs_table", lambda root=None: flipped)
    assert "does not make the oracle look better" in profiles.short_vs_converged()["text"]
    monkeypatch.setattr(collect, "runs_table", lambda root=None: runs[runs["profile"] == "cpu"])
    assert profiles.short_vs_converged()["frame"] is None


@pytest.mark.slow
def test_disagreements_quote_the_noise_ceiling_the_second_seed_and_the_bootstrap_once_stored(tmp_path, monkeypatch):
    """A disagreement lists what is measured about it (the masks' bootstrap interval, the noise ceiling's mean of
    several retrainings, a second pretrained network) and names as untested only the reasons not yet measured."""
    from dataclasses import replace

    from oracle_core.analysis.uncertainty import repeat_taus
    from oracle_core.experiment.runner import run_study

    e = GridEntry("lenet_mnist", "conv1", 0.5)
    noise, seed = GridEntry("noise_ceiling", "conv1", 0.5, repeats=3), GridEntry("pretrain_seed", "conv1", 0.5, seed=1)
    monkeypatch.setattr(reasons, "mnist_grid", lambda: [e, noise, seed])  # every profile, smoke included
    monkeypatch.setattr(disagreements, "comparison_state", lambda res: "differs")  # a smoke run: force a difference
    monkeypatch.setattr(disagreements, "disagreement", lambda res: "**Disagreement:** differs.")
    res = run_study(e.spec("smoke"), e.experiment, tmp_path, progress=False)
    cell = Stored(e, res, None, "cmd")
    before = disagreements.disagreements([cell], tmp_path)
    assert disagreements.noise_ceiling_check(cell, tmp_path) == disagreements.pretrain_seed_check(cell, tmp_path) == ""
    assert "bootstrap interval is [" in before and all(r in before for r in disagreements.UNTESTED_REASONS)

    rep = run_study(noise.spec("smoke"), noise.experiment, tmp_path, progress=False)
    other = run_study(seed.spec("smoke"), seed.experiment, tmp_path, progress=False)
    assert other.spec.pretrain_key() != res.spec.pretrain_key() and rep.spec.repeats == 3
    t = repeat_taus(rep.masks)
    text = disagreements.noise_ceiling_check(cell, tmp_path)
    assert f"mean of 3 retrainings of {t['N']} masks" in text
    assert f"tau is {t['tau pruned loss vs mean of repeats']:+.2f}" in text
    assert f"at tau {t['tau between repeats']:.2f}" in text
    # a smoke network ends far below the paper's accuracy, so the real rule leaves it out of the check (as every
    # network reading does); judged as a converged one, it is quoted
    from oracle_core.analysis.agreement import below_paper
    assert below_paper("lenet5_mini", "mnist", "conv1", 0.5, 100 * other.summary["final_acc_median"])
    assert disagreements.pretrain_seed_check(cell, tmp_path) == ""
    monkeypatch.setattr(reasons, "below_paper", lambda *a: False)
    seeded = disagreements.pretrain_seed_check(cell, tmp_path)
    assert f"tau is {other.summary['kendall_tau']:+.2f} (seed 1" in seeded
    taus = [res.summary["kendall_tau"], other.summary["kendall_tau"]]
    assert f"The 2 pretrained networks' taus range from {min(taus):+.2f} to {max(taus):+.2f}" in seeded
    within = min(taus) <= -0.51 <= max(taus)  # the paper's conv1 @ 0.5
    assert ("within that range: which network" if within else "outside it: the pretrained network alone") in seeded
    after = disagreements.disagreements([cell], tmp_path)
    assert text in after and seeded in after and not any(r in after for r in disagreements.UNTESTED_REASONS)
    assert disagreements.pretrain_seed_check(replace(cell, entry=seed), tmp_path) == ""  # a check checks no other

    from oracle_core.analysis import networks
    monkeypatch.setattr(stored, "mnist_grid", lambda: [e, noise, seed])
    nets = networks.pretrained_networks("smoke", tmp_path)  # the Beyond page's table: one row per network
    assert list(nets["seed"]) == [0, 1] and list(nets["tau"]) == pytest.approx(taus)
    assert (nets["tau s.e."] > 0).all() and (nets["paper tau"] == -0.51).all()


def test_a_differing_twins_noise_ceiling_is_its_own_three_retrainings(tmp_path, monkeypatch):
    """The verdict compares the released-code twin with the paper's tau, so the noise ceiling a disagreement quotes is
    the twin's 3 retrainings (repeat 0 its own run, reused), not the correct wiring's."""
    from dataclasses import replace

    from oracle_core.experiment.runner import run_study

    e = GridEntry("lenet_mnist", "conv1", 0.5)
    t, noise = replace(e, wiring="released_code"), GridEntry("noise_ceiling", "conv1", 0.5, repeats=3,
                                                             wiring="released_code")
    monkeypatch.setattr(reasons, "mnist_grid", lambda: [e, t, noise])
    monkeypatch.setattr(disagreements, "comparison_state", lambda res: "differs")
    monkeypatch.setattr(disagreements, "disagreement", lambda res: "**Disagreement:** differs.")
    cell = Stored(e, run_study(e.spec("smoke"), e.experiment, tmp_path, progress=False), None, "cmd")
    twin = Stored(t, run_study(t.spec("smoke"), t.experiment, tmp_path, progress=False), None, "cmd")
    cell.__dict__["twin"] = twin  # the store's twin lookup, without a profile's grid
    rep = run_study(noise.spec("smoke"), noise.experiment, tmp_path, progress=False)
    first = rep.masks[rep.masks["repeat"] == 0].set_index("mask_id")["final_test_acc"].sort_index()
    pd.testing.assert_series_equal(first, twin.result.masks.set_index("mask_id")["final_test_acc"].sort_index())
    quoted = disagreements.noise_ceiling_check(twin, tmp_path)
    assert "mean of 3 retrainings" in quoted and disagreements.noise_ceiling_check(cell, tmp_path) == ""
    text = disagreements.disagreements([cell], tmp_path)
    assert quoted in text
    m = reasons.sample_interval(twin)  # and the masks' bootstrap interval is the compared twin's, named as such
    assert f"over our released-code twin's {m.n} masks tau's 95% bootstrap interval is [{m.lo:+.2f}, {m.hi:+.2f}]" \
        in text


@pytest.mark.parametrize("single,mean,needle", [
    (-0.28, -0.27, "barely changes tau (under 10%)"),
    (-0.20, -0.40, "pulls tau toward 0, so it cannot explain a tau more negative"),
    (-0.50, -0.30, "makes tau stronger than the mean"),
])
def test_the_noise_ceiling_conclusion_follows_the_measured_attenuation(single, mean, needle):
    """analysis.noise reads the attenuation, in whichever direction; the Beyond page words that reading."""
    import pandas as pd

    from oracle_core.analysis import noise as noises
    from oracle_core.pages import beyond

    noise = pd.DataFrame([{"N": 45, "repeats": 3, "tau between repeats": 0.85, "tau pruned loss vs one retraining":
                           single, "tau pruned loss vs mean of repeats": mean,
                           "attenuation by one retraining": 1 - abs(single) / abs(mean), "median acc %": 98.5,
                           "paper median acc %": 98.47, "state": noises.AT_CEILING, "command": ""}],
                         index=["conv1 @ 0.5"])
    under, reading = noises.ceiling_reading(noise)
    assert under == () and reading.ceiling_lo == reading.ceiling_hi == 0.85 and reading.repeats == 3
    assert reading.attenuation == {-0.28: "small", -0.20: "toward 0", -0.50: "stronger"}[single]
    text = beyond.conclusions(None, pd.DataFrame(), (under, reading))
    assert needle in text and "reproduces their ranking with tau 0.85:" in text
    assert f"{100 * (1 - abs(single) / abs(mean)):+.0f}%" in text
    assert "reading" in beyond.noise_view(noise).columns and "state" not in beyond.noise_view(noise).columns


@pytest.mark.parametrize("taus,ses,needle", [
    ([-0.27, 0.18], [0.12, 0.12], "**the networks differ by more than the masks explain**"),
    ([-0.27, -0.22, -0.30], [0.12, 0.12, 0.12], "the networks differ by no more than the masks drawn explain"),
])
def test_the_pretrained_networks_conclusion_follows_cochrans_q(taus, ses, needle):
    """analysis.networks reads several pretrained networks' taus against their standard errors over masks; the
    Beyond page words the reading, with the between-network sd the verdicts use beside the taus' own."""
    import pandas as pd

    from oracle_core.analysis import networks
    from oracle_core.analysis.uncertainty import between_network_variance
    from oracle_core.pages import beyond

    nets = pd.DataFrame({"seed": range(len(taus)), "N": 45, "tau": taus, "tau s.e.": ses, "paper tau": -0.51},
                        index=["conv1 @ 0.5"] * len(taus))
    [r] = networks.network_readings(nets)
    assert r.differ == needle.startswith("**") and r.paper_within is False and r.k == len(taus)
    assert r.sd_between == pytest.approx(between_network_variance([(taus, ses)])["sd"])
    text = beyond.networks_conclusion([r])
    assert needle in text and f"seeds {', '.join(str(i) for i in range(len(taus)))}" in text
    assert f"tau from {min(taus):+.2f} to {max(taus):+.2f}" in text
    assert f"{r.sd_between:.2f} once the masks' own noise is taken out" in text
    # like with like: the paper's tau is set against the released-code twins' range only, never the correct wiring's
    assert "lies outside" not in text and "twins are not stored, so the paper's tau is not compared" in text
    assert text in beyond.conclusions(None, pd.DataFrame(), ((), None), [r])
    assert networks.network_readings(nets.iloc[:1]) == []  # one network: nothing to compare
    twins = nets.assign(wiring="released_code", tau=[-0.5 - 0.05 * i for i in range(len(taus))])
    both = networks.network_readings(pd.concat([nets.assign(wiring="correct"), twins]))
    assert [x.wiring for x in both] == ["correct", "released_code"] and both[1].paper_within is True
    text = beyond.networks_conclusion(both)
    assert len(text.splitlines()) == 1 and "lies within the range of our released-code twins" in text
    assert text.index("Run as the paper's code ran") < text.index("Correctly wired") and needle in text


@pytest.mark.parametrize("taus,epochs,paper,needles", [
    ([0.37], (3, 30), (3, 30), ["tau +0.37.", "lower than the paper's in every one (median difference -0.19)",
                                "at a lower level", "Our short retraining is the paper's"]),
    ([0.73, 0.79], (1, 3), (3, 30), ["+0.73 to +0.79", "higher than the paper's in every one",
                                     "first 1 of 3 epochs, a larger fraction than the paper's 3 of 30"]),
    ([0.73], (1, 3), (12, 120), ["than the paper's 12 of 120"]),  # the paper's recipe is read from its table
    ([0.50, 0.65], (3, 30), (3, 30), ["lower than the paper's in 1 and higher in 1", "about its level"]),
    ([0.50], (3, 30), None, ["Our short retraining is the first 3 of 30 epochs."]),  # no paper panel to pair with
])
def test_the_lesson_conclusion_pairs_our_tau_with_the_papers_same_setting(taus, epochs, paper, needles):
    """Ours against the paper's panel of the same setting, pair by pair (a range beside a range hid that ours was
    lower in every pair); the paper's 0.71 of a setting we have not run is not compared."""
    import pandas as pd

    n = len(taus)
    lt = pd.DataFrame({"tau short vs full, ours": taus + [float("nan")],
                       "tau short vs full, paper": ([0.56] * n if paper else [float("nan")] * n) + [0.71],
                       "short epochs, ours": [epochs[0]] * n + [None], "full epochs, ours": [epochs[1]] * n + [None],
                       "short epochs, paper": [paper[0] if paper else None] * n + [3],
                       "full epochs, paper": [paper[1] if paper else None] * n + [30]})
    text = lesson.lesson_conclusion(lt)
    assert all(s in text for s in needles), text
    shown = lesson.lesson_display(lt.astype({c: "Int64" for c in lt.columns if "epochs" in c}))
    col = shown["short / full epochs, ours"]
    assert list(col[:n]) == [f"{epochs[0]} / {epochs[1]}"] * n and pd.isna(col.iloc[-1])


def test_a_figure_draws_stored_settings_and_lists_the_rest_in_one_line():
    """No empty 'not run yet' panels (17 of them were 4,600 px of blank page): a row per stored setting, the rest named
    in one line; a side whose accuracy range is many times the other's gets its own scale, and the title says so."""
    rng = np.random.default_rng(0)
    pm = pd.DataFrame({"mask_id": [f"m{i}" for i in range(20)], "kept": "conv1:0",
                       "pruned_train_loss": rng.uniform(0.5, 5, 20), "final_test_acc": rng.uniform(0.975, 0.985, 20),
                       "final_test_loss": rng.uniform(0.04, 0.06, 20)})
    res = SimpleNamespace(per_mask=pm, summary=_fake(-0.3).summary, criteria_picks=pd.DataFrame())
    stored = Stored(GridEntry("lenet_mnist", "conv1+conv3", 0.5), res, "lenet5/conv1_0.5+conv3_0.5", "cmd")
    missing = [Stored(GridEntry("lenet_mnist", "conv2+conv3", 0.5), None, None, "cmd2")]
    chart = figure.compare_grid([stored] + missing, "converged").to_dict()
    assert len(chart["vconcat"]) == 1  # one row: the stored setting only
    titles = json.dumps(chart)
    assert "(own y scale)" in titles  # the paper's conv1+conv3 points span far more than ours
    assert figure.not_run_line([stored] + missing) == ("Not run yet at this profile (1): conv2+conv3 @ 0.5; the "
                                                       "commands are under *Settings not run yet* below.")
    assert figure.not_run_line([stored]) == ""


def test_every_page_prints_one_verdict_per_setting(monkeypatch):
    """The summary's per-setting table (collect.with_paper), a figure page's table (StoredSetting.verdict) and the front
    page's counts (collect.headline) read the same like_for_like verdict: on a fabricated store where a fixed 0.15
    threshold and the interval disagree (a difference of 0.30 inside an interval of about ±0.6), every one says
    "agrees"."""
    from oracle_core.analysis import like_for_like

    stored = {("lenet5_mini", "mnist", "conv1", 0.5, "correct", 0): (-0.21, 0.12, 98.5),
              ("lenet5_mini", "mnist", "conv1", 0.5, "correct", 1): (0.18, 0.12, 98.4),
              ("lenet5_mini", "mnist", "conv1", 0.5, "released_code", 0): (-0.21, 0.12, 98.5)}  # the compared run
    monkeypatch.setattr(like_for_like, "_stored", lambda profile, root: stored)
    runs = pd.DataFrame([{"experiment": "lenet_mnist", "model": "lenet5_mini", "dataset": "mnist", "layers": "conv1",
                          "ratio": 0.5, "profile": "converged", "wiring": "correct", "n_masks": 45,
                          "kendall_tau": -0.21, "p_value": 0.04, "anomaly_ratio": 0.1, "oracle_final_test_acc": 0.987,
                          "final_acc_median": 0.985, "canonical": True, "folder": "lenet_mnist/x", "device": "cpu",
                          "wall_s": 1.0}])
    row = collect.with_paper(runs, "converged").query("layers == 'conv1' and ratio == 0.5").iloc[0]
    cell = Stored(GridEntry("lenet_mnist", "conv1", 0.5), _fake(-0.21), None, "cmd", "converged")
    assert row["verdict"] == cell.verdict.text and row["verdict"].startswith("agrees (+0.30 within ±")
    assert row["our_tau_lo"] < -0.21 < row["our_tau_hi"]  # the front page's star carries this interval
    facts = collect.headline(runs, "converged")
    assert facts["n_agree"] == 1 and facts["n_disagree"] == 0


def test_the_comparison_state_is_what_the_setting_sentence_words(tmp_path, monkeypatch):
    """analysis decides (like_for_like.comparison_state), the pages word it: an under-trained smoke run is
    "under-trained" and its sentence says so; lifted above the paper's median it is judged, and never worded as
    under-trained."""
    from oracle_core.analysis.like_for_like import comparison_state
    from oracle_core.experiment.runner import run_study
    from oracle_core.pages.setting import disagreement

    e = GridEntry("lenet_mnist", "conv1", 0.5)
    res = run_study(e.spec("smoke"), e.experiment, tmp_path, progress=False)
    assert comparison_state(res) == "under-trained" and disagreement(res).startswith("**Under-trained")
    from oracle_core.analysis import reference

    real = reference.results_table

    def lower():  # the paper's medians set below ours: compared, not under-trained
        t = real().copy()
        t["final_acc_median_percent"] = 100 * res.summary["final_acc_median"] - 0.5
        return t

    monkeypatch.setattr(reference, "results_table", lower)
    state = comparison_state(res)
    assert state != "under-trained" and not disagreement(res).startswith("**Under-trained")
    assert ("Disagreement" in disagreement(res)) == (state == "differs")


def _twin_result(tau: float, median: float = 0.985):
    rng = np.random.default_rng(1)
    pm = pd.DataFrame({"mask_id": [f"t{i}" for i in range(20)], "kept": "conv1:0",
                       "pruned_train_loss": rng.uniform(0.5, 5, 20), "final_test_acc": rng.uniform(0.975, 0.985, 20),
                       "final_test_loss": rng.uniform(0.04, 0.06, 20)})
    return SimpleNamespace(per_mask=pm, summary=_fake(tau, median=median).summary, criteria_picks=pd.DataFrame())


def test_a_figure_row_shows_the_released_code_twin_between_ours_and_the_papers(monkeypatch):
    """Issue 29: where the grid runs a released-code twin and one is stored, a row has three panels (correct, released
    code's wiring, paper) and the table has the twin's tau; a queued twin is a labelled placeholder, its command is
    listed; settings whose twin is not stored anywhere keep two panels and no released columns."""
    base = Stored(GridEntry("lenet_mnist", "conv1", 0.5), _twin_result(-0.3), "lenet5/conv1_0.5", "cmd", "converged")
    other = Stored(GridEntry("lenet_mnist", "conv2", 0.5), _twin_result(-0.2), "lenet5/conv2_0.5", "cmd2", "converged")
    twins = {"conv1": Stored(GridEntry("lenet_mnist", "conv1", 0.5, wiring="released_code"), _twin_result(-0.55, 0.98),
                             None, "twin1", "converged"),
             "conv2": Stored(GridEntry("lenet_mnist", "conv2", 0.5, wiring="released_code"), None, None,
                             "python -m oracle_core run twin2", "converged")}
    for c in (base, other):
        c.twin = twins[c.entry.layers]  # StoredSetting.twin is a cached property: set, it is not looked up
    chart = figure.compare_grid([base, other], "converged").to_dict()
    assert [len(r["hconcat"]) for r in chart["vconcat"]] == [3, 3]
    text = json.dumps(chart)
    assert "[\"ours (converged): released code's wiring\", \"conv1 @ 0.5\"" in text and "twin not run yet" in text
    assert "ours (converged): correct wiring" in text
    assert ", N = 20 (95% CIs)" in text  # three to a row: the subtitles' short lines (charts.oracle_scatter)
    t = figure.setting_table([base, other])
    assert t.loc["conv1 @ 0.5", "tau ours released"] == pytest.approx(-0.55)
    assert t.loc["conv1 @ 0.5", "median acc % ours released"] == pytest.approx(98.0)
    assert np.isnan(t.loc["conv2 @ 0.5", "tau ours released"])
    assert "python -m oracle_core run twin2" in figure.missing_commands([base, other])
    ratio_chart = figure.tau_vs_ratio(t.reset_index().assign(layer="conv1", ratio=0.5)).to_json()
    assert "ours, released code's wiring" in ratio_chart
    axis = figure.tau_vs(t, "setting", "layers").to_dict()  # the axis charts (depth, width, dataset, summary)
    drawn = {(r["setting"], r["source"]): r["tau"] for rows in axis["datasets"].values() for r in rows if "source" in r}
    assert drawn[("conv1 @ 0.5", "ours, released code's wiring")] == pytest.approx(-0.55)
    assert ("conv2 @ 0.5", "ours, released code's wiring") not in drawn and ("conv2 @ 0.5", "ours") in drawn
    # the loss panels (Figure 7 style), three to a row: the same short subtitle lines, so no p value widens the grid
    loss = json.dumps(figure.panel_grid([base, other, base], "ours", y="final_test_loss").to_dict())
    assert ", N = 20 (95% CIs)" in loss and "Kendall tau" not in loss
    base.twin = other.twin = None
    assert [len(r["hconcat"]) for r in figure.compare_grid([base, other], "converged").to_dict()["vconcat"]] == [2, 2]
    assert "ours, released code's wiring" not in figure.tau_vs_ratio(
        figure.setting_table([base]).reset_index().assign(layer="conv1", ratio=0.5)).to_json()
    assert "ours, released code's wiring" not in figure.tau_vs(figure.setting_table([base]), "setting", "x").to_json()


@pytest.mark.parametrize("nearer, settled, needles", [
    (["released_code"] * 3 + ["correct"], [True, True, False, False],
     ["resemble the released code's wiring in 3 of the 4 settings", "2 of them by more", "middle panel"]),
    (["correct", "correct", "released_code"], [True, False, False],
     ["resemble the correct wiring in 2 of the 3 settings", "the paper's code ran the middle panel's wiring"]),
    ([], [], ["not measured here"]),
])
def test_the_wiring_note_is_computed_from_the_protocol_verdicts(monkeypatch, nearer, settled, needles):
    from oracle_core.analysis import which_protocol

    v = pd.DataFrame({"setting": [f"s{i}" for i in range(len(nearer))], "nearer": nearer, "settled": settled})
    monkeypatch.setattr(which_protocol, "protocol_table", lambda profile, root: v)
    monkeypatch.setattr(which_protocol, "protocol_verdicts", lambda table: table)
    text = figure.wiring_note("converged")
    assert all(n in text for n in needles), text


def test_the_large_model_table_reads_the_papers_printed_row_and_our_analysis_of_its_points():
    """Figure 3's table: the printed numbers are the paper's published row of each model (analysis.reference.model_row),
    ours are points_check's on the recovered points; a model the paper shows at several settings has no one row."""
    from oracle_core.analysis import reference
    from oracle_core.pages import large_models

    t = large_models.large_model_table()
    assert list(t.index) == ["ResNet56 / CIFAR-10", "VGG19 / CIFAR-100", "ResNet18 / ImageNet"]
    for title, model, ds in (("ResNet56 / CIFAR-10", "resnet56", "cifar10"), ("ResNet18 / ImageNet", "resnet18",
                                                                               "imagenet")):
        row = reference.model_row(model, ds)
        assert t.loc[title, "tau printed"] == pytest.approx(row["kendall_tau"])
        assert t.loc[title, "anomaly % printed"] == pytest.approx(row["anomaly_ratio_percent"])
        assert t.loc[title, "retrain epochs"] == int(row["retrain_epochs"])
    assert abs(t.loc["ResNet18 / ImageNet", "tau, our code on its points"] - 0.19) < 0.01
    with pytest.raises(ValueError, match="not one"):
        reference.model_row("lenet5_mini", "mnist")


def test_a_twin_far_below_the_papers_accuracy_or_not_stored_is_named_and_not_counted_as_compared(monkeypatch):
    """A setting whose released-code twin ends far below the paper's accuracy is listed with its own sentence (which
    carries the collapse reading), one whose twin is not stored yet is named as waiting for it, and neither counts
    among the converged settings the figure page says it compared."""
    from types import SimpleNamespace

    a, b = GridEntry("lenet_mnist", "conv3", 0.8), GridEntry("lenet_mnist", "conv1", 0.5)
    c = GridEntry("lenet_variants", "conv1", 0.5, model="lenet5_mini_d6")
    ra, rb, rc = SimpleNamespace(name="a"), SimpleNamespace(name="b"), SimpleNamespace(name="c")
    states = {"a": "twin not comparable", "b": "agrees", "c": "twin not stored"}
    monkeypatch.setattr(disagreements, "comparison_state", lambda res: states[res.name])
    monkeypatch.setattr(disagreements, "disagreement", lambda res: f"sentence of {res.name}.")
    cells = [Stored(a, ra, None, "cmd"), Stored(b, rb, None, "cmd"), Stored(c, rc, None, "cmd")]
    text = disagreements.disagreements(cells)
    assert "1 of 3 settings run so far are **not compared**" in text and "sentence of a." in text
    assert "1 of 3 settings run so far are **not compared yet**" in text  # only the correct wiring is stored
    assert f"released-code twin of {cells[2].title}." in text
    assert "In all 1 converged settings" in text and "sentence of b." not in text


def test_the_overview_draws_the_twins_the_verdicts_compare_beside_the_correct_wiring():
    """The front page's one chart: the paper's tau, our released-code twin's (triangles, with its own interval) and
    our correctly wired run's (stars); a twin far below the paper's accuracy is hollow and named as not compared."""
    from oracle_core.pages import charts

    def rows(taus, under, lo):
        return pd.DataFrame({"model": "lenet5_mini", "dataset": "mnist", "layers": ["conv1", "conv2"],
                             "ratio": 0.5, "paper_tau": [-0.5, -0.6], "our_tau": taus, "profile": "converged",
                             "under_trained": under, "our_tau_lo": lo, "our_tau_hi": [t + 0.2 for t in taus]})

    correct = rows([-0.3, -0.2], [False, False], [-0.5, -0.4])
    twins = rows([-0.45, -0.1], [False, True], [-0.65, -0.3])
    spec = charts.tau_overview(correct, twins).to_dict()
    data = [r for rows_ in spec["datasets"].values() for r in rows_]
    points = {(r["setting"], r["source"]): r["tau"] for r in data if "tau" in r and "source" in r}
    twin = "ours, twin"
    assert points[("LeNet5-Mini / mnist / conv1 @ 0.5", twin)] == -0.45
    assert points[("LeNet5-Mini / mnist / conv2 @ 0.5", twin + ", not compared")] == -0.1
    assert points[("LeNet5-Mini / mnist / conv1 @ 0.5", "ours")] == -0.3
    assert max(len(s) for s in {s for _, s in points}) <= 30  # legend labels a phone's column holds
    assert "ours at the converged profile" in json.dumps(spec)  # one profile: named once, in the subtitle
    bars = {(r["setting"], r["source"]): r["our_tau_lo"] for r in data if "our_tau_lo" in r}
    assert bars == {("LeNet5-Mini / mnist / conv1 @ 0.5", "ours"): -0.5,
                    ("LeNet5-Mini / mnist / conv2 @ 0.5", "ours"): -0.4,
                    ("LeNet5-Mini / mnist / conv1 @ 0.5", twin): -0.65}  # the twin not compared has no interval
    assert "triangle-up" in json.dumps(spec)
    assert "triangle-up" not in json.dumps(charts.tau_overview(correct).to_dict())


def test_a_network_far_below_the_papers_accuracy_is_left_out_of_every_network_reading():
    """A pretrained network whose retrainings end far below the paper's accuracy (a collapsed twin) has a tau that
    answers nothing: it is named, and left out of the networks' range, Q and spread, and of the between-network
    variance every verdict's interval uses."""
    import pandas as pd

    from oracle_core.analysis import like_for_like, networks
    from oracle_core.pages import beyond

    nets = pd.DataFrame({"seed": [0, 1, 2], "N": 45, "tau": [0.6, -0.2, -0.3], "tau s.e.": 0.1, "paper tau": -0.09,
                         "under-trained": [True, False, False], "wiring": "released_code"},
                        index=["conv3 @ 0.8"] * 3)
    [r] = networks.network_readings(nets)
    assert (r.k, r.seeds, r.left_out, r.lo, r.hi) == (2, (1, 2), (0,), -0.3, -0.2) and r.paper_within is False
    text = beyond.networks_conclusion([r])
    assert "3 pretrained networks (seeds 0, 1, 2)" in text and "network 0 left out: median final accuracy" in text
    [few] = networks.network_readings(nets.assign(**{"under-trained": [True, True, False]}))
    assert few.k == 1 and few.left_out == (0, 1) and few.paper_within is None
    text = beyond.networks_conclusion([few])
    assert "1 converged network (networks 0, 1 left out" in text and "too few to read" in text

    key = ("lenet5_mini", "mnist", "conv3", 0.8, "released_code")  # paper median 82.56%
    stored = {(*key, 0): (0.6, 0.1, 45.0), (*key, 1): (-0.2, 0.1, 85.0), (*key, 2): (-0.3, 0.1, 84.0)}
    kept = like_for_like.network_variance({k: v for k, v in stored.items() if k[-1]})
    assert like_for_like.network_variance(stored) == kept and kept["networks"] == 2
