"""The registrations: one ModelRecord per model (models/record.py says what reads them). Adding a model is its
module plus one ``register(ModelRecord(...))`` here (or anywhere before use: a test registers a toy model)."""

from __future__ import annotations

from .lenet import LeNet5Mini
from .record import GridSetting, ModelRecord, PageRecord, PaperRecord
from .resnet_cifar import ResNetCifar
from .resnet_imagenet import resnet18
from .vgg_cifar import VGG19_CFG, VGG_TINY_CFG, VGGCifar
from .vit import vit

RECORDS: dict[str, ModelRecord] = {}


def register(record: ModelRecord) -> ModelRecord:
    """Add ``record`` to the registry (a name registered twice is an error: records are not silently replaced)."""
    if record.name in RECORDS and RECORDS[record.name] != record:
        raise ValueError(f"model {record.name!r} is already registered")
    RECORDS[record.name] = record
    return record


def params(layers, experiment, layer_note, model_note, n_masks=1000,
           profiles="paper (GPU), cpu (a labelled 2-core reduction, not the protocol), smoke",
           profile="paper", dataset_note="the torchvision dataset; missing files stop with where to put them",
           n_masks_note="masks sampled without duplicates (the profile may cap it)") -> dict:
    """A single-setting notebook's parameters (PageRecord's fields)."""
    return dict(experiment=experiment, layers=layers, layer_note=layer_note, model_note=model_note, n_masks=n_masks,
                profile=profile, profiles_note=profiles, dataset_note=dataset_note, n_masks_note=n_masks_note)


def _page(notebook: str, title: str, intro: str, p: dict, parent: str = "") -> PageRecord:
    return PageRecord(notebook=notebook, title=title, intro=intro, parent=parent, **p)


# ---- the single-setting pages' texts (tools/make_model_notebooks.py writes each notebook from its record) ---------
RUN = ("Run it with `papermill notebooks/{name}.ipynb out.ipynb -p ratio 0.5` (the paper's protocol, for GPUs; "
       "`-p profile cpu` is a labelled reduction for a laptop). Data: torchvision's {ds} files in `data/{folder}/` "
       "(`python -m oracle_core.data fetch {dataset}` downloads them on a networked machine).")

IMAGENET_RUN = ("Needs `ILSVRC2012_img_train.tar`, `ILSVRC2012_img_val.tar` and `ILSVRC2012_devkit_t12.tar.gz` in "
                "`data/imagenet/` (image-net.org, an account is needed) and torchvision's `{weights}` in the torch hub "
                "cache; a missing one stops with one line saying where it goes. Run it with "
                "`papermill notebooks/{name}.ipynb out.ipynb -p ratio 0.5` on GPUs.")


# ---- the models -------------------------------------------------------------------------------------------------
register(ModelRecord(
    "lenet5_mini", lambda c, k: LeNet5Mini(c, k), "lenet", "LeNet5-Mini (D5/W10)", dataset="mnist", label="LeNet5-Mini",
    page=_page(
        "lenet_mnist", "LeNet5-Mini on MNIST: does the oracle's pick survive retraining?",
        "One panel of the paper's Figure 2: every candidate mask of the named layer(s) is scored by its **pruned "
        "train loss** (before any retraining), then retrained (every one, or a seeded sample of them: the profile "
        "line below says which); the scatter shows whether a low pruned loss predicts a high final accuracy. The "
        "oracle (lowest pruned loss over every candidate) is the star; red points are masks that beat it after "
        "retraining. "
        "Run it with `papermill notebooks/lenet_mnist.ipynb out.ipynb -p layers conv2 -p ratio 0.3`: the default "
        "profile, `converged`, retrains 45 sampled masks per setting with the paper's 30 epochs on a laptop; "
        "`-p profile paper` retrains every mask.",
        params("conv1", "lenet_mnist", "one conv layer or several joined by a plus sign",
               "lenet5_mini or a D6 to D8 or W20 to W40 variant", n_masks=0, profile="converged",
               profiles="converged (the paper's retraining, sampled masks), paper (every mask), smoke (CI)",
               dataset_note="mnist or fashion_mnist or kmnist",
               n_masks_note="0 means every mask, else a seeded sample"))))
for _d in (6, 7, 8):
    register(ModelRecord(
        f"lenet5_mini_d{_d}", (lambda e: lambda c, k: LeNet5Mini(c, k, extra_fc=e))(_d - 5), "lenet",
        f"LeNet5-Mini-D{_d}: {_d - 5} extra ReLU->Linear(10,10)", dataset="mnist",
        paper=PaperRecord(f"lenet5_mini_d{_d}", "mnist", f"diff/d{_d}_conv1_{{ratio}}", f"LeNet5-Mini-D{_d} / MNIST"),
        grid=(GridSetting("lenet_variants"),)))
for _w in (20, 30, 40):
    register(ModelRecord(
        f"lenet5_mini_w{_w}", (lambda f: lambda c, k: LeNet5Mini(c, k, conv1_filters=f))(_w), "lenet",
        f"LeNet5-Mini-W{_w}: conv1 has {_w} filters", dataset="mnist",
        paper=PaperRecord(f"lenet5_mini_w{_w}", "mnist", f"diff/w{_w}_conv1_{{ratio}}", f"LeNet5-Mini-W{_w} / MNIST"),
        grid=(GridSetting("lenet_variants", n_masks=1000),)))
