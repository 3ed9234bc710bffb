"""The whole LeNet5-Mini training step in C (native_step.c, NativeStep) computes what PyTorch's modules and
optimizer compute: the gradients of every parameter, the SGD update with momentum and weight decay, the loss, and
the evaluation logits, for every LeNet variant, both wirings, odd batch tails (not a multiple of the 16-image chunk),
shared and separate data orders, and exact ties in the pooling windows. The engine uses it wherever it applies and
records so in env.json; ``ORACLE_STEP=autograd`` gives the per-block path (the reference kept beside it)."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from oracle_core.compute import engine, fused, native
from oracle_core.compute.masks import Mask
from oracle_core.compute.native_step import NativeStep
from oracle_core.compute.surgery import prune
from oracle_core.experiment.protocol import Recipe
from oracle_core.models import build_model

VARIANTS = ["lenet5_mini", "lenet5_mini_d6", "lenet5_mini_d7", "lenet5_mini_d8", "lenet5_mini_w20", "lenet5_mini_w30",
            "lenet5_mini_w40"]


@pytest.fixture(autouse=True)
def _needs_c():
    if not native.step_applies():
        pytest.fail(f"the C kernels are {native.describe()}: this machine cannot check the C step")


def _data(n, seed=0, integer=False):
    g = torch.Generator().manual_seed(seed)
    if integer:  # small integers: conv outputs exact in float32, so pooling windows hold exact ties
        x = torch.randint(-1, 2, (n, 1, 32, 32), generator=g).float()
    else:
        x = torch.randn(n, 1, 32, 32, generator=g)
        x[:, :, :12, :12] = 0.3  # a constant region, as MNIST's background
    return x, torch.randint(0, 10, (n,), generator=g)


def _models(model_name, wiring, k):
    torch.manual_seed(0)
    dense = build_model(model_name)
    n = dense.conv1.out_channels
    masks = [f"conv1:{','.join(str((3 * j + 2 * t) % n) for t in range(n // 2))}" for j in range(k)]
    return [prune(dense, Mask.parse(m), wiring=wiring, ratio=0.5) for m in masks]


def _reference_grads(models, x, y, rows):
    """Each model's gradients (and summed loss) by autograd on its plain module, its rows of the batch."""
    grads, losses = [], []
    for i, m in enumerate(models):
        m = copy.deepcopy(m)
        r = rows if rows.dim() == 1 else rows[i]
        per_sample = F.cross_entropy(m(x[r]), y[r], reduction="none")
        (per_sample.sum() / len(r)).backward()
        grads.append({n: p.grad for n, p in m.named_parameters()})
        losses.append(float(per_sample.detach().double().sum()))
    return grads, losses


def _close(got, want, rel=1e-5):
    torch.testing.assert_close(got, want, rtol=rel, atol=rel * float(want.abs().max()))


@pytest.mark.parametrize("model_name", VARIANTS)
@pytest.mark.parametrize("wiring", ["correct", "released_code"])
def test_one_c_step_gives_autograds_gradients_loss_and_update(model_name, wiring):
    models = _models(model_name, wiring, 3)
    x, y = _data(90)
    rows = torch.stack([torch.randperm(90, generator=torch.Generator().manual_seed(s))[:37] for s in range(3)])
    wide = fused.FusedLeNet(models)
    before = {n: p.detach().clone() for n, p in wide.named_parameters()}
    recipe = Recipe(epochs=1, lr_steps=((0, 0.05),), batch_size=37, weight_decay=0.0)
    step = NativeStep(wide, x, y, recipe)
    loss = step.step(rows, 0.05)
    grads, losses = _reference_grads(models, x, y, rows)
    names = [n for n, _ in wide.named_parameters()]
    assert len(names) == len(step.bufs)
    for j, name in enumerate(names):
        for i in range(3):
            want = grads[i][name].reshape(step.bufs[j][i].shape)
            _close(torch.from_numpy(step.bufs[j][i]), want)  # first step, no decay: the buffer is the gradient
            _close(dict(wide.named_parameters())[name].detach()[i], before[name][i] - 0.05 * want)
    np.testing.assert_allclose(loss.numpy(), losses, rtol=1e-5)


def test_momentum_and_weight_decay_follow_torch_sgd_and_a_shared_order():
    """Three steps on one shared batch order, momentum 0.9 and weight decay: the weights torch.optim.SGD gives."""
    models = _models("lenet5_mini", "correct", 2)
    x, y = _data(50, seed=3)
    recipe = Recipe(epochs=1, lr_steps=((0, 0.1),), batch_size=50, weight_decay=5e-3)
    wide = fused.FusedLeNet(models)
    step = NativeStep(wide, x, y, recipe)
    rows = torch.arange(50).flip(0)[:29]  # one order for both models; 29 = a whole chunk and a tail of 13
    refs = [copy.deepcopy(m) for m in models]
    opts = [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-3) for m in refs]
    for _ in range(3):
        step.step(rows, 0.1)
        for m, opt in zip(refs, opts):
            opt.zero_grad()
            F.cross_entropy(m(x[rows]), y[rows]).backward()
            opt.step()
    for i, m in enumerate(refs):
        for name, want in engine.unstack(wide, m, 2, i).items():
            _close(want, dict(m.named_parameters())[name].detach(), rel=1e-5)


