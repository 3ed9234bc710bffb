"""A single-setting page (LeNet5-Mini/MNIST conv1, ResNet56, VGG19, ResNet18, ViT-B/16): the protocol as run, ours
next to the paper's row, whether they agree, the paper's own points checked by our code. Never typed by hand."""

from __future__ import annotations

import html
import math

import pandas as pd
from IPython.display import HTML

from ..analysis import reference, single
from ..analysis.agreement import UNDERTRAINED_PP
from ..analysis.collapse import Collapse, NetworkTwin, network_twins, setting_collapses
from ..analysis.like_for_like import comparison_state, verdict_of
from ..analysis.names import model_name
from ..analysis.oracle import paper_oracle
from ..analysis.single import StudyResult, check_summary, run_command, stored_result
from . import downloads, rerun

__all__ = ["check_summary", "collapse_text", "comparison_table", "data_links", "disagreement", "not_stored",
           "page_spec", "paper_check", "protocol_sentence", "rerun_box", "setting_title", "stored_result"]


def setting_title(spec) -> str:
    """A title that fits a line: more than three pruned layers are counted, not listed (the spec lists them)."""
    ls = spec.layers
    layers = spec.layers_text if len(ls) <= 3 else f"{len(ls)} layers ({ls[0]} to {ls[-1]})"
    return f"{model_name(spec.model)} / {spec.dataset}, {layers} at ratio {spec.ratio:g}"


def rerun_box(notebook: str, spec, experiment: str, result: StudyResult | None) -> HTML:
    """The single-setting page's re-run box: its papermill command, the CLI equivalent, the measured time."""
    params = single.rerun_params(spec)
    walls = (result.env.get("wall_s_this_invocation") or {}) if result is not None else {}
    measured = sum(walls.values()) if walls and not result.env.get("earlier_invocations") else None
    return HTML(rerun.setting_box(notebook, params, run_command(spec, experiment), measured))


def data_links(spec, result: StudyResult | None) -> HTML:
    """The CSV files behind the page: our per-mask table (when stored) and the paper's points (when published)."""
    parts = []
    if result is not None:
        parts.append(f"ours (profile <code>{html.escape(spec.profile)}</code>, one row per mask and retraining): "
                     + downloads.ours(result, setting_title(spec)))
    panel = reference.panel_name(spec.model, spec.dataset, spec.layers, spec.ratio)
    if panel is not None:
        parts.append("the paper's recovered points: " + downloads.paper(panel, panel))
    if not parts:
        return HTML("<p>No data behind this page yet: the setting is not stored and the paper published no panel.</p>")
    return HTML(downloads.block(["<p>" + "; ".join(parts) + ".</p>"]))


def protocol_sentence(res: StudyResult) -> str:
    s, env = res.spec, res.env
    n, cands = res.summary["n_masks"], int(res.summary.get("candidates", res.summary["n_masks"]))
    scored = (f"every one of the {cands} candidate masks" if s.n_masks == 0 else
              f"{cands} candidate masks sampled without duplicates (seed {s.seed})") + " scored by pruned train loss"
    retrained = (f"all {n} retrained" if n == cands else
                 f"a seeded uniform sample of N = {n} of them retrained, with the oracle's own pick and the L1 and "
                 "Taylor picks retrained beside it (kept out of N)")
    return (f"**Profile `{s.profile}`** "
            f"({'the paper protocol' if s.profile == 'paper' else 'a reduced protocol, not the paper'}): "
            f"{scored}; {retrained}; retraining {s.retrain.describe()}; {s.repeats} repeat(s) per "
            f"mask; "
            f"training set {s.train_subset or 'all'} images, retraining on {s.retrain_subset or 'all'} of them; "
            f"wiring `{s.wiring}`"
            + (f"; retraining arithmetic `{s.precision}`, not the protocol's fp32" if s.precision != "fp32" else "")
            + f". {single.profile_headline(s)} Run on {env.get('device', '?')} with torch {env.get('torch', '?')}, "
            f"code {str(env.get('code_version', '?'))[:12]}; results in `{res.dir.parent.name}/{res.dir.name}/`.")


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{100 * v:.2f}" if pct else f"{v:+.2f}"


