"""Fused CPU kernels for the LeNet5-Mini family: conv -> ReLU -> 2x2 max-pool as one pass, batch innermost.

Why: a pruned LeNet5-Mini has 1-10 channels per layer, too few for oneDNN's blocked convolutions, and
PyTorch's CPU max_pool2d is slower than the convolution it follows (bench/RESULTS.md, "where a step's time
goes"). Here activations are laid out [K, C, H, W, B] (K stacked models, the batch innermost), so every
inner loop runs over B contiguous images of one model and vectorizes fully whatever the channel count; each
conv block computes its four pool-window positions, the max (max_pool2d's first-max tie rule) and the ReLU in
registers, and its backward routes the gradient to the same window position max_pool2d would. conv3 (its
kernel covers its whole input) and the linear layers are batched matmuls. The result is the network's own
function; only float summation order differs from PyTorch's kernels (tests/test_fused.py pins both paths
equal within float32 round-off, and in float64 to 1e-10).

``FusedLeNet(models)`` holds K models' parameters under the plain model's names with a leading K axis, so the
engine's optimizers, per-model clipping and ``unstack`` treat it like any stacked module.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numba import njit
from torch import nn

from ..models.lenet import LeNet5Mini
from . import native

_JIT = dict(cache=True, nogil=True, fastmath={"contract"})  # contract = fused multiply-add; no reassociation


@njit(**_JIT)
def _block_forward(x, w, bias, out, arg):  # pragma: no cover - compiled
    """x [K,Ci,H,W,B] (or [1,Ci,H,W,B]: one input shared by the K models), w [K,Co,Ci,kh,5], bias [K,Co] ->
    out [K,Co,Hp,Wp,B] = relu(maxpool2x2(conv)), arg [K,Co,Hp,Wp,B] uint8: which of the 4 window positions
    (row-major) held the max. A kernel row's five taps are unrolled so that each x value loaded feeds up to ten
    multiply-adds (both columns of the window)."""
    ci_n, nb = x.shape[1], x.shape[4]
    nk, co_n, kh = w.shape[0], w.shape[1], w.shape[3]
    shared = x.shape[0] == 1
    hp, wp = out.shape[2], out.shape[3]
    acc = np.empty((4, nb), dtype=x.dtype)
    zero = np.zeros(1, dtype=x.dtype)[0]
    for k in range(nk):
        kx = 0 if shared else k
        for co in range(co_n):
            bv = bias[k, co]
            for pi in range(hp):
                for pj in range(wp):
                    acc[:] = bv
                    c = 2 * pj
                    for ci in range(ci_n):
                        for ki in range(kh):
                            w0, w1, w2, w3, w4 = w[k, co, ci, ki, 0], w[k, co, ci, ki, 1], w[k, co, ci, ki, 2], \
                                w[k, co, ci, ki, 3], w[k, co, ci, ki, 4]
                            for dr in range(2):
                                row = x[kx, ci, 2 * pi + dr + ki]
                                a0 = acc[2 * dr]
                                a1 = acc[2 * dr + 1]
                                for b in range(nb):
                                    v0, v1, v2, v3, v4, v5 = row[c, b], row[c + 1, b], row[c + 2, b], row[c + 3, b], \
                                        row[c + 4, b], row[c + 5, b]
                                    a0[b] += w0 * v0 + w1 * v1 + w2 * v2 + w3 * v3 + w4 * v4
                                    a1[b] += w0 * v1 + w1 * v2 + w2 * v3 + w3 * v4 + w4 * v5
                    o = out[k, co, pi, pj]
                    a = arg[k, co, pi, pj]
                    for b in range(nb):
                        m, i = acc[0, b], 0
                        if acc[1, b] > m:
                            m, i = acc[1, b], 1
                        if acc[2, b] > m:
                            m, i = acc[2, b], 2
                        if acc[3, b] > m:
                            m, i = acc[3, b], 3
                        o[b] = m if m > zero else zero
                        a[b] = i


@njit(**_JIT)
def _block_backward(x, w, out, arg, g, dconv, dw, db, need_dx):  # pragma: no cover - compiled
    """Gradients of ``_block_forward``: g [K,Co,Hp,Wp,B] -> dw, db and (if need_dx) dconv [K,Co,Ho,Wo+11,B],
    the gradient at the conv's outputs, its columns zero-padded by 4 (7 on the right) for ``_input_grad``. The
    gradient of a pooled output reaches only its window's max position, and only where that max was > 0. x may be shared
    ([1,Ci,H,W,B]) as in ``_block_forward``."""
    ci_n, nb = x.shape[1], x.shape[4]
    nk, co_n, kh = w.shape[0], w.shape[1], w.shape[3]
    shared = x.shape[0] == 1
    hp, wp = out.shape[2], out.shape[3]
    gd = np.empty((4, nb), dtype=x.dtype)
    dwacc = np.empty((ci_n, kh, 5, nb), dtype=x.dtype)
    dbacc = np.empty(nb, dtype=x.dtype)
    zero = np.zeros(1, dtype=x.dtype)[0]
    for k in range(nk):
        kx = 0 if shared else k
        for co in range(co_n):
            dwacc[:] = zero
            dbacc[:] = zero
            for pi in range(hp):
                for pj in range(wp):
                    o = out[k, co, pi, pj]
                    a = arg[k, co, pi, pj]
                    gg = g[k, co, pi, pj]
                    for b in range(nb):
                        v = gg[b] if o[b] > zero else zero
                        ab = a[b]
                        gd[0, b] = v if ab == 0 else zero
                        gd[1, b] = v if ab == 1 else zero
                        gd[2, b] = v if ab == 2 else zero
                        gd[3, b] = v if ab == 3 else zero
                        dbacc[b] += v
                    if need_dx:
                        for d in range(4):
                            dc = dconv[k, co, 2 * pi + d // 2, 4 + 2 * pj + d % 2]
                            for b in range(nb):
                                dc[b] = gd[d, b]
                    for ci in range(ci_n):
                        for ki in range(kh):
                            r = 2 * pi + ki
                            for kj in range(5):
                                c = 2 * pj + kj
                                x00 = x[kx, ci, r, c]
                                x01 = x[kx, ci, r, c + 1]
                                x10 = x[kx, ci, r + 1, c]
                                x11 = x[kx, ci, r + 1, c + 1]
                                acc = dwacc[ci, ki, kj]
                                for b in range(nb):
                                    acc[b] += (gd[0, b] * x00[b] + gd[1, b] * x01[b]
                                               + gd[2, b] * x10[b] + gd[3, b] * x11[b])
            for ci in range(ci_n):
                for ki in range(kh):
                    for kj in range(5):
                        dw[k, co, ci, ki, kj] = dwacc[ci, ki, kj].sum()
            db[k, co] = dbacc.sum()


@njit(**_JIT)
def _route(out, arg, g, dconv):  # pragma: no cover - compiled
    """dconv [K,Co,Ho,Wo+11,B] (columns padded by 4) = g [K,Co,Hp,Wp,B] routed to each window's max position,
    where that max was > 0: the part of ``_block_backward`` the C weight gradient (native.py) leaves to numba."""
    nk, co_n, hp, wp, nb = out.shape
    zero = np.zeros(1, dtype=g.dtype)[0]
    for k in range(nk):
        for co in range(co_n):
            for pi in range(hp):
                for pj in range(wp):
                    o = out[k, co, pi, pj]
                    a = arg[k, co, pi, pj]
                    gg = g[k, co, pi, pj]
                    for d in range(4):
                        dc = dconv[k, co, 2 * pi + d // 2, 4 + 2 * pj + d % 2]
                        for b in range(nb):
                            dc[b] = gg[b] if (o[b] > zero and a[b] == d) else zero


@njit(**_JIT)
def _input_grad(dconv, w, dx):  # pragma: no cover - compiled
    """dx [K,Ci,H,W,B] = the transposed convolution of dconv [K,Co,Ho,Wo+11,B] (columns zero-padded), written as
    a gather (accumulators for four input columns at a time, a kernel row's taps unrolled) so that it vectorizes
    over B and each dconv value loaded feeds up to twenty multiply-adds. Rows are bounded by the loop (only the
    kernel rows that meet a conv output row), columns by the padding."""
    nk, co_n, ho, _, nb = dconv.shape
    ci_n, kh = w.shape[2], w.shape[3]
    h, wd = dx.shape[2], dx.shape[3]
    zero = np.zeros(1, dtype=dx.dtype)[0]
    acc = np.empty((4, nb), dtype=dx.dtype)
    a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
    for k in range(nk):
        for ci in range(ci_n):
            for r in range(h):
                for c in range(0, wd, 4):
                    acc[:] = zero
                    for co in range(co_n):
                        for ki in range(max(0, r - ho + 1), min(kh, r + 1)):
                            w0, w1, w2, w3, w4 = w[k, co, ci, ki, 0], w[k, co, ci, ki, 1], w[k, co, ci, ki, 2], \
                                w[k, co, ci, ki, 3], w[k, co, ci, ki, 4]
                            src = dconv[k, co, r - ki]
                            for b in range(nb):  # padded dconv column c + j + 4 - kj for input column c + j
                                s0, s1, s2, s3, s4, s5, s6, s7 = src[c, b], src[c + 1, b], src[c + 2, b], \
                                    src[c + 3, b], src[c + 4, b], src[c + 5, b], src[c + 6, b], src[c + 7, b]
                                a0[b] += w0 * s4 + w1 * s3 + w2 * s2 + w3 * s1 + w4 * s0
                                a1[b] += w0 * s5 + w1 * s4 + w2 * s3 + w3 * s2 + w4 * s1
                                a2[b] += w0 * s6 + w1 * s5 + w2 * s4 + w3 * s3 + w4 * s2
                                a3[b] += w0 * s7 + w1 * s6 + w2 * s5 + w3 * s4 + w4 * s3
                    for j in range(min(4, wd - c)):
                        dst = dx[k, ci, r, c + j]
                        aj = acc[j]
                        for b in range(nb):
                            dst[b] = aj[b]


class ConvReluPool(torch.autograd.Function):
    """relu(max_pool2d(conv2d(x, w, bias), 2)) on [K, C, H, W, B] activations with [K, ...] parameters; an input
    [1, C, H, W, B] is shared by the K models (evaluation: one copy of the batch, not K)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x, w, bias = x.contiguous(), w.detach().contiguous(), bias.detach().contiguous()
        if x.shape[0] not in (1, w.shape[0]):
            raise ValueError(f"input for {x.shape[0]} models, weights for {w.shape[0]}")
        nk, (_, _, h, wd, nb) = w.shape[0], x.shape
        hp, wp = (h - w.shape[3] + 1) // 2, (wd - w.shape[4] + 1) // 2
        out = x.new_empty(nk, w.shape[1], hp, wp, nb)
        arg = torch.empty(out.shape, dtype=torch.uint8)
        if native.applies(x.dtype, w.shape):  # C: accumulators in registers
            native.forward(x.detach().numpy(), w.numpy(), bias.numpy(), out.numpy(), arg.numpy())
        else:
            _block_forward(x.detach().numpy(), w.numpy(), bias.numpy(), out.numpy(), arg.numpy())
        ctx.save_for_backward(x, w, out, arg)
        return out

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        x, w, out, arg = ctx.saved_tensors
        need_dx = bool(ctx.needs_input_grad[0])
        nk, (_, _, h, wd, nb) = w.shape[0], x.shape
        ho, wo = h - w.shape[3] + 1, wd - w.shape[4] + 1
        hp, wp = out.shape[2], out.shape[3]
        dconv = x.new_empty((nk, w.shape[1], ho, wo + 11, nb) if need_dx else (1,) * 5)  # +3: widths not /4
        if need_dx:  # zero what the kernel does not write: the column padding, an odd last row or column
            dconv[:, :, 2 * hp:] = 0
            dconv[:, :, :, :4] = 0
            dconv[:, :, :, 4 + 2 * wp:] = 0
        dw, db = torch.empty_like(w), w.new_empty(w.shape[:2])
        xn, gn = x.detach().numpy(), g.contiguous().numpy()
        if native.applies(x.dtype, w.shape):  # C: accumulators in registers
            native.weight_grad(xn, out.numpy(), arg.numpy(), gn, dw.numpy(), db.numpy())
            if need_dx:
                _route(out.numpy(), arg.numpy(), gn, dconv.numpy())
        else:
            _block_backward(xn, w.numpy(), out.numpy(), arg.numpy(), gn, dconv.numpy(), dw.numpy(), db.numpy(),
                            need_dx)
        if not need_dx:
            return None, dw, db
        dx = x.new_empty(nk, *x.shape[1:])
        _input_grad(dconv.numpy(), w.numpy(), dx.numpy())
        return (dx.sum(0, keepdim=True) if x.shape[0] != nk else dx), dw, db


def _aligned(t: torch.Tensor) -> torch.Tensor:
    """A model's slice [1, ...] laid out as the whole tensor is at K = 1: dense, in the same order of strides (a
    gradient arrives transposed), on a 64-byte boundary; a copy only where it is not. BLAS takes another path, and
    sums in another order, for another layout or unaligned data."""
    order = sorted(range(1, t.dim()), key=lambda d: -t.stride(d))
    dense = t.permute(0, *order).contiguous()
    if dense.data_ptr() % 64:
        dense = dense.clone()
    return dense.permute(0, *[1 + order.index(d) for d in range(1, t.dim())])


class PerModelAffine(torch.autograd.Function):
    """out [K, O, B] = w [K, O, F] @ x [K, F, B] + bias [K, O], one batch-of-1 matmul per model, forward and backward
    (autograd's own formulas for ``baddbmm``), on aligned operands.

    Why: torch's batched matmul sums in an order that depends on the batch count (measured: model 1's fc1 weight
    gradient differed in its last bit between K = 2 and K = 1 on an odd batch), so a mask's result depended on how
    many masks shared its stack and a run resumed at another group size was not byte-identical. One call per model
    is the same computation at every K (tests/test_fused.py trains the same masks at K = 1, 2, 3 and 8)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        k = w.shape[0]
        xs = [_aligned(x[i:i + 1]) for i in range(k)]
        ws = [_aligned(w.detach()[i:i + 1]) for i in range(k)]
        ctx.save_for_backward(*xs, *ws)
        outs = [torch.baddbmm(bias.detach()[i:i + 1].unsqueeze(2), ws[i], xs[i]) for i in range(k)]
        return outs[0] if k == 1 else torch.cat(outs)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        saved = ctx.saved_tensors
        k = len(saved) // 2
        gs = [_aligned(g[i:i + 1]) for i in range(k)]
        dw = [gs[i].bmm(saved[i].transpose(1, 2)) for i in range(k)]
        db = [gs[i].sum(2) for i in range(k)]
        dx = [saved[k + i].transpose(1, 2).bmm(gs[i]) for i in range(k)] if ctx.needs_input_grad[0] else None
        cat = (lambda t: t[0]) if k == 1 else torch.cat
        return (None if dx is None else cat(dx)), cat(dw), cat(db)


def supports(model: nn.Module) -> bool:
    """Whether FusedLeNet computes this module: a (pruned) LeNet5Mini with 5-wide kernels (the kernels unroll a row)."""
    if type(model) is not LeNet5Mini:
        return False
    convs = (model.conv1, model.conv2, model.conv3)
    return all(c.kernel_size[1] == 5 and c.stride == (1, 1) and c.padding == (0, 0) and c.dilation == (1, 1)
               and c.groups == 1 and c.bias is not None and c.padding_mode == "zeros" for c in convs)


class _Params(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)


class FusedLeNet(nn.Module):
    """K LeNet5Mini models of one shape as one module (CPU). Input [B, K*C, H, W] (model-major channels, the
    engine's layout), or [B, C, H, W]: one batch shared by the K models (``shares_input``); output [B, K*classes].
    Parameters are ``conv1.weight`` [K, *shape] etc."""

    shares_input = True  # engine.evaluate passes one copy of a batch that every model sees

    def __init__(self, models: Sequence[nn.Module]):
        super().__init__()
        first = models[0]
        if not all(supports(m) for m in models):
            raise TypeError("FusedLeNet computes LeNet5Mini models only")
        self.k, self.n_fc = len(models), first.n_fc
        for name in ["conv1", "conv2", "conv3"] + [f"fc{i}" for i in range(1, first.n_fc + 1)]:
            mods = [m.get_submodule(name) for m in models]
            if len({tuple(m.weight.shape) for m in mods}) != 1:
                raise ValueError(f"cannot stack models whose {name} shapes differ")
            setattr(self, name, _Params(torch.stack([m.weight.detach() for m in mods]).clone(),
                                        torch.stack([m.bias.detach() for m in mods]).clone()))

    def native_params(self) -> list[np.ndarray]:
        """The parameters as the C step reads them (weight, bias per layer, in order): views, so the step's updates
        land in the module."""
        return [p.detach().numpy() for p in self.parameters()]

    def native_dims(self, h: int, w: int) -> np.ndarray:
        cw = [getattr(self, n).weight for n in ("conv1", "conv2", "conv3")]
        fc = [getattr(self, f"fc{i}").weight.shape[1] for i in range(1, self.n_fc + 1)]
        return native.lenet_dims(self.k, cw[0].shape[2], h, w, cw[0].shape[1], cw[1].shape[1], cw[2].shape[1], fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, kc, h, w = x.shape
        k, c = self.k, self.conv1.weight.shape[2]
        if kc not in (c, k * c):
            raise ValueError(f"input has {kc} channels: give {c} (shared by the {k} models) or {k * c}")
        if not torch.is_grad_enabled() and x.dtype == torch.float32 and native.step_applies():
            logits = native.forward_logits(self.native_dims(h, w), self.native_params(), x.contiguous().numpy(),
                                           kc == c)  # evaluation: the whole forward in one C call
            return torch.from_numpy(logits).reshape(b, -1)
        # [B, Kx*C*H*W] -> [Kx, C, H, W, B] is one 2-D transpose (several times faster than the 5-D permute)
        x = x.reshape(b, -1).t().contiguous().reshape(kc // c, c, h, w, b)
        x = ConvReluPool.apply(x, self.conv1.weight, self.conv1.bias)
        x = ConvReluPool.apply(x, self.conv2.weight, self.conv2.bias)
        w3 = self.conv3.weight  # [K, Co, Ci, kh, kw] over an input of exactly [Ci, kh, kw]
        if tuple(x.shape[1:4]) != tuple(w3.shape[2:]):
            raise ValueError(f"conv3's kernel {tuple(w3.shape[2:])} must cover its input {tuple(x.shape[1:4])}")
        x = torch.relu(PerModelAffine.apply(x.reshape(k, -1, b), w3.reshape(k, w3.shape[1], -1), self.conv3.bias))
        for i in range(1, self.n_fc + 1):  # [K, features, B]
            fc = getattr(self, f"fc{i}")
            x = PerModelAffine.apply(x, fc.weight, fc.bias)
            if i < self.n_fc:
                x = torch.relu(x)
        return x.permute(2, 0, 1).reshape(b, -1)  # [B, K*classes]

