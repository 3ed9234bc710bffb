"""What each figure page of the book shows, computed from the results store only (never trains).

A page asks for the grid settings of its figure (``cells``), then draws our panels and the paper's panels
with the same helper, and a table of ours next to the paper's numbers. A setting not in the store yet is a
visible placeholder with the exact command that produces it, so an unfinished grid still builds a truthful book.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from . import analysis, charts, reference
from .errors import OracleError
from .grid import GridEntry, mnist_grid
from .protocol import get_profile
from .spec import profile_of
from .report import TAU_DISAGREEMENT, run_command, stored_result
from .runner import StudyResult


@dataclass
class Cell:
    """One setting of a figure: the grid entry, our stored result (or None), and the paper's panel."""

    entry: GridEntry
    result: StudyResult | None
    panel: str | None  # the paper's scatter panel name in paper_points.csv, if it published one
    command: str  # the exact command that produces (or resumed) our result

    @property
    def title(self) -> str:
        e = self.entry
        what = {"lenet_variants": e.model.replace("lenet5_mini", "LeNet5-Mini").replace("_", "-"),
                "mnist_variants": e.dataset}.get(e.experiment, f"{e.layers} @ {e.ratio:g}")
        title = what if e.experiment != "lenet_mnist" else f"{e.layers} @ {e.ratio:g}"
        return title if e.wiring == "correct" else f"{title} ({e.wiring} wiring)"


def cells(profile: str, experiment: str | None = None, results_root: Path | None = None,
          wiring: str = "correct", where=None) -> list[Cell]:
    """The grid settings of one figure with whatever the store holds for them at ``profile``."""
    out = []
    for e in mnist_grid():
        auxiliary = e.repeats or e.short_retrain  # noise-ceiling and short runs: only on their own pages
        if (experiment and e.experiment != experiment) or e.wiring != wiring or (where and not where(e)) or (
                auxiliary and experiment != e.experiment):
            continue
        if (e.profiles and profile not in e.profiles) or profile in e.not_profiles:
            continue
        spec = e.spec(profile)
        res = stored_result(spec, e.experiment, results_root)
        cmd = run_command(spec, e.experiment)
        out.append(Cell(e, res, reference.panel_name(e.model, e.dataset, tuple(e.layers.split("+")), e.ratio), cmd))
    order = {e: i for i, e in enumerate(_paper_order())}
    return sorted(out, key=lambda c: order.get(c.entry, 999))


def _paper_order() -> list[GridEntry]:
    """Figure order (layer, then ratio), not the grid's run order."""
    def k(e: GridEntry):
        return (e.experiment, e.model, e.dataset, e.layers.count("+"), e.layers, e.ratio)
    return sorted(mnist_grid(), key=k)


# ---- tables -------------------------------------------------------------------------------------------

def _num(v) -> float:
    return float("nan") if v is None else float(v)


def setting_table(cs: list[Cell]) -> pd.DataFrame:
    """One row per setting: our tau, p, anomaly ratio, oracle and median accuracy next to the paper's, and the
    verdict (analysis.verdict): under-trained when our median accuracy is more than UNDERTRAINED_PP below the
    paper's, else whether our tau disagrees with the paper's by more than TAU_DISAGREEMENT."""
    rows = []
    for c in cs:
        e, r = c.entry, c.result
        ref = reference.paper_row(e.model, e.dataset, tuple(e.layers.split("+")), e.ratio)
        sm = r.summary if r else {}
        row = {"setting": c.title, "N ours": sm.get("n_masks"), "tau ours": _num(sm.get("kendall_tau")),
               "tau paper": _num(None if ref is None else ref["kendall_tau"]),
               "p ours": _num(sm.get("p_value")), "p paper": None if ref is None else ref["p_value"],
               "anomaly % ours": 100 * _num(sm.get("anomaly_ratio")),
               "anomaly % paper": _num(None if ref is None else ref["anomaly_ratio_percent"]),
               "oracle acc % ours": 100 * _num(sm.get("oracle_final_test_acc")),
               "oracle acc % paper": _num(None if ref is None else ref["oracle_final_acc_percent"]),
               "median acc % ours": 100 * _num(sm.get("final_acc_median")),
               "median acc % paper": _num(None if ref is None else ref["final_acc_median_percent"]),
               "tau vs test loss ours": _num(sm.get("kendall_tau_loss")),
               "anomaly % vs test loss ours": 100 * _num(sm.get("anomaly_ratio_loss"))}
        row["verdict"] = ("not run yet" if r is None else
                          analysis.verdict(row["tau ours"], None if ref is None else row["tau paper"],
                                           row["median acc % ours"], row["median acc % paper"]))
        rows.append(row)
    return pd.DataFrame(rows).set_index("setting")


