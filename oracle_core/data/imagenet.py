"""ImageNet: too large to hold in memory, so its images are decoded per batch from torchvision's folder layout.

``LazyImages`` stands where the engine expects an image tensor (``x[idx]``, ``x[a:b]``, ``len``, ``.shape``,
``.device``) and decodes the files behind those indices with PIL in a thread pool, applying the protocol's
transforms: RandomResizedCrop(224) + flip for training (random parameters drawn from a seeded generator in the
calling thread, so a run is reproducible), Resize(256) + CenterCrop(224) otherwise, then ToTensor + Normalize.

Layout (torchvision.datasets.ImageNet's): ``<root>/imagenet/`` holds ``ILSVRC2012_devkit_t12.tar.gz``,
``ILSVRC2012_img_train.tar`` and ``ILSVRC2012_img_val.tar`` (md5-checked here and by torchvision, which unpacks
them into ``train/<wnid>/``, ``val/<wnid>/`` and ``meta.bin`` on first use); once unpacked, the archives may go.
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
import torchvision.datasets as tvd
from PIL import Image
from torchvision.transforms import functional as TF

from ..base.errors import OracleError
from ..base.io import atomic_write_bytes, md5sum

FOLDER = "imagenet"
ARCHIVES = {"ILSVRC2012_devkit_t12.tar.gz": "fa75699e90414af021442c21a62c3abf",
            "ILSVRC2012_img_train.tar": "1d675b47d978889d74fa0da5fadfb00e",
            "ILSVRC2012_img_val.tar": "29b22e2961454d5413ddabcf34fc5622"}
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # torchvision's ImageNet weights were trained with these
STAMP = "VERIFIED.json"  # sizes of archives whose md5 matched once (an md5 of 150 GB takes minutes)


def folder(root: Path) -> Path:
    return Path(root) / FOLDER


def present(root: Path) -> bool:
    f = folder(root)
    prepared = (f / "meta.bin").is_file() and (f / "train").is_dir() and (f / "val").is_dir()
    return prepared or all((f / a).is_file() for a in ARCHIVES)


def verify(root: Path) -> dict[str, str]:
    """What was checked, for env.json. Archives present: their md5 (once; a stamp remembers their sizes).
    Only the unpacked folders present: accepted as torchvision unpacked them (it checked the archives then)."""
    f = folder(root)
    if not present(root):
        raise OracleError(
            f"imagenet is missing in {f}/: put {', '.join(ARCHIVES)} there (from https://image-net.org, which needs an "
            "account; no registry carries them); torchvision checks their md5 and unpacks them on first use")
    have = [a for a in ARCHIVES if (f / a).is_file()]
    if len(have) == len(ARCHIVES):
        stamp = json.loads((f / STAMP).read_text()) if (f / STAMP).is_file() else {}
        out = {}
        for name, expected in ARCHIVES.items():
            size = (f / name).stat().st_size
            if stamp.get(name, {}).get("size") != size:
                got = md5sum(f / name)
                if got != expected:
                    raise OracleError(f"{f / name} is corrupted (md5 {got}, expected {expected}): download it again")
                stamp[name] = {"md5": got, "size": size}
            out[name] = stamp[name]["md5"]
        atomic_write_bytes(f / STAMP, json.dumps(stamp, indent=1).encode())
        return out
    sums = {"meta.bin": md5sum(f / "meta.bin"), "archives": "absent: unpacked folders used as torchvision left them"}
    if os.environ.get("ORACLE_FABRICATED_DATA") == "1" and (f / "FABRICATED.json").is_file():
        sums["fabricated"] = "true"
    return sums


class LazyImages:
    """ImageNet images decoded on demand; indexable like an [N, 3, 224, 224] float tensor (see module doc)."""

    def __init__(self, samples: list[tuple[str, int]], train: bool, seed: int, device: torch.device | str = "cpu",
                 threads: int = 0):
        self.samples, self.train, self.device = samples, train, torch.device(device)
        self.shape = (len(samples), 3, 224, 224)
        self.gen = torch.Generator().manual_seed(int(seed))
        self.pool = ThreadPoolExecutor(threads or max(1, min(16, (os.cpu_count() or 2))))
        self.mean = torch.tensor(MEAN).reshape(3, 1, 1)
        self.std = torch.tensor(STD).reshape(3, 1, 1)

    def __len__(self) -> int:
        return len(self.samples)

    def head(self, n: int, seed: int = 0) -> "LazyImages":
        """n images drawn without replacement by a seeded permutation (the first n files would be a few classes)."""
        if not n or n >= len(self):
            return self
        keep = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].sort().values.tolist()
        out = LazyImages([self.samples[i] for i in keep], self.train, int(self.gen.initial_seed()), self.device,
                         self.pool._max_workers)
        return out

    def labels(self) -> torch.Tensor:
        return torch.tensor([t for _, t in self.samples], dtype=torch.int64)

    def _load(self, path: str):

        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")

    def _crop_params(self, w: int, h: int) -> tuple[int, int, int, int]:
        """torchvision's RandomResizedCrop.get_params (scale 0.08-1, ratio 3/4-4/3), drawn from self.gen."""
        area = w * h
        log_ratio = (math.log(3 / 4), math.log(4 / 3))
        for _ in range(10):
            target = area * float(torch.empty(1).uniform_(0.08, 1.0, generator=self.gen))
            ar = math.exp(float(torch.empty(1).uniform_(*log_ratio, generator=self.gen)))
            cw, ch = int(round(math.sqrt(target * ar))), int(round(math.sqrt(target / ar)))
            if 0 < cw <= w and 0 < ch <= h:
                i = int(torch.randint(0, h - ch + 1, (1,), generator=self.gen))
                j = int(torch.randint(0, w - cw + 1, (1,), generator=self.gen))
                return i, j, ch, cw
        in_ratio = w / h  # fallback: central crop
        if in_ratio < 3 / 4:
            cw, ch = w, int(round(w / (3 / 4)))
        elif in_ratio > 4 / 3:
            ch, cw = h, int(round(h * (4 / 3)))
        else:
            cw, ch = w, h
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def _transform(self, img, params):

        if params is None:
            img = TF.center_crop(TF.resize(img, 256), 224)
        else:
            (i, j, ch, cw), flip = params
            img = TF.resized_crop(img, i, j, ch, cw, [224, 224])
            img = TF.hflip(img) if flip else img
        return (TF.to_tensor(img) - self.mean) / self.std

    def _batch(self, idx: list[int]) -> torch.Tensor:
        imgs = list(self.pool.map(lambda i: self._load(self.samples[i][0]), idx))
        params = [(self._crop_params(*im.size), bool(torch.rand(1, generator=self.gen) < 0.5)) if self.train else None
                  for im in imgs]  # drawn here, in order: reproducible whatever the thread timing
        return torch.stack(list(self.pool.map(lambda a: self._transform(*a), zip(imgs, params)))).to(self.device)

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, slice):
            return self._batch(list(range(len(self)))[key])
        idx = torch.as_tensor(key).cpu()
        if idx.dim() == 2:  # [K, B]: one batch per stacked model
            return torch.stack([self._batch(row.tolist()) for row in idx])
        return self._batch(idx.tolist())


def splits(root: Path, device, seed: int) -> tuple[LazyImages, LazyImages]:
    """(train, val) of torchvision's ImageNet class over the unpacked folders (it unpacks the archives if needed)."""

    f = folder(root)
    try:
        train = tvd.ImageNet(str(f), split="train")
        val = tvd.ImageNet(str(f), split="val")
    except RuntimeError as exc:  # torchvision: an archive missing or corrupted
        raise OracleError(f"imagenet in {f}/: {exc}".replace("\n", " ")) from None
    return LazyImages(train.samples, True, seed, device), LazyImages(val.samples, False, seed + 1, device)
