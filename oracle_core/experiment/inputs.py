"""What a setting's computation starts from: its data on the device (train, retrain, pruned-loss and test
splits, with the profile's subsets) and its dense network (loaded from the store, trained from its seed, or a
published checkpoint)."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from tqdm import tqdm

from .. import data
from ..base.errors import OracleError
from ..base.io import atomic_torch_save, atomic_write_json
from ..compute import engine
from ..compute.augment import CropFlip
from ..data import imagenet
from ..models import build_model
from ..models.pretrained import pretrained_state
from . import envinfo
from .integrity import regular_file, seal_pretrained, verify_pretrained
from .spec import StudySpec, derive_seed
from .store import RunStore


def _head(x, n: int):
    return x.head(n) if isinstance(x, data.DeviceImages) else x[:n]


class StudyData:
    """One setting's tensors on its device."""

    def __init__(self, spec: StudySpec, device: torch.device, root: Path | None):
        info = data.get_dataset_info(spec.dataset)
        if info.fmt == "imagefolder":
            self._lazy(spec, info, device, root)
            return
        train = data.load_split(spec.dataset, True, root).head(spec.train_subset)
        test = data.load_split(spec.dataset, False, root).head(spec.test_subset)
        self.info = info
        if info.fmt == "cifar":  # uint8 on the device, normalized per batch (identical numbers, 4x less memory)
            self.train_x = data.DeviceImages(train.images, info, device)
            self.test_x = data.DeviceImages(test.images, info, device)
        else:  # the MNIST family is small: one float tensor (the committed results were computed this way)
            self.train_x = data.to_float(train.images, info, device)
            self.test_x = data.to_float(test.images, info, device)
        self.train_y, self.test_y = train.labels.to(device), test.labels.to(device)
        n = spec.retrain_subset or len(self.train_y)
        self.retrain_x, self.retrain_y = _head(self.train_x, n), self.train_y[:n]
        n = spec.loss_subset or len(self.train_y)
        self.loss_x, self.loss_y = _head(self.train_x, n), self.train_y[:n]
        self.md5 = data.dataset_md5s(spec.dataset, root)
        self.augment = (CropFlip(info.mean, info.std, info.in_channels) if info.augment == "crop_flip" else None)

    def _lazy(self, spec: StudySpec, info, device: torch.device, root: Path | None) -> None:
        """ImageNet: images decoded per batch (imagenet.LazyImages); subsets are seeded random draws."""
        self.md5 = data.dataset_md5s(spec.dataset, root)  # fails fast (one line) if the data is missing
        train, test = imagenet.splits(Path(root or data.default_root()), device, derive_seed(spec.seed, "decode"))
        train, test = train.head(spec.train_subset, spec.seed), test.head(spec.test_subset, spec.seed)
        self.info, self.augment = info, None  # the training crops and flips happen while decoding
        self.train_x, self.train_y = train, train.labels().to(device)
        self.test_x, self.test_y = test, test.labels().to(device)
        retrain = train.head(spec.retrain_subset, spec.seed)
        self.retrain_x, self.retrain_y = retrain, retrain.labels().to(device)
        loss = train.head(spec.loss_subset, spec.seed)  # the pruned train loss sees the evaluation transform
        self.loss_x = imagenet.LazyImages(loss.samples, False, 0, device)
        self.loss_y = loss.labels().to(device)


def load_dense(spec: StudySpec, d: StudyData, path: Path, device: torch.device) -> torch.nn.Module:
    """The stored dense network (weights only); a damaged or mismatched file is a one-line error naming it."""
    model = build_model(spec.model, d.info.in_channels, d.info.num_classes).to(device)
    regular_file(path)  # not a symlink, device or FIFO, and not larger than any checkpoint
    try:
        model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    except Exception as exc:  # noqa: BLE001 - unpickling and shape errors alike
        raise OracleError(f"{path} is damaged or not a {spec.model} checkpoint ({type(exc).__name__}): delete it "
                          "and rerun (the dense network is retrained from its seed)") from None
    return model


def pretrained(spec: StudySpec, store: RunStore, d: StudyData, device: torch.device, progress: bool) -> torch.nn.Module:
    """The dense network of this pretraining key: loaded if stored, else trained (seeded) and stored."""
    if store.shared_pretrained_pt.exists() and store.shared_pretrain_json.exists():  # else killed while storing it
        verify_pretrained(store.pretrained_dir)  # a replaced network is refused, never used by every setting
        return load_dense(spec, d, store.shared_pretrained_pt, device)
    if spec.pretrain.epochs == 0:  # the dense network is a published checkpoint (torchvision's weights)
        return published(spec, store, d, device)
    torch.manual_seed(derive_seed(spec.seed, "init"))
    model = build_model(spec.model, d.info.in_channels, d.info.num_classes).to(device)
    total = spec.pretrain.epochs * len(d.train_y)
    t0 = time.perf_counter()
    with tqdm(total=total, desc="pretrain", unit="img", unit_scale=True, disable=not progress) as bar:
        res = engine.pretrain(model, d.train_x, d.train_y, d.test_x, d.test_y, spec.pretrain,
                              derive_seed(spec.seed, "pretrain-order"), on_step=bar.update, augment=d.augment)
    atomic_torch_save(store.shared_pretrained_pt, {k: v.cpu() for k, v in model.state_dict().items()})
    atomic_write_json(store.shared_pretrain_json, {
        "model": spec.model, "dataset": spec.dataset, "recipe": spec.to_dict()["pretrain"], "seed": spec.seed,
        "init_seed": derive_seed(spec.seed, "init"), "order_seed": derive_seed(spec.seed, "pretrain-order"),
        "train_images": len(d.train_y), "test_acc_per_epoch": res.test_acc, "test_loss_per_epoch": res.test_loss,
        "final_test_acc": res.test_acc[-1], "wall_s": time.perf_counter() - t0, **envinfo.environment(device)})
    seal_pretrained(store.pretrained_dir)
    return model


def published(spec: StudySpec, store: RunStore, d: StudyData, device: torch.device) -> torch.nn.Module:
    state, record = pretrained_state(spec.model)
    model = build_model(spec.model, d.info.in_channels, d.info.num_classes).to(device)
    model.load_state_dict(state)
    t0 = time.perf_counter()
    met = engine.evaluate(model, 1, d.test_x, d.test_y)
    atomic_torch_save(store.shared_pretrained_pt, {k: v.cpu() for k, v in model.state_dict().items()})
    atomic_write_json(store.shared_pretrain_json, {
        "model": spec.model, "dataset": spec.dataset, "recipe": spec.to_dict()["pretrain"], "source": record,
        "test_images": len(d.test_y), "final_test_acc": met.acc[0], "test_acc_per_epoch": [met.acc[0]],
        "test_loss_per_epoch": [met.loss[0]], "wall_s": time.perf_counter() - t0, **envinfo.environment(device)})
    seal_pretrained(store.pretrained_dir)
    return model


def pretrain_only(spec: StudySpec, results_root: Path | None = None, data_root: Path | None = None,
                  device: str | None = None, progress: bool = False) -> Path:
    """Train (or find) the dense network of ``spec``'s pretraining key; lets a grid pretrain in parallel."""
    store = RunStore(spec, "pretrain", results_root)
    if not (store.shared_pretrained_pt.exists() and store.shared_pretrain_json.exists()):
        dev = envinfo.pick_device(device)
        pretrained(spec, store, StudyData(spec, dev, data_root), dev, progress)
    return store.shared_pretrained_pt
