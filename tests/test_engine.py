"""The batched ("wide") engine computes exactly what K single models compute, up to float round-off."""

import copy

import pytest
import torch
from conftest import assert_same_trajectory

from oracle_core.compute import engine
from oracle_core.compute.masks import Mask
from oracle_core.compute.surgery import prune
from oracle_core.experiment.protocol import Recipe
from oracle_core.models import build_model

MASKS = ["conv1:0,1,2,3,4", "conv1:5,6,7,8,9", "conv1:0,2,4,6,8"]


def _data(n=50 * 32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 32, 32, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return x, y


@pytest.fixture(scope="module")
def pruned():
    torch.manual_seed(0)
    dense = build_model("lenet5_mini")
    return [prune(dense, Mask.parse(t)) for t in MASKS]


@pytest.mark.slow
@pytest.mark.parametrize("shared", [False, True])
def test_wide_training_follows_the_single_model_trajectories(pruned, shared):
    x, y = _data()
    xt, yt = _data(256, seed=1)
    recipe = Recipe(epochs=1, lr_steps=((0, 0.05),), batch_size=32, weight_decay=1e-4)  # 50 SGD steps
    seeds = [7, 7, 7] if shared else [7, 8, 9]
    singles = []
    for m, s in zip(pruned, seeds):
        res, _ = engine.train([copy.deepcopy(m)], x, y, xt, yt, recipe, [s], record_steps=True)
        singles.append(res[0])
    wide_res, wide = engine.train([copy.deepcopy(m) for m in pruned], x, y, xt, yt, recipe, seeds, record_steps=True)
    assert_same_trajectory(singles, wide_res, steps=50)
    # and the final weights, unstacked, are the single models' weights
    for i, m in enumerate(pruned):
        ref = copy.deepcopy(m)
        engine.train([ref], x, y, xt, yt, recipe, [seeds[i]])
        got = engine.unstack(wide, m, len(pruned), i)
        for name, t in ref.state_dict().items():
            torch.testing.assert_close(got[name], t, atol=1e-4, rtol=1e-4)


def test_different_orders_give_different_trajectories(pruned):
    """The equality test above can fail: a different data order changes the losses."""
    x, y = _data()
    recipe = Recipe(epochs=1, lr_steps=((0, 0.05),), batch_size=32, weight_decay=1e-4)
    a, _ = engine.train([copy.deepcopy(pruned[0])], x, y, x[:64], y[:64], recipe, [1], record_steps=True)
    b, _ = engine.train([copy.deepcopy(pruned[0])], x, y, x[:64], y[:64], recipe, [2], record_steps=True)
    assert max(abs(p - q) for p, q in zip(a[0].step_loss, b[0].step_loss)) > 1e-3


def test_wide_evaluation_equals_single_evaluation(pruned):
    x, y = _data(3000)
    wide = engine.stack(pruned)
    batched = engine.evaluate(wide, len(pruned), x, y, batch_size=700)
    for i, m in enumerate(pruned):
        single = engine.evaluate(m, 1, x, y)
        assert abs(single.loss[0] - batched.loss[i]) < 1e-5
        assert abs(single.acc[0] - batched.acc[i]) < 1e-9


def test_best_epoch_is_the_highest_test_accuracy():
    r = engine.TrainResult(test_acc=[0.1, 0.5, 0.5, 0.2], test_loss=[4, 3, 2, 1], train_loss=[1, 1, 1, 1])
    assert r.best_epoch == 1 and r.final["best_epoch"] == 2 and r.final["final_test_loss"] == 3


@pytest.mark.slow
def test_wide_resnet_with_batchnorm_and_option_a_shortcuts_matches_single_models():
    """In float64, so that the comparison sees the engine and not float32 round-off: with BN and batch 16 a
    2e-7 difference at step 1 grows chaotically to ~1e-3 by step 50 (measured), in float64 the paths agree
    to ~1e-15."""
    from oracle_core.compute.masks import sample_masks
    from oracle_core.compute.surgery import layer_sizes
    from oracle_core.models import prunable_layers

    torch.manual_seed(0)
    dense = build_model("resnet8", 3, 10).double()
    sizes = layer_sizes(dense, tuple(prunable_layers(dense)))
    models = [prune(dense, m) for m in sample_masks(sizes, 0.5, 3, seed=1)]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50 * 16, 3, 32, 32, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (50 * 16,), generator=g)
    recipe = Recipe(epochs=1, lr_steps=((0, 0.01),), batch_size=16, weight_decay=5e-4)  # 50 SGD steps
    seeds = [3, 4, 5]
    singles = [engine.train([copy.deepcopy(m)], x, y, x[:64], y[:64], recipe, [s], record_steps=True)[0][0]
               for m, s in zip(models, seeds)]
    batched, _ = engine.train([copy.deepcopy(m) for m in models], x, y, x[:64], y[:64], recipe, seeds,
                              record_steps=True)
    for a, b in zip(singles, batched):
        assert max(abs(p - q) for p, q in zip(a.step_loss, b.step_loss)) < 1e-9
        for key, v in a.final.items():
            assert abs(v - b.final[key]) < 1e-9, key
    wide = engine.stack(models)
    ev = engine.evaluate(wide, 3, x[:128], y[:128])
    for i, m in enumerate(models):
        assert abs(engine.evaluate(m, 1, x[:128], y[:128]).loss[0] - ev.loss[i]) < 1e-5


