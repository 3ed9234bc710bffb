"""The large-model page (Fig. 3): the paper's ResNet56, VGG19 and ResNet18 points analyzed by our code, and what
exists of our own runs, in words, from the store and the data folder."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

from ..analysis import reference
from ..base.errors import OracleError
from ..compute.stats import analyze
from ..data import dataset_present, get_dataset_info, raw_dir
from ..experiment.commands import run_command
from ..experiment.results import stored_result
from ..experiment.spec import make_spec
from . import charts, downloads, rerun

LARGE_PANELS = [("resnet56/layer*.conv1_0.5", "ResNet56 / CIFAR-10", "resnet56", "cifar10"),
                ("vgg19/all16conv_0.5", "VGG19 / CIFAR-100", "vgg19", "cifar100"),
                ("resnet18/layer*.conv1_0.5", "ResNet18 / ImageNet", "resnet18", "imagenet")]


def large_model_panels() -> alt.VConcatChart:
    return charts.grid([charts.oracle_scatter(reference.paper_points(p), title=f"paper: {t}", width=260, height=180)
                        for p, t, _, _ in LARGE_PANELS], columns=2)


def large_model_header() -> str:
    """HTML: how to re-run Figure 3 (one notebook per model) and the CSV files behind its charts."""
    runs = "\n".join(f"papermill notebooks/{page}.ipynb out.ipynb -p ratio 0.5"
                      for page in ("resnet_cifar", "vgg_cifar100", "resnet_imagenet", "vit_imagenet"))
    box = rerun.box([f"<p>Redraw this page (seconds; it reads the paper's points):</p><pre>papermill "
                      f"notebooks/large_models.ipynb out.ipynb</pre><p>Each model has its own page and notebook that "
                      f"runs it (the paper's protocol needs a GPU; its time is not measured here yet):</p>"
                      f"<pre>{runs}</pre>"], "large_models")
    links = ", ".join(downloads.paper(p, t) for p, t, _, _ in LARGE_PANELS)
    return box + downloads.block([f"<p>The paper's recovered points: {links}.</p>"])


def large_model_table() -> pd.DataFrame:
    rows = []
    t = reference.results_table()
    for p, title, model, ds in LARGE_PANELS:
        pts = reference.paper_points(p)
        st = analyze(pts["pruned_train_loss"].to_numpy(), pts["final_test_acc"].to_numpy())
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
    lines = []
    for page, model, ds, layers in (("resnet_cifar", "resnet56", "cifar10", "layer*.conv1"),
                                    ("vgg_cifar100", "vgg19", "cifar100", "released"),
                                    ("resnet_imagenet", "resnet18", "imagenet", "layer*.conv1"),
                                    ("vit_imagenet", "vit_b_16", "imagenet", "all")):
        spec = None
        for prof in (profile, "cpu", "paper"):  # the page's profile, else the model's cpu one, else the paper's
            try:
                spec = make_spec(model, ds, layers, 0.5, {"resnet18": 160, "vit_b_16": 10}.get(model, 1000),
                                 profile=prof)
                break
            except OracleError:
                continue
        res = stored_result(spec, page, results_root)
        info = get_dataset_info(ds)
        if res is not None:
            lines.append(f"- **{model} / {ds}**: stored at profile `{spec.profile}` (tau "
                         f"{res.summary['kendall_tau']:+.2f}"
                         f", N = {res.summary['n_masks']}); see its page.")
        elif not dataset_present(ds, data_root):
            files = (", ".join(info.files)
                     or "ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar, ILSVRC2012_devkit_t12.tar.gz")
            how = ("image-net.org, an account is needed" if ds == "imagenet" else
                   f"`python -m oracle_core.data fetch {ds}` downloads them on a networked machine")
            lines.append(f"- **{model} / {ds}**: not run here: the {ds} files are not on this machine (put "
                         f"{files} in `{raw_dir(info, Path(data_root or 'data'))}/`; {how}), then "
                         f"`{run_command(spec, page)}`.")
        else:
            lines.append(f"- **{model} / {ds}**: data present, not run yet: `{run_command(spec, page)}`.")
    return ("**Our runs.** The ResNet56, VGG19, ResNet18 and ViT-B/16 pipelines are built (CIFAR loaders with md5 "
            "checks and on-device crop + flip; ImageNet decoded per batch from torchvision's folders; torchvision's "
            "pretrained ResNet18 and ViT-B/16 from the hub cache; the ViT's embedding width and MLP channels removed "
            "physically, as the paper's script prunes it; the paper's recipes, AdamW/cosine/mixup/CutMix for the ViT; "
            "the batched engine), and tested end to end on "
            "fabricated files in each dataset's real format, but neither CIFAR nor ImageNet can be downloaded on the "
            "machines that built this book:\n\n" + "\n".join(lines) + "\n\nUntil these runs exist, the paper's "
            "own points above, analyzed by our code, are the only numbers here (the paper published none for the ViT).")
