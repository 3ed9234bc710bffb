"""ViT: torchvision's attention rewritten as prunable heads (the same function); the paper script's width pruning
(every head narrower, the residual stream 768 -> 384) against a reference that slices the dense weights; the
whole-head variant (= zeroing heads in the dense network); the script's recipe; a smoke study on fabricated files."""

import copy
import importlib.metadata
import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import VisionTransformer, vit_b_16

from oracle_core.base.errors import OracleError
from oracle_core.compute import engine
from oracle_core.compute.masks import Mask, make_masks
from oracle_core.compute.surgery import layer_sizes, prune, zeroed
from oracle_core.data import fabricate
from oracle_core.experiment import runner
from oracle_core.experiment.commands import main as cli_main
from oracle_core.experiment.protocol import get_profile
from oracle_core.experiment.spec import make_spec
from oracle_core.models import build_model, prunable_layers
from oracle_core.models.pretrained import pretrained_state
from oracle_core.models.vit import WIDTH, convert


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


def _reference(tv, dims, mlp_keep, x):
    """torchvision's ViT forward written out from its own (packed in_proj) weights, every tensor sliced to the kept
    embedding channels (head g keeps its dims ``dims[g]``) and MLP channels: independent of models/vit.py."""
    sd, n = tv.state_dict(), x.shape[0]
    heads, e = tv.encoder.layers[0].self_attention.num_heads, tv.hidden_dim
    d, dk = e // heads, len(dims[0])
    idx = torch.tensor([g * d + p for g in range(heads) for p in sorted(dims[g])])
    y = F.conv2d(x, sd["conv_proj.weight"][idx], sd["conv_proj.bias"][idx], stride=tv.patch_size)
    y = y.flatten(2).transpose(1, 2)
    y = torch.cat([sd["class_token"][..., idx].expand(n, -1, -1), y], 1) + sd["encoder.pos_embedding"][..., idx]
    for i in range(len(tv.encoder.layers)):
        p = f"encoder.layers.encoder_layer_{i}."

        def ln(t, name, p=p):
            return F.layer_norm(t, (len(idx),), sd[p + name + ".weight"][idx], sd[p + name + ".bias"][idx], 1e-6)

        def split(t):
            return t.reshape(n, -1, heads, dk).transpose(1, 2)

        h = ln(y, "ln_1")
        w, b = sd[p + "self_attention.in_proj_weight"], sd[p + "self_attention.in_proj_bias"]
        q, k, v = (split(h @ w[j * e:(j + 1) * e][idx][:, idx].T + b[j * e:(j + 1) * e][idx]) for j in range(3))
        att = (torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dk), -1) @ v).transpose(1, 2).reshape(n, -1, len(idx))
        wo, bo = sd[p + "self_attention.out_proj.weight"], sd[p + "self_attention.out_proj.bias"]
        y = y + att @ wo[idx][:, idx].T + bo[idx]
        m = torch.tensor(mlp_keep[i])
        h = F.gelu(ln(y, "ln_2") @ sd[p + "mlp.0.weight"][m][:, idx].T + sd[p + "mlp.0.bias"][m])
        y = y + h @ sd[p + "mlp.3.weight"][idx][:, m].T + sd[p + "mlp.3.bias"][idx]
    y = F.layer_norm(y, (len(idx),), sd["encoder.ln.weight"][idx], sd["encoder.ln.bias"][idx], 1e-6)
    return y[:, 0] @ sd["heads.head.weight"][:, idx].T + sd["heads.head.bias"]


def test_vit_b_16_width_pruning_is_the_dense_network_sliced():
    """The paper script's pruning of ViT-B/16 at 0.5: width 768 -> 384, 12 heads of 32, MLP 1536 per block; the
    pruned network's output equals the reference that slices torchvision's dense weights (its LayerNorms normalise
    over the kept channels only)."""
    torch.manual_seed(0)
    tv = vit_b_16(weights=None).eval()
    torch.nn.init.normal_(tv.heads.head.weight, std=0.02)  # torchvision starts the head at zero
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        full = _reference(tv, {g: list(range(64)) for g in range(12)}, [list(range(3072))] * 12, x)
        torch.testing.assert_close(full, tv(x), atol=2e-4, rtol=2e-4)  # the reference is torchvision's forward
        net = convert(copy.deepcopy(tv), "width").eval()
        sizes = layer_sizes(net, tuple(prunable_layers(net)))
        assert list(sizes) == ([f"{WIDTH}{g}" for g in range(12)]
                               + [f"encoder.layers.encoder_layer_{i}.mlp" for i in range(12)])
        assert set(list(sizes.values())[:12]) == {64} and set(list(sizes.values())[12:]) == {3072}
        mask = make_masks(sizes, 0.5, 1, 7)[0]
        small = prune(net, mask).eval()
        kept = mask.as_dict()
        assert small.hidden_dim == 384 and small.conv_proj.out_channels == 384
        att = small.encoder.layers[0].self_attention
        assert (att.heads, att.head_dim, att.q.weight.shape) == (12, 32, (384, 384))
        assert small.encoder.layers[5].mlp[0].weight.shape == (1536, 384)
        assert small.heads.head.weight.shape == (1000, 384)
        assert sum(p.numel() for p in small.parameters()) < 0.3 * sum(p.numel() for p in tv.parameters())
        assert len({kept[f"{WIDTH}{g}"] for g in range(12)}) > 1  # each head keeps its own dims
        ref = _reference(tv, {g: list(kept[f"{WIDTH}{g}"]) for g in range(12)},
                         [list(kept[f"encoder.layers.encoder_layer_{i}.mlp"]) for i in range(12)], x)
        torch.testing.assert_close(small(x), ref, atol=2e-4, rtol=2e-4)
        assert (ref - full).abs().max() > 1e-3  # the mask does change the network
    with pytest.raises(OracleError, match="no dense equivalent"):
        zeroed(net, mask)


