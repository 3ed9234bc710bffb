"""What a reader of the book meets, below the browser: tables shown whole and formatted by kind, charts that carry
each mask's tooltip, the re-run box's commands and measured hours, the CSV downloads, titles that fit a line, and
the paper's lesson range computed from its table."""

import json
import re

import altair as alt
import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from oracle_core.analysis import reference, stored
from oracle_core.analysis.panel import scatter_stats
from oracle_core.experiment.commands import layers_arg
from oracle_core.experiment.grid import plan, progress
from oracle_core.experiment.spec import make_spec
from oracle_core.pages import charts, downloads, lesson, rerun, setting, tables


def test_tables_show_every_row_and_format_each_column_by_kind():
    df = pd.DataFrame({"N ours": [252.0] * 150, "p ours": [1.5e-8] * 150, "tau ours": [-0.2734] * 150,
                       "cost (model-images)": [1200000.0] * 150, "reading": ["a long reading " * 12] * 150})
    df.loc[3, "N ours"] = np.nan
    html = tables.to_html(df)
    cells_ = re.findall(r"<td>(.*?)</td>", html)
    assert html.count("<tr>") == 150 and "..." not in html  # every row, no cell cut
    assert {"252", "1.5e-08", "-0.27", "1,200,000", tables.EMPTY} <= set(cells_)
    assert "252.0" not in cells_ and "0.000" not in cells_
    assert tables.p_value(0.0498) == "0.050" and tables.p_value("<5e-6") == "<5e-6"


def test_one_quantity_prints_one_way_on_every_page():
    """The summary re-rounded what the figure pages printed (tau 0.030 vs 0.034, anomaly 55.60 vs 55.56, p 6.0e-04 vs
    0.001): now every page's table goes through one formatter per quantity, chosen by the column's name."""
    for column in ("tau ours", "tau paper", "Kendall tau", "tau (pruned loss vs final acc)"):
        assert tables.formatter(column)(0.0344) == "+0.03" and tables.formatter(column)(-0.5555) == "-0.56"
    for column in ("anomaly % ours", "anomaly % paper", "median acc % ours", "acc IQR pp"):
        assert tables.formatter(column)(55.5556) == "55.56"
    for column in ("p ours", "p paper", "KS p"):
        assert tables.formatter(column)(0.000602) == "6.0e-04"
    from oracle_core.pages import summary
    wp = pd.DataFrame({"model": ["lenet5_mini"], "dataset": ["mnist"], "layers": ["conv3"], "ratio": [0.8],
                       "paper_n": [45], "n_masks": [45], "paper_tau": [-0.09], "our_tau": [0.0344], "paper_p": ["0.4"],
                       "our_p": [6.02e-4], "paper_anomaly_%": [20.0], "our_anomaly_%": [55.5556],
                       "paper_median_acc_%": [82.56], "our_median_acc_%": [88.28], "verdict": ["agrees"]})
    # the number the verdict compares (the twin's) stands beside the paper's, the correct one after
    tw = wp.assign(our_tau=-0.12, **{"our_median_acc_%": 87.0})
    both = summary.readable(wp, tw)
    assert list(both.columns[:4]) == ["N paper", "tau paper", "tau ours twin", "tau ours correct"]
    row = both.iloc[0]  # the summary keeps the values; the formatter alone rounds them
    assert row["tau ours twin"] == -0.12 and row["tau ours correct"] == 0.0344
    assert row["anomaly % ours twin"] == 55.5556 and row["anomaly % paper"] == 20.0
    assert row["median acc % ours twin"] == 87.0 and row["median acc % ours correct"] == 88.28
    html = tables.to_html(both)
    assert "+0.03" in html and "-0.12" in html and "55.56" in html and "88.28" in html
    missing = summary.readable(wp, tw.iloc[:0])  # no twin stored: its cells are empty, the correct run's kept
    assert missing.iloc[0]["tau ours twin"] != missing.iloc[0]["tau ours twin"]
    assert missing.iloc[0]["tau ours correct"] == 0.0344


def test_a_scatter_point_carries_its_mask_loss_accuracy_and_rank():
    pm = pd.DataFrame({"pruned_train_loss": [0.3, 0.1, 0.2, 0.4], "final_test_acc": [0.97, 0.95, 0.99, 0.96],
                       "kept": ["conv1:0,1", "conv1:0,2", "conv1:1,2", "conv1:2,3"], "mask_id": list("abcd")})
    st = scatter_stats(pm["pruned_train_loss"], pm["final_test_acc"])
    assert st["ranks"] == [2, 4, 1, 3]  # 1 = the best accuracy after retraining
    spec = charts.oracle_scatter(pm).to_dict()
    text = json.dumps(spec)
    for field in ('"field": "kept"', '"field": "rank"', '"field": "pruned_train_loss"', '"bind": "scales"'):
        assert field in text, field
    rows = next(iter(spec["datasets"].values()))
    assert [r["rank"] for r in rows] == [2, 4, 1, 3]