CHECK_PROFILE = "cpu_long"  # the reduction with the paper's 30 retraining epochs, run where `cpu` disagrees


def longer_retraining_check(c: Cell, results_root: Path | None = None) -> str:
    """A sentence with our tau for the same setting retrained with the paper's full recipe (CHECK_PROFILE), when
    that run is stored: it measures, rather than guesses, how much of a disagreement the short retraining causes."""
    if c.result is None or c.result.spec.profile == CHECK_PROFILE:
        return ""
    r = stored_result(c.entry.spec(CHECK_PROFILE), c.entry.experiment, results_root)
    if r is None or r.summary["kendall_tau"] is None:
        return ""
    ref = reference.paper_row(c.entry.model, c.entry.dataset, tuple(c.entry.layers.split("+")), c.entry.ratio)
    paper = "" if ref is None else f" (paper {float(ref['kendall_tau']):+.2f})"
    return (f" Measured: the same {r.summary['n_masks']} masks retrained {r.spec.retrain.epochs} epochs "
            f"(`{CHECK_PROFILE}`, the Profiles page) give tau {r.summary['kendall_tau']:+.2f}{paper}, against "
            f"{c.result.summary['kendall_tau']:+.2f} after {c.result.spec.retrain.epochs}.")


def released_wiring_check(c: Cell, results_root: Path | None = None) -> str:
    """A sentence with our tau for the same setting and profile when the pruned loss is measured the paper's
    released-code way (mis-wired next layer), when that run is stored: the wiring reason, measured."""
    if c.result is None or c.entry.wiring == "released_code":
        return ""
    e = replace(c.entry, wiring="released_code")
    r = stored_result(e.spec(c.result.spec.profile), e.experiment, results_root)
    if r is None or r.summary["kendall_tau"] is None:
        return ""
    return (f" Measured: with the pruned loss taken the released code's way (mis-wired, the Wiring page) the same "
            f"masks give tau {r.summary['kendall_tau']:+.2f}, against {c.result.summary['kendall_tau']:+.2f} "
            "correctly wired.")


UNTESTED_REASONS = ("a different pretrained network (the paper's code seeds nothing; one network here)",
                    "one retraining per mask here where the paper averages 3 (the noise-ceiling page measures it)")


def disagreements(cs: list[Cell], results_root: Path | None = None) -> str:
    """Markdown: the settings whose networks are under-trained (left out of the comparison), then every setting
    whose tau differs from the paper's by more than TAU_DISAGREEMENT with the measurements stored for it (longer
    retraining, the released code's wiring); where none is stored, the candidate reasons are named as untested.
    Never empty, never hidden."""
    from .report import disagreement

    done = [c for c in cs if c.result is not None]
    if not done:
        return "No setting of this figure has been run yet at this profile, so nothing can be compared."
    under = [c for c in done if disagreement(c.result).startswith("**Under-trained")]
    lines = []
    for c in done:
        text = disagreement(c.result)
        if "Disagreement" not in text:
            continue
        measured = longer_retraining_check(c, results_root) + released_wiring_check(c, results_root)
        if not measured:
            measured = " No stored measurement explains it yet; untested: " + "; ".join(UNTESTED_REASONS) + "."
        lines.append(f"- **{c.title}**: " + text.replace("**Disagreement:** ", "") + measured)
    parts = []
    if under:
        parts.append(f"{len(under)} of {len(done)} settings run so far are **under-trained** (median final accuracy "
                     f"more than {analysis.UNDERTRAINED_PP:g} pp below the paper's), so their tau is not compared: "
                     + ", ".join(c.title for c in under) + ".")
    compared = len(done) - len(under)
    if not lines:
        parts.append(f"In all {compared} converged settings our Kendall tau lies within {TAU_DISAGREEMENT} of the "
                     "paper's." if compared else "No converged setting is left to compare.")
    else:
        parts.append(f"{len(lines)} of the {compared} converged settings differ from the paper's tau by more than "
                     f"{TAU_DISAGREEMENT}:\n\n" + "\n".join(lines))
    return "\n\n".join(parts)