def test_width_pruning_is_what_torch_pruning_1_4_2_does_in_the_papers_script():
    """The script's own call (MagnitudePruner, random importance, ratio 0.5, local, one step, the classifier ignored,
    channel_groups = each attention's head count) on torchvision's ViT: read off which channels Torch-Pruning kept,
    prune the same network with that mask ourselves, and compare outputs. Torch-Pruning keeps the same number of dims
    in every head, each head's own (not the same positions)."""
    import torch_pruning as tp

    assert importlib.metadata.version("torch-pruning") == "1.4.2"
    tv = _tiny()
    x = torch.randn(2, 3, 224, 224)
    dense = copy.deepcopy(tv)
    groups = {m: m.num_heads for m in tv.modules() if isinstance(m, torch.nn.MultiheadAttention)}
    torch.manual_seed(3)
    with pytest.warns(UserWarning, match="Unwrapped parameters"):  # class token, position embedding: as intended
        pruner = tp.pruner.MagnitudePruner(tv, x[:1], importance=tp.importance.RandomImportance(), pruning_ratio=0.5,
                                           global_pruning=False, iterative_steps=1, ignored_layers=[tv.heads.head],
                                           channel_groups=groups)
    pruner.step()
    tv.hidden_dim = tv.conv_proj.out_channels  # torchvision reshapes with it and Torch-Pruning does not update it

    def rows_kept(small, big):  # which rows of ``big`` survive in ``small`` (each row matches exactly one)
        return [int((big - r).flatten(1).abs().sum(1).argmin()) for r in small]

    sd = dense.state_dict()
    channels = rows_kept(tv.conv_proj.weight, sd["conv_proj.weight"])
    kept = {f"{WIDTH}{g}": tuple(c - 8 * g for c in channels if c // 8 == g) for g in range(4)}
    assert {len(v) for v in kept.values()} == {4} and len(set(kept.values())) > 1
    for i in range(2):
        kept[f"encoder.layers.encoder_layer_{i}.mlp"] = tuple(sorted(rows_kept(
            tv.encoder.layers[i].mlp[0].weight, sd[f"encoder.layers.encoder_layer_{i}.mlp.0.weight"][:, channels])))
    net = convert(dense, "width").eval()
    mask = Mask(tuple((name, kept[name]) for name in prunable_layers(net)))
    with torch.no_grad():
        torch.testing.assert_close(prune(net, mask).eval()(x), tv.eval()(x), atol=1e-5, rtol=1e-5)


def test_the_vit_recipe_is_the_papers_script():
    r = get_profile("paper", "vit_imagenet").retrain
    assert (r.epochs, r.optimizer, r.lr_steps, r.schedule, r.weight_decay, r.batch_size) == (
        300, "adamw", ((0, 1.5e-4),), "cosine", 0.3, 128)
    assert (r.label_smoothing, r.grad_clip, r.mixup_alpha, r.cutmix_alpha) == (0.11, 1.0, 0.2, 0.2)
    assert get_profile("torchvision_cutmix", "vit_imagenet").retrain.cutmix_alpha == 1.0


def test_whole_heads_are_a_labelled_variant(tmp_path, capsys):
    width = make_spec("vit_b_16", "imagenet", "all", 0.5, 10, profile="paper")  # 12 heads' dims, 12 MLPs
    assert len(width.layers) == 24 and width.layers[0] == "width.head0"
    heads = make_spec("vit_b_16_heads", "imagenet", "all", 0.5, 10, profile="paper")
    assert len(heads.layers) == 24 and heads.layers[0].endswith("self_attention")
    assert cli_main(["run", "--model", "lenet5_mini", "--vit-units", "heads", "--results", str(tmp_path)]) == 2
    assert "applies to ViT models" in capsys.readouterr().err


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
    assert not engine.can_stack(build_model("vit_tiny_heads", 3, 10))
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
