"""The readings pages print, computed in analysis/ and tested there on a small store (the smoke grid, or a
fabricated one), without rendering a page: each asserts its numbers."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from oracle_core.analysis import criteria, hours, panel, reasons, reference, single, stored
from oracle_core.base.errors import OracleError
from oracle_core.compute.stats import analyze, bootstrap, per_mask, summarize
from oracle_core.experiment.grid import GridEntry


def _masks(n=12, seed=0, tau_sign=-1):
    """Fabricated rows of one setting: n masks, one retraining each, accuracy falling with pruned loss."""
    rng = np.random.default_rng(seed)
    loss = rng.uniform(0.1, 2.0, n)
    acc = 0.98 + tau_sign * 0.01 * loss + rng.normal(0, 0.004, n)
    return pd.DataFrame({"mask_id": [f"m{i}" for i in range(n)], "kept": [f"conv1:{i}" for i in range(n)],
                         "pruned_train_loss": loss, "pruned_train_acc": 0.5, "final_test_acc": acc,
                         "final_test_loss": 1 - acc, "final_train_loss": 0.1, "repeat": 0})


def _result(masks, profile="smoke", epochs=2, subset=0):
    pm = per_mask(masks)
    spec = SimpleNamespace(profile=profile, retrain=SimpleNamespace(epochs=epochs), retrain_subset=subset)
    return SimpleNamespace(masks=masks, per_mask=pm, summary=summarize(pm), spec=spec)


def test_points_check_is_our_analysis_of_the_papers_points_beside_what_it_printed():
    c = single.points_check("lenet5/conv1_0.5")
    pts = reference.paper_points("lenet5/conv1_0.5")
    st = analyze(pts["pruned_train_loss"].to_numpy(), pts["final_test_acc"].to_numpy())
    row = reference.paper_panel("lenet5/conv1_0.5")
    assert (c.n, c.tau, c.anomaly_ratio) == (len(pts), st["kendall_tau"], st["anomaly_ratio"])
    assert (c.printed_tau, c.printed_n) == (float(row["printed_tau"]), int(row["n_points"]))
    assert c.tau == pytest.approx(c.printed_tau, abs=0.01)  # the recovered points give the printed tau


def test_a_page_spec_falls_back_to_the_paper_protocol_only_when_reading():
    ps = single.page_spec("resnet18", "imagenet", "layer*.conv1", 0.5, 160, 0, None, "cpu", "correct", False)
    assert ps.spec.profile == "paper" and ps.asked == "cpu" and "is not defined for" in ps.fallback
    same = single.page_spec("lenet5_mini", "mnist", "conv1", 0.5, 0, 0, None, "converged", "correct", False)
    assert same.spec.profile == "converged" and same.fallback == ""
    with pytest.raises(OracleError, match="is not defined for"):
        single.page_spec("resnet18", "imagenet", "layer*.conv1", 0.5, 160, 0, None, "cpu", "correct", True)


def test_missing_data_names_the_files_and_the_folder(tmp_path):
    m = single.missing_data("kmnist", tmp_path)
    assert m.dataset == "kmnist" and m.folder == tmp_path / "KMNIST" / "raw"
    assert "train-images-idx3-ubyte.gz" in m.files and len(m.files) == 4


def test_check_summary_catches_a_summary_that_is_not_its_masks_analysis():
    res = _result(_masks())
    single.check_summary(res)
    res.summary["kendall_tau"] += 0.01
    with pytest.raises(AssertionError, match="kendall_tau"):
        single.check_summary(res)


def test_large_runs_list_every_large_model_page_with_its_command(tmp_path):
    runs = single.large_runs("converged", tmp_path, tmp_path)
    assert [r.model for r in runs] == ["resnet56", "vgg19", "resnet18", "vit_b_16"]
    assert all(r.result is None and r.missing is not None for r in runs)  # no CIFAR or ImageNet in tmp_path
    vgg = runs[1]  # no converged profile: the model's cpu one, else (ResNet18) the paper's
    assert vgg.spec.profile == "cpu" and runs[2].spec.profile == "paper"
    assert len(vgg.spec.layers) == 13  # the paper script's released list: the one its numbers come from
    assert vgg.command.startswith("python -m oracle_core run --experiment vgg_cifar100 --model vgg19")


def test_sample_interval_is_the_bootstrap_over_masks_against_the_papers_tau():
    res = _result(_masks(n=20))
    c = stored.StoredSetting(GridEntry("lenet_mnist", "conv1", 0.5), res, None, "cmd", "smoke")
    m = reasons.sample_interval(c)
    lo, hi = bootstrap(res.per_mask["pruned_train_loss"].to_numpy(), res.per_mask["final_test_acc"].to_numpy())[
        "kendall_tau"]
    assert (m.n, m.lo, m.hi, m.paper) == (20, lo, hi, pytest.approx(-0.51))
    assert m.contains_paper == (lo <= -0.51 <= hi)
    no_paper = stored.StoredSetting(GridEntry("lenet_mnist", "conv1", 0.55), res, None, "cmd", "smoke")
    assert reasons.sample_interval(no_paper) is None


def test_the_measured_reasons_read_the_runs_that_check_a_setting(monkeypatch):
    """Another network, the noise ceiling, the released wiring and the longer retraining, each read from the run
    that checks the setting (a fabricated store: (experiment, seed, wiring, profile) -> result)."""
    e = GridEntry("lenet_mnist", "conv1", 0.5)
    seed1, noise = GridEntry("pretrain_seed", "conv1", 0.5, seed=1), GridEntry("noise_ceiling", "conv1", 0.5, repeats=3)
    ours = _result(_masks(seed=0))
    other = _result(_masks(seed=1, tau_sign=1))
    reps = pd.concat([_masks(seed=0).assign(repeat=r, final_test_acc=lambda d, r=r: d["final_test_acc"] + 0.001 * r)
                      for r in range(3)])
    released = _result(_masks(seed=2))
    longer = _result(_masks(seed=3), profile=reasons.CHECK_PROFILE, epochs=30, subset=7500)
    store = {("pretrain_seed", 1, "correct", "smoke"): other, ("noise_ceiling", 0, "correct", "smoke"): _result(reps),
             ("lenet_mnist", 0, "released_code", "smoke"): released,
             ("lenet_mnist", 0, "correct", reasons.CHECK_PROFILE): longer}
    monkeypatch.setattr(reasons, "mnist_grid", lambda: [e, seed1, noise])
    monkeypatch.setattr(reasons, "stored_result", lambda spec, exp, root=None: store.get(
        (exp, spec.seed, spec.wiring, spec.profile)))
    c = stored.StoredSetting(e, ours, None, "cmd", "smoke")

    nets = reasons.other_networks(c)
    t0, t1 = ours.summary["kendall_tau"], other.summary["kendall_tau"]
    assert nets.ours == t0 and nets.others == ((1, t1, other.summary["final_acc_median"]),)
    assert nets.spread == pytest.approx(abs(t1 - t0)) and (nets.lo, nets.hi) == (min(t0, t1), max(t0, t1))
    assert nets.paper_within == (min(t0, t1) <= -0.51 <= max(t0, t1))

    ceiling = reasons.noise_ceiling(c)
    assert ceiling["repeats"] == 3 and ceiling["N"] == 12 and ceiling["tau between repeats"] == pytest.approx(1.0)

    assert reasons.released_wiring(c) == (released.summary["kendall_tau"], t0)
    lr = reasons.longer_retraining(c)
    assert (lr.n, lr.tau, lr.ours, lr.epochs, lr.our_epochs, lr.images) == (12, longer.summary["kendall_tau"], t0,
                                                                             30, 2, 7500)
    low = _result(_masks(seed=1).assign(final_test_acc=0.5))  # far below the paper's 98.47%: its tau answers nothing
    store[("pretrain_seed", 1, "correct", "smoke")] = low
    assert reasons.other_networks(c) is None
    store[("pretrain_seed", 1, "correct", "smoke")] = other
    monkeypatch.setattr(reasons, "stored_result", lambda spec, exp, root=None: None)  # nothing stored: no reading
    assert [reasons.other_networks(c), reasons.noise_ceiling(c), reasons.released_wiring(c),
            reasons.longer_retraining(c)] == [None] * 4


def test_criteria_intervals_and_hours_are_read_from_the_store(smoke_grid):
    cs = stored.stored_settings("smoke", "lenet_mnist", smoke_grid)
    done = [c for c in cs if c.result is not None]
    table = criteria.criteria_table(cs)
    assert set(table["setting"]) == {c.label for c in done}
    assert (table.groupby("setting").size() == len(criteria.CRITERIA)).all()
    summary = criteria.criteria_summary(table)
    oracle = table[table["key"] == "oracle"].dropna(subset=["regret (pp)"])
    assert summary.loc[oracle.index.size and oracle["criterion"].iloc[0], "mean regret (pp)"] == pytest.approx(
        oracle["regret (pp)"].mean())
    reading = criteria.regret_reading(summary)
    assert reading.lowest == pytest.approx(summary["mean regret (pp)"].min())

    iv = panel.interval_table(cs)
    assert list(iv.index) == [c.label for c in done] and (iv["N"] == [c.result.summary["n_masks"] for c in done]).all()

    h = hours.setting_hours("smoke", cs, smoke_grid, workers=2)
    assert (h.done, h.total) == (len(done), len(cs)) and h.spent is not None and h.spent > 0


def test_the_answer_counts_what_the_like_for_like_table_says():
    from oracle_core.analysis.answer import answer
    from oracle_core.pages.summary import answer_markdown

    table = pd.DataFrame({"setting": ["a", "b", "c", "d", "e"], "under-trained": [False, False, False, True, False],
                          "compared": ["released-code twin"] * 4 + ["correct wiring (twin not stored)"],
                          "verdict": ["agrees", "differs", "agrees", "under-trained", "twin not stored"],
                          "interval ±": [0.5, 0.3, 0.4, 0.9, 0.1], "median gap pp": [0.1, 0.2, 0.3, -5.0, 0.1]})
    var = {"sd": 0.3, "settings": 1, "networks": 2}
    verdicts = pd.DataFrame({"nearer": ["released_code", "correct", None], "settled": [True, False, False]})
    a = answer(table, var, {"n_fail_ours": 2, "n_fail_paper_same": 1}, verdicts)
    # d is under-trained and e has only its correctly wired run (not the paper's protocol): neither is compared
    assert (a.n_compared, a.n_agree, a.n_differ, a.waiting) == (3, 2, 1, ("e",))
    assert a.mean_halfwidth == pytest.approx(0.4) and a.differing == ("b",)
    text = answer_markdown(a, "converged")
    assert "**2 of 3** converged settings" in text and "Not compared yet: 1 setting with only the correctly wired " \
        "run stored (e); the grid queues its twin" in text
    alone = answer(table.iloc[4:], var, {"n_fail_ours": 0, "n_fail_paper_same": 0}, verdicts)
    assert answer_markdown(alone, "converged").startswith("No published setting has its released-code twin")
    assert (a.n_protocol_both, a.n_protocol_released, a.n_protocol_settled) == (2, 1, 1)
    assert (a.network_sd, a.networks, a.n_fail_ours, a.n_fail_paper_same) == (0.3, 2, 2, 1)
    # the flags counted on the released-code twins lead (like with like), the correct wiring's follow
    twins = answer(table, var, {"n_fail_ours": 2, "n_fail_paper_same": 1, "n_converged": 4, "n_fail_twin": 0,
                                "n_twin_converged": 3, "n_fail_paper_twin_same": 1}, verdicts)
    text = answer_markdown(twins, "converged")
    assert ("**the oracle fails in 0 of our 3 converged released-code twins**; the paper's numbers flag 1 of the "
            "same settings. In the study the paper intended (correct wiring) it fails in 2 of our 4") in text


def test_the_headline_setting_and_the_flags_are_read_under_both_wirings():
    """The front page's headline tau is the released-code twin's (the number the paper's is compared with), with the
    correct wiring's beside it; the failure flags are counted on each wiring's converged runs."""
    from oracle_core.analysis import collect
    from oracle_core.analysis.agreement import oracle_fails
    from oracle_core.analysis.like_for_like import like_for_like

    runs = collect.runs_table(None)
    h = collect.headline(runs, "converged")
    table, _ = like_for_like("converged")
    row = table[table["setting"] == "conv1 @ 0.5"].iloc[0]
    assert h["tau_headline_twin"] == pytest.approx(row["ours released"])
    from oracle_core.pages.summary import like_for_like_view  # the compared run's median accuracy beside the paper's
    twin_row = collect.with_paper(runs, "converged", wiring="released_code").pipe(
        lambda t: t[(t["model"] == "lenet5_mini") & (t["dataset"] == "mnist") & (t["layers"] == "conv1")
                    & (t["ratio"] == 0.5)]).iloc[0]
    view = like_for_like_view(table).loc["conv1 @ 0.5"]
    assert view["median acc % ours compared"] == pytest.approx(twin_row["our_median_acc_%"])
    assert view["median acc % paper"] == pytest.approx(twin_row["paper_median_acc_%"])
    assert h["tau_headline_ours"] == pytest.approx(row["ours correct"])
    assert h["headline_md"].startswith(f"our run of the protocol its code ran (the released-code twin) gives tau "
                                       f"**{row['ours released']:+.2f}**, our correctly wired run")
    tw = collect.with_paper(runs, "converged", wiring="released_code")
    ok = tw[tw["profile"].notna() & ~tw["under_trained"].astype(bool)]
    assert h["n_twin_converged"] == len(ok) > 0
    assert h["n_fail_twin"] == sum(oracle_fails(a, b, c / 100) for a, b, c in
                                   zip(ok["our_tau"], ok["our_p"], ok["our_anomaly_%"]))


def test_tau_intervals_carry_the_masks_and_the_networks(monkeypatch):
    from oracle_core.analysis import like_for_like

    fake = {("lenet5_mini", "mnist", "conv1", 0.5, "correct", 0): (-0.30, 0.10, 98.6),
            ("lenet5_mini", "mnist", "conv1", 0.5, "correct", 1): (0.10, 0.10, 98.7),
            ("lenet5_mini", "mnist", "conv2", 0.5, "correct", 0): (-0.20, 0.05, 98.3),
            ("lenet5_mini", "mnist", "conv2", 0.5, "released_code", 0): (-0.40, 0.05, 98.2)}
    monkeypatch.setattr(like_for_like, "_stored", lambda profile, root: fake)
    tau2 = like_for_like.network_variance(fake)["tau2"]
    iv = like_for_like.tau_intervals("converged")
    assert set(iv) == {("lenet5_mini", "mnist", "conv1", 0.5), ("lenet5_mini", "mnist", "conv2", 0.5)}
    lo, hi = iv[("lenet5_mini", "mnist", "conv2", 0.5)]
    half = 1.959964 * np.sqrt(0.05 ** 2 + tau2)
    assert (lo, hi) == (pytest.approx(-0.20 - half), pytest.approx(-0.20 + half)) and tau2 > 0


def test_the_lessons_short_run_command_names_the_short_retraining():
    from oracle_core.analysis.lesson import short_run_command

    c = stored.StoredSetting(GridEntry("lenet_mnist", "conv2", 0.5), None, None, "cmd", "converged")
    cmd = short_run_command(c, "converged")
    assert cmd.startswith("python -m oracle_core run --experiment retrain_lesson") and "--short-retrain" in cmd
    assert "--layers conv2 --ratio 0.5" in cmd


def test_a_released_twin_far_below_the_papers_accuracy_is_named_not_called_under_trained():
    """When the run of the paper's protocol (the released-code twin) ends far below the paper's accuracy, it is not
    the run the paper measured: the setting is left out of the comparison under that name, the failure flags keep
    their own count of converged settings, and no page calls the setting under-trained."""
    from oracle_core.analysis.answer import answer
    from oracle_core.analysis.like_for_like import Verdict
    from oracle_core.pages.summary import answer_markdown

    table = pd.DataFrame({"setting": ["a", "conv3 @ 0.8"], "under-trained": [False, True],
                          "compared": ["released-code twin"] * 2, "verdict": ["agrees", "under-trained"],
                          "interval ±": [0.5, 0.6], "median gap pp": [0.1, -37.1]})
    a = answer(table, {"sd": 0.2, "settings": 1, "networks": 2}, {"n_fail_ours": 1, "n_fail_paper_same": 1,
                                                                    "n_converged": 2}, pd.DataFrame())
    assert a.n_compared == 1 and a.n_fail_of == 2
    assert [(t.setting, t.median_gap_pp) for t in a.twin_short] == [("conv3 @ 0.8", -37.1)]
    text = answer_markdown(a, "converged")
    assert "conv3 @ 0.8 (median -37.1 pp)" in text and "not the run the paper measured" in text
    assert "**1 of 1** converged settings" in text and "fails in 1 of our 2 converged settings" in text
    v = Verdict("under-trained", twin=True, median_gap_pp=-37.1)
    assert v.text.startswith("not compared (released-code twin's median -37.1 pp") and "under-trained" not in v.text


def test_collapsed_retrainings_are_counted_against_the_one_class_accuracy():
    """A retraining is collapsed when it ends no better than naming the test set's most common class (plus the
    margin); the count, the lowest and the median are read from the accuracies given, missing values left out."""
    from oracle_core.analysis.collapse import CHANCE_MARGIN_PP, count

    chance = 0.1135
    edge = chance + CHANCE_MARGIN_PP / 100
    c = count([0.1135, 0.1136, edge, edge + 1e-4, 0.45, 0.9, float("nan")], chance)
    assert (c.n, c.of) == (3, 6) and c.lowest == 0.1135 and c.median == pytest.approx((2 * edge + 1e-4) / 2)
    assert c.limit == pytest.approx(edge)
    assert count([], chance).of == 0


def test_a_short_twin_is_explained_by_its_collapsed_retrainings_on_the_front_page_and_its_own_page():
    """The measured reason the front page gives for a released-code twin far below the paper's accuracy: how many of
    its retrainings collapsed to one class, beside the correctly wired run and the paper's points; a twin with no
    collapse says that collapse does not explain the gap."""
    from oracle_core.analysis.answer import answer
    from oracle_core.analysis.collapse import count
    from oracle_core.pages.setting import collapse_text
    from oracle_core.pages.summary import answer_markdown

    c = {"released_code": count([0.1135] * 2 + [0.45, 0.9], 0.1135), "correct": count([0.88, 0.9, 0.35], 0.1135),
         "paper": count([0.38, 0.83, 0.9], 0.1135)}
    table = pd.DataFrame({"setting": ["a", "conv3 @ 0.8"], "under-trained": [False, True],
                          "compared": ["released-code twin"] * 2, "verdict": ["agrees", "under-trained"],
                          "interval ±": [0.5, 0.6], "median gap pp": [0.1, -37.1]})
    a = answer(table, {"sd": 0.2, "settings": 1, "networks": 2}, {"n_fail_ours": 1, "n_fail_paper_same": 1,
                                                                    "n_converged": 2}, pd.DataFrame(),
               {"conv3 @ 0.8": c})
    assert [t.collapse for t in a.twin_short] == [c]
    text = answer_markdown(a, "converged")
    assert ("Measured: 2 of the twin's 4 retrainings end no better than naming one class for every test image "
            "(at most 12.35%; its median 28.18%), against 0 of 3 correctly wired (median 88.00%) and 0 of the "
            "paper's 3 points") in text
    healthy = collapse_text({"released_code": count([0.5, 0.6], 0.1135)})
    assert healthy.startswith("None of the twin's 2 retrainings") and "does not explain the gap" in healthy
    assert collapse_text({"correct": count([0.9], 0.1135)}) == ""


def test_a_short_twin_is_set_against_the_same_settings_twins_from_other_networks(monkeypatch):
    """Whether the pretrained network alone accounts for a released-code twin far below the paper's accuracy is
    measured from that setting's twins from other networks: one reaching the paper's median accuracy says it can,
    none reaching it says it does not; the front page and the setting's sentence print the same reading."""
    from oracle_core.analysis import collapse
    from oracle_core.analysis.answer import answer
    from oracle_core.pages.setting import collapse_text, networks_text
    from oracle_core.pages.summary import answer_markdown

    def stored_twin(seed, accs):
        res = _result(_masks(n=len(accs)).assign(final_test_acc=accs), profile="converged")
        res.spec.dataset = "mnist"
        return stored.StoredSetting(GridEntry("pretrain_seed", "conv3", 0.8, seed=seed, wiring="released_code"),
                                    res, None, "cmd", "converged")

    asked = []

    def fake(profile, experiment, root=None, wiring="correct", where=None):
        asked.append((profile, experiment, wiring))
        twins = [stored_twin(2, [0.1135, 0.3, 0.35]), stored_twin(1, [0.82, 0.84, 0.86])]
        return [c for c in twins if where(c.entry)]

    monkeypatch.setattr(collapse, "stored_settings", fake)
    from oracle_core.analysis import like_for_like
    monkeypatch.setattr(like_for_like, "_stored", lambda profile, root: {})  # no between-network term: masks only
    nets = collapse.network_twins("converged", "lenet5_mini", "mnist", "conv3", 0.8)
    assert asked == [("converged", "pretrain_seed", "released_code")]
    assert [(t.seed, t.collapse.n, t.short) for t in nets] == [(1, 0, False), (2, 1, True)]  # paper median 82.56%
    assert collapse.network_twins("converged", "lenet5_mini", "mnist", "conv2", 0.8) == ()

    text = networks_text(nets)
    assert "network 1: median 84.00%, 0 of 3 collapsed; network 2: median 30.00%, 1 of 3 collapsed" in text
    assert "with network 1 the twin ends within 1 pp of the paper's median accuracy" in text
    assert "can by itself account for the gap" in text
    # the converged network's twin is compared with the paper's tau by the verdicts' rule; the collapsed one is not
    v1, v2 = nets[0].verdict, nets[1].verdict
    assert v2.state == "under-trained" and v1.state in ("agrees", "differs") and v1.paper == -0.09
    own_tau, own_se = like_for_like._tau_se(fake("converged", "pretrain_seed", where=lambda e: e.seed == 1)[0]
                                            .result.per_mask)
    panel_name = reference.panel_name("lenet5_mini", "mnist", "conv3", 0.8)
    paper_se = like_for_like._paper_se(panel_name) if panel_name else own_se
    assert v1.ours == pytest.approx(own_tau) and v1.difference == pytest.approx(own_tau + 0.09)
    assert v1.halfwidth == pytest.approx(like_for_like.agreement_halfwidth(own_se, paper_se, float("nan")))
    assert (f"network 1's twin gives tau {v1.ours:+.2f}, which {v1.state} ({v1.difference:+.2f} "
            f"{'within' if v1.state == 'agrees' else 'beyond'} ±{v1.halfwidth:.2f})") in text
    assert "network 2's twin gives tau" not in text and "not counted in it" in text
    # a run the store holds is read with the store's own bootstrap (computed once per store state), not redone
    net1 = fake("converged", "pretrain_seed", where=lambda e: e.seed == 1)[0]
    e1 = net1.entry
    monkeypatch.setattr(like_for_like, "_stored", lambda profile, root: {
        (e1.model, e1.dataset, e1.layers, e1.ratio, "released_code", 1): (0.5, 0.1, 84.0)})
    assert like_for_like.network_verdict(net1).ours == 0.5
    monkeypatch.setattr(like_for_like, "_stored", lambda profile, root: {})
    none_reach = networks_text(nets[1:])
    assert "it ends far below the paper's accuracy too" in none_reach and "does not account" in none_reach
    assert networks_text(()) == ""

    c = {"released_code": collapse.count([0.1135, 0.45, 0.5], 0.1135)}
    assert collapse_text(c, networks=nets).endswith(text)
    table = pd.DataFrame({"setting": ["a", "conv3 @ 0.8"], "under-trained": [False, True],
                          "compared": ["released-code twin"] * 2, "verdict": ["agrees", "under-trained"],
                          "interval ±": [0.5, 0.6], "median gap pp": [0.1, -37.1]})
    a = answer(table, {"sd": 0.2, "settings": 1, "networks": 2}, {"n_fail_ours": 0, "n_fail_paper_same": 0},
               pd.DataFrame(), {"conv3 @ 0.8": c}, {"conv3 @ 0.8": nets})
    assert a.twin_short[0].networks == nets and text in answer_markdown(a, "converged")