def missing_commands(cs: list[Cell]) -> str:
    todo = [c for c in cs if c.result is None]
    if not todo:
        return "Every setting of this figure is in the results store."
    return (f"{len(todo)} setting(s) are not in the results store yet; each of these commands produces one "
            "(or `python -m oracle_core grid` runs them all, resuming):\n\n```\n"
            + "\n".join(c.command for c in todo) + "\n```")


def paper_check_table(cs: list[Cell]) -> pd.DataFrame:
    """Our analysis code on the paper's recovered points of every panel of the figure, beside the printed values."""
    rows = []
    for c in cs:
        if c.panel is None:
            continue
        pts = reference.paper_points(c.panel)
        row = reference.paper_panel(c.panel)
        st = analysis.analyze(pts["pruned_train_loss"].to_numpy(), pts["final_test_acc"].to_numpy())
        rows.append({"setting": c.title, "N": len(pts), "tau printed": row["printed_tau"],
                     "tau, our code on its points": round(st["kendall_tau"], 4),
                     "anomaly % printed": row["printed_anomaly_percent"],
                     "anomaly %, our code on its points": round(100 * st["anomaly_ratio"], 2)})
    return pd.DataFrame(rows).set_index("setting") if rows else pd.DataFrame()


# ---- charts -------------------------------------------------------------------------------------------

def _placeholder(title: str, text: str, width: int, height: int) -> alt.Chart:
    return alt.Chart(pd.DataFrame({"t": [text]})).mark_text(color="#777", fontSize=12).encode(
        text="t:N").properties(width=width, height=height, title=alt.TitleParams(title, anchor="start"))


def our_panel(c: Cell, y: str = "final_test_acc", width: int = 200, height: int = 160,
              x_domain=None, y_domain=None) -> alt.Chart:
    if c.result is None:
        return _placeholder(c.title, "not run yet", width, height)
    return charts.oracle_scatter(c.result.per_mask, y=y, title=c.title, width=width, height=height,
                                 x_domain=x_domain, y_domain=y_domain)


def paper_panel(c: Cell, width: int = 200, height: int = 160, x_domain=None, y_domain=None) -> alt.Chart:
    if c.panel is None:
        return _placeholder(c.title, "no published panel", width, height)
    return charts.oracle_scatter(reference.paper_points(c.panel), title=c.title, width=width, height=height,
                                 x_domain=x_domain, y_domain=y_domain)


def _domain(frames: list[pd.DataFrame], col: str) -> tuple[float, float] | None:
    vals = pd.concat([f[col] for f in frames if f is not None and col in f and len(f)], ignore_index=True) \
        if any(f is not None and col in f and len(f) for f in frames) else pd.Series(dtype=float)
    if vals.empty:
        return None
    lo, hi = float(vals.min()), float(vals.max())
    pad = 0.03 * (hi - lo or 1.0)
    return lo - pad, hi + pad


def panel_grid(cs: list[Cell], source: str = "ours", y: str = "final_test_acc", columns: int = 4,
               shared_y: bool = False, width: int = 200, height: int = 160) -> alt.VConcatChart:
    """The panels of one figure in a grid, as in the paper: ``source`` 'ours' or 'paper'. With ``shared_y``
    every panel uses one y range (the paper shares axes within a figure row where it does so)."""
    frames = [(c.result.per_mask if c.result else None) if source == "ours" else
              (reference.paper_points(c.panel) if c.panel else None) for c in cs]
    yd = _domain(frames, y) if shared_y else None
    make = (lambda c: our_panel(c, y, width, height, y_domain=yd)) if source == "ours" else (
        lambda c: paper_panel(c, width, height, y_domain=yd))
    rows = [alt.hconcat(*[make(c) for c in cs[i:i + columns]]) for i in range(0, len(cs), columns)]
    return alt.vconcat(*rows).resolve_scale(color="shared").configure_title(fontSize=12, subtitleFontSize=10)