def _p(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2g}"


def comparison_table(res: StudyResult) -> pd.DataFrame:
    """Ours next to the paper's published row (reference_results.csv) for the same setting."""
    s, sm = res.spec, res.summary
    po = paper_oracle(sm)  # the oracle over every candidate (analysis/oracle.py), as the paper defines it
    ours = {"N masks": sm["n_masks"], "Kendall tau (acc)": _fmt(sm["kendall_tau"]), "p": _p(sm["p_value"]),
            "anomaly ratio %": _fmt(po.anomaly_ratio, True),
            "oracle final acc %": _fmt(po.final_test_acc, True),
            "median final acc %": _fmt(sm["final_acc_median"], True),
            "Kendall tau (test loss)": _fmt(sm.get("kendall_tau_loss")),
            "anomaly ratio % (test loss)": _fmt(sm.get("anomaly_ratio_loss"), True),
            "retrain epochs": s.retrain.epochs, "repeats": s.repeats}
    rows = {f"ours ({s.profile})": ours}
    ref = reference.paper_row(s.model, s.dataset, s.layers, s.ratio)
    if ref is not None:
        rows["paper"] = {"N masks": int(ref["n_masks"]), "Kendall tau (acc)": f"{ref['kendall_tau']:+.2f}",
                         "p": ref["p_value"], "anomaly ratio %": f"{ref['anomaly_ratio_percent']:.2f}",
                         "oracle final acc %": f"{ref['oracle_final_acc_percent']:.2f}",
                         "median final acc %": f"{ref['final_acc_median_percent']:.2f}",
                         "Kendall tau (test loss)": "not published", "anomaly ratio % (test loss)": "not published",
                         "retrain epochs": int(ref["retrain_epochs"]), "repeats": 3}
    return pd.DataFrame(rows).T


def collapse_text(c: dict[str, Collapse], whose: str = "the twin's", networks: tuple[NetworkTwin, ...] = ()) -> str:
    """The measured reason a released-code twin ends far below the paper's accuracy, as one or two sentences (the
    front page's answer and the setting's own sentence print it): how many of its retrainings collapsed to naming one
    class, beside the correctly wired run and the paper's points (``c``: collapse.setting_collapses(...)), then the
    same setting's twins from other pretrained networks (``networks``: collapse.network_twins(...)), which say
    whether the network alone accounts for the gap; "" without the twin's reading."""
    r = c.get("released_code")
    if r is None or not r.of:
        return ""
    return (_collapse_sentence(r, c, whose) + " " + networks_text(networks)).strip()


def networks_text(networks: tuple[NetworkTwin, ...]) -> str:
    """Whether the pretrained network alone accounts for a released-code twin far below the paper's accuracy: the
    twins of the same setting from other networks, each with its median and collapsed retrainings; "" without any."""
    if not networks:
        return ""
    each = "; ".join(f"network {t.seed}: median {100 * t.collapse.median:.2f}%, {t.collapse.n} of {t.collapse.of} "
                     "collapsed" for t in networks)
    n = len(networks)
    head = (f"From {n} other pretrained network{'s' if n > 1 else ''} (each its own sample of masks), the twin "
            f"gives {each}")
    reach = [t.seed for t in networks if not t.short]
    if not reach:
        return (f"{head}: {'every one ends' if n > 1 else 'it ends'} far below the paper's accuracy too, so the "
                "pretrained network alone does not account for the gap.")
    return (f"{head}: with network{'s' if len(reach) > 1 else ''} {', '.join(map(str, reach))} the twin ends within "
            f"{UNDERTRAINED_PP:g} pp of the paper's median accuracy or above it, so which network was pretrained can "
            "by itself account for the gap." + _network_verdicts(networks))


