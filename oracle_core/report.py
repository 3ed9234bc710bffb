"""Text and tables for the book, computed from stored results (never typed by hand)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import analysis, reference
from .spec import profile_of
from .errors import OracleError
from .runner import StudyResult

from .analysis import TAU_DISAGREEMENT  # noqa: E402  (re-exported for the pages)


def setting_title(spec) -> str:
    return f"{spec.model} / {spec.dataset}, {spec.layers_text} at ratio {spec.ratio:g}"


def protocol_sentence(res: StudyResult) -> str:
    s, env = res.spec, res.env
    prof = profile_of(s)
    masks = "every mask" if s.n_masks == 0 else f"{s.n_masks} masks sampled without duplicates (seed {s.seed})"
    return (f"**Profile `{s.profile}`** ({'the paper protocol' if s.profile == 'paper' else 'a reduced protocol, not the paper'}): "
            f"{masks}, N = {res.summary['n_masks']}; retraining {s.retrain.describe()}; {s.repeats} repeat(s) per mask; "
            f"training set {s.train_subset or 'all'} images, retraining on {s.retrain_subset or 'all'} of them; "
            f"wiring `{s.wiring}`"
            + (f"; retraining arithmetic `{s.precision}`, not the protocol's fp32" if s.precision != "fp32" else "")
            + f". {prof.why} Run on {env.get('device', '?')} with torch {env.get('torch', '?')}, "
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
    ours = {"N masks": sm["n_masks"], "Kendall tau (acc)": _fmt(sm["kendall_tau"]), "p": _p(sm["p_value"]),
            "anomaly ratio %": _fmt(sm["anomaly_ratio"], True),
            "oracle final acc %": _fmt(sm["oracle_final_test_acc"], True),
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


def disagreement(res: StudyResult) -> str:
    """A plain statement of how our setting compares with the paper's: under-trained first (the median accuracy
    decides whether tau can be compared at all), then tau. Reasons for a disagreement are not guessed here: the
    figure pages append the measurements stored for that setting (figures.disagreements)."""
    s, sm = res.spec, res.summary
    ref = reference.paper_row(s.model, s.dataset, s.layers, s.ratio)
    if ref is None:
        return "The paper published no number for this setting."
    ours, theirs = sm["kendall_tau"], float(ref["kendall_tau"])
    med, paper_med = 100 * float(sm["final_acc_median"]), float(ref["final_acc_median_percent"])
    if analysis.under_trained(med, paper_med):
        return (f"**Under-trained:** our median final accuracy ({med:.2f}%) is {paper_med - med:.1f} pp below the "
                f"paper's ({paper_med:.2f}%): retrained {s.retrain.epochs} epochs on "
                f"{s.retrain_subset or 'all'} images, the networks have not converged, so this tau ({_fmt(ours)}, "
                f"paper {theirs:+.2f}) cannot answer the paper's question and is left out of every count.")
    if ours is None:
        return "Our Kendall tau is undefined here (all final accuracies tie), so it cannot be compared."
    diff = ours - theirs
    if abs(diff) <= TAU_DISAGREEMENT:
        return (f"Our Kendall tau ({ours:+.2f}) agrees with the paper's ({theirs:+.2f}) within {TAU_DISAGREEMENT} "
                f"(difference {diff:+.2f}), with our median accuracy {med:.2f}% (paper {paper_med:.2f}%).")
    return (f"**Disagreement:** our Kendall tau ({ours:+.2f}) differs from the paper's ({theirs:+.2f}) by {diff:+.2f}, "
            f"more than {TAU_DISAGREEMENT}, with our median accuracy {med:.2f}% within {analysis.UNDERTRAINED_PP:g} pp "
            f"of the paper's ({paper_med:.2f}%).")


def paper_check(panel: str) -> pd.DataFrame:
    """Our analysis code on the paper's own recovered points, next to the values it printed."""
    pts = reference.paper_points(panel)
    row = reference.paper_panel(panel)
    st = analysis.analyze(pts["pruned_train_loss"].to_numpy(), pts["final_test_acc"].to_numpy())
    return pd.DataFrame({"printed by the paper": {"Kendall tau": f"{row['printed_tau']:+.2f}",
                                                   "anomaly ratio %": f"{row['printed_anomaly_percent']:.2f}",
                                                   "N": int(row["n_points"])},
                         "our analysis of its points": {"Kendall tau": f"{st['kendall_tau']:+.2f}",
                                                        "anomaly ratio %": f"{100 * st['anomaly_ratio']:.2f}",
                                                        "N": st["n_masks"]}})