def tau_vs(table: pd.DataFrame, x: str, x_title: str, order: list[str] | None = None) -> alt.LayerChart:
    """Kendall tau against one axis of task complexity (dataset, depth, width, ratio, layers): ours and the
    paper's as two lines with the same colors as everywhere else."""
    t = table.reset_index()
    long = pd.concat([t.assign(source="paper", tau=t["tau paper"]), t.assign(source="ours", tau=t["tau ours"])])
    long = long.dropna(subset=["tau"])[[x, "source", "tau"]]
    enc_x = alt.X(f"{x}:O" if order is None else f"{x}:N", sort=order, title=x_title)
    color = alt.Color("source:N", scale=alt.Scale(domain=["paper", "ours"], range=[charts.COLORS["paper"], "#1f77b4"]),
                      legend=alt.Legend(title=None, orient="bottom"))
    base = alt.Chart(long).encode(x=enc_x, y=alt.Y("tau:Q", title="Kendall tau (pruned train loss vs final acc)",
                                                    scale=alt.Scale(domain=[-1, 1])), color=color,
                                  tooltip=[x, "source", alt.Tooltip("tau:Q", format="+.2f")])
    zero = alt.Chart(pd.DataFrame({"tau": [0.0]})).mark_rule(strokeDash=[3, 3], color="#999").encode(y="tau:Q")
    return alt.layer(zero, base.mark_line(), base.mark_point(filled=True, size=50)).properties(width=360, height=220)


# ---- the lesson: short retraining vs full retraining ----------------------------------------------------

def short_is_prefix(spec) -> bool:
    """Whether the profile's short retraining is the first epochs of its full retraining (same lr in those
    epochs, batch, weight decay, momentum and data order): then the full run's curve holds the short run."""
    short, full = profile_of(spec).short_retrain, spec.retrain
    return (short.epochs <= full.epochs and short.batch_size == full.batch_size
            and short.weight_decay == full.weight_decay and short.momentum == full.momentum
            and all(short.lr_at(e) == full.lr_at(e) for e in range(short.epochs)))


def short_run_spec(spec):
    """The separate short-retraining run of a setting whose short recipe is not a prefix (the paper profile:
    3 epochs with the compressed schedule): same masks, seeds and pretrained network, the short recipe."""
    from dataclasses import replace

    return replace(spec, retrain=profile_of(spec).short_retrain)


def short_retrain_acc(res: StudyResult, results_root: Path | None = None) -> pd.Series | None:
    """Per-mask test accuracy (best epoch, repeats averaged) after the profile's short retraining.

    When the short recipe is a prefix of the full one (the cpu and smoke profiles) it is read off the full run's
    curve: those first epochs *are* the short run (tests/test_figures.py trains both and compares). Otherwise it
    comes from the setting's separate short run in ``results/retrain_lesson/`` (None if that is not stored yet)."""
    if short_is_prefix(res.spec):
        short = profile_of(res.spec).short_retrain
        c = res.curves[res.curves["epoch"] <= short.epochs]
        return c.groupby(["mask_id", "repeat"])["test_acc"].max().groupby("mask_id").mean()
    short = stored_result(short_run_spec(res.spec), "retrain_lesson", results_root)
    return None if short is None else short.per_mask.set_index("mask_id")["final_test_acc"]


def short_run_command(c: Cell, profile: str) -> str:
    """How to produce a setting's separate short run (only needed when the short recipe is not a prefix)."""
    return run_command(short_run_spec(c.entry.spec(profile)), "retrain_lesson")


def lesson_frame(res: StudyResult, results_root: Path | None = None) -> pd.DataFrame | None:
    short = short_retrain_acc(res, results_root)
    if short is None:
        return None
    pm = res.per_mask.set_index("mask_id")
    pm["short_retrain_test_acc"] = short
    return pm.reset_index().dropna(subset=["short_retrain_test_acc"])


