"""What to run: one frozen dataclass per setting, validated, resolved from a profile, and hashed.

A run's identity is the hash of its non-default fields (open_lth's rule), so the same parameters always
map to the same results folder: a rerun resumes or does nothing, a changed recipe starts a new folder.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace

from ..base.errors import OracleError
from ..compute.engine import PRECISIONS
from ..compute.masks import check_ratio, count_masks
from ..compute.recipe import Recipe
from ..compute.surgery import WIRINGS, layer_sizes
from ..data import get_dataset_info
from ..models import build_model, get_model_info, prunable_layers
from .protocol import LENET_PRETRAIN, LENET_RETRAIN, get_profile

_LATER_RECIPE_FIELDS = {"optimizer": "sgd", "schedule": "step", "label_smoothing": 0.0, "mixup_alpha": 0.0,
                        "cutmix_alpha": 0.0, "grad_clip": 0.0}


def recipe_dict(r: Recipe) -> dict:
    """A recipe as JSON, without the later-added fields left at their defaults (so older keys stay valid)."""
    d = json.loads(json.dumps(asdict(r)))
    return {k: v for k, v in d.items() if not (k in _LATER_RECIPE_FIELDS and v == _LATER_RECIPE_FIELDS[k])}


@dataclass(frozen=True)
class StudySpec:
    """One setting of the study (model, dataset, pruned layers, ratio) and exactly how it is run."""

    model: str = "lenet5_mini"
    dataset: str = "mnist"
    layers: tuple[str, ...] = ("conv1",)
    ratio: float = 0.5  # fraction of each named layer's filters removed: int(n * ratio)
    n_masks: int = 0  # 0 = every mask (exhaustive); otherwise a seeded sample without duplicates
    seed: int = 0  # base seed: pretraining, mask sampling and every retraining seed derive from it
    repeats: int = 3  # retrainings per mask, each with its own recorded seed
    wiring: str = "correct"  # "correct" sub-network, or the paper's "released_code" mis-wiring
    shared_order: bool = False  # all masks of a repeat see the same data order (common random numbers)
    pretrain: Recipe = LENET_PRETRAIN
    retrain: Recipe = LENET_RETRAIN
    train_subset: int = 0  # first N training images form the training set (0 = all 60k)
    retrain_subset: int = 0  # first N of the training set are used for retraining (0 = all)
    test_subset: int = 0  # first N test images (0 = all)
    profile: str = "paper"
    loss_subset: int = 0  # pruned train loss over the first N training images (0 = the whole training set)
    criteria_picks: bool = False  # also retrain the L1 and Taylor picks when they are not in the sample
    precision: str = "fp32"  # retraining arithmetic (engine.numerics): fp32, tf32 or bf16; pretraining is fp32
    retrain_sample: int = 0  # 0 = retrain every candidate; else a seeded uniform sample of M (+ oracle, L1, Taylor)

    @property
    def layers_text(self) -> str:
        return "+".join(self.layers)

    def to_dict(self) -> dict:
        d = json.loads(json.dumps(asdict(self)))
        d["pretrain"], d["retrain"] = recipe_dict(self.pretrain), recipe_dict(self.retrain)
        return d

    def non_default(self) -> dict:
        default = StudySpec().to_dict()
        return {k: v for k, v in self.to_dict().items() if v != default[k]}

    @property
    def key(self) -> str:
        """12 hex digits of sha256 over the non-default fields: the run's folder name."""
        blob = json.dumps(self.non_default(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def pretrain_key(self) -> str:
        """Identity of the dense network: settings that share it share one pretraining."""
        part = {"model": self.model, "dataset": self.dataset, "seed": self.seed, "train_subset": self.train_subset,
                "pretrain": recipe_dict(self.pretrain)}
        return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, d: dict) -> "StudySpec":
        d = dict(d)
        for r in ("pretrain", "retrain"):
            if r in d and isinstance(d[r], dict):
                rec = dict(d[r])
                rec["lr_steps"] = tuple(tuple(x) for x in rec["lr_steps"])
                d[r] = Recipe(**rec)
        if "layers" in d:
            d["layers"] = tuple(d["layers"])
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def parse_layers(layers: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(layers, str):
        parts = [p.strip() for p in layers.replace(",", "+").split("+")]
    else:
        parts = [str(p).strip() for p in layers]
    parts = [p for p in parts if p]
    if not parts:
        raise OracleError("no layer given: name one or more conv layers, e.g. layers='conv1' or 'conv1+conv2'")
    return tuple(parts)


def expand_layers(names: tuple[str, ...], prunable: tuple[str, ...],
                  aliases: dict[str, tuple[str, ...]] | None = None) -> tuple[str, ...]:
    """Shell-style patterns ("layer*.conv1": ResNet56's 27 block convs), "all" and the model's own aliases
    (VGG19's "released": the paper script's 13 convs) become prunable layers, in model order; plain names pass
    through (layer_sizes validates them)."""
    aliases = aliases or {}
    out: list[str] = []
    for name in names:
        if name in aliases:
            out += [h for h in aliases[name] if h not in out]
        elif name == "all" or any(ch in name for ch in "*?["):
            hits = [p for p in prunable if name == "all" or fnmatch.fnmatchcase(p, name)]
            if not hits:
                raise OracleError(f"layer pattern {name!r} matches no prunable layer: use one of {', '.join(prunable)}")
            out += [h for h in hits if h not in out]
        else:
            out.append(name)
    return tuple(out)


def make_spec(model: str = "lenet5_mini", dataset: str = "mnist", layers: str | tuple[str, ...] = "conv1",
              ratio: float = 0.5, n_masks: int = 0, seed: int = 0, repeats: int | None = None,
              profile: str = "cpu", wiring: str = "correct", shared_order: bool = False,
              precision: str = "fp32") -> StudySpec:
    """Validate user parameters and resolve the profile's recipes into a full spec.

    Every mistake raises OracleError with a one-line fix, before anything is written.
    """
    prof = get_profile(profile, get_model_info(model).family)
    info = get_dataset_info(dataset)
    if wiring not in WIRINGS:
        raise OracleError(f"unknown wiring {wiring!r}: use one of {', '.join(WIRINGS)}")
    if precision not in PRECISIONS:
        raise OracleError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)} (fp32 is the protocol)")
    try:
        ratio = float(ratio)
    except (TypeError, ValueError):
        raise OracleError(f"ratio {ratio!r} is not a number: give the fraction of filters to remove, "
                          "e.g. 0.5") from None
    net = build_model(model, info.in_channels, info.num_classes)
    layer_tuple = expand_layers(parse_layers(layers), tuple(prunable_layers(net)), getattr(net, "layer_aliases", None))
    sizes = layer_sizes(net, layer_tuple)
    for name, n in sizes.items():  # check_ratio owns the (0, 1) range check and the removes-none/all checks
        check_ratio(name, n, ratio)
    n_masks = int(n_masks)
    if n_masks < 0:
        raise OracleError(f"n_masks {n_masks} is negative: use 0 for every mask or a positive sample size")
    total = count_masks(sizes, ratio)
    if n_masks >= total:
        n_masks = 0  # a sample as large as the space is the space
    if n_masks > prof.sampled_masks:
        n_masks = prof.sampled_masks  # the profile's stated reduction of sampled settings
    if prof.max_masks and (n_masks == 0 and total > prof.max_masks or n_masks > prof.max_masks):
        n_masks = prof.max_masks
    candidates = n_masks or total
    retrain_sample = prof.retrain_sample if 0 < prof.retrain_sample < candidates else 0
    repeats = prof.repeats if repeats is None or int(repeats) == 0 else int(repeats)  # 0 = the profile's
    if repeats < 1:
        raise OracleError(f"repeats {repeats} is negative: give a positive count, or 0 for the profile's")
    spec = StudySpec(model=model, dataset=dataset, layers=tuple(sizes), ratio=ratio, n_masks=n_masks, seed=int(seed),
                     repeats=repeats, wiring=wiring, shared_order=bool(shared_order), pretrain=prof.pretrain,
                     retrain=prof.retrain, train_subset=prof.train_subset, retrain_subset=prof.retrain_subset,
                     test_subset=prof.test_subset, profile=prof.name, loss_subset=prof.loss_subset,
                     # a sample may miss the L1/Taylor masks: retrain them too (they are defined for conv filters)
                     criteria_picks=(n_masks > 0 or retrain_sample > 0)
                     and all(prunable_layers(net)[name].kind == "conv" for name in sizes),
                     precision=precision, retrain_sample=retrain_sample)
    return spec


def profile_of(spec: StudySpec):
    """The profile a spec was resolved from (the recipe table of its model's family)."""
    return get_profile(spec.profile, get_model_info(spec.model).family)


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any parts (base seed, stage, mask id, repeat): independent of grouping."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


# ---- the lesson's short run: which spec it is, and whether the full run already holds it ----------------------

def short_is_prefix(spec: StudySpec) -> bool:
    """Whether the profile's short retraining is the first epochs of its full retraining (same lr in those
    epochs, batch, weight decay, momentum and data order): then the full run's curve holds the short run."""
    short, full = profile_of(spec).short_retrain, spec.retrain
    return (short.epochs <= full.epochs and short.batch_size == full.batch_size
            and short.weight_decay == full.weight_decay and short.momentum == full.momentum
            and all(short.lr_at(e) == full.lr_at(e) for e in range(short.epochs)))


def short_run_spec(spec: StudySpec) -> StudySpec:
    """The separate short-retraining run of a setting whose short recipe is not a prefix (the paper profile:
    3 epochs with the compressed schedule): same masks, seeds and pretrained network, the short recipe."""
    return replace(spec, retrain=profile_of(spec).short_retrain)