def _network_verdicts(networks: tuple[NetworkTwin, ...]) -> str:
    """The converged networks' twins compared with the paper's tau by the verdicts' own rule, beside the verdict."""
    judged = [t for t in networks if t.verdict is not None and t.verdict.state in ("agrees", "differs")]
    if not judged:
        return ""
    each = "; ".join(f"network {t.seed}'s twin gives tau {t.verdict.ours:+.2f}, which {t.verdict.state} "
                     f"({t.verdict.difference:+.2f} {'within' if t.verdict.state == 'agrees' else 'beyond'} "
                     f"±{t.verdict.halfwidth:.2f})" for t in judged)
    return (f" Compared like with like against the paper's tau ({judged[0].verdict.paper:+.2f}), {each}: one "
            "network's reading, reported beside this setting's verdict and not counted in it.")


def _collapse_sentence(r: Collapse, c: dict[str, Collapse], whose: str) -> str:
    others = []
    if c.get("correct") is not None and c["correct"].of:
        k = c["correct"]
        others.append(f"{k.n} of {k.of} correctly wired (median {100 * k.median:.2f}%)")
    if c.get("paper") is not None and c["paper"].of:
        k = c["paper"]
        others.append(f"{k.n} of the paper's {k.of} points (each a mean of 3 retrainings; median "
                      f"{100 * k.median:.2f}%, lowest {100 * k.lowest:.2f}%)")
    beside = f", against {' and '.join(others)}" if others else ""
    if not r.n:
        return (f"None of {whose} {r.of} retrainings ends as low as naming one class for every test image (its "
                f"lowest {100 * r.lowest:.2f}%, median {100 * r.median:.2f}%), so a collapse does not explain the gap.")
    return (f"Measured: {r.n} of {whose} {r.of} retrainings end no better than naming one class for every test "
            f"image (at most {100 * r.limit:.2f}%; its median {100 * r.median:.2f}%){beside}.")


