"""CIFAR on fabricated files in torchvision's real layout: the loader, its checks, augmentation, the models and a
whole smoke study (ResNet and VGG). The real files cannot be downloaded here; these prove the code paths."""

import pickle

import numpy as np
import pytest
import torch

from oracle_core import data
from oracle_core.base.errors import OracleError
from oracle_core.compute import augment
from oracle_core.compute.surgery import prune, zeroed
from oracle_core.data import fabricate
from oracle_core.data.decode import _read_cifar_batch as read_cifar_batch
from oracle_core.experiment import runner
from oracle_core.experiment.spec import make_spec
from oracle_core.models import build_model, prunable_layers


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    fabricate.cifar(root, "cifar10", n_train=300, n_test=100)
    fabricate.cifar(root, "cifar100", n_train=300, n_test=100)
    return root


def test_missing_cifar_names_every_file_and_where_it_goes(tmp_path):
    with pytest.raises(OracleError) as e:
        data.load_split("cifar10", True, tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "data_batch_1" in msg and "test_batch" in msg and "batches.meta" in msg
    assert str(tmp_path / "cifar-10-batches-py") in msg and "networked machine" in msg
    assert "cifar-10-python.tar.gz" in msg


def test_fabricated_files_are_refused_unless_asked_for(cifar_root, monkeypatch):
    """The default loader checks the real files' md5s: fabricated (i.e. not the real) files are refused."""
    monkeypatch.delenv("ORACLE_FABRICATED_DATA", raising=False)
    with pytest.raises(OracleError, match="is corrupted .*md5"):
        data.load_split("cifar10", True, cifar_root)


def test_a_corrupted_file_is_refused_even_in_fabricated_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("ORACLE_FABRICATED_DATA", "1")
    folder = fabricate.cifar(tmp_path, "cifar10", n_train=50, n_test=20)
    with open(folder / "data_batch_3", "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    with pytest.raises(OracleError, match=r"data_batch_3 is corrupted"):
        data.load_split("cifar10", True, tmp_path)


def test_a_marker_beside_real_looking_batches_accepts_nothing(tmp_path, monkeypatch):
    """ORACLE_FABRICATED_DATA=1 and a FABRICATED.json that lists a batch's md5 are not enough: the batch must say it
    was fabricated. A real-looking (or corrupted real) batch under a marker is checked against the published md5."""
    import json

    monkeypatch.setenv("ORACLE_FABRICATED_DATA", "1")
    folder = fabricate.cifar(tmp_path, "cifar10", n_train=50, n_test=20)
    batch = folder / "data_batch_1"
    batch.write_bytes(pickle.dumps({"batch_label": "training batch 1 of 5", "labels": [0], "data": b"x"}, protocol=2))
    marker = json.loads((folder / "FABRICATED.json").read_text())
    marker["data_batch_1"] = data.md5sum(batch)  # the marker even lists this file's md5
    (folder / "FABRICATED.json").write_text(json.dumps(marker))
    with pytest.raises(OracleError, match="data_batch_1 is corrupted"):
        data.load_split("cifar10", True, tmp_path)


def test_cifar_loader_reads_the_pickled_batches(cifar_root, monkeypatch):
    monkeypatch.setenv("ORACLE_FABRICATED_DATA", "1")
    train = data.load_split("cifar10", True, cifar_root)
    test = data.load_split("cifar100", False, cifar_root)
    assert train.images.shape == (300, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (100, 3, 32, 32) and int(test.labels.max()) < 100
    with open(cifar_root / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="latin1")
    assert np.array_equal(train.images[:60].numpy().reshape(60, -1), raw["data"])
    assert train.labels[:60].tolist() == raw["labels"]
    assert data.dataset_md5s("cifar10", cifar_root)["fabricated"] == "true"


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({"data": Evil(), "labels": [1]}, protocol=2))
    with pytest.raises(OracleError, match=r"print is not allowed in a CIFAR batch"):
        read_cifar_batch(path, "labels")


def test_cifar_normalization_is_per_channel():
    info = data.get_dataset_info("cifar10")
    img = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    x = data.to_float(img, info)
    for c in range(3):
        assert torch.allclose(x[0, c], torch.tensor((1 - info.mean[c]) / info.std[c]))


def test_crop_flip_is_torchvisions_random_crop_and_flip():
    """Every output is a 32x32 window of the image padded with black (after Normalize: -mean/std), maybe flipped."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 32, 32)
    fill = augment.pad_value((0.5, 0.4, 0.3), (0.2, 0.25, 0.3), 3)
    out = augment.crop_flip(x, gen, fill)
    padded = fill.reshape(1, 3, 1, 1).expand(64, 3, 40, 40).clone()
    padded[:, :, 4:36, 4:36] = x
    flipped = 0
    for i in range(64):
        windows = [padded[i, :, r:r + 32, c:c + 32] for r in range(9) for c in range(9)]
        plain = any(torch.equal(out[i], w) for w in windows)
        mirrored = any(torch.equal(out[i], w.flip(-1)) for w in windows)
        assert plain or mirrored
        flipped += mirrored and not plain
    assert 15 < flipped < 49  # about half are flipped
    again = augment.crop_flip(x, torch.Generator().manual_seed(0), fill)
    assert torch.equal(out, again)


@pytest.mark.parametrize("model,dataset", [("resnet8", "cifar10"), ("vgg_tiny", "cifar100")])
def test_pruned_cifar_models_are_the_masked_dense_network(model, dataset):
    info = data.get_dataset_info(dataset)
    torch.manual_seed(0)
    net = build_model(model, 3, info.num_classes)
    net.eval()
    for m in net.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    spec = make_spec(model, dataset, "all", 0.5, 4, profile="smoke")
    from oracle_core.compute.masks import make_masks
    from oracle_core.compute.surgery import layer_sizes

    [mask] = make_masks(layer_sizes(net, spec.layers), 0.5, 1, 3)
    x = torch.randn(8, 3, 32, 32)
    small, ref = prune(net, mask).eval(), zeroed(net, mask).eval()
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in net.parameters())
    assert torch.allclose(small(x), ref(x), atol=1e-5)


def test_vgg19_and_resnet56_have_the_papers_prunable_layers():
    assert len(prunable_layers(build_model("vgg19", 3, 100))) == 16
    spec = make_spec("resnet56", "cifar10", "layer*.conv1", 0.5, 1000, profile="paper")
    assert len(spec.layers) == 27 and spec.n_masks == 1000 and spec.retrain.epochs == 120 and spec.repeats == 3
    assert make_spec("vgg19", "cifar100", "all", 0.5, 1000,
                     profile="paper").layers == tuple(f"conv{i}" for i in range(1, 17))
    with pytest.raises(OracleError, match="matches no prunable layer"):
        make_spec("resnet56", "cifar10", "block*.conv9", 0.5, 10, profile="smoke")
    with pytest.raises(OracleError, match="not defined for vgg_cifar"):
        make_spec("vgg19", "cifar100", "all", 0.5, 10, profile="cpu_15k")


def test_vgg19_released_layer_list_is_the_13_convs_its_indices_point_at():
    """The released script indexes an nn.Sequential of (conv, BN, ReLU) triples and pools; rebuild that Sequential
    here the released way and read which indices are convs, independently of vgg_cifar.sequential_names."""
    from torch import nn

    from oracle_core.experiment.commands import layers_arg
    from oracle_core.models.vgg_cifar import RELEASED_FEATURE_INDICES, VGG19_CFG

    mods, c = [], 3
    for v in VGG19_CFG:
        mods += [nn.MaxPool2d(2)] if v == "M" else [nn.Conv2d(c, v, 3, padding=1, bias=False), nn.BatchNorm2d(v),
                                                    nn.ReLU()]
        c = v if v != "M" else c
    seq = nn.Sequential(*mods)
    conv_ordinal = {i: n + 1 for n, i in enumerate(i for i, m in enumerate(seq) if isinstance(m, nn.Conv2d))}
    expected = tuple(f"conv{conv_ordinal[i]}" for i in RELEASED_FEATURE_INDICES if isinstance(seq[i], nn.Conv2d))
    assert len(expected) == 13 and {"conv8", "conv11", "conv12"}.isdisjoint(expected)
    assert sum(isinstance(seq[i], nn.BatchNorm2d) for i in RELEASED_FEATURE_INDICES) == 3
    spec = make_spec("vgg19", "cifar100", "released", 0.5, 1000, profile="paper")
    assert spec.layers == expected
    assert layers_arg(spec) == "released"
    assert make_spec("vgg19", "cifar100", "released+conv8", 0.5, 1000,
                     profile="paper").layers == expected[:7] + ("conv8",) + expected[7:]  # model order


@pytest.mark.slow
@pytest.mark.parametrize("model,dataset", [("resnet8", "cifar10"), ("vgg_tiny", "cifar100")])
def test_a_cifar_smoke_study_runs_end_to_end_and_is_marked_fabricated(cifar_root, tmp_path, monkeypatch,
                                                                      model, dataset):
    monkeypatch.setenv("ORACLE_FABRICATED_DATA", "1")
    spec = make_spec(model, dataset, "all", 0.5, 4, profile="smoke")
    res = runner.run_study(spec, "cifar", tmp_path, cifar_root, progress=False)
    assert len(res.per_mask) == 4 and res.summary["n_masks"] == 4
    assert res.env["dataset_md5"]["fabricated"] == "true"
    assert res.masks["final_test_acc"].between(0, 1).all()
    again = runner.run_study(spec, "cifar", tmp_path / "again", cifar_root, progress=False, group_size=4)
    assert np.allclose(again.masks["final_test_acc"], res.masks["final_test_acc"])  # stacking = one at a time


@pytest.mark.parametrize("notebook,model", [("resnet_cifar", "resnet56"), ("vgg_cifar100", "vgg19")])
def test_cifar_notebooks_execute_at_smoke_on_fabricated_files(cifar_root, tmp_path, notebook, model):
    """What a user runs (`papermill notebooks/<name>.ipynb out.ipynb -p ...`), at the smoke profile on fabricated
    CIFAR files: the real model trains, the page shows our scatter, the table and the paper's own points."""
    from conftest import run_notebook

    from oracle_core.analysis.names import model_name

    text = run_notebook(notebook, tmp_path / f"{notebook}.ipynb", {"ORACLE_FABRICATED_DATA": "1",
                                                                   "OMP_NUM_THREADS": "1"},
                        profile="smoke", results_root=tmp_path / "results", data_root=cifar_root)
    assert f"{model_name(model)} / " in text and "Profile `smoke`" in text and "<svg" in text  # ResNet56 / ...
    assert (tmp_path / "results" / notebook).is_dir()


def test_device_images_give_exactly_the_precomputed_floats(cifar_root, monkeypatch):
    monkeypatch.setenv("ORACLE_FABRICATED_DATA", "1")
    info = data.get_dataset_info("cifar10")
    split = data.load_split("cifar10", True, cifar_root)
    lazy, full = data.DeviceImages(split.images, info), data.to_float(split.images, info)
    idx = torch.tensor([5, 0, 17, 3])
    assert torch.equal(lazy[idx], full[idx]) and torch.equal(lazy[10:20], full[10:20])
    assert torch.equal(lazy[idx.reshape(2, 2)], full[idx.reshape(2, 2)])
    assert lazy.images.dtype == torch.uint8 and len(lazy.head(7)) == 7 and lazy.shape == tuple(full.shape)
