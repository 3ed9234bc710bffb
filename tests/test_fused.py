"""The fused CPU kernels (oracle_core/compute/fused.py) compute the same network as PyTorch's modules.

In float64 the two paths agree to ~1e-12 (only summation order differs), including max_pool2d's tie rule on
inputs with constant regions (exact ties in the pooled windows); in float32 50 SGD steps follow the same
trajectory within 1e-4, as the stacked engine's own equality tests require.
"""

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_same_trajectory

from oracle_core.compute import engine, fused, native
from oracle_core.compute.masks import Mask
from oracle_core.compute.surgery import prune
from oracle_core.experiment.protocol import Recipe
from oracle_core.models import build_model

CASES = [("lenet5_mini", "conv1:0,2,4,6,8"), ("lenet5_mini", "conv2:1,2,3,7,9"), ("lenet5_mini", "conv3:0,1,5,6,7"),
         ("lenet5_mini", "conv1:0,1,2|conv2:3,4,5,6|conv3:0,9"),
         ("lenet5_mini_w20", "conv1:" + ",".join(map(str, range(0, 20, 2)))),
         ("lenet5_mini_d7", "conv1:5,6,7,8,9")]


def _images(n, channels=1, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, channels, 32, 32, generator=g, dtype=dtype)
    x[:, :, :12, :12] = 0.3  # a constant region: exact ties inside pooling windows, as MNIST's background
    return x


@pytest.mark.parametrize("model_name,mask", CASES)
def test_fused_forward_and_gradients_equal_the_module_in_float64(model_name, mask):
    torch.manual_seed(0)
    dense = build_model(model_name).double()
    models = [prune(dense, Mask.parse(mask)), prune(dense, Mask.parse(mask))]
    with torch.no_grad():  # two different models in one stack
        for p in models[1].parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = _images(40)
    wide = fused.FusedLeNet(models)
    out = wide(torch.cat([x, x], 1))
    y = torch.randint(0, 10, (40,))
    F.cross_entropy(out.reshape(40, 2, -1).reshape(80, -1), y.repeat_interleave(2)).backward()
    for i, m in enumerate(models):
        ref = m(x)
        torch.testing.assert_close(out[:, 10 * i:10 * (i + 1)], ref, atol=1e-12, rtol=1e-12)
        m.zero_grad()
        # the wide loss is the mean over 80 rows: each model's share is its own 40-row mean / 2
        (F.cross_entropy(ref, y) / 2).backward()
        grads = dict(wide.named_parameters())
        for name, p in m.named_parameters():
            torch.testing.assert_close(grads[name].grad[i], p.grad, atol=1e-11, rtol=1e-9, msg=name)


def test_one_shared_batch_gives_every_model_what_its_own_copy_gives():
    """A [B, C, H, W] input is seen by all K models (evaluation, shared orders): outputs and weight gradients equal
    those of the K-fold copy, and a wrong channel count is refused."""
    torch.manual_seed(0)
    dense = build_model("lenet5_mini").double()
    models = [prune(dense, Mask.parse("conv1:0,2,4,6,8")) for _ in range(3)]
    with torch.no_grad():
        for i, m in enumerate(models):
            for p in m.parameters():
                p.add_(0.05 * i * torch.randn_like(p))
    x, y = _images(24), torch.randint(0, 10, (72,))
    copies, shared = fused.FusedLeNet(models), fused.FusedLeNet(models)
    a, b = copies(x.repeat(1, 3, 1, 1)), shared(x)
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    F.cross_entropy(a.reshape(72, -1), y).backward()
    F.cross_entropy(b.reshape(72, -1), y).backward()
    for (name, p), q in zip(copies.named_parameters(), shared.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-12, rtol=1e-12, msg=name)
    xg = x.clone().requires_grad_()  # the input's gradient: the sum of the K models' gradients
    shared(xg).sum().backward()
    xr = x.repeat(1, 3, 1, 1).requires_grad_()
    copies(xr).sum().backward()
    torch.testing.assert_close(xg.grad, xr.grad.reshape(24, 3, 1, 32, 32).sum(1), atol=1e-12, rtol=1e-12)
    with pytest.raises(ValueError, match="give 1 .*or 3"):
        shared(torch.cat([x, x], 1))


