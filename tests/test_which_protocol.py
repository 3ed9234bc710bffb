"""Which protocol made the paper's points (analysis/which_protocol.py): the two-sample distance on fabricated samples
and the verdict's rule (a wiring is named only when it is nearer by more than the networks move the distance)."""

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from oracle_core.analysis.which_protocol import COLUMNS, _row, protocol_verdicts


def test_the_distance_is_the_ks_statistic_on_log_pruned_loss():
    rng = np.random.default_rng(0)
    paper = np.exp(rng.normal(1.7, 0.4, 252))
    same, other = np.exp(rng.normal(1.7, 0.4, 45)), np.exp(rng.normal(0.8, 0.4, 45))
    acc = np.full(45, 0.98)
    near, far = _row("s", "released_code", 0, same, acc, paper, -0.5, 0.02), _row("s", "correct", 0, other, acc, paper,
                                                                                  -0.3, 0.0)
    assert near["KS to paper"] < 0.25 < 0.7 < far["KS to paper"]
    assert np.isclose(far["KS to paper"], ks_2samp(np.log(other), np.log(paper)).statistic)
    assert far["KS p"] < 1e-6 < near["KS p"]
    assert list(near) == list(COLUMNS)  # the documented columns, in order
    assert np.isclose(near["loss median"], np.median(same)) and near["acc IQR pp"] == 0.0


def _table(ks: dict) -> pd.DataFrame:
    rows = [{"setting": "s", "source": "paper", "seed": "one, unseeded", "KS to paper": np.nan}]
    rows += [{"setting": "s", "source": w, "seed": seed, "KS to paper": d} for (w, seed), d in ks.items()]
    return pd.DataFrame(rows)


def test_a_wiring_is_named_only_when_nearer_by_more_than_the_networks_move_it():
    one = protocol_verdicts(_table({("correct", 0): 0.6, ("released_code", 0): 0.3})).iloc[0]
    assert one["nearer"] == "released_code" and one["settled"] and one["n networks"] == 1
    # two networks under the correct wiring move the distance by 0.5: a gap of 0.3 does not settle it
    spread = protocol_verdicts(_table({("correct", 0): 0.6, ("correct", 1): 0.1,
                                       ("released_code", 0): 0.3})).iloc[0]
    assert spread["nearer"] == "released_code" and not spread["settled"] and np.isclose(spread["KS spread"], 0.5)
    missing = protocol_verdicts(_table({("correct", 0): 0.6})).iloc[0]
    assert missing["nearer"] is None and not missing["settled"]



def test_the_sentences_name_a_wiring_only_where_both_twins_are_stored():
    """A table where one setting has both twins and another only its correct run: None becomes NaN in the verdicts'
    column, and the second setting must still read 'only the correct twin is stored'."""
    from oracle_core.pages.wiring import protocol_sentences

    both = _table({("correct", 0): 0.6, ("released_code", 0): 0.3})
    one = _table({("correct", 0): 0.8}).assign(setting="t")
    text = protocol_sentences(protocol_verdicts(pd.concat([both, one], ignore_index=True)))
    assert "**s**: the paper's pruned losses resemble those of the released code's wiring (KS distance 0.30" in text
    assert "**t**: only the correct twin is stored at this profile (KS distance 0.80)" in text


def test_settings_with_no_run_of_ours_are_named_as_queued_not_tabled(monkeypatch):
    """protocol_table leaves out a twin setting with nothing of ours stored; queued() names it and the sentences list
    it in one line (not 'only the released-code twin is stored', as a row of NaN distances read before)."""
    from oracle_core.analysis import which_protocol
    from oracle_core.pages.wiring import protocol_sentences

    monkeypatch.setattr(which_protocol, "stored_result", lambda spec, experiment, root: None)
    table = which_protocol.protocol_table("converged")
    assert table.empty
    names = which_protocol.queued("converged", table)
    assert "conv1 @ 0.5" in names and "conv2 @ 0.3" in names and len(names) == len(set(names))
    text = protocol_sentences(protocol_verdicts(_table({("correct", 0): 0.6, ("released_code", 0): 0.3})), ["x @ 1"])
    assert text.endswith("- Queued in the grid, no run of ours stored yet (1): x @ 1.")


def test_the_page_table_names_each_network_in_its_row():
    """protocol_view: one row per (setting, source and network), the figure's network unnamed, others 'network k';
    no seed column (the page's column is narrow)."""
    from oracle_core.pages.wiring import protocol_view

    t = _table({("correct", 0): 0.6, ("released_code", 0): 0.3, ("correct", 2): 0.5})
    for c in COLUMNS:
        if c not in t:
            t[c] = 1.0
    v = protocol_view(t)
    assert list(v.index) == [("s", "paper's points"), ("s", "ours, correct wiring"), ("s", "ours, released wiring"),
                             ("s", "ours, correct wiring, network 2")]
    assert "seed" not in v.columns and v.index.is_unique
