"""The large-model page (Fig. 3): the paper's ResNet56, VGG19 and ResNet18 points analyzed by our code, and what
exists of our own runs, in words, from the store and the data folder."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

from ..analysis import reference, single
from ..analysis.names import model_name
from . import charts, downloads, rerun


def large_panels() -> list[tuple[str, str, str, str]]:
    """(panel, title, model, dataset) of every model the paper shows in Figure 3 (from the models' records)."""
    return [(p.panel_for(0.5), p.title, p.model, p.dataset) for _, p in reference.figure_records(3)]


def large_model_panels() -> alt.VConcatChart:
    return charts.grid([charts.oracle_scatter(reference.paper_points(p), title=f"paper: {t}", width=260, height=180)
                        for p, t, _, _ in large_panels()], columns=2)


def large_model_header() -> str:
    """HTML: how to re-run Figure 3 (one notebook per model) and the CSV files behind its charts."""
    runs = "\n".join(f"papermill notebooks/{r.page.notebook}.ipynb out.ipynb -p ratio 0.5"
                      for r in single.model_pages() if r.page.parent == "large_models")
    box = rerun.box([f"<p>Redraw this page (seconds; it reads the paper's points):</p><pre>papermill "
                      f"notebooks/large_models.ipynb out.ipynb</pre><p>Each model has its own page and notebook that "
                      f"runs it (the paper's protocol needs a GPU; its time is not measured here yet):</p>"
                      f"<pre>{runs}</pre>"], "large_models")
    links = ", ".join(downloads.paper(p, t) for p, t, _, _ in large_panels())
    return box + downloads.block([f"<p>The paper's recovered points: {links}.</p>"])


def large_model_table() -> pd.DataFrame:
    """Our analysis of the paper's Figure 3 points beside its printed numbers (analysis.single.points_check)."""
    rows = []
    for p, title, model, ds in large_panels():
        pc = single.points_check(p)
        rows.append({"setting": title, "N": pc.n, "tau printed": pc.printed_tau,
                     "tau, our code on its points": round(pc.tau, 4),
                     "anomaly % printed": pc.printed_anomaly_percent,
                     "anomaly %, our code on its points": round(100 * pc.anomaly_ratio, 2),
                     "retrain epochs": int(reference.model_row(model, ds)["retrain_epochs"])})
    return pd.DataFrame(rows).set_index("setting")


def large_model_status(profile: str = "cpu", results_root: Path | None = None,
                       data_root: Path | None = None) -> str:
    """What exists of our own runs of Figure 3, in words, from the store and the data folder."""
    lines = []
    for run in single.large_runs(profile, results_root, data_root):
        model, ds, spec, res, miss = model_name(run.model), run.dataset, run.spec, run.result, run.missing
        if res is not None:
            lines.append(f"- **{model} / {ds}**: stored at profile `{spec.profile}` (tau "
                         f"{res.summary['kendall_tau']:+.2f}"
                         f", N = {res.summary['n_masks']}); see its page.")
        elif miss is not None:
            files = (", ".join(miss.files)
                     or "ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar, ILSVRC2012_devkit_t12.tar.gz")
            how = ("image-net.org, an account is needed" if ds == "imagenet" else
                   f"`python -m oracle_core.data fetch {ds}` downloads them on a networked machine")
            lines.append(f"- **{model} / {ds}**: not run here: the {ds} files are not on this machine (put "
                         f"{files} in `{miss.folder}/`; {how}), then `{run.command}`.")
        else:
            lines.append(f"- **{model} / {ds}**: data present, not run yet: `{run.command}`.")
    return ("**Our runs.** The ResNet56, VGG19, ResNet18 and ViT-B/16 pipelines are built (CIFAR loaders with md5 "
            "checks and on-device crop + flip; ImageNet decoded per batch from torchvision's folders; torchvision's "
            "pretrained ResNet18 and ViT-B/16 from the hub cache; the ViT's embedding width and MLP channels removed "
            "physically, as the paper's script prunes it; the paper's recipes, AdamW/cosine/mixup/CutMix for the ViT; "
            "the batched engine), and tested end to end on "
            "fabricated files in each dataset's real format, but neither CIFAR nor ImageNet can be downloaded on the "
            "machines that built this book:\n\n" + "\n".join(lines) + "\n\nUntil these runs exist, the paper's "
            "own points above, analyzed by our code, are the only numbers here (the paper published none for the ViT).")