@pytest.mark.parametrize("size", [14, 15])
def test_the_block_routes_gradients_as_max_pool2d_does_at_exact_ties(size):
    """relu(max_pool2d(conv)) against ConvReluPool with the input's gradient, on an input that is constant over
    whole windows (every window a four-way tie): max_pool2d sends each window's gradient to its first maximum.
    Size 15: the conv's last row and column fall outside every pooling window and get no gradient."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, size, size, generator=g, dtype=torch.float64)
    x[:, :, :8, :] = 0.7
    w = torch.randn(4, 3, 5, 5, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    gout = torch.randn(6, 4, 5, 5, generator=g, dtype=torch.float64)
    xr, wr, br = (t.clone().requires_grad_() for t in (x, w, b))
    ref = F.max_pool2d(F.relu(F.conv2d(xr, wr, br)), 2)
    ref.backward(gout)
    xf = x.permute(1, 2, 3, 0).unsqueeze(0).contiguous().requires_grad_()
    wf, bf = w.unsqueeze(0).clone().requires_grad_(), b.unsqueeze(0).clone().requires_grad_()
    out = fused.ConvReluPool.apply(xf, wf, bf)
    out.backward(gout.permute(1, 2, 3, 0).unsqueeze(0).contiguous())
    torch.testing.assert_close(out[0].permute(3, 0, 1, 2), ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(xf.grad[0].permute(3, 0, 1, 2), xr.grad, atol=1e-12, rtol=0)
    torch.testing.assert_close(wf.grad[0], wr.grad, atol=1e-11, rtol=0)
    torch.testing.assert_close(bf.grad[0], br.grad, atol=1e-11, rtol=0)
    # the test can fail: the ties are real, so splitting a tie's gradient (as torch.maximum does) gives another x.grad
    xs = x.clone().requires_grad_()
    c = F.relu(F.conv2d(xs, w, b))[..., :size - 5 + 1 & ~1, :size - 5 + 1 & ~1]  # the rows and columns pooled
    split = torch.maximum(torch.maximum(c[..., 0::2, 0::2], c[..., 0::2, 1::2]),
                          torch.maximum(c[..., 1::2, 0::2], c[..., 1::2, 1::2]))
    split.backward(gout)
    assert not torch.allclose(xs.grad, xr.grad)


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 3])
def test_fused_training_follows_the_torch_kernels_trajectory(k):
    """20 SGD steps, the fused kernels against torch's own. Their float32 sums run in different orders, and how far
    apart that leaves the weights depends on the CPU's kernels (3e-8 on AMD Zen 4; 1.2e-5 on the CI machine; under
    emulated AVX2 a discrete choice flipped by step 50, hence 20 steps). The tolerance is therefore measured in the
    same run, as a tenth of what a doubled weight decay moves the same training by (8e-4 on Zen 4): a real
    difference in the update rule is at least that large, a summation order is far smaller, on every CPU."""
    torch.manual_seed(0)
    dense = build_model("lenet5_mini")
    models = [prune(dense, Mask.parse(t)) for t in ["conv1:0,1,2,3,4", "conv2:5,6,7,8,9", "conv1:0,2,4,6,8"][:k]]
    x, xt = _images(20 * 32, dtype=torch.float32), _images(256, dtype=torch.float32, seed=1)
    y, yt = torch.randint(0, 10, (len(x),)), torch.randint(0, 10, (256,))
    recipe = Recipe(epochs=1, lr_steps=((0, 0.05),), batch_size=32, weight_decay=1e-4)  # 20 SGD steps
    seeds = [7, 8, 9][:k]
    if k == 3:  # a stack needs one shape: three conv1 masks
        models = [prune(dense, Mask.parse(t)) for t in ["conv1:0,1,2,3,4", "conv1:5,6,7,8,9", "conv1:0,2,4,6,8"]]
    ref, ref_wide = engine.train([copy.deepcopy(m) for m in models], x, y, xt, yt, recipe, seeds, record_steps=True,
                                 kernel="torch")
    new, new_wide = engine.train([copy.deepcopy(m) for m in models], x, y, xt, yt, recipe, seeds, record_steps=True,
                                 kernel="fused")
    assert isinstance(new_wide, fused.FusedLeNet) and not isinstance(ref_wide, fused.FusedLeNet)
    _, wd2_wide = engine.train([copy.deepcopy(m) for m in models], x, y, xt, yt,
                               dataclasses.replace(recipe, weight_decay=2 * recipe.weight_decay), seeds, kernel="torch")
    moved = max(float((engine.unstack(wd2_wide, m, k, i)[name] - w).abs().max())
                for i, m in enumerate(models) for name, w in engine.unstack(ref_wide, m, k, i).items())
    assert moved > 1e-4, f"a doubled weight decay moved the weights by only {moved:.1e}: the yardstick is too small"
    tol = moved / 10
    assert_same_trajectory(ref, new, steps=20, tol=tol)
    for i, m in enumerate(models):
        got, want = engine.unstack(new_wide, m, k, i), engine.unstack(ref_wide, m, k, i)
        for name in want:
            torch.testing.assert_close(got[name], want[name], atol=tol, rtol=0, msg=f"{name}: tolerance {tol:.1e}")


def test_fused_evaluation_equals_the_torch_kernels():
    torch.manual_seed(0)
    dense = build_model("lenet5_mini")
    models = [prune(dense, Mask.parse(t)) for t in ["conv1:0,1,2,3,4", "conv1:5,6,7,8,9"]]
    x, y = _images(1500, dtype=torch.float32), torch.randint(0, 10, (1500,))
    a = engine.evaluate(engine.stack(models, "torch"), 2, x, y, batch_size=700)
    b = engine.evaluate(engine.stack(models, "fused"), 2, x, y, batch_size=700)
    for i in range(2):
        assert abs(a.loss[i] - b.loss[i]) < 1e-5
        assert abs(a.acc[i] - b.acc[i]) < 2 / 1500  # an exact tie between two logits may break the other way


def test_the_kernel_choice():
    lenet, resnet = build_model("lenet5_mini"), build_model("resnet8", 3, 10)
    cpu = torch.device("cpu")
    assert engine.resolve_kernel("auto", [lenet], cpu) == "fused"
    assert engine.resolve_kernel("auto", [resnet], cpu) == "torch"
    assert engine.resolve_kernel("auto", [lenet], cpu, precision="bf16") == "torch"
    assert engine.resolve_kernel("auto", [lenet], torch.device("cuda")) == "torch"
    with pytest.raises(ValueError, match="LeNet5-Mini"):
        engine.resolve_kernel("fused", [resnet], cpu)
    with pytest.raises(ValueError, match="unknown kernel"):
        engine.resolve_kernel("fast", [lenet], cpu)


def _train_in_groups(group: int, masks: list[str], model_name: str, wiring: str) -> list[tuple]:
    """Every mask's trained weights (bytes) and recorded numbers, training the masks ``group`` at a time."""
    torch.manual_seed(0)
    dense = build_model(model_name)
    x, tx = _images(157, dtype=torch.float32, seed=1), _images(77, dtype=torch.float32, seed=2)
    g = torch.Generator().manual_seed(3)
    y, ty = torch.randint(0, 10, (157,), generator=g), torch.randint(0, 10, (77,), generator=g)
    recipe = Recipe(epochs=2, lr_steps=((0, 0.05), (1, 0.01)), batch_size=64, weight_decay=5e-4)  # tail of 29
    out = []
    for s in range(0, len(masks), group):
        models = [prune(dense, Mask.parse(m), wiring=wiring, ratio=0.5) for m in masks[s:s + group]]
        res, wide = engine.train(models, x, y, tx, ty, recipe, [100 + i for i in range(s, s + len(models))],
                                 eval_batch=50)
        state = wide.state_dict()
        for i, r in enumerate(res):
            out.append((b"".join(state[n][i].numpy().tobytes() for n in sorted(state)),
                        r.test_acc, r.test_loss, r.train_loss))
    return out


