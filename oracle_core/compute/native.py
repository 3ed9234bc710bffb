"""Register-blocked C kernels for the fused LeNet5-Mini blocks (native_kernels.c: the block forward and the weight
gradient), compiled on first use.

Why: numba's loops over the batch load one value per multiply-add, so the weight gradient ran at the load-bound
limit of that form (bench/RESULTS.md); in C with GCC vector types the 25 kernel taps' accumulators stay in registers
and each loaded input feeds up to four multiply-adds. The C source is compiled with the machine's C compiler
(``$CC`` or ``cc``, ``-O3 -march=native``) into a cache folder keyed by the source, the flags, the compiler and the
CPU, written atomically (two workers may compile at once). Where no compiler works, or ``ORACLE_NATIVE=0``, the
numba kernels are used: the same function up to float summation order (tests/test_native.py).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).with_name("native_kernels.c")
FLAGS = ("-O3", "-march=native", "-ffp-contract=fast", "-fPIC", "-shared")
ENV = "ORACLE_NATIVE"  # "0": never use the C kernels


def _compiler() -> str:
    return os.environ.get("CC", "cc")


def _cache_dir() -> Path:
    return Path(os.environ.get("ORACLE_NATIVE_CACHE", Path.home() / ".cache" / "oracle_core" / "native"))


def _cpu() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
        return next((ln for ln in info.splitlines() if ln.startswith("flags")), "") + platform.machine()
    except OSError:
        return platform.processor() + platform.machine()


@lru_cache(maxsize=None)
def _load() -> tuple[ctypes.CDLL | None, str]:
    """(library, description) or (None, why not)."""
    if os.environ.get(ENV, "1") == "0":
        return None, f"off ({ENV}=0)"
    cc = _compiler()
    try:
        ver = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"off (no working C compiler {cc!r}: {type(e).__name__})"
    src = SOURCE.read_bytes()
    key = hashlib.sha256(src + " ".join(FLAGS).encode() + ver.encode() + _cpu().encode()).hexdigest()[:16]
    lib_path = _cache_dir() / f"oracle_native_{key}.so"
    if not lib_path.is_file():
        lib_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=lib_path.parent)
        os.close(fd)
        try:
            r = subprocess.run([cc, *FLAGS, "-o", tmp, str(SOURCE)], capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                return None, f"off ({cc} failed: {(r.stderr.strip().splitlines() or ['?'])[-1]})"
            os.replace(tmp, lib_path)  # atomic: a concurrent worker sees the old state or the whole library
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    lib = ctypes.CDLL(str(lib_path))
    p, i = ctypes.c_void_p, ctypes.c_int
    lib.wgrad_f32.argtypes = [p, i, p, p, p, p, p] + [i] * 8
    lib.wgrad_f32.restype = None
    lib.fwd_f32.argtypes = [p, i, p, p, p, p] + [i] * 8
    lib.fwd_f32.restype = None
    return lib, f"on ({ver.splitlines()[0]}, {' '.join(FLAGS[:3])})"


def describe() -> str:
    """Whether the C kernels are in use and how they were built (recorded in every env.json)."""
    return _load()[1]


def available() -> bool:
    return _load()[0] is not None


def _ptr(a: np.ndarray) -> int:
    if not a.flags.c_contiguous:
        raise ValueError("the C kernels need C-contiguous arrays")
    return a.ctypes.data


def applies(x_dtype, kernel_shape) -> bool:
    """Whether the C kernels compute a block: float32, a 5x5 kernel, and a working build."""
    return str(x_dtype) in ("float32", "torch.float32") and tuple(kernel_shape[-2:]) == (5, 5) and available()


def _checked(x: np.ndarray, weights: np.ndarray, what: str) -> tuple[ctypes.CDLL, int, int]:
    """The library, K and Co for a call on x with [K,Co,Ci,5,5] weights (or their gradient); refuses what it cannot
    compute."""
    lib = _load()[0]
    if lib is None:
        raise RuntimeError(f"the C kernels are {describe()}")
    if weights.shape[3:] != (5, 5) or x.dtype != np.float32:
        raise ValueError(f"the C {what} computes 5x5 float32 kernels only")
    return lib, weights.shape[0], weights.shape[1]


def forward(x: np.ndarray, w: np.ndarray, bias: np.ndarray, out: np.ndarray, arg: np.ndarray) -> None:
    """out [K,Co,Hp,Wp,B] = relu(maxpool2x2(conv5x5(x) + bias)) and arg (uint8: which window position held the
    max, the first one at ties) from x [K or 1,Ci,H,W,B] and w [K,Co,Ci,5,5] (float32); as fused._block_forward's."""
    lib, nk, co_n = _checked(x, w, "forward")
    _, ci_n, h, wd, nb = x.shape
    lib.fwd_f32(_ptr(x), int(x.shape[0] == 1 and nk > 1), _ptr(w), _ptr(bias), _ptr(out), _ptr(arg),
                nk, ci_n, co_n, h, wd, out.shape[2], out.shape[3], nb)


def weight_grad(x: np.ndarray, out: np.ndarray, arg: np.ndarray, g: np.ndarray, dw: np.ndarray,
                db: np.ndarray) -> None:
    """dw [K,Co,Ci,5,5] and db [K,Co] of relu(maxpool2x2(conv5x5)) from x [K or 1,Ci,H,W,B] (float32), the block's
    output, its window argmax and the output's gradient g (each [K,Co,Hp,Wp,B]); as fused._block_backward's."""
    lib, nk, co_n = _checked(x, dw, "weight gradient")
    _, ci_n, h, w, nb = x.shape
    lib.wgrad_f32(_ptr(x), int(x.shape[0] == 1 and nk > 1), _ptr(out), _ptr(arg), _ptr(g), _ptr(dw), _ptr(db),
                  nk, ci_n, co_n, h, w, out.shape[2], out.shape[3], nb)