def check_summary(res: StudyResult) -> None:
    """Assert that the stored summary is what the analysis computes from the stored masks.csv."""
    again = analysis.summarize(analysis.per_mask(res.masks))
    for key in ("n_masks", "kendall_tau", "p_value", "kendall_tau_loss", "anomaly_ratio", "anomaly_ratio_loss",
                "oracle_mask_id"):
        a, b = res.summary[key], again[key]
        if isinstance(a, float) or isinstance(b, float):
            assert (a is None and b is None) or np.isclose(a, b, rtol=1e-9, atol=1e-12), (key, a, b)
        else:
            assert a == b, (key, a, b)


def wiring_table(runs: dict) -> pd.DataFrame:
    """One row per (layer, wiring): tau, p, anomaly ratio, the oracle's pick and its accuracy, and the paper's."""
    rows = []
    for (layer, wiring), res in runs.items():
        s, sm = res.spec, res.summary
        ref = reference.paper_row(s.model, s.dataset, s.layers, s.ratio)
        rows.append({"layers": layer, "wiring": wiring, "N": sm["n_masks"], "Kendall tau": _fmt(sm["kendall_tau"]),
                     "p": _p(sm["p_value"]), "anomaly ratio %": _fmt(sm["anomaly_ratio"], True),
                     "oracle's pick": sm["oracle_kept"], "oracle final acc %": _fmt(sm["oracle_final_test_acc"], True),
                     "oracle rank (1 = best)": sm["oracle_acc_rank"],
                     "paper tau": "n/a" if ref is None else f"{ref['kendall_tau']:+.2f}",
                     "paper anomaly %": "n/a" if ref is None else f"{ref['anomaly_ratio_percent']:.2f}"})
    return pd.DataFrame(rows).set_index(["layers", "wiring"])


def wiring_conclusion(runs: dict) -> str:
    """Plain words: which wiring lands nearer the paper's tau, and whether the oracle's verdict changes."""
    parts = []
    for layer in dict.fromkeys(k[0] for k in runs):
        c, r = runs[layer, "correct"].summary, runs[layer, "released_code"].summary
        s = runs[layer, "correct"].spec
        ref = reference.paper_row(s.model, s.dataset, s.layers, s.ratio)
        verdict = {w: analysis.oracle_fails(x["kendall_tau"], x["p_value"], x["anomaly_ratio"])
                   for w, x in (("correct", c), ("released_code", r))}
        line = (f"**{layer}**: tau {_fmt(c['kendall_tau'])} with the correct sub-network, {_fmt(r['kendall_tau'])} "
                f"with the released code's wiring")
        if ref is not None and c["kendall_tau"] is not None and r["kendall_tau"] is not None:
            nearer = "released-code" if abs(r["kendall_tau"] - ref["kendall_tau"]) < abs(
                c["kendall_tau"] - ref["kendall_tau"]) else "correct"
            line += f" (paper {ref['kendall_tau']:+.2f}; the {nearer} wiring is nearer)"
        line += ("; the oracle's pick is the same mask" if c["oracle_mask_id"] == r["oracle_mask_id"]
                 else f"; the oracles pick different masks ({c['oracle_kept']} vs {r['oracle_kept']})")
        line += (". By the paper's flags the oracle " + ("fails" if verdict["correct"] else "works") +
                 " with correct wiring and " + ("fails" if verdict["released_code"] else "works") +
                 " with the released wiring.")
        parts.append(line)
    parts.append(_wiring_meaning(runs))
    return "\n\n".join(parts)


