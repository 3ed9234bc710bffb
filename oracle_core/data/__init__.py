"""Datasets: which exist and where their files go (registry), the raw files verified and fetched (files), and
decoded once into cached uint8 tensors normalized on the device (decode). ImageNet is decoded per batch
(imagenet). Knows nothing of models, training or results."""

from ..base.io import md5sum
from .cli import main
from .decode import DeviceImages, Split, load_split, to_float
from .files import dataset_md5s, dataset_present, fetch, verify
from .registry import DATASETS, FABRICATED_FILE, DatasetInfo, default_root, get_dataset_info, raw_dir

__all__ = ["DATASETS", "FABRICATED_FILE", "DatasetInfo", "DeviceImages", "Split", "dataset_md5s", "dataset_present",
           "default_root", "fetch", "get_dataset_info", "load_split", "main", "md5sum", "raw_dir", "to_float",
           "verify"]