@pytest.mark.parametrize("model_name,wiring,native_on", [
    ("lenet5_mini", "correct", True), ("lenet5_mini", "correct", False), ("lenet5_mini", "released_code", True),
    ("lenet5_mini_d6", "correct", True), ("lenet5_mini_w20", "correct", True)])
def test_a_masks_result_is_the_same_bytes_whatever_group_it_trains_in(model_name, wiring, native_on, monkeypatch):
    """The store's promise (kill a run, resume it at another group size, get the same bytes) needs each mask's
    arithmetic to be independent of how many masks share its stack: trained alone, or with 1, 2 or 7 others (K = 1,
    2, 3, 8; 8 masks in groups of 3 leave a group of 2), with the C kernels and with numba, every weight and every
    recorded loss and accuracy is the same bytes. Odd batch tails and an odd eval batch included."""
    if native_on and not native.available():
        pytest.fail(f"the C kernels are {native.describe()}: this machine cannot check them")
    monkeypatch.setattr(native, "available", native.available if native_on else (lambda: False))
    n = build_model(model_name).conv2.out_channels
    masks = [f"conv2:{','.join(str((3 * j + 2 * t) % n) for t in range(n // 2))}" for j in range(8)]
    alone = _train_in_groups(1, masks, model_name, wiring)
    assert len({a[0] for a in alone}) > 1  # the masks differ, so the comparison can fail
    for group in (2, 3, 8):
        assert _train_in_groups(group, masks, model_name, wiring) == alone, f"K = {group}"
