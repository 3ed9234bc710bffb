"""What produced a result: code version, library versions, device. Written into every env.json."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
import torchvision

from ..base.errors import OracleError
from ..base.paths import REPO
from ..compute import native


def code_version() -> str:
    """git commit of the package (+ '-dirty' if oracle_core/ has uncommitted changes); without git, the commit an
    unpacked source archive names (+ '-archive'), else the package version or 'unknown'.
    A long-lived parent (the grid) pins it in ORACLE_CODE_VERSION for its workers: they run the code they
    imported at start, whatever is committed while they run."""
    if os.environ.get("ORACLE_CODE_VERSION"):
        return os.environ["ORACLE_CODE_VERSION"]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "oracle_core"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        archived = REPO / "SOURCE_COMMIT"  # unpacked from the book's source archive: the commit it was made from
        if archived.is_file() and archived.read_text().strip():
            return archived.read_text().strip()[:40] + "-archive"
        try:
            return f"oracle_core {version('oracle-core')} (no git)"
        except PackageNotFoundError:
            return "unknown (no git, not installed)"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"cpu: {line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return f"cpu: {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def pick_device(device: str | None = None) -> torch.device:
    """The device to compute on (default: cuda when present, else cpu); a bad or absent device is a one-line error."""
    if not device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise OracleError(f"device {device!r} is not a device name: use cpu or cuda (or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise OracleError(f"device {device!r} asked for, but this machine has no usable CUDA GPU: use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise OracleError(f"device {device!r} is not supported: use cpu or cuda")
    return dev


def environment(device: torch.device) -> dict[str, object]:
    return {
        "code_version": code_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device_name(device),
        "device_type": device.type,
        "torch_threads": torch.get_num_threads(),
        "native_kernels": native.describe(),  # the C kernels of the fused LeNet path, or why not
        "training_step": native.describe_step(),  # LeNet5-Mini family: the whole step in C, or autograd
        **_library_versions(),
    }


def _library_versions() -> dict[str, str]:
    """The numerical libraries a result depends on besides torch (numpy, scipy, pandas, numba)."""
    out = {}
    for name in ("numpy", "scipy", "pandas", "numba"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
