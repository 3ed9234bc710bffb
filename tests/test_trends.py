"""The plain-words trends: the paper's direction per axis, ours only from converged settings, and the verdict."""

import json

import pandas as pd
import pytest

from oracle_core.analysis import trends
from oracle_core.pages.trends import trend_sentences


def _table(rows):
    return pd.DataFrame(rows, columns=["model", "dataset", "layers", "ratio", "paper_tau", "our_tau", "profile",
                                       "under_trained"])


def _ratio_rows(paper, ours, under=()):
    return [("lenet5_mini", "mnist", "conv1", r, p, o, None if o is None else "converged", r in under)
            for r, p, o in zip((0.2, 0.3, 0.4, 0.5), paper, ours)]


def test_a_reproduced_a_contradicted_and_an_unread_trend():
    up = trends.trends(_table(_ratio_rows([-0.6, -0.5, -0.4, -0.3], [-0.7, -0.6, -0.5, -0.2])))
    r = up.loc["pruning ratio (conv1)"]
    assert r["paper direction"] == 1 and r["our direction"] == 1 and r["reproduced"] == "yes"
    down = trends.trends(_table(_ratio_rows([-0.6, -0.5, -0.4, -0.3], [-0.2, -0.3, -0.4, -0.5])))
    assert down.loc["pruning ratio (conv1)", "reproduced"] == "no"
    # under-trained runs are not read: two converged points are too few
    few = trends.trends(_table(_ratio_rows([-0.6, -0.5, -0.4, -0.3], [-0.7, -0.6, -0.9, -0.9], under=(0.4, 0.5))))
    assert few.loc["pruning ratio (conv1)", "reproduced"] == "not yet"
    assert few.loc["pruning ratio (conv1)", "converged ours"] == 2
    text = trend_sentences({"correct": few}, "converged")
    assert "not read yet, 2 converged setting(s) of 4" in text and "from -0.60 to -0.30" in text
    assert "still to converge: 0.4, 0.5." in text  # the under-trained settings are named as still to converge


def test_an_unread_axis_names_its_missing_settings_and_why_they_cannot_run():
    rows = [("lenet5_mini", ds, "conv1", 0.5, tau, ours, None if ours is None else "converged", False)
            for ds, tau, ours in (("mnist", -0.5, -0.3), ("fashion_mnist", -0.4, -0.2), ("kmnist", -0.3, None))]
    tr = trends.trends(_table(rows))
    assert tr.loc["dataset", "not yet ours"] == ("kmnist",)
    text = trend_sentences({"correct": tr}, "converged", cannot_run={"kmnist": "its files are absent"})
    lines = text.splitlines()
    axis = next(i for i, x in enumerate(lines) if x.startswith("- **dataset**"))
    intended = "  - as the paper intended, our correctly wired runs at `converged`: not read yet"
    assert lines[axis + 1].startswith(intended)
    assert lines[axis + 1].endswith("still to converge: kmnist (its files are absent).")
    assert "(its files are absent)" not in trend_sentences({"correct": tr}, "converged")


def test_cannot_run_names_the_axis_datasets_whose_files_are_absent(tmp_path):
    from oracle_core.analysis import stored
    from oracle_core.data import get_dataset_info, raw_dir
    assert set(stored.cannot_run(tmp_path)) == {"mnist", "fashion_mnist", "kmnist"}
    info = get_dataset_info("kmnist")
    folder = raw_dir(info, tmp_path)
    folder.mkdir(parents=True)
    for f in info.files:
        (folder / f).write_bytes(b"")
    reasons = stored.cannot_run(tmp_path)
    assert set(reasons) == {"mnist", "fashion_mnist"}
    assert "python -m oracle_core.data fetch mnist" in reasons["mnist"]


def test_three_single_layer_runs_do_not_read_the_layers_trend():
    rows = [("lenet5_mini", "mnist", layers, 0.5, tau, tau, "converged", False)
            for layers, tau in (("conv1", -0.5), ("conv2", -0.4), ("conv3", -0.3), ("conv1+conv2", -0.2))]
    r = trends.trends(_table(rows[:3])).loc["pruned layers"]
    assert r["converged ours"] == 3 and r["reproduced"] == "not yet"
    assert trends.trends(_table(rows)).loc["pruned layers", "reproduced"] == "yes"


def test_layers_are_ordered_by_how_many_are_pruned():
    rows = [("lenet5_mini", "mnist", layers, 0.5, tau, None, None, False)
            for layers, tau in (("conv1+conv2+conv3", -0.1), ("conv1", -0.5), ("conv1+conv2", -0.3))]
    r = trends.trends(_table(rows)).loc["pruned layers"]
    assert r["paper direction"] == 1 and (r["paper first"], r["paper last"]) == (-0.5, -0.1)


def test_the_committed_store_gives_a_row_per_axis():
    from oracle_core.analysis import collect

    t = trends.trends(collect.with_paper(collect.runs_table(None), "converged"))
    assert list(t.index) == [a.name for a in trends.AXES]
    assert (t["settings"] >= 3).all()  # the paper published every axis


