import json

from conftest import REPO

from oracle_core.analysis import collect, reference


def test_runs_table_has_one_row_per_finished_run_and_joins_the_paper():
    runs = collect.runs_table(REPO / "results")
    folders = sorted(p.parent for p in (REPO / "results").glob("*/*/summary.json"))
    assert len(runs) == len(folders) >= 1
    row = runs[(runs["layers"] == "conv1") & (runs["ratio"] == 0.5) & (runs["wiring"] == "correct")].iloc[0]
    summary = json.loads((REPO / "results" / row["folder"] / "summary.json").read_text())
    assert row["kendall_tau"] == summary["kendall_tau"] and row["code_version"] and row["device"]
    table = collect.with_paper(runs, row["profile"])
    assert len(table) == len(reference.results_table())  # every published setting, once
    assert len(collect.with_paper(runs)) == len(table)  # several profiles of one setting still give one row
    hit = table[(table["model"] == "lenet5_mini") & (table["layers"] == "conv1") & (table["ratio"] == 0.5)
                & (table["dataset"] == "mnist")].iloc[0]
    assert hit["our_tau"] == summary["kendall_tau"] and hit["paper_tau"] == -0.51