def lesson_table(cs: list[Cell], results_root: Path | None = None) -> pd.DataFrame:
    """Kendall tau between short-retrain and full-retrain accuracy per setting, ours beside the paper's."""
    ref = pd.read_csv(reference.REFERENCE_DIR / "reference_short_vs_full.csv")
    rows = []
    for c in cs:
        e = c.entry
        hit = ref[(ref["model"] == e.model) & (ref["dataset"] == e.dataset) & (ref["layers"] == e.layers)
                  & ((ref["ratio"] - e.ratio).abs() < 1e-9)]
        tau = p = float("nan")
        f = None if c.result is None else lesson_frame(c.result, results_root)
        if f is not None:
            res = kendalltau(f["short_retrain_test_acc"], f["final_test_acc"])
            tau, p = float(res.statistic), float(res.pvalue)
        rows.append({"setting": c.title, "N": None if c.result is None else len(c.result.per_mask),
                     "tau short vs full, ours": tau, "p ours": p,
                     "tau short vs full, paper": float(hit["kendall_tau_short_vs_full"].iloc[0]) if len(hit) else np.nan,
                     "short / full epochs, ours": None if c.result is None else
                     f"{profile_of(c.result.spec).short_retrain.epochs} / {c.result.spec.retrain.epochs}",
                     "short / full epochs, paper": "3 / 30"})
    return pd.DataFrame(rows).set_index("setting")


def lesson_panel(c: Cell, width: int = 220, height: int = 180, results_root: Path | None = None) -> alt.Chart:
    if c.result is None:
        return _placeholder(c.title, "not run yet", width, height)
    f = lesson_frame(c.result, results_root)
    if f is None:
        return _placeholder(c.title, "short run not stored yet", width, height)
    return _lesson_scatter(f, c.title, width, height)


def paper_lesson_panel(panel: str, title: str, width: int = 220, height: int = 180) -> alt.Chart:
    return _lesson_scatter(reference.paper_points(panel), title, width, height)


def _lesson_scatter(f: pd.DataFrame, title: str, width: int, height: int) -> alt.Chart:
    res = kendalltau(f["short_retrain_test_acc"], f["final_test_acc"])
    return alt.Chart(f).mark_circle(size=20, opacity=0.7, color=charts.COLORS["other"], aria=False).encode(
        x=alt.X("short_retrain_test_acc:Q", title=charts.LABELS["short_retrain_test_acc"], scale=alt.Scale(zero=False)),
        y=alt.Y("final_test_acc:Q", title=charts.LABELS["final_test_acc"], scale=alt.Scale(zero=False)),
    ).properties(width=width, height=height, title=alt.TitleParams(
        title, subtitle=f"Kendall tau {res.statistic:+.2f}, p {res.pvalue:.2g} (N={len(f)})", anchor="start"))


def lesson_panels(cs: list[Cell]) -> list[tuple[str, str]]:
    """(panel, title) of the paper's '10% epochs' panels for the settings of ``cs`` that it published."""
    names = set(reference.panels()["panel"])
    out = []
    for c in cs:
        e = c.entry
        name = "direction/lenet5_" + "+".join(f"{layer}_{e.ratio:g}" for layer in e.layers.split("+"))
        if e.model == "lenet5_mini" and e.dataset == "mnist" and name in names:
            out.append((name, c.title))
    return out


def lesson_conclusion(lt: pd.DataFrame) -> str:
    done = lt.dropna(subset=["tau short vs full, ours"])
    if done.empty:
        return "No lesson setting has been run at this profile yet."
    lo, hi = done["tau short vs full, ours"].min(), done["tau short vs full, ours"].max()
    pl, ph = lt["tau short vs full, paper"].min(), lt["tau short vs full, paper"].max()
    return (f"Over {len(done)} setting(s), our short-retrain accuracy ranks the masks like the full retraining with "
            f"tau {lo:+.2f} to {hi:+.2f} (the paper: {pl:+.2f} to {ph:+.2f}). Our short retraining is the first "
            f"{done['short / full epochs, ours'].iloc[0]} epochs, a larger fraction than the paper's 3 / 30, which "
            "by itself makes the two rankings closer; compare the level, not the exact value.")