def test_an_axis_says_which_settings_lie_on_it_and_where():
    depth = next(a for a in trends.AXES if a.name == "depth")
    assert depth.holds(model="lenet5_mini_d8", dataset="mnist", layers="conv1", ratio=0.5)
    assert not depth.holds(model="lenet5_mini_w40", dataset="mnist", layers="conv1", ratio=0.5)
    assert not depth.holds(model="lenet5_mini_d8", dataset="mnist", layers="conv1", ratio=0.8)
    assert depth.position("lenet5_mini_d8") == 3.0
    layers = next(a for a in trends.AXES if a.vary == "layers")
    assert layers.position("conv1+conv3") == layers.position("conv2+conv3") == 2.0


def test_the_summary_chart_draws_the_axes_the_sentences_read(tmp_path):
    from oracle_core.analysis.names import value_name
    from oracle_core.pages import summary

    spec = summary.complexity_chart("cpu", tmp_path).to_dict()
    titles = [c["title"] for row in spec["vconcat"] for c in row.get("hconcat", [row])]
    assert titles == [a.name for a in trends.AXES]
    # each axis's ticks name the value that varies: the shared base setting is "mnist" on the dataset axis
    assert [value_name(a.order[0]) for a in trends.AXES] == ["0.2", "conv1", "mnist", "LeNet5-Mini", "LeNet5-Mini"]
    assert value_name("lenet5_mini_d6") == "LeNet5-Mini-D6" and value_name(0.6) == "0.6"
    drawn = json.dumps(summary.complexity_chart("converged").to_dict())  # the committed store
    assert '"sort": ["mnist", "fashion_mnist"' in drawn and '"setting": "conv1 @ 0.5"' not in drawn


def test_the_variants_page_selects_each_axis_base_first():
    """notebooks/lenet_variants.ipynb takes its depth and width rows from the same AXES the trend sentences read."""
    from oracle_core.analysis import stored

    for name, models in (("depth", ["lenet5_mini", "lenet5_mini_d6", "lenet5_mini_d7", "lenet5_mini_d8"]),
                         ("width", ["lenet5_mini", "lenet5_mini_w20", "lenet5_mini_w30", "lenet5_mini_w40"])):
        got = stored.stored_settings("converged", None, None, where=stored.on_axis(name))
        assert [c.entry.model for c in got] == models
        assert {(c.entry.dataset, c.entry.layers, c.entry.ratio) for c in got} == {("mnist", "conv1", 0.5)}
    with pytest.raises(ValueError, match="no complexity axis 'height'"):
        stored.on_axis("height")


def test_a_direction_is_read_only_when_it_holds_under_resampling():
    """Our direction counts (reproduced or not) only when it holds in at least 95% of resamples of each setting's tau
    over masks and pretrained networks; three rising points with standard errors as large as their spread are 'not
    settled', and the sentence says so with the share."""
    rows = _table(_ratio_rows([-0.6, -0.5, -0.4, -0.3], [-0.7, -0.6, -0.5, -0.2]))
    keys = [("lenet5_mini", "mnist", "conv1", r) for r in (0.2, 0.3, 0.4, 0.5)]
    tight = trends.trends(rows, ({k: 0.01 for k in keys}, 0.0)).loc["pruning ratio (conv1)"]
    assert tight["reproduced"] == "yes" and tight["direction holds"] > 0.99
    loose = trends.trends(rows, ({k: 0.2 for k in keys}, 0.09)).loc["pruning ratio (conv1)"]
    assert loose["reproduced"] == "not settled" and loose["direction holds"] < trends.SETTLED
    text = trend_sentences({"correct": trends.trends(rows, ({k: 0.2 for k in keys}, 0.09))}, "converged")
    assert "**not settled**" in text and "of resamples over masks and pretrained networks" in text


def test_an_unread_axis_says_which_way_its_points_go_so_far():
    rows = [("lenet5_mini", ds, "conv1", 0.5, tau, ours, None if ours is None else "converged", False)
            for ds, tau, ours in (("mnist", -0.5, -0.27), ("fashion_mnist", -0.4, -0.53), ("kmnist", -0.3, None))]
    text = trend_sentences({"correct": trends.trends(_table(rows))}, "converged")
    assert "the 2 converged so far go from -0.27 to -0.53, against the paper's direction" in text


def test_each_axis_reads_the_twins_first_then_the_correct_wiring():
    """The paper's trend is compared with our runs of its code's wiring (the released-code twins), and the study it
    intended (correct wiring) is read beside it: two sub-items per axis, in that order, each from its own runs."""
    up = trends.trends(_table(_ratio_rows([-0.6, -0.5, -0.4, -0.3], [-0.7, -0.6, -0.5, -0.2])))
    down = trends.trends(_table(_ratio_rows([-0.6, -0.5, -0.4, -0.3], [-0.2, -0.3, -0.4, -0.5])))
    text = trend_sentences({"correct": down, "released_code": up}, "converged")
    lines = text.splitlines()
    axis = lines.index(next(x for x in lines if x.startswith("- **pruning ratio (conv1)**")))
    assert lines[axis + 1].startswith("  - like with like, our released-code twins")
    assert "is reproduced" in lines[axis + 1]
    assert lines[axis + 2].startswith("  - as the paper intended") and "is not reproduced" in lines[axis + 2]
    with pytest.raises(ValueError, match="no reading called"):
        trend_sentences({"twin": up}, "converged")