def test_exact_ties_route_as_max_pool2d_does():
    """Integer images and weights: exact ties in the pooling windows; the gradient goes to the first maximum (a
    split tie, as torch.maximum's, gives a gradient far outside the tolerance: the test can fail)."""
    models = _models("lenet5_mini", "correct", 1)
    with torch.no_grad():
        for p in models[0].parameters():
            p.copy_(torch.randint(-1, 2, p.shape).float() * (0.25 if p.dim() < 4 else 1.0))
    x, y = _data(40, seed=5, integer=True)
    wide = fused.FusedLeNet(models)
    step = NativeStep(wide, x, y, Recipe(epochs=1, lr_steps=((0, 0.01),), batch_size=40, weight_decay=0.0))
    rows = torch.arange(40)
    step.step(rows, 0.01)
    grads, _ = _reference_grads(models, x, y, rows)
    for j, (name, _) in enumerate(wide.named_parameters()):
        _close(torch.from_numpy(step.bufs[j][0]), grads[0][name].reshape(step.bufs[j][0].shape))


@pytest.mark.parametrize("model_name", VARIANTS)
def test_the_c_evaluation_forward_equals_the_modules(model_name):
    models = _models(model_name, "correct", 2)
    x, _ = _data(45, seed=7)
    wide = fused.FusedLeNet(models)
    with torch.no_grad():
        shared = wide(x).reshape(45, 2, -1)
        own = wide(torch.cat([x, x.flip(0)], 1)).reshape(45, 2, -1)  # model 1 sees the batch reversed
        for i, m in enumerate(models):
            _close(shared[:, i], m(x))
        _close(own[:, 1], models[1](x.flip(0)))


def test_the_engine_uses_the_c_step_records_it_and_autograd_stays_the_reference(monkeypatch):
    """engine.train takes the C step (so a broken step changes its result), and ORACLE_STEP=autograd the per-block
    path: the two train the same weights within float round-off over 20 steps."""
    from oracle_core.experiment import envinfo

    models = _models("lenet5_mini_d6", "released_code", 2)
    x, y = _data(20 * 24 + 7, seed=9)
    recipe = Recipe(epochs=1, lr_steps=((0, 0.05),), batch_size=24, weight_decay=1e-4)
    calls = []
    real = NativeStep.step
    monkeypatch.setattr(NativeStep, "step", lambda self, *a: calls.append(1) or real(self, *a))
    _, c_wide = engine.train([copy.deepcopy(m) for m in models], x, y, x[:30], y[:30], recipe, [1, 2])
    assert len(calls) == 21
    assert envinfo.environment(torch.device("cpu"))["training_step"].startswith("C:")
    monkeypatch.setenv(native.STEP_ENV, "autograd")
    assert "autograd" in native.describe_step()
    _, ref_wide = engine.train([copy.deepcopy(m) for m in models], x, y, x[:30], y[:30], recipe, [1, 2])
    assert len(calls) == 21
    for (name, a), (_, b) in zip(c_wide.named_parameters(), ref_wide.named_parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()), msg=name)


def test_evaluation_metrics_in_c_equal_torchs(monkeypatch):
    """engine.evaluate on a fused stack computes loss and accuracy in C (the pruned train loss, the oracle's
    criterion, then does not depend on torch's log-softmax kernel for the CPU kind); they equal torch's within float
    round-off, and a broken C path would be seen (the call is counted)."""
    models = _models("lenet5_mini_w30", "correct", 3)
    x, y = _data(333, seed=11)
    wide = fused.FusedLeNet(models)
    calls = []
    real = native.metrics
    monkeypatch.setattr(native, "metrics", lambda *a: calls.append(1) or real(*a))
    got = engine.evaluate(wide, 3, x, y, batch_size=100)
    assert calls == [1]
    monkeypatch.setenv(native.STEP_ENV, "autograd")
    want = engine.evaluate(wide, 3, x, y, batch_size=100)
    assert calls == [1]
    np.testing.assert_allclose(got.loss, want.loss, rtol=1e-6)
    assert got.acc == want.acc
    for i, m in enumerate(models):  # and each model's own module
        with torch.no_grad():
            out = m(x)
        assert abs(got.loss[i] - float(F.cross_entropy(out, y))) < 1e-5
        assert got.acc[i] == float((out.argmax(1) == y).double().mean())