def profile_note(profile: str, cs: list[Cell]) -> str:
    """The page's statement of what was run: the profile's reductions, next to the numbers they qualify."""
    p = get_profile(profile)
    done = sum(c.result is not None for c in cs)
    head = (f"**Profile `{profile}`**" + (" (the paper's protocol)." if profile == "paper" else
                                           " — a reduced protocol, not the paper's: ") + ("" if profile == "paper" else p.why))
    return head + f"\n\n{done} of {len(cs)} settings of this figure are in the results store at this profile."


def data_notes(cs: list[Cell], data_root: Path | None = None) -> str:
    """For each dataset of the figure that is not on disk: which files go where, and the paper's numbers."""
    from .data import DATASETS, dataset_present, default_root, raw_dir

    notes = []
    for c in cs:
        ds = c.entry.dataset
        if c.result is None and not dataset_present(ds, data_root):
            info = DATASETS[ds]
            ref = reference.paper_row(c.entry.model, ds, ("conv1",), 0.5)
            folder = raw_dir(info, Path(data_root or default_root()))
            notes.append(
                f"**{ds}: the data is missing here**, so our panel is empty. Put {', '.join(info.files)} in "
                f"`{folder}/` (`python -m oracle_core.data fetch {ds}` does it on a networked machine via torchvision), "
                f"then run `{c.command}`. The paper's numbers for it: tau {ref['kendall_tau']:+.2f}, anomaly ratio "
                f"{ref['anomaly_ratio_percent']:.2f}%, oracle accuracy {ref['oracle_final_acc_percent']:.2f}%; its "
                "points are shown below.")
    return "\n\n".join(notes) or "Every dataset of this figure is on disk."


LARGE_PANELS = [("resnet56/layer*.conv1_0.5", "ResNet56 / CIFAR-10", "resnet56", "cifar10"),
                ("vgg19/all16conv_0.5", "VGG19 / CIFAR-100", "vgg19", "cifar100"),
                ("resnet18/layer*.conv1_0.5", "ResNet18 / ImageNet", "resnet18", "imagenet")]


def large_model_panels() -> alt.HConcatChart:
    return alt.hconcat(*[charts.oracle_scatter(reference.paper_points(p), title=f"paper: {t}", width=220, height=180)
                         for p, t, _, _ in LARGE_PANELS]).resolve_scale(color="shared")


def large_model_table() -> pd.DataFrame:
    rows = []
    t = reference.results_table()
    for p, title, model, ds in LARGE_PANELS:
        pts = reference.paper_points(p)
        st = analysis.analyze(pts["pruned_train_loss"].to_numpy(), pts["final_test_acc"].to_numpy())
        ref = t[(t["model"] == model) & (t["dataset"] == ds)].iloc[0]
        rows.append({"setting": title, "N": len(pts), "tau printed": ref["kendall_tau"],
                     "tau, our code on its points": round(st["kendall_tau"], 4),
                     "anomaly % printed": ref["anomaly_ratio_percent"],
                     "anomaly %, our code on its points": round(100 * st["anomaly_ratio"], 2),
                     "retrain epochs": int(ref["retrain_epochs"])})
    return pd.DataFrame(rows).set_index("setting")


