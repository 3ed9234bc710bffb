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

SOURCES = (Path(__file__).with_name("native_kernels.c"), Path(__file__).with_name("native_step.c"))
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
    src = b"".join(p.read_bytes() for p in SOURCES)
    key = hashlib.sha256(src + " ".join(FLAGS).encode() + ver.encode() + _cpu().encode()).hexdigest()[:16]
    lib_path = _cache_dir() / f"oracle_native_{key}.so"
    if not lib_path.is_file():
        lib_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=lib_path.parent)
        os.close(fd)
        try:
            r = subprocess.run([cc, *FLAGS, "-o", tmp, *map(str, SOURCES), "-lm"], capture_output=True, text=True,
                               timeout=300)
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
    lg = ctypes.c_long
    lib.lenet_step.argtypes = [p, p, p, p, lg, lg, p, p, i, i, ctypes.c_float, ctypes.c_float, ctypes.c_float, i, p]
    lib.lenet_step.restype = i
    lib.lenet_forward.argtypes = [p, p, p, lg, lg, i, p]
    lib.lenet_forward.restype = i
    lib.lenet_metrics.argtypes = [p, p, p, lg, lg, i, p, p, p]
    lib.lenet_metrics.restype = i
    lib.lenet_profile.argtypes = [p]
    lib.lenet_profile.restype = None
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


STEP_ENV = "ORACLE_STEP"  # "autograd": the per-block kernels under autograd (the engine as it was), not the C step
_ERRORS = {1: "a shape the C step does not compute (conv3 must cover a 5x5 input; at most 8 linear layers)",
           3: "out of memory in the C step"}


def step_applies() -> bool:
    """Whether the whole-step C path (native_step.c) is in use: a working build and not ``ORACLE_STEP=autograd``."""
    return available() and os.environ.get(STEP_ENV, "c") != "autograd"


def describe_step() -> str:
    """How a LeNet5-Mini family training step runs on the CPU in fp32 with SGD (recorded in every env.json)."""
    if step_applies():
        return "C: forward, loss, backward and SGD in one call (native_step.c)"
    why = f"{STEP_ENV}=autograd" if available() else f"C kernels {describe()}"
    return f"autograd over the fused blocks ({why})"


def _ptrs(arrays: list[np.ndarray]):
    return (ctypes.c_void_p * len(arrays))(*[_ptr(a) for a in arrays])


def _check(rc: int) -> None:
    if rc:
        raise RuntimeError(_ERRORS.get(rc, f"the C step failed ({rc})"))


PHASES = ("gather", "conv1 forward", "conv2 forward", "conv3+linear forward", "loss", "linear+conv3 backward",
          "conv2 backward (weights, input)", "conv1 backward (weights)", "lane sums + SGD")


class profiled:
    """``with native.profiled() as seconds:`` adds the C step's time per phase (``PHASES``) into ``seconds``."""

    def __enter__(self) -> dict[str, float]:
        self.acc = np.zeros(len(PHASES))
        self.out: dict[str, float] = {}
        _load()[0].lenet_profile(_ptr(self.acc))
        return self.out

    def __exit__(self, *exc) -> None:
        _load()[0].lenet_profile(None)
        self.out.update(zip(PHASES, self.acc.tolist()))


def lenet_dims(k: int, c0: int, h: int, w: int, c1: int, c2: int, c3: int, fc_out: list[int]) -> np.ndarray:
    """The shape vector native_step.c reads: models, input channels and size, the three convs' filters, then the
    linear layers' output sizes."""
    return np.array([k, c0, h, w, c1, c2, c3, len(fc_out), *fc_out], dtype=np.int32)


class Step:
    """One model stack's C training step with its argument pointers built once (a step is called ~235 times an
    epoch): ``step(rows, lr, first)`` trains in place on ``params`` (each [K, ...] float32) and their momentum
    ``bufs``; model k trains on images ``data[rows[k]]`` ([N, C, H, W] float32; rows [B] when the models share a
    batch, else [K, B]) with ``labels[rows[k]]``. Returns each model's summed per-image loss [K] (float64)."""

    def __init__(self, dims: np.ndarray, params: list[np.ndarray], bufs: list[np.ndarray], data: np.ndarray,
                 labels: np.ndarray):
        self.lib = _load()[0]
        self.keep = (dims, params, bufs, data, labels)  # the arrays the pointers point into stay alive
        self.args = (_ptr(dims), _ptrs(params), _ptrs(bufs), _ptr(data), int(np.prod(data.shape[1:])), 0,
                     _ptr(labels))
        self.k = int(dims[0])

    def __call__(self, rows: np.ndarray, lr: float, momentum: float, weight_decay: float, first: bool) -> np.ndarray:
        if rows.dtype != np.int64 or not rows.flags.c_contiguous or rows.ndim not in (1, 2):
            raise ValueError("rows must be a C-contiguous int64 array [B] or [K, B]")
        loss = np.empty(self.k, dtype=np.float64)
        _check(self.lib.lenet_step(*self.args, _ptr(rows), int(rows.ndim == 2), rows.shape[-1], lr, momentum,
                                   weight_decay, int(first), _ptr(loss)))
        return loss


def forward_logits(dims: np.ndarray, params: list[np.ndarray], x: np.ndarray, shared: bool) -> np.ndarray:
    """Eval-mode logits [B, K, classes] of K models on x [B, C, H, W] (shared: every model sees it) or [B, K*C, H, W]
    (model k its own channels)."""
    lib = _load()[0]
    k, nb = int(dims[0]), x.shape[0]
    img = int(np.prod(x.shape[1:])) // (1 if shared else k)
    logits = np.empty((nb, k, int(dims[8 + dims[7] - 1])), dtype=np.float32)
    _check(lib.lenet_forward(_ptr(dims), _ptrs(params), _ptr(x), int(np.prod(x.shape[1:])), 0 if shared else img, nb,
                             _ptr(logits)))
    return logits


def metrics(dims: np.ndarray, params: list[np.ndarray], x: np.ndarray, y: np.ndarray, shared: bool,
            loss: np.ndarray, correct: np.ndarray) -> None:
    """Adds each model's summed eval-mode cross-entropy into ``loss`` [K] and its correct count into ``correct`` [K]
    (both float64) over x [B, C, H, W] (shared) or [B, K*C, H, W] with labels y [B] (int64)."""
    lib = _load()[0]
    k, nb = int(dims[0]), x.shape[0]
    if y.dtype != np.int64 or y.shape != (nb,) or (nb and not (0 <= y.min() and y.max() < dims[8 + dims[7] - 1])):
        raise ValueError("labels must be int64, one per image, within the classes")
    row = int(np.prod(x.shape[1:]))
    _check(lib.lenet_metrics(_ptr(dims), _ptrs(params), _ptr(x), row, 0 if shared else row // k, nb, _ptr(y),
                             _ptr(loss), _ptr(correct)))
