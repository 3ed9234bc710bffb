"""The C weight gradient (oracle_core/compute/native.py) equals the numba kernel's, and the engine falls back to
numba where no C compiler works."""

import numpy as np
import pytest
import torch

from oracle_core.compute import fused, native
from oracle_core.compute.masks import Mask
from oracle_core.compute.surgery import prune
from oracle_core.models import build_model

needs_cc = pytest.mark.skipif(not native.available(), reason=f"C kernels {native.describe()}")


def _block(ci, co, size, nb, nk=1, shared=False, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1 if shared else nk, ci, size, size, nb)).astype(np.float32)
    x[:, :, :8, :8] = 0.3  # constant windows: exact ties, first-max rule
    w = rng.standard_normal((nk, co, ci, 5, 5)).astype(np.float32)
    b = rng.standard_normal((nk, co)).astype(np.float32)
    hp = (size - 4) // 2
    out = np.empty((nk, co, hp, hp, nb), np.float32)
    arg = np.empty(out.shape, np.uint8)
    fused._block_forward(x, w, b, out, arg)
    g = rng.standard_normal(out.shape).astype(np.float32)
    return x, w, out, arg, g


@needs_cc
@pytest.mark.parametrize("ci,co,size,nb,nk,shared", [(1, 5, 32, 256, 1, False), (5, 10, 14, 256, 1, False),
                                                     (3, 4, 15, 100, 2, False), (1, 3, 32, 37, 3, True)])
def test_the_c_weight_gradient_equals_the_numba_kernel(ci, co, size, nb, nk, shared):
    """Odd conv sizes (a row and column outside every window), batches that are not a multiple of the vector width
    (the scalar tail), K models, and one input shared by all K."""
    x, w, out, arg, g = _block(ci, co, size, nb, nk, shared)
    dw0, db0 = np.empty_like(w), np.empty((nk, co), np.float32)
    fused._block_backward(x, w, out, arg, g, np.zeros((1,) * 5, np.float32), dw0, db0, False)
    dw1, db1 = np.full_like(w, np.nan), np.full((nk, co), np.nan, np.float32)
    native.weight_grad(x, out, arg, g, dw1, db1)
    np.testing.assert_allclose(dw1, dw0, rtol=1e-5, atol=1e-5 * np.abs(dw0).max())
    np.testing.assert_allclose(db1, db0, rtol=1e-5, atol=1e-5 * np.abs(db0).max())
    dw1[0, 0, 0, 0, 0] += 1e-2 * np.abs(dw0).max()  # the check can fail
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(dw1, dw0, rtol=1e-5, atol=1e-5 * np.abs(dw0).max())


@needs_cc
def test_the_routed_gradient_equals_the_numba_kernels():
    x, w, out, arg, g = _block(5, 10, 14, 64)
    ho = 10
    d0, d1 = np.zeros((1, 10, ho, ho + 11, 64), np.float32), np.zeros((1, 10, ho, ho + 11, 64), np.float32)
    fused._block_backward(x, w, out, arg, g, d0, np.empty_like(w), np.empty((1, 10), np.float32), True)
    fused._route(out, arg, g, d1)
    assert np.array_equal(d0, d1)


def test_without_a_compiler_the_numba_kernels_train_the_same_network(monkeypatch, tmp_path):
    torch.manual_seed(0)
    model = prune(build_model("lenet5_mini"), Mask.parse("conv2:0,2,4,6,8"))
    x, y = torch.randn(64, 1, 32, 32), torch.randint(0, 10, (64,))

    def grads():
        wide = fused.FusedLeNet([model])
        torch.nn.functional.cross_entropy(wide(x), y).backward()
        return {n: p.grad.clone() for n, p in wide.named_parameters()}

    used = grads()
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("ORACLE_NATIVE_CACHE", str(tmp_path / "cache"))
    native._load.cache_clear()
    try:
        assert not native.available() and "no working C compiler" in native.describe()
        fallback = grads()
    finally:
        native._load.cache_clear()
    for name, g in used.items():
        torch.testing.assert_close(fallback[name], g, rtol=1e-4, atol=1e-6, msg=name)


@needs_cc
@pytest.mark.parametrize("ci,co,size,nb,nk,shared", [(1, 5, 32, 256, 1, False), (5, 10, 14, 256, 1, False),
                                                     (3, 4, 15, 100, 2, False), (1, 3, 32, 37, 3, True)])
def test_the_c_forward_equals_the_numba_kernel_and_keeps_exact_ties(ci, co, size, nb, nk, shared):
    x, w, out0, arg0, _ = _block(ci, co, size, nb, nk, shared)
    b = np.random.default_rng(1).standard_normal((nk, co)).astype(np.float32)
    fused._block_forward(x, w, b, out0, arg0)
    out1, arg1 = np.full_like(out0, np.nan), np.full_like(arg0, 9)
    native.forward(x, w, b, out1, arg1)
    np.testing.assert_allclose(out1, out0, rtol=1e-5, atol=1e-5 * np.abs(out0).max())
    assert np.array_equal(arg1[:, :, :2, :2], arg0[:, :, :2, :2])  # the constant corner: four-way ties, first max
    assert (arg1 == arg0).mean() > 0.999  # elsewhere only a float near-tie may break the other way