def large_model_status(profile: str = "cpu", results_root: Path | None = None,
                       data_root: Path | None = None) -> str:
    """What exists of our own runs of Figure 3, in words, from the store and the data folder."""
    from .data import dataset_present, get_dataset_info, raw_dir
    from .spec import make_spec

    lines = []
    for page, model, ds, layers in (("resnet_cifar", "resnet56", "cifar10", "layer*.conv1"),
                                    ("vgg_cifar100", "vgg19", "cifar100", "all"),
                                    ("resnet_imagenet", "resnet18", "imagenet", "layer*.conv1"),
                                    ("vit_imagenet", "vit_b_16", "imagenet", "all")):
        spec = None
        for prof in (profile, "cpu", "paper"):  # the page's profile, else the model's cpu one, else the paper's
            try:
                spec = make_spec(model, ds, layers, 0.5, {"resnet18": 160, "vit_b_16": 10}.get(model, 1000), profile=prof)
                break
            except OracleError:
                continue
        res = stored_result(spec, page, results_root)
        info = get_dataset_info(ds)
        if res is not None:
            lines.append(f"- **{model} / {ds}**: stored at profile `{spec.profile}` (tau {res.summary['kendall_tau']:+.2f}"
                         f", N = {res.summary['n_masks']}); see its page.")
        elif not dataset_present(ds, data_root):
            files = ", ".join(info.files) or "ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar, ILSVRC2012_devkit_t12.tar.gz"
            how = ("image-net.org, an account is needed" if ds == "imagenet" else
                   f"`python -m oracle_core.data fetch {ds}` downloads them on a networked machine")
            lines.append(f"- **{model} / {ds}**: not run here: the {ds} files are not on this machine (put "
                         f"{files} in `{raw_dir(info, Path(data_root or 'data'))}/`; {how}), then "
                         f"`{run_command(spec, page)}`.")
        else:
            lines.append(f"- **{model} / {ds}**: data present, not run yet: `{run_command(spec, page)}`.")
    return ("**Our runs.** The ResNet56, VGG19, ResNet18 and ViT-B/16 pipelines are built (CIFAR loaders with md5 "
            "checks and on-device crop + flip; ImageNet decoded per batch from torchvision's folders; torchvision's "
            "pretrained ResNet18 and ViT-B/16 from the hub cache; ViT heads and MLP channels removed physically; the "
            "paper's recipes, AdamW/cosine/mixup/CutMix for the ViT; the batched engine), and tested end to end on "
            "fabricated files in each dataset's real format, but neither CIFAR nor ImageNet can be downloaded on the "
            "machines that built this book:\n\n" + "\n".join(lines) + "\n\nUntil these runs exist, the paper's "
            "own points above, analyzed by our code, are the only numbers here (the paper published none for the ViT).")


def complexity_chart(profile: str, results_root: Path | None = None) -> alt.VConcatChart:
    """Tau against each axis of task complexity, one panel per axis, ours and the paper's."""
    def base(e: GridEntry) -> bool:
        return e.model == "lenet5_mini" and e.dataset == "mnist" and e.layers == "conv1" and e.ratio == 0.5

    axes = [
        ("dataset", lambda e: base(e) or (e.experiment == "mnist_variants")),
        ("depth", lambda e: base(e) or e.model[-2:] in ("d6", "d7", "d8")),
        ("width", lambda e: base(e) or e.model[-3:] in ("w20", "w30", "w40")),
        ("pruned layers", lambda e: e.model == "lenet5_mini" and e.dataset == "mnist" and e.ratio == 0.5),
        ("conv1 ratio", lambda e: e.model == "lenet5_mini" and e.dataset == "mnist" and e.layers == "conv1"),
    ]
    panels = []
    for name, where in axes:
        cs = cells(profile, None, results_root, where=where)
        if name == "pruned layers":
            cs = sorted(cs, key=lambda c: (c.entry.layers.count("+"), c.entry.layers))
        t = setting_table(cs)
        panels.append(tau_vs(t, "setting", name, order=list(t.index)).properties(width=200, height=180,
                                                                                  title=name))
    return charts.grid(panels, columns=3)