@pytest.mark.slow
def test_batched_pruned_loss_equals_single_for_every_mask_of_a_setting():
    from oracle_core.compute.masks import enumerate_masks

    torch.manual_seed(0)
    dense = build_model("lenet5_mini")
    x, y = _data(256, seed=3)
    masks = enumerate_masks({"conv1": 10}, 0.5)
    assert len(masks) == 252
    for s in range(0, len(masks), 8):
        group = [prune(dense, m) for m in masks[s:s + 8]]
        batched = engine.evaluate(engine.stack(group), len(group), x, y)
        for i, m in enumerate(group):
            single = engine.evaluate(m, 1, x, y)
            assert abs(single.loss[0] - batched.loss[i]) < 1e-5
            assert single.acc[0] == batched.acc[i]


def test_gradient_clipping_stays_per_model(pruned):
    """Clipping in the wide model equals torch's clip_grad_norm_ on each model alone (one model's large
    gradient must not shrink the others')."""
    x, y = _data(20 * 32)
    recipe = Recipe(epochs=1, lr_steps=((0, 0.5),), batch_size=32, weight_decay=0.0)  # large steps: clipping bites
    seeds = [1, 2, 3]
    wide_res, _ = engine.train([copy.deepcopy(m) for m in pruned], x, y, x[:64], y[:64], recipe, seeds,
                               record_steps=True, grad_clip=0.05)
    for m, s, batched in zip(pruned, seeds, wide_res):
        ref = copy.deepcopy(m)
        opt = torch.optim.SGD(ref.parameters(), lr=0.5, momentum=0.9)
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(s))
        losses = []
        for i in range(0, len(y), 32):
            idx = perm[i:i + 32]
            loss = torch.nn.functional.cross_entropy(ref(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.05)
            opt.step()
            losses.append(loss.item())
        assert max(abs(a - b) for a, b in zip(losses, batched.step_loss)) < 1e-4
    unclipped, _ = engine.train([copy.deepcopy(pruned[0])], x, y, x[:64], y[:64], recipe, [1], record_steps=True)
    assert max(abs(a - b) for a, b in zip(unclipped[0].step_loss, wide_res[0].step_loss)) > 1e-3


def test_eval_max_pool_is_bit_identical_to_max_pool2d_and_training_keeps_the_reference():
    import torch.nn.functional as F

    from oracle_core.models.pool import max_pool2x2

    torch.manual_seed(0)
    for shape in [(64, 10, 28, 28), (8, 5, 10, 10), (3, 4, 7, 9)]:
        x = F.relu(torch.randn(*shape))  # ReLU makes ties (zeros), as in the model
        with torch.no_grad():
            assert torch.equal(max_pool2x2(x), F.max_pool2d(x, 2))
        xg = x.clone().requires_grad_()
        out = max_pool2x2(xg)
        assert out.grad_fn is not None and "MaxPool" in type(out.grad_fn).__name__
    m = build_model("lenet5_mini", 1, 10).eval()
    x = torch.randn(16, 1, 32, 32)
    with torch.no_grad():
        fast = m(x)
    ref = m(x)  # grad mode on: parameters require grad, so max_pool2d runs
    assert torch.equal(fast, ref.detach())


@pytest.mark.slow
def test_the_vit_style_recipe_stays_per_model_when_stacked(pruned):
    """AdamW + per-step cosine + label smoothing + mixup/cutmix + clipping: K stacked models still follow their
    single-model trajectories (each draws its own mixing from its own seed)."""
    x, y = _data(20 * 32)
    xt, yt = _data(128, seed=1)
    recipe = Recipe(epochs=2, lr_steps=((0, 3e-3),), batch_size=32, weight_decay=0.05, optimizer="adamw",
                    schedule="cosine", label_smoothing=0.1, mixup_alpha=0.8, cutmix_alpha=1.0, grad_clip=1.0)
    seeds = [3, 4, 5]
    singles = [engine.train([copy.deepcopy(m)], x, y, xt, yt, recipe, [s], record_steps=True)[0][0]
               for m, s in zip(pruned, seeds)]
    wide, _ = engine.train([copy.deepcopy(m) for m in pruned], x, y, xt, yt, recipe, seeds, record_steps=True)
    for single, batched in zip(singles, wide):
        assert len(single.step_loss) == 40
        assert max(abs(a - b) for a, b in zip(single.step_loss, batched.step_loss)) < 1e-4
    plain = Recipe(epochs=2, lr_steps=((0, 3e-3),), batch_size=32, weight_decay=0.05, optimizer="adamw")
    other = engine.train([copy.deepcopy(pruned[0])], x, y, xt, yt, plain, [3], record_steps=True)[0][0]
    assert max(abs(a - b) for a, b in zip(other.step_loss, singles[0].step_loss)) > 1e-3  # the extras act


def test_cosine_schedule_and_mixing_follow_their_definitions():
    import numpy as np

    from oracle_core.compute.mixing import mix

    r = Recipe(epochs=10, lr_steps=((0, 1.0),), batch_size=1, weight_decay=0, schedule="cosine")
    assert r.lr_at_step(0, 5) == 1.0 and abs(r.lr_at_step(25, 5) - 0.5) < 1e-12 and r.lr_at_step(50, 5) < 1e-12
    x = torch.randn(6, 3, 8, 8)
    m, lam = mix(x, np.random.default_rng(0), 0.8, 0.0)
    assert 0 <= lam <= 1 and torch.allclose(m, lam * x + (1 - lam) * x.flip(0))
    c, lam = mix(x, np.random.default_rng(1), 0.0, 1.0)
    from_partner = (c == x.flip(0)) & (c != x)
    assert abs(from_partner.float().mean().item() - (1 - lam)) < 1e-6  # lam = the area kept


def test_precision_bf16_really_changes_the_arithmetic_and_channels_last_does_not(pruned):
    """bf16 autocast must reach the forward pass (its step losses differ from fp32's by bf16 round-off, not by
    a different training), channels_last must only change the memory layout, and fp32/tf32 must restore
    torch's TF32 switches afterwards."""
    x, y = _data(16 * 32)
    recipe = Recipe(epochs=1, lr_steps=((0, 0.05),), batch_size=32, weight_decay=1e-4)
    runs = {}
    for name, kw in {"fp32": {}, "bf16": {"precision": "bf16"}, "cl": {"channels_last": True},
                     "tf32": {"precision": "tf32"}}.items():
        res, _ = engine.train([copy.deepcopy(m) for m in pruned[:2]], x, y, x[:64], y[:64], recipe, [3, 4],
                              record_steps=True, **kw)
        runs[name] = [r.step_loss for r in res]
    gap = lambda a, b: max(abs(p - q) for sa, sb in zip(runs[a], runs[b]) for p, q in zip(sa, sb))  # noqa: E731
    assert 1e-4 < gap("fp32", "bf16") < 0.1
    assert gap("fp32", "cl") < 1e-4
    assert gap("fp32", "tf32") < 1e-6  # TF32 is a CUDA format: on a CPU it is fp32
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with engine.numerics("tf32", torch.device("cpu")):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    with engine.numerics("fp32", torch.device("cpu")):
        assert not torch.backends.cudnn.allow_tf32  # cuDNN convs default to TF32: fp32 must switch it off
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    with pytest.raises(ValueError, match="unknown precision"):
        with engine.numerics("fp16", torch.device("cpu")):
            pass


def test_evaluation_runs_in_true_fp32_even_when_the_process_allows_tf32():
    """cuDNN convs default to TF32 on CUDA; the pruned train loss (the oracle) and test metrics must not use it."""
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32)
            return torch.zeros(len(x), 10)

    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        engine.evaluate(Probe(), 1, torch.zeros(4, 1, 32, 32), torch.zeros(4, dtype=torch.long))
        assert seen == [False] and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32 = before
