import random

import pytest
import torch
from torch import nn

from oracle_core.base.errors import OracleError
from oracle_core.compute.masks import Mask, sample_masks
from oracle_core.compute.surgery import l1_kept, layer_sizes, prune, zeroed
from oracle_core.models import MODELS, build_model, prunable_layers

LAYER_SETS = [("conv1",), ("conv2",), ("conv3",), ("conv1", "conv2"), ("conv1", "conv3"), ("conv2", "conv3"),
              ("conv1", "conv2", "conv3")]


@pytest.mark.parametrize("name", sorted(n for n, i in MODELS.items() if i.family == "lenet"))
@pytest.mark.parametrize("layers", LAYER_SETS)
def test_subnetwork_equals_dense_with_filters_zeroed(name, layers):
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = torch.randn(16, 1, 32, 32)
    sizes = layer_sizes(model, layers)
    for ratio in (0.3, 0.7):
        for mask in sample_masks(sizes, ratio, 2, seed=random.Random(name).randint(0, 999)):
            small = prune(model, mask).eval()
            for layer, kept in mask.as_dict().items():  # physically smaller
                assert small.get_submodule(layer).out_channels == len(kept)
                consumer = prunable_layers(model)[layer].consumer
                c = small.get_submodule(consumer)
                assert (c.in_channels if isinstance(c, nn.Conv2d) else c.in_features) == len(kept)
            n_small = sum(p.numel() for p in small.parameters())
            assert n_small < sum(p.numel() for p in model.parameters())
            with torch.no_grad():
                torch.testing.assert_close(small(x), zeroed(model, mask).eval()(x), atol=1e-5, rtol=1e-5)


def test_prune_leaves_the_dense_model_unchanged():
    model = build_model("lenet5_mini")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    prune(model, Mask.parse("conv1:0,1,2,3,4|conv2:5,6,7,8,9"))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_wrong_mask_would_be_caught():
    """The equality test can fail: slicing the consumer by the wrong channels changes the outputs."""
    torch.manual_seed(1)
    model = build_model("lenet5_mini").eval()
    right = prune(model, Mask.parse("conv1:5,6,7,8,9"))
    wrong = prune(model, Mask.parse("conv1:0,1,2,3,4"))
    x = torch.randn(8, 1, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(right(x), wrong(x), atol=1e-3)


def _pinned_lenet() -> nn.Module:
    """LeNet5-Mini whose conv1 filter i has |w| = i + 1 everywhere but filters 1 and 6 swapped:
    L1 keeps the 5 largest mean |w| = filters 1, 5, 7, 8, 9."""
    torch.manual_seed(0)
    model = build_model("lenet5_mini")
    mags = [1, 7, 3, 4, 5, 6, 2, 8, 9, 10]
    with torch.no_grad():
        for i, m in enumerate(mags):
            model.conv1.weight[i] = m * torch.sign(torch.randn_like(model.conv1.weight[i]))
    return model


def test_released_code_wiring_is_pinned():
    model = _pinned_lenet()
    assert l1_kept(model.conv1, 0.5) == (1, 5, 7, 8, 9)
    mask = Mask.parse("conv1:0,2,3,4,6")
    mis = prune(model, mask, wiring="released_code", ratio=0.5)
    # the pruned layer follows the mask ...
    torch.testing.assert_close(mis.conv1.weight, model.conv1.weight[[0, 2, 3, 4, 6]])
    # ... but its consumer keeps the input channels of the L1-kept filters
    torch.testing.assert_close(mis.conv2.weight, model.conv2.weight[:, [1, 5, 7, 8, 9]])
    right = prune(model, mask)
    torch.testing.assert_close(right.conv2.weight, model.conv2.weight[:, [0, 2, 3, 4, 6]])
    # the two wirings agree exactly for the L1 mask only
    l1 = Mask.parse("conv1:1,5,7,8,9")
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(prune(model, l1, "released_code", 0.5)(x), prune(model, l1)(x))
        assert not torch.allclose(mis(x), right(x))


def test_released_code_wiring_on_a_batchnorm_model():
    class ConvBN(nn.Module):
        prune_links = {"conv1": __import__("oracle_core.models", fromlist=["PruneLink"]).PruneLink(
            consumer="conv2", bn="bn1")}

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(4)
            self.conv2 = nn.Conv2d(4, 2, 3)

        def forward(self, x):
            return self.conv2(torch.relu(self.bn1(self.conv1(x))))

    torch.manual_seed(0)
    m = ConvBN()
    with torch.no_grad():
        for i, s in enumerate([4.0, 1.0, 3.0, 2.0]):
            m.conv1.weight[i] = s
        m.bn1.running_mean.copy_(torch.arange(4.0))
        m.bn1.weight.copy_(torch.arange(4.0) + 10)
    mask = Mask.parse("conv1:1,3")
    mis = prune(m, mask, "released_code", 0.5)  # L1 keeps filters 0 and 2
    assert mis.bn1.running_mean.tolist() == [0.0, 2.0] and mis.bn1.weight.tolist() == [10.0, 12.0]
    torch.testing.assert_close(mis.conv2.weight, m.conv2.weight[:, [0, 2]])
    ok = prune(m, mask)
    assert ok.bn1.running_mean.tolist() == [1.0, 3.0]
    x = torch.randn(2, 1, 9, 9)
    m.eval(), ok.eval()
    with torch.no_grad():
        torch.testing.assert_close(ok(x), zeroed(m, mask)(x), atol=1e-5, rtol=1e-5)


def test_unknown_layer_is_one_line_error():
    with pytest.raises(OracleError, match="not a prunable layer"):
        layer_sizes(build_model("lenet5_mini"), ("fc1",))


def test_resnet_subnetwork_equals_dense_with_filters_zeroed():
    torch.manual_seed(0)
    model = build_model("resnet8", 3, 10)
    with torch.no_grad():  # non-trivial BN statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.eval()
    layers = tuple(prunable_layers(model))
    assert layers == ("layer1.0.conv1", "layer2.0.conv1", "layer3.0.conv1")
    x = torch.randn(4, 3, 32, 32)
    for mask in sample_masks(layer_sizes(model, layers), 0.5, 3, seed=0):
        small = prune(model, mask).eval()
        assert small.layer2[0].conv1.out_channels == 16 and small.layer2[0].bn1.num_features == 16
        with torch.no_grad():
            torch.testing.assert_close(small(x), zeroed(model, mask).eval()(x), atol=1e-5, rtol=1e-5)
