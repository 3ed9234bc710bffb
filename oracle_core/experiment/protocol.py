"""Recipes and profiles: every training hyperparameter of the study, in one visible table.

A *recipe* is one SGD schedule (epochs, step learning rates, batch, weight decay). A *profile* says how
much of the paper's protocol a run performs: ``paper`` is the full protocol (for a GPU), ``cpu`` is a
stated reduction that finishes the whole MNIST-family grid in about 6 hours of a 2-core CPU, ``smoke``
only exercises the code (seconds, for CI). Every reduction is written here, next to the paper's recipe,
and recorded in each result's ``spec.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..base.errors import OracleError
from ..compute.recipe import Recipe

# ---- the paper's recipes (PROTOCOL.md, "Recipes") -------------------------------------------------
LENET_PRETRAIN = Recipe(epochs=30, lr_steps=((0, 0.01), (20, 0.001)), batch_size=256, weight_decay=1e-4)
LENET_RETRAIN = Recipe(epochs=30, lr_steps=((0, 0.001), (20, 0.0001)), batch_size=256, weight_decay=1e-4)
LENET_SHORT_RETRAIN = Recipe(epochs=3, lr_steps=((0, 0.001), (2, 0.0001)), batch_size=256, weight_decay=1e-4)

# ---- smoke: exercises every code path in seconds; says nothing about the science --------------------
SMOKE_PRETRAIN = Recipe(epochs=3, lr_steps=((0, 0.05),), batch_size=256, weight_decay=1e-4)
SMOKE_RETRAIN = Recipe(epochs=2, lr_steps=((0, 0.01), (1, 0.001)), batch_size=256, weight_decay=1e-4)
SMOKE_SHORT_RETRAIN = Recipe(epochs=1, lr_steps=((0, 0.01),), batch_size=256, weight_decay=1e-4)

# ---- cpu: the lesson's short retraining is the first of the 3 epochs (same lr, same data order) --------
CPU_SHORT_RETRAIN = Recipe(epochs=1, lr_steps=((0, 0.001),), batch_size=256, weight_decay=1e-4)


@dataclass(frozen=True)
class Profile:
    """How much of the protocol a run performs. ``None``/0 means 'as the paper'."""

    name: str
    pretrain: Recipe
    retrain: Recipe
    short_retrain: Recipe
    repeats: int  # retrainings per mask (the paper: 3)
    train_subset: int = 0  # 0 = the whole training set
    retrain_subset: int = 0  # 0 = retrain on the whole training set; else on its first N images
    test_subset: int = 0  # 0 = the whole test set
    loss_subset: int = 0  # 0 = pruned train loss over the whole training set; else over its first N images
    max_masks: int = 0  # 0 = no cap; otherwise at most this many masks (sampled) per setting
    sampled_masks: int = 1000  # n_masks used when a setting is too large to enumerate
    retrain_sample: int = 0  # 0 = retrain every candidate; else a seeded uniform sample of M candidates (+ picks)
    why: str = ""  # every reduction and why it exists: the Profiles page
    summary: str = ""  # one sentence for the pages it qualifies (default: the first sentence of ``why``)

    @property
    def headline(self) -> str:
        return self.summary or (self.why.split(". ")[0].rstrip(".") + "." if self.why else "")


PROFILES: dict[str, Profile] = {
    "paper": Profile(
        name="paper", pretrain=LENET_PRETRAIN, retrain=LENET_RETRAIN, short_retrain=LENET_SHORT_RETRAIN,
        repeats=3, why="The paper's full protocol: 30 retraining epochs, 3 repeats per mask. Meant for a GPU.",
        summary="The paper's full protocol (30 retraining epochs, 3 repeats per mask), meant for a GPU."),
    "converged": Profile(
        name="converged", pretrain=LENET_PRETRAIN, retrain=LENET_RETRAIN, short_retrain=LENET_SHORT_RETRAIN,
        repeats=1, retrain_sample=45,
        why=("The paper's per-mask protocol unchanged, reduced only in how many masks are retrained: full "
             "pretraining, the pruned train loss of every candidate over all 60k training images (every mask of a "
             "single-layer setting; the paper's seeded 1000-mask sample where it samples), then a seeded uniform "
             "sample of 45 candidates (every candidate where there are at most 45) retrained with the paper's "
             "30-epoch recipe on all 60k images, tested on all 10k every epoch, best-epoch accuracy; the oracle's "
             "own mask (lowest pruned loss over all candidates) and the L1 and Taylor picks are retrained beside "
             "the sample. Tau, the anomaly ratio and their intervals are computed on the sample. One retraining "
             "per mask (the paper: 3); the noise ceiling measures what that costs."),
        summary=("The paper's per-mask protocol (pruned loss of every candidate, 30 retraining epochs on all 60k "
                 "images), with a seeded sample of 45 masks retrained once, plus the oracle's, L1 and Taylor picks.")),
    "cpu": Profile(
        name="cpu", pretrain=LENET_PRETRAIN, retrain=LENET_SHORT_RETRAIN, short_retrain=CPU_SHORT_RETRAIN,
        repeats=1, retrain_subset=7500, loss_subset=10000, sampled_masks=100,
        why=("A short-retraining view, not this study's answer: each mask is retrained once with the paper's own "
             "short recipe (3 epochs, lr 0.001 then 0.0001 from epoch 2) on the first 7,500 training images, about "
             "90 SGD steps, 1.3% of the paper's 7,050; the pruned train loss over the first 10k training images; "
             "100 masks (not 1000) where the paper samples; full pretraining and all 10k test images. Its networks "
             "mostly end more than 1 pp below the paper's median accuracy (every page marks those settings "
             "under-trained and leaves them out of its counts): with so little retraining the final accuracy stays "
             "near the pruned accuracy, so tau is strongly negative by construction. Kept as a measured lesson. Sized "
             "for about 6 hours of a 2-core CPU; measured 9.0 hours of wall clock for the whole grid "
             "(about 7 quiet)."),
        summary=("A short-retraining view, not this study's answer: about 90 SGD steps per mask (1.3% of the "
                 "paper's), so tau is strongly negative by construction.")),
    "cpu_15k": Profile(
        name="cpu_15k", pretrain=LENET_PRETRAIN, retrain=LENET_SHORT_RETRAIN, short_retrain=CPU_SHORT_RETRAIN,
        repeats=1, retrain_subset=15000, loss_subset=10000, sampled_masks=100,
        why=("As `cpu` but retraining on the first 15k images: the grid's first sizing, measured at about 9.7 hours "
             "on 2 cores (too long). Kept because its conv1 run measures what halving the retraining images changes."),
        summary="As `cpu`, retraining on the first 15k training images instead of 7,500."),
    "cpu_long": Profile(
        name="cpu_long", pretrain=LENET_PRETRAIN, retrain=LENET_RETRAIN, short_retrain=LENET_SHORT_RETRAIN,
        repeats=1, retrain_subset=7500, loss_subset=10000, sampled_masks=100,
        why=("As `cpu` but each mask retrained with the paper's full recipe (30 epochs, lr 0.001, 0.0001 from "
             "epoch 20), still once and on the first 7,500 images: ten times `cpu`'s retraining, so it is run for "
             "single settings only, to measure what `cpu`'s 3-epoch retraining changes where `cpu` and the paper "
             "disagree (conv1 at 0.8)."),
        summary="As `cpu` but with the paper's 30-epoch recipe (still on 7,500 images), for single settings."),
    "cpu_single": Profile(
        name="cpu_single", pretrain=LENET_PRETRAIN, retrain=LENET_SHORT_RETRAIN, short_retrain=CPU_SHORT_RETRAIN,
        repeats=1, retrain_subset=30000, sampled_masks=300,
        why=("The first CPU reduction, for one setting at a time (about 45 min per 252 masks on 2 cores): as `cpu` "
             "but the pruned train loss over all 60k training images, retraining on the first 30k, 300 sampled "
             "masks. Kept because it measures what the `cpu` grid's smaller subsets change."),
        summary=("An early one-setting reduction: pruned loss on all 60k images, 3 retraining epochs on 30k, "
                 "300 masks.")),
    "smoke": Profile(
        name="smoke", pretrain=SMOKE_PRETRAIN, retrain=SMOKE_RETRAIN,
        short_retrain=SMOKE_SHORT_RETRAIN, repeats=1, train_subset=4096, test_subset=1024, max_masks=6, sampled_masks=6,
        why="Code check only (CI): 4,096 training and 1,024 test images, 3 pretraining epochs, 6 masks, "
            "2 retraining epochs, larger learning rates. Its numbers mean nothing.",
        summary="Code check only: tiny data, 6 masks, 2 retraining epochs; its numbers mean nothing."),
}


# ---- CIFAR models (PROTOCOL.md "Recipes"): ResNet56 / CIFAR-10 and VGG19 / CIFAR-100 ---------------------
RESNET_CIFAR_PRETRAIN = Recipe(epochs=200, lr_steps=((0, 0.1), (100, 0.01), (150, 0.001)), batch_size=128,
                               weight_decay=5e-4)
VGG_CIFAR_PRETRAIN = Recipe(epochs=200, lr_steps=((0, 0.1), (100, 0.01), (150, 0.001)), batch_size=256,
                            weight_decay=5e-4)
CIFAR_RETRAIN = Recipe(epochs=120, lr_steps=((0, 0.01), (60, 0.001), (90, 0.0001)), batch_size=256, weight_decay=5e-4)
CIFAR_SHORT_RETRAIN = Recipe(epochs=12, lr_steps=((0, 0.01), (6, 0.001), (9, 0.0001)), batch_size=256,
                             weight_decay=5e-4)
# cpu: a 2-core machine in under an hour; the schedule keeps the paper's shape (lr drops at 1/2 and 3/4)
RESNET_CIFAR_CPU_PRETRAIN = Recipe(epochs=8, lr_steps=((0, 0.1), (4, 0.01), (6, 0.001)), batch_size=128,
                                   weight_decay=5e-4)
CIFAR_CPU_RETRAIN = Recipe(epochs=2, lr_steps=((0, 0.01), (1, 0.001)), batch_size=256, weight_decay=5e-4)
CIFAR_CPU_SHORT_RETRAIN = Recipe(epochs=1, lr_steps=((0, 0.01),), batch_size=256, weight_decay=5e-4)
CIFAR_SMOKE_PRETRAIN = Recipe(epochs=2, lr_steps=((0, 0.05),), batch_size=64, weight_decay=5e-4)
CIFAR_SMOKE_RETRAIN = Recipe(epochs=2, lr_steps=((0, 0.01), (1, 0.001)), batch_size=64, weight_decay=5e-4)
CIFAR_SMOKE_SHORT = Recipe(epochs=1, lr_steps=((0, 0.01),), batch_size=64, weight_decay=5e-4)

# ---- ResNet18 / ImageNet: torchvision's pretrained weights are the dense network (no pretraining) ---------
PRETRAINED_WEIGHTS = Recipe(epochs=0, lr_steps=((0, 0.0),), batch_size=256, weight_decay=0.0)
RESNET18_RETRAIN = Recipe(epochs=30, lr_steps=((0, 0.01), (10, 0.001), (20, 0.0001)), batch_size=256, weight_decay=1e-4)
RESNET18_SHORT_RETRAIN = Recipe(epochs=3, lr_steps=((0, 0.01), (1, 0.001), (2, 0.0001)), batch_size=256,
                                weight_decay=1e-4)
IMAGENET_SMOKE_RETRAIN = Recipe(epochs=1, lr_steps=((0, 0.01),), batch_size=16, weight_decay=1e-4)

# ---- ViT-B/16 / ImageNet: AdamW with cosine decay, label smoothing, mixup/CutMix, clipping ----------------
# mixup 0.2 and CutMix 1.0 are torchvision's ViT recipe values (PROTOCOL.md names both without alphas); no warm-up
# The paper's script (pruning-transformer/main_tv.py): its CutMix branch reads the mixup alpha, so CutMix runs at 0.2,
# not torchvision's reference 1.0 (kept as the `torchvision_cutmix` profile)
VIT_RETRAIN = Recipe(epochs=300, lr_steps=((0, 1.5e-4),), batch_size=128, weight_decay=0.3, optimizer="adamw",
                     schedule="cosine", label_smoothing=0.11, mixup_alpha=0.2, cutmix_alpha=0.2, grad_clip=1.0)
VIT_SHORT_RETRAIN = replace(VIT_RETRAIN, epochs=30)
VIT_SMOKE = Recipe(epochs=1, lr_steps=((0, 1e-3),), batch_size=16, weight_decay=0.05, optimizer="adamw",
                   schedule="cosine", label_smoothing=0.11, mixup_alpha=0.2, cutmix_alpha=1.0, grad_clip=1.0)

_CIFAR_SMOKE = Profile(  # ResNet56 and VGG19 share it
    name="smoke", pretrain=CIFAR_SMOKE_PRETRAIN, retrain=CIFAR_SMOKE_RETRAIN, short_retrain=CIFAR_SMOKE_SHORT,
    repeats=1, train_subset=256, test_subset=128, max_masks=4, sampled_masks=4,
    why=("Code check only (CI, fabricated CIFAR-format files): 256 training and 128 test images, 2 pretraining "
         "epochs, 4 masks, 2 retraining epochs. Its numbers mean nothing."))

_CIFAR_CPU = Profile(  # ResNet56's 2-core reduction; VGG19's is the same with fewer masks
    name="cpu", pretrain=RESNET_CIFAR_CPU_PRETRAIN, retrain=CIFAR_CPU_RETRAIN, short_retrain=CIFAR_CPU_SHORT_RETRAIN,
    repeats=1, train_subset=5000, test_subset=2000, loss_subset=5000, sampled_masks=8,
    why=("NOT the paper's protocol: a 2-core CPU in under an hour. 8 pretraining epochs on the first 5,000 "
         "CIFAR-10 training images (lr 0.1, /10 at epochs 4 and 6), 8 sampled masks, each retrained once for 2 "
         "epochs on the same 5,000 images, test on the first 2,000 test images. Shows the pipeline end to end; its "
         "tau has 8 points and a far-from-converged network, so it cannot confirm or refute the paper. Projected "
         "from measured rates (bench/resnet_cifar.py, 1 thread on a 2-core CPU busy with other work): about 32 "
         "minutes."))

FAMILY_PROFILES: dict[tuple[str, str], Profile] = {
    ("resnet_cifar", "paper"): Profile(
        name="paper", pretrain=RESNET_CIFAR_PRETRAIN, retrain=CIFAR_RETRAIN, short_retrain=CIFAR_SHORT_RETRAIN,
        repeats=3, why="The paper's ResNet56 / CIFAR-10 protocol: 200 pretraining epochs, 1000 sampled masks of the 27 "
                       "block-conv1 layers, 120 retraining epochs, 3 repeats. Meant for GPUs."),
    ("resnet_cifar", "cpu"): _CIFAR_CPU,
    ("resnet_cifar", "smoke"): _CIFAR_SMOKE,
    ("resnet_imagenet", "paper"): Profile(
        name="paper", pretrain=PRETRAINED_WEIGHTS, retrain=RESNET18_RETRAIN, short_retrain=RESNET18_SHORT_RETRAIN,
        repeats=3, sampled_masks=160,
        why="The paper's ResNet18 / ImageNet protocol: torchvision's pretrained weights, 160 sampled masks of the 8 "
            "block-conv1 layers at 0.5, 30 retraining epochs (lr 0.01, /10 at 10 and 20), 3 repeats. Meant for GPUs."),
    ("resnet_imagenet", "smoke"): Profile(
        name="smoke", pretrain=PRETRAINED_WEIGHTS, retrain=IMAGENET_SMOKE_RETRAIN, short_retrain=IMAGENET_SMOKE_RETRAIN,
        repeats=1, train_subset=32, test_subset=16, max_masks=2, sampled_masks=2,
        why="Code check only (CI, fabricated ImageNet-layout JPEGs and fabricated weights): 32 training and 16 "
            "validation images, 2 masks, 1 retraining epoch. Its numbers mean nothing."),
    ("vit_imagenet", "paper"): Profile(
        name="paper", pretrain=PRETRAINED_WEIGHTS, retrain=VIT_RETRAIN, short_retrain=VIT_SHORT_RETRAIN,
        repeats=1, sampled_masks=10,
        why=("ViT-B/16 / ImageNet as the paper's released script prunes and retrains it: torchvision's pretrained "
             "weights; the embedding width halved through the whole residual stream (768 -> 384: each head keeps its "
             "own 32 of its 64 dims) and each block's MLP halved (3072 -> 1536), by random structured masks (10 here: "
             "the paper does not publish its count), each retrained once for 300 epochs with AdamW (lr 1.5e-4 cosine, "
             "weight decay 0.3, label smoothing 0.11, mixup 0.2 and CutMix 0.2 (the script's CutMix reads the mixup "
             "alpha), clip 1.0, batch 128). The paper published no per-mask numbers for it. Meant for GPUs.")),
    ("vit_imagenet", "torchvision_cutmix"): Profile(
        name="torchvision_cutmix", pretrain=PRETRAINED_WEIGHTS, retrain=replace(VIT_RETRAIN, cutmix_alpha=1.0),
        short_retrain=replace(VIT_SHORT_RETRAIN, cutmix_alpha=1.0), repeats=1, sampled_masks=10,
        why="As the ViT's `paper` profile but CutMix at alpha 1.0, torchvision's reference recipe (what the script "
            "meant; the script itself runs 0.2)."),
    ("vit_imagenet", "smoke"): Profile(
        name="smoke", pretrain=VIT_SMOKE, retrain=VIT_SMOKE, short_retrain=VIT_SMOKE, repeats=1, train_subset=32,
        test_subset=16, max_masks=2, sampled_masks=2,
        why="Code check only (CI, fabricated ImageNet-layout JPEGs; the network is trained 1 epoch from scratch "
            "instead of loading published weights): 32 training and 16 validation images, 2 masks. Its numbers mean "
            "nothing."),
    ("vgg_cifar", "paper"): Profile(
        name="paper", pretrain=VGG_CIFAR_PRETRAIN, retrain=CIFAR_RETRAIN, short_retrain=CIFAR_SHORT_RETRAIN,
        repeats=3, why="The paper's VGG19 / CIFAR-100 protocol: 200 pretraining epochs, 1000 sampled masks of all 16 "
                       "convs at 0.5, 120 retraining epochs, 3 repeats. Meant for GPUs."),
    ("vgg_cifar", "cpu"): replace(
        _CIFAR_CPU, sampled_masks=6,
        why=("NOT the paper's protocol: a 2-core CPU budget. As ResNet56's cpu profile (8 pretraining epochs and 2 "
             "retraining epochs on the first 5,000 CIFAR-100 images, test on 2,000) with 6 sampled masks. Shows the "
             "pipeline end to end; it cannot confirm or refute the paper.")),
    ("vgg_cifar", "smoke"): _CIFAR_SMOKE,
}


def get_profile(name: str, family: str = "lenet") -> Profile:
    """The profile ``name`` for a model family (the LeNet family's table is PROFILES; others FAMILY_PROFILES)."""
    if family == "lenet":
        try:
            return PROFILES[name]
        except KeyError:
            raise OracleError(f"unknown profile {name!r}: use one of {', '.join(PROFILES)}") from None
    try:
        return FAMILY_PROFILES[(family, name)]
    except KeyError:
        have = [p for f, p in FAMILY_PROFILES if f == family]
        raise OracleError(f"profile {name!r} is not defined for {family} models: "
                          f"use one of {', '.join(have)}") from None


def profile_table() -> list[dict[str, object]]:
    """One row per profile, for the book: every reduction next to the paper's protocol."""
    rows = []
    for p in PROFILES.values():
        rows.append({
            "profile": p.name,
            "pretrain": p.pretrain.describe(),
            "retrain": p.retrain.describe(),
            "repeats": p.repeats,
            "train images": p.train_subset or "all",
            "retrain images": p.retrain_subset or "all",
            "pruned-loss images": p.loss_subset or "all",
            "lesson short retrain": p.short_retrain.describe(),
            "test images": p.test_subset or "all",
            "masks per sampled setting": p.sampled_masks,
            "masks retrained": p.retrain_sample or "every candidate",
            "why": p.why,
        })
    return rows