def test_a_left_out_twin_is_named_even_when_no_setting_is_compared_yet():
    from oracle_core.analysis.answer import answer
    from oracle_core.analysis.collapse import count
    from oracle_core.pages.summary import answer_markdown

    table = pd.DataFrame({"setting": ["conv3 @ 0.8"], "under-trained": [True], "compared": ["released-code twin"],
                          "verdict": ["under-trained"], "interval ±": [0.6], "median gap pp": [-37.1]})
    a = answer(table, {"sd": 0.2, "settings": 1, "networks": 2}, {"n_fail_ours": 0, "n_fail_paper_same": 0},
               pd.DataFrame(), {"conv3 @ 0.8": {"released_code": count([0.1135, 0.45], 0.1135)}})
    text = answer_markdown(a, "converged")
    assert text.startswith("No published setting has its released-code twin")
    assert "conv3 @ 0.8 (median -37.1 pp)" in text and "Measured: 1 of the twin's 2 retrainings" in text


def test_the_noise_ceiling_table_holds_a_differing_twins_retrainings_by_name(monkeypatch):
    """The Beyond page's noise-ceiling table reads the correct wiring's settings and the released-code twins' (the
    differing twin retrained 3 times), each twin's row named as one."""
    from oracle_core.analysis import noise

    def fake(profile, experiment, root=None, wiring="correct", where=None):
        e = GridEntry("noise_ceiling", "conv1", 0.8 if wiring == "released_code" else 0.5, repeats=3, wiring=wiring)
        return [stored.StoredSetting(e, None, None, f"cmd {wiring}", profile)]

    monkeypatch.setattr(noise, "stored_settings", fake)
    t = noise.noise_ceiling("converged")
    assert list(t.index) == ["LeNet5-Mini / mnist / conv1 @ 0.5",
                             "LeNet5-Mini / mnist / conv1 @ 0.8 (released-code twin)"]
    assert list(t["command"]) == ["cmd correct", "cmd released_code"] and (t["state"] == noise.NOT_RUN).all()
