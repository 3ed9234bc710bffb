"""ResNet18 / ImageNet on fabricated files in torchvision's unpacked layout and a fabricated checkpoint: the lazy
decoder, its checks, the pretrained-weights rule, and a whole smoke study. The real files cannot be had here."""


import pytest
import torch

from oracle_core import data
from oracle_core.base.errors import OracleError
from oracle_core.data import fabricate, imagenet
from oracle_core.experiment import runner
from oracle_core.experiment.spec import make_spec
from oracle_core.models import build_model, prunable_layers
from oracle_core.models.pretrained import pretrained_state


@pytest.fixture(scope="module")
def imagenet_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    fabricate.imagenet(root)
    return root


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_missing_imagenet_names_the_archives_and_the_folder(tmp_path):
    msg = str(pytest.raises(OracleError, data.dataset_md5s, "imagenet", tmp_path).value)
    assert "\n" not in msg and "ILSVRC2012_img_train.tar" in msg and str(tmp_path / "imagenet") in msg


def test_missing_or_wrong_weights_are_one_line_errors(hub, monkeypatch):
    monkeypatch.delenv("ORACLE_FABRICATED_DATA", raising=False)
    msg = str(pytest.raises(OracleError, pretrained_state, "resnet18").value)
    assert "resnet18-f37072fd.pth" in msg and str(hub / "checkpoints") in msg and "\n" not in msg
    fabricate.resnet18_weights(hub)
    with pytest.raises(OracleError, match="is corrupted .*sha256"):
        pretrained_state("resnet18")
    monkeypatch.setenv("ORACLE_FABRICATED_DATA", "1")
    state, record = pretrained_state("resnet18")
    assert record["fabricated"] == "true" and "fc.weight" in state


def test_lazy_images_decode_like_torchvisions_eval_transform(imagenet_root):
    from PIL import Image
    from torchvision import transforms

    train, val = imagenet.splits(imagenet_root, "cpu", 0)
    assert len(train) == 40 and len(val) == 16 and val.shape == (16, 3, 224, 224)
    ref = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                              transforms.Normalize(imagenet.MEAN, imagenet.STD)])
    got = val[2:5]
    for i, k in enumerate(range(2, 5)):
        assert torch.allclose(got[i], ref(Image.open(val.samples[k][0]).convert("RGB")), atol=1e-6)
    assert val.labels().tolist() == [t for _, t in val.samples]


def test_training_crops_are_random_but_reproducible(imagenet_root):
    a, _ = imagenet.splits(imagenet_root, "cpu", 7)
    b, _ = imagenet.splits(imagenet_root, "cpu", 7)
    idx = torch.tensor([0, 1, 2, 3])
    xa, xb = a[idx], b[idx]
    assert xa.shape == (4, 3, 224, 224) and torch.equal(xa, xb)
    assert not torch.equal(a[idx], xa)  # the next draw differs
    assert a[torch.tensor([[0, 1], [2, 3]])].shape == (2, 2, 3, 224, 224)  # [K, B] indexing for stacked models


def test_resnet18_prunes_the_eight_block_convs():
    links = prunable_layers(build_model("resnet18", 3, 1000))
    assert list(links) == [f"layer{s}.{b}.conv1" for s in (1, 2, 3, 4) for b in (0, 1)]
    spec = make_spec("resnet18", "imagenet", "layer*.conv1", 0.5, 160, profile="paper")
    assert spec.n_masks == 160 and spec.pretrain.epochs == 0 and spec.retrain.epochs == 30


@pytest.mark.slow
def test_a_resnet18_smoke_study_runs_end_to_end(imagenet_root, hub, tmp_path, monkeypatch):
    monkeypatch.setenv("ORACLE_FABRICATED_DATA", "1")
    fabricate.resnet18_weights(hub)
    spec = make_spec("resnet18", "imagenet", "layer*.conv1", 0.5, 160, profile="smoke")
    res = runner.run_study(spec, "resnet_imagenet", tmp_path, imagenet_root, progress=False)
    assert res.summary["n_masks"] == 2 and res.masks["final_test_acc"].between(0, 1).all()
    assert res.env["dataset_md5"]["fabricated"] == "true"
    pre = (tmp_path / "pretrained" / spec.pretrain_key() / "pretrain.json").read_text()
    assert '"fabricated": "true"' in pre and "resnet18-f37072fd.pth" in pre


def test_the_resnet_imagenet_notebook_executes_at_smoke(imagenet_root, tmp_path):
    from conftest import run_notebook

    fabricate.resnet18_weights(tmp_path / "torch" / "hub")
    env = {"ORACLE_FABRICATED_DATA": "1", "TORCH_HOME": str(tmp_path / "torch"), "OMP_NUM_THREADS": "2"}
    text = run_notebook("resnet_imagenet", tmp_path / "resnet_imagenet.ipynb", env, profile="smoke",
                        results_root=tmp_path / "results", data_root=imagenet_root)
    assert "ResNet18 / imagenet" in text and "Profile `smoke`" in text and "<svg" in text


def test_the_book_page_without_a_cpu_profile_shows_the_papers_protocol():
    from oracle_core.pages import setting

    spec, note = setting.page_spec("resnet18", "imagenet", "layer*.conv1", 0.5, 160, 0, None, "cpu", "correct", False)
    assert spec.profile == "paper" and "no `cpu` profile" in note
    with pytest.raises(OracleError, match="not defined for resnet_imagenet"):
        setting.page_spec("resnet18", "imagenet", "layer*.conv1", 0.5, 160, 0, None, "cpu", "correct", True)
