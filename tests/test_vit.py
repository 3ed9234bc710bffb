"""ViT: torchvision's attention rewritten as prunable heads (the same function), physical removal of heads and MLP
channels (= zeroing them in the dense network), and a whole smoke study on fabricated ImageNet files."""

import copy

import pytest
import torch
from torchvision.models import VisionTransformer

from oracle_core.base.errors import OracleError
from oracle_core.compute import engine
from oracle_core.compute.masks import make_masks
from oracle_core.compute.surgery import layer_sizes, prune, zeroed
from oracle_core.data import fabricate
from oracle_core.experiment import runner
from oracle_core.experiment.spec import make_spec
from oracle_core.models import build_model, prunable_layers
from oracle_core.models.resnet_imagenet import pretrained_state
from oracle_core.models.vit import convert


def _tiny():
    torch.manual_seed(0)
    model = VisionTransformer(image_size=224, patch_size=16, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64,
                              num_classes=10).eval()
    torch.nn.init.normal_(model.heads.head.weight)  # torchvision starts the head at zero: every output would be 0
    return model


def test_head_attention_computes_what_torchvisions_attention_does():
    ref = _tiny()
    ours = convert(copy.deepcopy(ref)).eval()
    x = torch.randn(3, 3, 224, 224)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, torch.nn.MultiheadAttention) for m in ours.modules())


def test_pruning_heads_and_mlp_channels_is_zeroing_them():
    net = convert(_tiny())
    sizes = layer_sizes(net, tuple(prunable_layers(net)))
    assert list(sizes.values()) == [4, 64, 4, 64]
    x = torch.randn(2, 3, 224, 224)
    for mask in make_masks(sizes, 0.5, 3, 1):
        small = prune(net, mask).eval()
        assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in net.parameters())
        torch.testing.assert_close(small(x), zeroed(net, mask).eval()(x), atol=1e-5, rtol=1e-5)
        assert (small(x) - net(x)).abs().max() > 1e-4  # and the mask does remove something
    with pytest.raises(OracleError, match="transformers only take 'correct'"):
        prune(net, mask, "released_code", 0.5)


def test_transformers_train_one_mask_at_a_time_and_convnets_stack():
    assert not engine.can_stack(build_model("vit_tiny", 3, 10))
    assert engine.can_stack(build_model("resnet8", 3, 10)) and engine.can_stack(build_model("lenet5_mini"))


def test_vit_specs_follow_the_protocol_and_missing_weights_say_where(tmp_path, monkeypatch):
    spec = make_spec("vit_b_16", "imagenet", "all", 0.5, 10, profile="paper")
    assert len(spec.layers) == 24 and spec.retrain.optimizer == "adamw" and spec.retrain.epochs == 300
    assert not spec.criteria_picks  # L1/Taylor are defined for conv filters
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    msg = str(pytest.raises(OracleError, pretrained_state, "vit_b_16").value)
    assert "vit_b_16-c867db91.pth" in msg and str(tmp_path / "checkpoints") in msg


def test_a_vit_smoke_study_and_its_notebook_run_end_to_end(tmp_path, monkeypatch):
    from conftest import run_notebook

    root = tmp_path / "data"
    fabricate.imagenet(root)
    monkeypatch.setenv("ORACLE_FABRICATED_DATA", "1")
    spec = make_spec("vit_tiny", "imagenet", "all", 0.5, 10, profile="smoke")
    res = runner.run_study(spec, "vit_imagenet", tmp_path / "results", root, progress=False)
    assert res.summary["n_masks"] == 2 and res.env["group_size"] == 1
    assert res.masks["final_test_acc"].between(0, 1).all()
    text = run_notebook("vit_imagenet", tmp_path / "vit.ipynb", {"ORACLE_FABRICATED_DATA": "1", "OMP_NUM_THREADS": "2"},
                        profile="smoke", model="vit_tiny", results_root=tmp_path / "results", data_root=root)
    assert "vit_tiny / imagenet" in text and "published no scatter panel" in text