register(ModelRecord(
    "resnet56", lambda c, k: ResNetCifar(56, c, k), "resnet_cifar", "ResNet56 for CIFAR (option-A shortcuts)",
    dataset="cifar10",
    paper=PaperRecord("resnet56", "cifar10", "resnet56/layer*.conv1_0.5", "ResNet56 / CIFAR-10",
                      layers_text="layer*.conv1 (27 block convs)", n_layers=27, figure=3),
    page=_page(
        "resnet_cifar", "ResNet56 on CIFAR-10: the paper's central claim",
        "From ResNet56 / CIFAR-10 upward, the paper finds that the pruned train loss no longer predicts the retrained "
        "accuracy (Figure 3: its tau, near zero, is in the table below). Every mask prunes half the filters of the "
        "first conv of each of the 27 residual blocks; masks are sampled, each is scored by its pruned train loss "
        "and retrained (random crop + flip on the device). "
        + RUN.format(name="resnet_cifar", ds="CIFAR-10", folder="cifar-10-batches-py", dataset="cifar10"),
        params("layer*.conv1", "resnet_cifar", "a pattern: conv1 of all 27 blocks",
               "resnet56 (option-A shortcuts)"),
        parent="large_models")))
register(ModelRecord("resnet8", lambda c, k: ResNetCifar(8, c, k), "resnet_cifar",
                     "ResNet8 for CIFAR (1 block per stage): a small ResNet for tests", dataset="cifar10",
                     for_tests=True))
register(ModelRecord(
    "vgg19", lambda c, k: VGGCifar(VGG19_CFG, c, k), "vgg_cifar",
    "VGG19 for CIFAR (BN, global average pool, one linear)", dataset="cifar100",
    # the paper's numbers come from its released layer list, which hits 13 of the 16 convs (vgg_cifar.py)
    paper=PaperRecord("vgg19", "cifar100", "vgg19/all16conv_0.5", "VGG19 / CIFAR-100", layers_text="13 of 16 convs",
                      n_layers=13, figure=3),
    page=_page(
        "vgg_cifar100", "VGG19 on CIFAR-100",
        "Figure 3's second panel: VGG19 (BN, global average pool, one linear) on CIFAR-100, pruned at the ratio (the "
        "paper's tau, near zero, is in the table below). The paper meant all 16 convs, but its released layer list "
        "hits only 13 (its script's indices 24, 34 and 37 point at BN modules, so conv8, conv11 and conv12 stay "
        "whole), and its numbers come from that list: this page runs those 13 by default (`layers = released`), so "
        "that ours compares with the paper's; `-p layers all` runs the 16 it meant (the study it intended, not "
        "comparable with its numbers), and `layers` takes any list of conv names (conv1 .. conv16). "
        + RUN.format(name="vgg_cifar100", ds="CIFAR-100", folder="cifar-100-python", dataset="cifar100"),
        params("released", "vgg_cifar100",
               "the paper script's 13 convs (its numbers), all (16: what it meant), or names joined by +",
               "vgg19"),
        parent="large_models")))
register(ModelRecord("vgg_tiny", lambda c, k: VGGCifar(VGG_TINY_CFG, c, k), "vgg_cifar",
                     "a 3-conv VGG of the same structure: for tests", dataset="cifar100", for_tests=True))
register(ModelRecord(
    "resnet18", lambda c, k: resnet18(c, k), "resnet_imagenet",
    "torchvision ResNet18 with its pretrained ImageNet weights", dataset="imagenet",
    paper=PaperRecord("resnet18", "imagenet", "resnet18/layer*.conv1_0.5", "ResNet18 / ImageNet",
                      layers_text="layer*.conv1 (8 block convs)", n_layers=8, figure=3),
    page=_page(
        "resnet_imagenet", "ResNet18 on ImageNet",
        "Figure 3's third panel: torchvision's pretrained ResNet18, half the filters of the first conv of each of "
        "its 8 BasicBlocks removed, 160 sampled masks, each retrained 30 epochs (the paper's tau is in the table "
        "below). Images are decoded per batch from torchvision's ImageNet folders (RandomResizedCrop(224) + flip "
        "for training, Resize(256) + CenterCrop(224) otherwise). " + IMAGENET_RUN.format(name="resnet_imagenet",
                                                                         weights="resnet18-f37072fd.pth"),
        params("layer*.conv1", "resnet_imagenet", "conv1 of the 8 BasicBlocks",
               "resnet18 (torchvision, pretrained)", n_masks=160, profiles="paper (GPU) or smoke"),
        parent="large_models")))
register(ModelRecord(
    "vit_b_16", lambda c, k: vit("b_16", c, k), "vit_imagenet",
    "torchvision ViT-B/16 with its pretrained weights; embedding width (every head's dims) and MLP channels prunable, "
    "as the paper's script prunes it", dataset="imagenet", label="ViT-B/16",
    page=_page(
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
        params("all", "vit_imagenet",
               "the embedding width and every block's MLP (vit_b_16_heads: heads and MLPs)",
               "vit_b_16 (the script's width pruning), vit_b_16_heads, or vit_tiny for tests", n_masks=10,
               profiles="paper (GPU), torchvision_cutmix, or smoke"),
        parent="large_models")))
register(ModelRecord("vit_b_16_heads", lambda c, k: vit("b_16", c, k, "heads"), "vit_imagenet",
                     "ViT-B/16 with whole heads and MLP channels prunable (a variant, not the paper's)",
                     dataset="imagenet", label="ViT-B/16 (whole heads)"))
register(ModelRecord("vit_tiny", lambda c, k: vit("tiny", c, k), "vit_imagenet",
                     "a 2-block ViT of the same structure (224 px, 16 px patches): for tests", dataset="imagenet",
                     for_tests=True))
register(ModelRecord("vit_tiny_heads", lambda c, k: vit("tiny", c, k, "heads"), "vit_imagenet",
                     "vit_tiny with whole heads and MLP channels prunable: for tests", dataset="imagenet",
                     for_tests=True))