def _wiring_meaning(runs: dict) -> str:
    """One paragraph in plain words: does the released code's mis-wiring change the paper's conclusion?"""
    layers = list(dict.fromkeys(k[0] for k in runs))
    taus = {w: [runs[layer, w].summary["kendall_tau"] for layer in layers] for w in ("correct", "released_code")}
    if any(t is None for ts in taus.values() for t in ts):
        return "**What this means:** a tau is undefined in at least one setting, so no overall reading is given."
    diff = [r - c for c, r in zip(taus["correct"], taus["released_code"])]
    flips = [layer for layer in layers if analysis.oracle_fails(
        runs[layer, "correct"].summary["kendall_tau"], runs[layer, "correct"].summary["p_value"],
        runs[layer, "correct"].summary["anomaly_ratio"]) != analysis.oracle_fails(
        runs[layer, "released_code"].summary["kendall_tau"], runs[layer, "released_code"].summary["p_value"],
        runs[layer, "released_code"].summary["anomaly_ratio"])]
    direction = ("more negative (the mis-wired loss tracks the final accuracy *better*)" if all(d < 0 for d in diff)
                 else "less negative (the mis-wired loss tracks the final accuracy *worse*)" if all(d > 0 for d in diff)
                 else "sometimes more and sometimes less negative")
    verdict = ("The paper's flags give the same verdict under both wirings in every setting here, so for these "
               "LeNet settings the mis-wiring does not change the paper's conclusion, only the size of its "
               "correlations." if not flips else
               f"The paper's flags change verdict in {', '.join(flips)}: there the conclusion depends on the wiring.")
    return (f"**What this means for the paper's conclusion:** over {len(layers)} setting(s) the released code's "
            f"wiring makes tau {direction}, by {min(diff):+.2f} to {max(diff):+.2f}. {verdict} "
            "The paper's LeNet numbers were measured with the released wiring, so where the two differ, the "
            "correct sub-network's tau is the one that answers the paper's question.")


def stored_result(spec, experiment: str, results_root=None) -> StudyResult | None:
    """The stored result of ``spec`` if its run finished, else None (never trains)."""
    from .runner import load_result
    from .store import RunStore

    store = RunStore(spec, experiment, results_root)
    return load_result(store) if store.is_complete() else None


def page_spec(model: str, dataset: str, layers: str, ratio: float, n_masks: int, seed: int, repeats: int | None,
              profile: str, wiring: str, compute: bool, precision: str = "fp32"):
    """A notebook's spec and a note. A book build (compute False) asks every page for one profile; a model with no
    such profile (ResNet18 has no cpu one) shows its paper protocol instead, and the note says so."""
    from .spec import make_spec

    try:
        return make_spec(model, dataset, layers, ratio, n_masks, seed, repeats, profile, wiring,
                         precision=precision), ""
    except OracleError as exc:
        if compute or "is not defined for" not in str(exc):
            raise
        spec = make_spec(model, dataset, layers, ratio, n_masks, seed, repeats, "paper", wiring, precision=precision)
        return spec, (f"*{model} has no `{profile}` profile ({exc}); this page shows the paper's protocol "
                      "instead.*\n\n")


def layers_arg(spec) -> str:
    """The shortest --layers that names spec.layers: 'all', a block pattern, or the names joined by '+'."""
    from .data import get_dataset_info
    from .models import build_model, prunable_layers
    from .spec import expand_layers

    info = get_dataset_info(spec.dataset)
    net = build_model(spec.model, info.in_channels, info.num_classes)
    names = tuple(prunable_layers(net))
    aliases = getattr(net, "layer_aliases", {})
    for alias, hits in aliases.items():
        if len(spec.layers) > 1 and tuple(hits) == tuple(spec.layers):
            return alias
    for pattern in ("all", "layer*.conv1"):
        try:
            if len(spec.layers) > 1 and expand_layers((pattern,), names) == tuple(spec.layers):
                return pattern if pattern == "all" else f"'{pattern}'"
        except OracleError:
            continue
    return spec.layers_text


def run_command(spec, experiment: str) -> str:
    """The CLI command that produces (or resumes) ``spec`` in results/<experiment>/: one spelling for every page."""
    prof = profile_of(spec)
    return (f"python -m oracle_core run --experiment {experiment} --model {spec.model} --dataset {spec.dataset} "
            f"--layers {layers_arg(spec)} --ratio {spec.ratio:g}" + (f" --n-masks {spec.n_masks}" if spec.n_masks else "")
            + ("" if spec.wiring == "correct" else f" --wiring {spec.wiring}") + f" --profile {spec.profile}"
            + ("" if spec.precision == "fp32" else f" --precision {spec.precision}")
            + (f" --repeats {spec.repeats}" if spec.repeats != prof.repeats else "")
            + (" --short-retrain" if spec.retrain != prof.retrain and spec.retrain == prof.short_retrain else ""))


def not_stored(spec, experiment: str) -> str:
    """What a read-only page says for a setting the store lacks: the exact command that produces it."""
    return (f"**{setting_title(spec)}, profile `{spec.profile}`: not in the results store yet.** This page only "
            f"reads the store when the book is built; produce it with\n\n```\n{run_command(spec, experiment)}\n```\n\n"
            "or execute this notebook with `-p compute True` (the default).")
