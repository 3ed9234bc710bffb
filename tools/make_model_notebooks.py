"""Writes every single-setting notebook from one template: lenet_mnist, resnet_cifar, vgg_cifar100, resnet_imagenet
and vit_imagenet (so a change is made once, here). ``python tools/make_model_notebooks.py`` rewrites them;
tests/test_book.py fails when a committed notebook differs from what this writes."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

BODY = '''from pathlib import Path

from IPython.display import Markdown, display

from oracle_core import data
from oracle_core.analysis import oracle, reference
from oracle_core.experiment.runner import run_study
from oracle_core.pages import charts, notebook, setting

notebook.setup(globals())  # offline charts, one-line errors, parameters checked
spec, note = setting.page_spec(model, dataset, layers, ratio, n_masks, seed, repeats or None, profile, wiring,
                               compute, precision)
root = Path(results_root) if results_root else None
if compute:
    if dataset != "imagenet":  # ImageNet cannot be downloaded: run_study checks it and says where it goes
        data.fetch(dataset, Path(data_root) if data_root else None)  # present: md5 check; absent: download or say where
    result = run_study(spec, experiment, root, Path(data_root) if data_root else None, device=device or None,
                       executor=executor, ray_address=ray_address or None)
else:
    result = setting.stored_result(spec, experiment, root)  # None when the store lacks it
display(setting.rerun_box("{name}", spec, experiment, result))
if result is None:
    display(Markdown(note + setting.not_stored(spec, experiment)))
else:
    setting.check_summary(result)  # the stored summary is what the analysis computes from masks.csv
    display(Markdown(note + f"### {setting.setting_title(spec)}\\n\\n" + setting.protocol_sentence(result)))'''

SCATTER = '''if result is not None:
    display(Markdown("## Pruned train loss against final test accuracy and final test loss"))
    pm, star = result.per_mask, oracle.result_oracle(result)  # the star: the oracle over every candidate
    display(charts.side_by_side(
        charts.oracle_scatter(pm, "final_test_acc", title=f"ours ({spec.profile}): accuracy", oracle=star),
        charts.oracle_scatter(pm, "final_test_loss", title=f"ours ({spec.profile}): test loss", oracle=star),
    ))'''

TABLE = '''if result is not None:
    display(Markdown("## Our numbers next to the paper's"))
    display(setting.comparison_table(result))
    display(Markdown(setting.disagreement(result)))
display(setting.data_links(spec, result))'''

PAPER = '''display(Markdown("## The paper's own points, analyzed by our code\\n\\nThe per-mask points of the "
                 "paper's panel, recovered from its published figure, run through the same analysis as ours."))
panel = reference.panel_name(spec.model, spec.dataset, spec.layers, spec.ratio)
if panel is None:
    display(Markdown("The paper published no scatter panel for this setting."))
else:
    pts = reference.paper_points(panel)
    epochs = reference.paper_row(spec.model, spec.dataset, spec.layers, spec.ratio)["retrain_epochs"]
    display(charts.oracle_scatter(pts, "final_test_acc", title=f"paper ({panel}): {epochs} epochs, mean of 3 repeats"))
    display(setting.paper_check(panel))'''


def params(model, dataset, layers, experiment, layer_note, model_note, n_masks=1000,
           profiles="paper (GPU), cpu (a labelled 2-core reduction, not the protocol), smoke",
           profile="paper", dataset_note="the torchvision dataset; missing files stop with where to put them",
           n_masks_note="masks sampled without duplicates (the profile may cap it)"):
    return f'''# Parameters (papermill): one setting of the study
model = "{model}"          # {model_note}
dataset = "{dataset}"        # {dataset_note}
layers = "{layers}"   # {layer_note}
ratio = 0.5                # fraction of filters removed in each named layer
n_masks = {n_masks}             # {n_masks_note}
seed = 0                   # base seed of pretraining, sampling and every retraining
repeats = 0                # retrainings per mask, 0 means the profile default
profile = "{profile}"          # {profiles}
wiring = "correct"         # or released_code to mimic the paper code
precision = "fp32"         # retraining arithmetic: fp32 (the protocol), tf32 or bf16 (GPU speed; see bench/RESULTS.md)
experiment = "{experiment}" # folder name under results
results_root = ""          # empty means results in the repository
data_root = ""             # empty means data in the repository
device = ""                # empty picks cuda when present, else cpu
executor = "local"         # local or ray
ray_address = ""           # empty starts a local Ray instance
compute = True             # False only reads the results store (the book build)
'''


def notebook(name, title, intro, p):
    cells = [new_markdown_cell(f"# {title}\n\n{intro}"), new_code_cell(p, metadata={"tags": ["parameters"]}),
             new_code_cell(BODY.replace("{name}", name)), new_code_cell(SCATTER), new_code_cell(TABLE),
             new_code_cell(PAPER)]  # headings are printed by the cells, so a section without output has none
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    return nb


RUN = ("Run it with `papermill notebooks/{name}.ipynb out.ipynb -p ratio 0.5` (the paper's protocol, for GPUs; "
       "`-p profile cpu` is a labelled reduction for a laptop). Data: torchvision's {ds} files in `data/{folder}/` "
       "(`python -m oracle_core.data fetch {dataset}` downloads them on a networked machine).")

IMAGENET_RUN = ("Needs `ILSVRC2012_img_train.tar`, `ILSVRC2012_img_val.tar` and `ILSVRC2012_devkit_t12.tar.gz` in "
                "`data/imagenet/` (image-net.org, an account is needed) and torchvision's `{weights}` in the torch hub "
                "cache; a missing one stops with one line saying where it goes. Run it with "
                "`papermill notebooks/{name}.ipynb out.ipynb -p ratio 0.5` on GPUs.")

NOTEBOOKS = {
    "lenet_mnist": notebook(
        "lenet_mnist", "LeNet5-Mini on MNIST: does the oracle's pick survive retraining?",
        "One panel of the paper's Figure 2: every candidate mask of the named layer(s) is scored by its **pruned "
        "train loss** (before any retraining), then retrained (every one, or a seeded sample of them: the profile "
        "line below says which); the scatter shows whether a low pruned loss predicts a high final accuracy. The "
        "oracle (lowest pruned loss over every candidate) is the star; red points are masks that beat it after "
        "retraining. "
        "Run it with `papermill notebooks/lenet_mnist.ipynb out.ipynb -p layers conv2 -p ratio 0.3`: the default "
        "profile, `converged`, retrains 45 sampled masks per setting with the paper's 30 epochs on a laptop; "
        "`-p profile paper` retrains every mask.",
        params("lenet5_mini", "mnist", "conv1", "lenet_mnist", "one conv layer or several joined by a plus sign",
               "lenet5_mini or a D6 to D8 or W20 to W40 variant", n_masks=0, profile="converged",
               profiles="converged (the paper's retraining, sampled masks), paper (every mask), smoke (CI)",
               dataset_note="mnist or fashion_mnist or kmnist",
               n_masks_note="0 means every mask, else a seeded sample")),
    "resnet_cifar": notebook(
        "resnet_cifar", "ResNet56 on CIFAR-10: the paper's central claim",
        "From ResNet56 / CIFAR-10 upward, the paper finds that the pruned train loss no longer predicts the retrained "
        "accuracy (Figure 3, tau about +0.02). Every mask prunes half the filters of the first conv of each of the 27 "
        "residual blocks; masks are sampled, each is scored by its pruned train loss and retrained (random crop + flip "
        "on the device). " + RUN.format(name="resnet_cifar", ds="CIFAR-10", folder="cifar-10-batches-py",
                                          dataset="cifar10"),
        params("resnet56", "cifar10", "layer*.conv1", "resnet_cifar", "a pattern: conv1 of all 27 blocks",
               "resnet56 (option-A shortcuts)")),
    "vgg_cifar100": notebook(
        "vgg_cifar100", "VGG19 on CIFAR-100",
        "Figure 3's second panel: VGG19 (BN, global average pool, one linear) on CIFAR-100, pruned at the ratio (tau "
        "about +0.01 in the paper). The paper meant all 16 convs, but its released layer list hits only 13 (its "
        "script's indices 24, 34 and 37 point at BN modules, so conv8, conv11 and conv12 stay whole), and its numbers "
        "come from that list: this page runs those 13 by default (`layers = released`), so that ours compares with "
        "the paper's; `-p layers all` runs the 16 it meant (the study it intended, not comparable with its numbers), "
        "and `layers` takes any list of conv names (conv1 .. conv16). "
        + RUN.format(name="vgg_cifar100", ds="CIFAR-100", folder="cifar-100-python", dataset="cifar100"),
        params("vgg19", "cifar100", "released", "vgg_cifar100",
               "the paper script's 13 convs (its numbers), all (16: what it meant), or names joined by +",
               "vgg19")),
    "resnet_imagenet": notebook(
        "resnet_imagenet", "ResNet18 on ImageNet",
        "Figure 3's third panel: torchvision's pretrained ResNet18, half the filters of the first conv of each of "
        "its 8 BasicBlocks removed, 160 sampled masks, each retrained 30 epochs (the paper's tau about +0.19). "
        "Images are "
        "decoded per batch from torchvision's ImageNet folders (RandomResizedCrop(224) + flip for training, "
        "Resize(256) + CenterCrop(224) otherwise). " + IMAGENET_RUN.format(name="resnet_imagenet",
                                                                         weights="resnet18-f37072fd.pth"),
        params("resnet18", "imagenet", "layer*.conv1", "resnet_imagenet", "conv1 of the 8 BasicBlocks",
               "resnet18 (torchvision, pretrained)", n_masks=160, profiles="paper (GPU) or smoke")),
    "vit_imagenet": notebook(
        "vit_imagenet", "ViT-B/16 on ImageNet",
        "The paper's transformer check (its Section 7 text; it published no per-mask points), pruned as its released "
        "script prunes it (Torch-Pruning 1.4.2 with one channel group per head): torchvision's pretrained ViT-B/16 "
        "with its **embedding width halved through the whole residual stream** (768 -> 384: all 12 heads remain, each"
        " keeping its own 32 of its 64 dims; the patch embedding, class token, position embedding, every LayerNorm, "
        "q/k/v, the attention output and the classifier's inputs lose the same channels) and **each block's MLP "
        "halved** (3072 -> 1536). A mask keeps a random half of each head's dims (each head its own, as Torch-Pruning"
        " chooses them; a test compares our surgery with Torch-Pruning 1.4.2 running the script's call) and a random "
        "half of each block's MLP channels, drawn from one seeded generator (the script draws seeded random scores: "
        "the same uniform distribution). The paper does not say how many masks it retrained; this page uses 10. Each "
        "mask is retrained as the script does: AdamW (lr 1.5e-4 cosine, weight decay 0.3), label smoothing 0.11, "
        "mixup 0.2 and CutMix at 0.2 (the script's CutMix reads the mixup alpha; torchvision's reference 1.0 is the "
        "`torchvision_cutmix` profile), clipping 1.0, 300 epochs. `-p model vit_b_16_heads` (CLI `--vit-units heads`)"
        " removes whole heads instead: a labelled variant, not the paper's. Pruned networks are physically smaller, "
        "so masks are trained one at a time. " + IMAGENET_RUN.format(name="vit_imagenet",
                                                                             weights="vit_b_16-c867db91.pth"),
        params("vit_b_16", "imagenet", "all", "vit_imagenet",
               "the embedding width and every block's MLP (vit_b_16_heads: heads and MLPs)",
               "vit_b_16 (the script's width pruning), vit_b_16_heads, or vit_tiny for tests", n_masks=10,
               profiles="paper (GPU), torchvision_cutmix, or smoke")),
}

def render(name: str) -> str:
    """The notebook ``name`` as the text this tool writes (stable cell ids: regenerating changes only what the
    template changes)."""
    nb = NOTEBOOKS[name]
    for i, cell in enumerate(nb.cells):
        cell.id = f"{name}-{i}"
    return nbformat.writes(nb) + "\n"


if __name__ == "__main__":
    for name in NOTEBOOKS:
        with open(f"notebooks/{name}.ipynb", "w") as f:
            f.write(render(name))
        print("wrote", name)