def test_the_twins_trend_reads_the_twins_taus():
    """with_paper at the released code's wiring carries the twin's tau (the one like_for_like compares), not the
    correct wiring's; study_trends reads both from the committed store."""
    from oracle_core.analysis import collect
    from oracle_core.analysis.like_for_like import like_for_like

    runs = collect.runs_table(None)
    table, _ = like_for_like("converged")
    row = table[table["setting"] == "conv1 @ 0.8"].iloc[0]
    for wiring, column in (("released_code", "ours released"), ("correct", "ours correct")):
        t = collect.with_paper(runs, "converged", wiring=wiring)
        ours = t[(t["model"] == "lenet5_mini") & (t["dataset"] == "mnist") & (t["layers"] == "conv1")
                 & (t["ratio"] == 0.8)]["our_tau"]
        assert float(ours.iloc[0]) == pytest.approx(row[column])
    assert row["ours released"] != pytest.approx(row["ours correct"])
    both = trends.study_trends(runs, "converged")
    assert list(both) == ["released_code", "correct"]
    ratio = {w: t.loc["pruning ratio (conv1)"] for w, t in both.items()}
    assert ratio["released_code"]["our first"] != pytest.approx(ratio["correct"]["our first"])


def test_an_axis_whose_other_settings_cannot_run_here_is_read_from_what_can():
    """The dataset axis cannot reach three settings where KMNIST's files are absent: once every setting that can run
    here has converged (two places), it is read from those, with the resampled share, and the sentence names what
    the reading lacks and why; a setting that could run but has not converged keeps the axis unread."""
    rows = [("lenet5_mini", ds, "conv1", 0.5, tau, ours, None if ours is None else "converged", False)
            for ds, tau, ours in (("mnist", -0.5, -0.36), ("fashion_mnist", -0.4, -0.54), ("kmnist", -0.3, None))]
    keys = [("lenet5_mini", ds, "conv1", 0.5) for ds in ("mnist", "fashion_mnist")]
    unc = ({k: 0.1 for k in keys}, 0.01)
    assert trends.trends(_table(rows), unc).loc["dataset", "reproduced"] == "not yet"
    r = trends.trends(_table(rows), unc, cannot_run={"kmnist"}).loc["dataset"]
    assert r["our direction"] == -1 and r["converged ours"] == 2 and r["cannot run here"] == ("kmnist",)
    assert r["reproduced"] == "not settled" and 0.5 < r["direction holds"] < trends.SETTLED
    text = trend_sentences({"correct": trends.trends(_table(rows), unc, cannot_run={"kmnist"})}, "converged",
                           cannot_run={"kmnist": "its files are absent"})
    line = next(x for x in text.splitlines() if "our correctly wired runs" in x and "-0.36" in x)
    share = f"{100 * r['direction holds']:.0f}%"
    assert line.endswith("falls (a stronger oracle), from -0.36 to -0.54 over 2 converged settings (that direction "
                         f"holds in {share} of resamples over masks and pretrained networks): "
                         "**not settled** (a direction is read only when it holds in at least 95%); not in this "
                         "reading: kmnist (its files are absent).")
    # fashion_mnist could run but has not converged: the axis waits for it, whatever cannot run
    waiting = [(*row[:5], None, None, False) if row[1] == "fashion_mnist" else row for row in rows]
    assert trends.trends(_table(waiting), unc, cannot_run={"kmnist"}).loc["dataset", "reproduced"] == "not yet"


def test_a_read_axis_names_the_settings_it_does_not_hold_yet():
    rows = _table(_ratio_rows([-0.6, -0.5, -0.4, -0.3], [-0.7, -0.6, None, -0.2]))
    text = trend_sentences({"correct": trends.trends(rows)}, "converged")
    assert "over 3 converged settings: **the trend is reproduced**; not in this reading: 0.4." in text


def test_an_axis_without_a_direction_says_how_often_none_is_seen():
    """A reading with no direction (as many rising as falling pairs) reports the share of resamples that show none,
    not 'that direction holds'."""
    rows = _table(_ratio_rows([-0.6, -0.5, -0.4, -0.3], [-0.5, -0.2, -0.6, -0.3]))
    keys = [("lenet5_mini", "mnist", "conv1", r) for r in (0.2, 0.3, 0.4, 0.5)]
    flat = trends.trends(rows, ({k: 0.1 for k in keys}, 0.0))
    assert flat.loc["pruning ratio (conv1)", "our direction"] == 0
    text = trend_sentences({"correct": flat}, "converged")
    assert "shows no clear direction" in text and "no direction either way is seen in" in text
    assert "that direction holds" not in text