def disagreement(res: StudyResult) -> str:
    """A plain statement of how our setting compares with the paper's: under-trained first (the median accuracy
    decides whether tau can be compared at all), then tau. Reasons for a disagreement are not guessed here: the
    figure pages append the measurements stored for that setting (pages/disagreements.py)."""
    s, sm = res.spec, res.summary
    state = comparison_state(res)
    if state == "no paper number":
        return "The paper published no number for this setting."
    ref = reference.paper_row(s.model, s.dataset, s.layers, s.ratio)
    ours, theirs = sm["kendall_tau"], float(ref["kendall_tau"])
    med, paper_med = 100 * float(sm["final_acc_median"]), float(ref["final_acc_median_percent"])
    if state == "under-trained":
        return (f"**Under-trained:** our median final accuracy ({med:.2f}%) is {paper_med - med:.1f} pp below the "
                f"paper's ({paper_med:.2f}%): retrained {s.retrain.epochs} epochs on "
                f"{s.retrain_subset or 'all'} images, the networks have not converged, so this tau ({_fmt(ours)}, "
                f"paper {theirs:+.2f}) cannot answer the paper's question and is left out of every count.")
    if state == "undefined":
        return "Our Kendall tau is undefined here (all final accuracies tie), so it cannot be compared."
    v = verdict_of(s.profile, res.dir.parent.parent, s.model, s.dataset, "+".join(s.layers), s.ratio)
    if state == "twin not comparable":
        return (f"Our Kendall tau is {ours:+.2f}, the paper's {theirs:+.2f}, with our median accuracy {med:.2f}% "
                f"(paper {paper_med:.2f}%). Not judged: our released-code twin (the protocol the paper's code ran) "
                f"ends {-v.median_gap_pp:.1f} pp below the paper's median accuracy, so it is not the run the paper "
                "measured, and the correctly wired run is not the paper's protocol. "
                + collapse_text(setting_collapses(s.profile, s.model, s.dataset, "+".join(s.layers), s.ratio,
                                                  res.dir.parent.parent), "the twin's",
                                network_twins(s.profile, s.model, s.dataset, "+".join(s.layers), s.ratio,
                                              res.dir.parent.parent))).rstrip()
    if state == "twin not stored":
        return (f"Our Kendall tau (correct wiring) is {ours:+.2f}, the paper's {theirs:+.2f} (difference "
                f"{ours - theirs:+.2f}), with our median accuracy {med:.2f}% (paper {paper_med:.2f}%). Not compared "
                "yet: the paper's code wires the pruned sub-networks differently (the Wiring page), and our run of its "
                "protocol, the released-code twin on the same network and masks, is not stored yet.")
    if v.state not in ("agrees", "differs"):
        return (f"Our Kendall tau is {ours:+.2f}, the paper's {theirs:+.2f} (difference {ours - theirs:+.2f}), with "
                f"our median accuracy {med:.2f}% (paper {paper_med:.2f}%). Not judged: the interval that carries the "
                "variation of the masks and of the pretrained network is computed for the MNIST family, where other "
                "pretrained networks are re-run.")
    whose = (f"our released-code twin's ({v.ours:+.2f}; the protocol the paper's code ran; correctly wired ours is "
             f"{ours:+.2f})" if v.twin else f"ours ({v.ours:+.2f})")
    if state == "agrees":
        return (f"The paper's Kendall tau ({theirs:+.2f}) agrees with {whose}: the difference {v.difference:+.2f} lies "
                f"inside ±{v.halfwidth:.2f}, the interval the masks and the pretrained network give, with our median "
                f"accuracy {med:.2f}% (paper {paper_med:.2f}%).")
    return (f"**Disagreement:** the paper's Kendall tau ({theirs:+.2f}) differs from {whose} by {v.difference:+.2f}, "
            f"beyond ±{v.halfwidth:.2f}, the interval the masks and the pretrained network give, with our median "
            f"accuracy {med:.2f}% within {UNDERTRAINED_PP:g} pp of the paper's ({paper_med:.2f}%).")


def paper_check(panel: str) -> pd.DataFrame:
    """Our analysis code on the paper's own recovered points, next to the values it printed."""
    c = single.points_check(panel)
    return pd.DataFrame({"printed by the paper": {"Kendall tau": f"{c.printed_tau:+.2f}",
                                                   "anomaly ratio %": f"{c.printed_anomaly_percent:.2f}",
                                                   "N": c.printed_n},
                         "our analysis of its points": {"Kendall tau": f"{c.tau:+.2f}",
                                                        "anomaly ratio %": f"{100 * c.anomaly_ratio:.2f}",
                                                        "N": c.n}})


def page_spec(model: str, dataset: str, layers: str, ratio: float, n_masks: int, seed: int, repeats: int | None,
              profile: str, wiring: str, compute: bool, precision: str = "fp32"):
    """A notebook's spec and a note: where the model has no such profile (a book build asks every page for one),
    the page shows the paper's protocol and the note says so (analysis/single.page_spec decides)."""
    ps = single.page_spec(model, dataset, layers, ratio, n_masks, seed, repeats, profile, wiring, compute, precision)
    note = "" if not ps.fallback else (f"*{model} has no `{profile}` profile ({ps.fallback}); this page shows the "
                                       "paper's protocol instead.*\n\n")
    return ps.spec, note


def not_stored(spec, experiment: str) -> str:
    """What a read-only page says for a setting the store lacks: the exact command that produces it."""
    return (f"**{setting_title(spec)}, profile `{spec.profile}`: not in the results store yet.** This page only "
            f"reads the store when the book is built; produce it with\n\n"
            f"```\n{run_command(spec, experiment)}\n```\n\n"
            "or execute this notebook with `-p compute True` (the default).")