def test_the_book_build_draws_charts_with_its_own_scripts_and_elsewhere_as_svg(monkeypatch):
    chart = alt.Chart(pd.DataFrame({"x": [1, 2]})).mark_point().encode(x="x:Q")
    monkeypatch.setenv(charts.BOOK_CHARTS_ENV, "interactive")
    charts.enable_offline()
    bundle = chart._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    html = bundle["text/html"]
    assert html.startswith('<div class="oracle-chart">') and "<script" in html and "http" not in html.split(
        '"$schema"')[0]
    spec = json.loads(re.search(r'<script type="application/json">(.*)</script>', html).group(1).replace("<\\/", "</"))
    assert spec["mark"]["type"] == "point"
    monkeypatch.delenv(charts.BOOK_CHARTS_ENV)
    charts.enable_offline()
    bundle = chart._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "image/svg+xml" in bundle and "text/html" not in bundle


def _stored_cpu_cells():
    cs = [c for c in stored.stored_settings("cpu", "lenet_mnist", None) if c.result is not None]
    assert cs, "no committed cpu results"
    return cs


def test_the_rerun_box_gives_the_commands_and_the_hours_the_store_measured():
    cs = _stored_cpu_cells()[:3]
    box = rerun.figure_box("lenet_grid", "cpu", cs)
    assert "papermill notebooks/lenet_grid.ipynb out.ipynb -p profile cpu" in box
    assert "python -m oracle_core grid --profile cpu --workers 2" in box
    assert "python -m oracle_core grid --profile converged --workers 2" in box
    for c in cs:
        assert c.command in box
    assert "https://arxiv.org/abs/2412.00143" in box and "github.com/fscdc/Oracle-Pruning-Sanity-Check" in box
    labels = {c.entry.label for c in cs}
    mine = [p for p in progress(plan("cpu")) if p["entry"].label in labels]
    assert f"{sum(p['complete'] for p in mine)} of {len(mine)} settings stored" in box


def test_a_single_setting_page_box_quotes_its_layer_pattern():
    spec = make_spec("resnet56", "cifar10", "layer*.conv1", 0.5, 1000, profile="paper")
    box = setting.rerun_box("resnet_cifar", spec, "resnet_cifar", None).data
    assert f"-p layers {layers_arg(spec)} " in box and "not measured yet" in box and len(layers_arg(spec)) < 20
    title = setting.setting_title(spec)
    assert "27 layers" in title and len(title) < 90


def test_downloads_write_csvs_in_the_book_build_and_name_the_checkout_files_elsewhere(tmp_path, monkeypatch):
    c = _stored_cpu_cells()[0]
    monkeypatch.delenv(downloads.DOWNLOADS_ENV, raising=False)
    html = downloads.downloads([c], "cpu")
    assert "results/lenet_mnist/" in html and "masks.csv" in html and str(REPO) not in html
    assert "oracle-static:" not in html
    monkeypatch.setenv(downloads.DOWNLOADS_ENV, str(tmp_path))
    html = downloads.downloads([c], "cpu")
    links = re.findall(r'href="oracle-static:data/([^"]+)"', html)
    assert len(links) == 2  # ours and the paper's points
    ours = pd.read_csv(tmp_path / links[0])
    assert len(ours) == len(c.result.masks) and {"kept", "seed", "pruned_train_loss", "final_test_acc"} <= set(ours)
    theirs = pd.read_csv(tmp_path / links[1])
    assert len(theirs) == len(reference.paper_points(c.panel))


def test_the_papers_lesson_range_is_computed_from_its_table():
    t = reference.short_vs_full_table()
    text = lesson.paper_lesson_range()
    lo, hi = t["kendall_tau_short_vs_full"].min(), t["kendall_tau_short_vs_full"].max()
    assert f"{lo:.2f} to {hi:.2f}" in text and "ResNet18" in text
    assert len(lesson.paper_lesson_panels()) == len(t)  # every published lesson panel is drawn


@pytest.mark.parametrize("notebook", ["retrain_lesson", "front"])
def test_pages_do_not_type_the_numbers_they_compute(notebook):
    nb = json.loads((REPO / "notebooks" / f"{notebook}.ipynb").read_text())
    prose = " ".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    for typed in ("0.45 to 0.71", "|tau| < 0.2", "within 0.15"):
        assert typed not in prose, typed


def test_the_summary_table_and_the_overview_chart_name_every_setting_one_way():
    """The overview chart named settings "lenet5_mini_w20 / mnist / ..." and "resnet56 / cifar10 / ...", the table
    beside it "LeNet5-Mini_w20 / ..." and "resnet56 / ...": now one function names a setting (analysis.names), with
    the model as the paper names it."""
    from oracle_core.analysis import collect
    from oracle_core.analysis.names import model_name
    from oracle_core.pages import summary

    runs = collect.runs_table()
    table = collect.with_paper(runs, "converged")
    twins = collect.with_paper(runs, "converged", wiring="released_code")
    rows = list(summary.readable(table, twins).index)
    drawn = json.loads(json.dumps(charts.tau_overview(table, twins).to_dict()))
    sort = next(layer["encoding"]["y"]["sort"] for layer in drawn["layer"] if "y" in layer["encoding"])
    assert sort == rows
    assert {"LeNet5-Mini-W20 / mnist / conv1 @ 0.5", "LeNet5-Mini / fashion_mnist / conv1 @ 0.5"} <= set(rows)
    assert any(r.startswith("ResNet56 / cifar10 / ") for r in rows) and not any("_" in r.split(" / ")[0] for r in rows)
    assert [model_name(m) for m in ("lenet5_mini", "lenet5_mini_d6", "vgg19", "vit_b_16")] == [
        "LeNet5-Mini", "LeNet5-Mini-D6", "VGG19", "ViT-B/16"]
