"""Small fabricated copies of datasets we cannot download here, in each dataset's real on-disk format.

They exist only so tests and the smoke book exercise the real loaders (CIFAR's pickled batches in torchvision's
folder layout). Their md5s are written to ``FABRICATED.json`` beside them; the loader accepts those instead of
the real checksums only when ``ORACLE_FABRICATED_DATA=1`` is set, and then records ``fabricated: true`` with the
result. Never use them for a result shown as real.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..base.io import md5sum
from ..models.pretrained import WEIGHTS
from ..models.resnet_imagenet import resnet18
from .imagenet import folder as imagenet_folder
from .registry import FABRICATED_FILE, get_dataset_info, raw_dir


def cifar(root: Path, name: str = "cifar10", n_train: int = 500, n_test: int = 200, seed: int = 0) -> Path:
    """Write ``name`` (cifar10 or cifar100) with n_train / n_test images; each class has its own mean colour so a
    network can learn something. Returns the folder."""
    info = get_dataset_info(name)
    if info.fmt != "cifar":
        raise ValueError(f"{name} is not a CIFAR dataset")
    rng = np.random.default_rng(seed)
    folder = raw_dir(info, Path(root))
    folder.mkdir(parents=True, exist_ok=True)
    colours = rng.integers(40, 216, size=(info.num_classes, 3, 1, 1))

    def batch(n: int) -> dict:
        labels = rng.integers(0, info.num_classes, size=n)
        images = np.clip(colours[labels] + rng.normal(0, 40, size=(n, 3, 32, 32)), 0, 255).astype(np.uint8)
        return {"batch_label": "fabricated", info.label_key: labels.tolist(), "data": images.reshape(n, 3072),
                "filenames": [f"img{i}.png" for i in range(n)]}

    per = np.array_split(np.arange(n_train), len(info.train_files))
    for fname, part in zip(info.train_files, per):
        _dump(folder / fname, batch(len(part)))
    for fname in info.test_files:
        _dump(folder / fname, batch(n_test))
    meta = next(f for f in info.files if f not in info.train_files + info.test_files)
    key = "fine_label_names" if info.label_key == "fine_labels" else "label_names"
    _dump(folder / meta, {key: [f"class{i}" for i in range(info.num_classes)]})
    (folder / FABRICATED_FILE).write_text(json.dumps({f: md5sum(folder / f) for f in info.files}, indent=1))
    return folder


def _dump(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def imagenet(root: Path, classes: int = 4, train_per_class: int = 10, val_per_class: int = 4, size: int = 80,
             seed: int = 0) -> Path:
    """ImageNet as torchvision leaves it after unpacking: ``meta.bin`` and ``train|val/<wnid>/*.JPEG`` (tiny
    JPEGs of class-coloured noise). Returns the folder."""
    rng = np.random.default_rng(seed)
    f = imagenet_folder(Path(root))
    wnids = [f"n{10000000 + i:08d}" for i in range(classes)]
    colours = rng.integers(40, 216, size=(classes, 3))
    val_wnids = []
    for split, per in (("train", train_per_class), ("val", val_per_class)):
        for c, wnid in enumerate(wnids):
            (f / split / wnid).mkdir(parents=True, exist_ok=True)
            for i in range(per):
                h, w = size + int(rng.integers(0, 40)), size + int(rng.integers(0, 40))
                px = np.clip(colours[c] + rng.normal(0, 30, size=(h, w, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(px).save(f / split / wnid / f"{wnid}_{i}.JPEG", quality=90)
                if split == "val":
                    val_wnids.append(wnid)
    torch.save(({w: (f"class {i}",) for i, w in enumerate(wnids)}, val_wnids), f / "meta.bin")
    (f / FABRICATED_FILE).write_text(json.dumps({"classes": classes}))
    return f


def resnet18_weights(hub_dir: Path, seed: int = 0) -> Path:
    """A randomly initialised ResNet18 saved where torchvision's pretrained file would lie (its name claims a sha256
    prefix the content does not have: accepted only under ORACLE_FABRICATED_DATA=1)."""
    torch.manual_seed(seed)
    path = Path(hub_dir) / "checkpoints" / WEIGHTS["resnet18"][0]
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v for k, v in resnet18().state_dict().items()}
    torch.save(state, path)
    return path
