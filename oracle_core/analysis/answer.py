"""The study's answer at one profile, as numbers the front page and the summary word (pages/summary.py): the
like-for-like verdicts (like_for_like), the paper's failure flags with the paper's oracle (collect.headline) and
which wiring the paper's points resemble (which_protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .collapse import Collapse, NetworkTwin, network_twins, setting_collapses
from .collect import headline, runs_table
from .like_for_like import like_for_like
from .which_protocol import protocol_table, protocol_verdicts


@dataclass(frozen=True)
class ShortTwin:
    """A released-code twin far below the paper's accuracy (not the run the paper measured, so left out of the
    comparison), with the measured reason: its collapsed retrainings under each wiring stored ("released_code",
    "correct") and among the paper's points (empty: no reading), and the same setting's twins from the other
    pretrained networks stored (whether the network alone accounts for the gap)."""

    setting: str
    median_gap_pp: float
    collapse: dict[str, Collapse]
    networks: tuple[NetworkTwin, ...] = ()


@dataclass(frozen=True)
class Answer:
    """The study's answer at one profile, as numbers the front page and the summary word (pages/summary.py)."""

    n_compared: int  # published settings compared: a converged released-code twin (the protocol the paper's code ran)
    n_agree: int  # inside the masks-and-networks interval
    n_differ: int
    mean_halfwidth: float
    network_sd: float  # between-network sd of tau (DerSimonian-Laird)
    network_settings: int
    networks: int
    n_fail_ours: int  # the paper's failure flags with the paper's oracle, on our converged settings
    n_fail_paper_same: int  # the paper's flags on the same settings, from its own numbers
    n_protocol_settled: int  # settings whose pruned losses settle which wiring the paper's points resemble
    n_protocol_released: int  # of the settings with both twins, those nearer the released code's wiring
    n_protocol_both: int  # settings with both twins stored
    differing: tuple[str, ...]  # the settings outside the interval
    n_fail_of: int = 0  # the converged correct-wiring settings the failure flags are counted over
    n_fail_twin: int = 0  # the paper's flags on our converged released-code twins (the runs compared with the paper)
    n_fail_twin_of: int = 0  # the converged twins they are counted over
    n_fail_paper_twin_same: int = 0  # the paper's flags on the same settings, from its own numbers
    twin_short: tuple[ShortTwin, ...] = ()  # settings left out: their released-code twin ends far below the paper
    waiting: tuple[str, ...] = ()  # settings with only their correct-wiring run stored: not compared until the twin is


def short_twins(table: pd.DataFrame) -> pd.DataFrame:
    """The like-for-like rows whose released-code twin ends far below the paper's accuracy: not the run the paper
    measured, so left out of the comparison (named, with a measured reason, by the pages)."""
    return table[table["under-trained"] & (table["compared"] == "released-code twin")]


def answer(table: pd.DataFrame, var: dict, head: dict, verdicts: pd.DataFrame,
           collapses: dict[str, dict[str, Collapse]] | None = None,
           networks: dict[str, tuple[NetworkTwin, ...]] | None = None) -> Answer:
    """``table``, ``var``: like_for_like(...); ``head``: collect.headline(...); ``verdicts``:
    which_protocol.protocol_verdicts(...); ``collapses``: setting name -> collapse.setting_collapses(...), and
    ``networks``: setting name -> collapse.network_twins(...), for the settings whose released-code twin ends far
    below the paper's accuracy (missing: no reading)."""
    ok = table[table["verdict"].isin(("agrees", "differs"))]
    short = short_twins(table)
    both = verdicts[verdicts["nearer"].notna()] if len(verdicts) else verdicts
    return Answer(
        n_compared=len(ok), waiting=tuple(table[table["verdict"] == "twin not stored"]["setting"]),
        n_agree=int((ok["verdict"] == "agrees").sum()), n_differ=int((ok["verdict"] == "differs").sum()),
        mean_halfwidth=float(ok["interval ±"].mean()) if len(ok) else float("nan"), network_sd=var["sd"],
        network_settings=var["settings"], networks=var["networks"], n_fail_ours=int(head["n_fail_ours"]),
        n_fail_paper_same=int(head["n_fail_paper_same"]), n_protocol_settled=int(both["settled"].sum()) if len(both)
        else 0, n_protocol_released=int((both["nearer"] == "released_code").sum()) if len(both) else 0,
        n_protocol_both=len(both), differing=tuple(ok[ok["verdict"] == "differs"]["setting"]),
        n_fail_of=int(head.get("n_converged", len(ok))), n_fail_twin=int(head.get("n_fail_twin", 0)),
        n_fail_twin_of=int(head.get("n_twin_converged", 0)),
        n_fail_paper_twin_same=int(head.get("n_fail_paper_twin_same", 0)),
        twin_short=tuple(ShortTwin(r["setting"], float(r["median gap pp"]), (collapses or {}).get(r["setting"], {}),
                                   (networks or {}).get(r["setting"], ())) for _, r in short.iterrows()))


def study_answer(profile: str, root: Path | None = None) -> Answer:
    """The Answer at ``profile`` from the store: the like-for-like verdicts, the paper's flags with the paper's oracle
    (collect.headline) and which wiring the paper's points resemble (which_protocol)."""
    table, var = like_for_like(profile, root)
    head = headline(runs_table(root), profile)
    short = short_twins(table)
    collapses = {r["setting"]: setting_collapses(profile, r["model"], r["dataset"], r["layers"], r["ratio"], root)
                 for _, r in short.iterrows()}
    networks = {r["setting"]: network_twins(profile, r["model"], r["dataset"], r["layers"], r["ratio"], root)
                for _, r in short.iterrows()}
    return answer(table, var, head, protocol_verdicts(protocol_table(profile, root)), collapses, networks)