def profile_fidelity(results_root: Path | None = None,
                     profiles: tuple[str, ...] = ("cpu", "cpu_15k", "cpu_single"),
                     entry: GridEntry = GridEntry("lenet_mnist", "conv1", 0.5)) -> dict:
    """The same masks of one LeNet5-Mini/MNIST setting (default conv1 at 0.5; correct wiring, same pretrained
    network) under several reductions, each compared with the most thorough one (the last): how alike their pruned
    losses and final accuracies rank the masks, and every profile's tau next to the paper's."""
    e = entry
    res = {}
    for p in profiles:
        r = stored_result(e.spec(p), e.experiment, results_root)
        if r is not None:
            res[p] = r
    ref_name = profiles[-1]
    if len(res) < 2 or ref_name not in res:
        missing = ", ".join(f"`{p}`" for p in profiles if p not in res)
        return {"text": f"Not measured yet: {e.layers} at {e.ratio:g} has no finished run at profile {missing}.",
                "frame": None}
    base = res[ref_name].per_mask.set_index("mask_id")
    paper = reference.paper_row(e.model, e.dataset, tuple(e.layers.split("+")), e.ratio)
    rows, frames = {}, []
    for p, r in res.items():
        pm = r.per_mask.set_index("mask_id").loc[base.index]
        s = r.spec
        rows[p] = {"retraining epochs": s.retrain.epochs, "retraining images": s.retrain_subset or "all",
                   "pruned-loss images": s.loss_subset or "all",
                   "N": r.summary["n_masks"], "tau (pruned loss vs final acc)": round(r.summary["kendall_tau"], 3),
                   "anomaly %": round(100 * r.summary["anomaly_ratio"], 2), "oracle's pick": r.summary["oracle_kept"],
                   "median final acc %": round(100 * r.summary["final_acc_median"], 2),
                   f"tau of pruned losses vs {ref_name}": round(kendalltau(pm["pruned_train_loss"],
                                                                          base["pruned_train_loss"]).statistic, 3),
                   f"tau of final accs vs {ref_name}": round(kendalltau(pm["final_test_acc"],
                                                                       base["final_test_acc"]).statistic, 3),
                   "retraining wall time (s)": round(r.env.get("wall_s_this_invocation", {}).get("retrain_s", float("nan")))}
        if p != ref_name:
            frames.append(pd.DataFrame({"profile": p, "reference": base["final_test_acc"], "this": pm["final_test_acc"]}))
    rows["paper"] = {"retraining epochs": int(paper["retrain_epochs"]), "retraining images": "all",
                     "pruned-loss images": "all", "N": int(paper["n_masks"]),
                     "tau (pruned loss vs final acc)": float(paper["kendall_tau"]),
                     "anomaly %": float(paper["anomaly_ratio_percent"]), "oracle's pick": "n/a",
                     "median final acc %": float(paper["final_acc_median_percent"])}
    table = pd.DataFrame(rows).T
    m = pd.concat(frames)
    chart = alt.Chart(m).mark_circle(size=18, opacity=0.6, aria=False).encode(
        x=alt.X("reference:Q", title=f"final test accuracy, {ref_name} (fraction)", scale=alt.Scale(zero=False)),
        y=alt.Y("this:Q", title="final test accuracy, reduced profile (fraction)", scale=alt.Scale(zero=False)),
        color=alt.Color("profile:N", legend=alt.Legend(orient="bottom", title=None)),
    ).properties(width=300, height=240, title=alt.TitleParams(f"the same {len(base)} masks under each profile",
                                                              anchor="start"))
    taus = ", ".join(f"{table.loc[p, 'tau (pruned loss vs final acc)']:+.2f} under `{p}`" for p in res)
    text = (f"Measured on the {len(base)} masks every profile ran: the headline tau is {taus} (paper "
            f"{float(paper['kendall_tau']):+.2f}). The table gives, for each reduction, how closely its pruned losses "
            f"and its final accuracies rank the masks like `{ref_name}`'s.")
    return {"text": text, "frame": m, "table": table, "chart": chart}


def retraining_length_fidelity(results_root: Path | None = None) -> dict:
    """conv1 at 0.8 (45 masks), where `cpu` and the paper disagree in sign, under `cpu` (3 retraining epochs)
    and CHECK_PROFILE (the paper's 30), everything else equal: what the short retraining changes."""
    return profile_fidelity(results_root, ("cpu", CHECK_PROFILE), GridEntry("lenet_mnist", "conv1", 0.8))


def lesson_missing(cs: list[Cell], profile: str, results_root: Path | None = None) -> str:
    """Commands for the settings whose lesson is not computable yet (no full run, or no separate short run)."""
    todo = [c.command for c in cs if c.result is None]
    todo += [short_run_command(c, profile) for c in cs
             if c.result is not None and short_retrain_acc(c.result, results_root) is None]
    if not todo:
        return "Every lesson setting is computable from the results store."
    return ("Not computable yet; each command below produces what is missing:\n\n```\n" + "\n".join(todo) + "\n```")
