"""ImageNet pieces: the validation folder as a dataset, torchvision backbones with their
pretrained weights (from torch hub's cache, or a fast, clear failure without them), noise
resized to a model's input, and Table 1."""

import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from helpers import SCHEMA
from PIL import Image
from torchvision.transforms import CenterCrop, Resize

from revcor.base import store
from revcor.data import datasets
from revcor.models import architectures, backbones, loading
from revcor.models.specs import ModelError
from revcor.noise import sources
from revcor.noise.rng import ChunkRNG
from revcor.pipeline import backbone
from revcor.report import tables


def _png(path: Path, w: int, h: int, seed: int = 0) -> Image.Image:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    image.save(path)
    return image


# --------------------------------------------------------------------------- dataset


def test_images_get_torchvisions_evaluation_transform(tmp_path):
    wide = _png(tmp_path / "val/n2/a.png", 100, 50, seed=1)
    tall = _png(tmp_path / "val/n1/b.png", 41, 90, seed=2)
    Image.fromarray(np.full((30, 30), 7, np.uint8)).save(tmp_path / "val/n1/c.JPEG")  # greyscale JPEG
    datasets.build("imagenet", tmp_path / "in.h5", root=tmp_path / "val", size=16)
    val = datasets.load(tmp_path / "in.h5", "test")
    assert val.classes == ["n1", "n2"] and val.labels.tolist() == [0, 0, 1]
    transform = lambda im: np.asarray(CenterCrop(16)(Resize(18)(im))).transpose(2, 0, 1)  # noqa: E731  18 = 16*256/224
    assert (val.images[0] == transform(tall)).all() and (val.images[2] == transform(wide)).all()
    assert val.images[1].shape == (3, 16, 16) and (np.abs(val.images[1].astype(int) - 7) <= 1).all()
    with store.open_artifact(tmp_path / "in.h5", "dataset") as f:
        assert store.get_attr(f, "subset") is True and store.get_attr(f, "counts") == {"test": 3}
        assert store.get_attr(f, "image_shape") == [3, 16, 16] and "train" not in f


@pytest.mark.parametrize(
    "layout, expected",
    [
        ("missing", "does not exist"),
        ("flat", "holds 1 images directly"),
        ("empty-class", "class folders without images"),
        ("corrupt", "cannot read image"),
    ],
)
def test_bad_validation_folders_are_named(tmp_path, layout, expected):
    root = tmp_path / "val"
    if layout != "missing":
        _png(root / "n1" / "a.png", 8, 8)
    if layout == "flat":
        _png(root / "a.png", 8, 8)
    if layout == "empty-class":
        (root / "n2").mkdir()
    if layout == "corrupt":
        (root / "n1" / "b.JPEG").write_bytes(b"not a jpeg")
    with pytest.raises(datasets.DataError, match=expected):
        datasets.build("imagenet", tmp_path / "in.h5", root=root)
    assert not (tmp_path / "in.h5").exists()


def test_imagenet_cannot_be_downloaded(tmp_path):
    with pytest.raises(datasets.DataError, match="only source is a local folder"):
        datasets.build("imagenet", tmp_path / "in.h5", source="torchvision")
    with pytest.raises(datasets.DataError, match="needs root"):
        datasets.build("imagenet", tmp_path / "in.h5")
    with pytest.raises(datasets.DataError, match="size applies to imagenet only"):
        datasets.build("mnist", tmp_path / "m.h5", size=32)


# --------------------------------------------------------------------------- backbones


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch hub cache (TORCH_HOME), as on a fresh machine."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def test_missing_weights_fail_fast_with_what_and_where(torch_home, monkeypatch):
    def offline(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline)  # no network, even on a machine that has one
    t0 = time.perf_counter()
    with pytest.raises(ModelError) as e:
        backbones.pretrained("squeezenet1_1")
    assert time.perf_counter() - t0 < 10
    message = str(e.value)
    assert "SqueezeNet1_1_Weights.IMAGENET1K_V1" in message
    assert "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth" in message
    assert str(torch_home / "hub/checkpoints/squeezenet1_1-b8a52dc0.pth") in message and "'none'" in message
    assert not list(torch_home.rglob("*.pth*"))  # no partial download left behind


class _Stalled:
    """Weights whose URL is a server that accepts connections and never answers."""

    name = "STALLED"

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/stalled-0123abcd.pth"


def test_a_stalled_download_times_out(torch_home):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    try:
        t0 = time.perf_counter()
        with pytest.raises(ModelError, match="cannot be downloaded .*timed out"):
            backbones._download("squeezenet1_1", _Stalled(server.getsockname()[1]), timeout=1, progress=False)
        assert time.perf_counter() - t0 < 5
        assert socket.getdefaulttimeout() is None  # restored
    finally:
        server.close()


def test_pretrained_weights_come_from_torch_hubs_cache(torch_home, tmp_path):
    torch.manual_seed(1)
    published = torchvision.models.squeezenet1_1(num_classes=1000).state_dict()
    cached = torch_home / "hub/checkpoints/squeezenet1_1-b8a52dc0.pth"
    cached.parent.mkdir(parents=True)
    torch.save(published, cached)
    model, info = backbones.pretrained("squeezenet1_1", in_shape=(3, 32, 32))
    assert info["enum"] == "SqueezeNet1_1_Weights.IMAGENET1K_V1" and info["file"] == str(cached)
    assert len(info["categories"]) == 1000 and info["categories"][0] == "tench"
    for k, v in published.items():
        assert torch.equal(model.net.state_dict()[k], v), k
    # the backbone takes [0, 1] images and normalises them itself
    x = torch.rand(2, 3, 32, 32)
    mean, std = (
        torch.tensor(architectures.IMAGENET_MEAN).view(1, 3, 1, 1),
        torch.tensor(architectures.IMAGENET_STD).view(1, 3, 1, 1),
    )
    with torch.no_grad():
        assert torch.allclose(model(x), model.net((x - mean) / std))


def test_pretrained_weights_need_all_1000_classes(torch_home, tmp_path):
    _png(tmp_path / "val/n1/a.png", 40, 40)
    datasets.build("imagenet", tmp_path / "in.h5", root=tmp_path / "val", size=32)
    with pytest.raises(ModelError, match="predicts 1000 ImageNet classes, but dataset imagenet has 1"):
        backbone.prepare(
            tmp_path / "in.h5",
            {"arch": "resnet152", "seed": 0},
            model_out=tmp_path / "m.pt",
            metrics_out=tmp_path / "m.json",
        )
    with pytest.raises(ModelError, match="has no weights 'V3'.*IMAGENET1K_V1, IMAGENET1K_V2"):
        backbones.weights_enum("resnet101", "V3")


@pytest.mark.parametrize("arch", ["googlenet", "mnasnet1_3"])
def test_backbone_model_files_round_trip(tmp_path, arch):
    torch.manual_seed(0)
    model = architectures.build(arch, (3, 32, 32), 5).eval()
    loading.save(model, tmp_path / "m.pt", arch=arch, in_shape=(3, 32, 32), num_classes=5, kwargs={}, meta={})
    loaded = loading.load(tmp_path / "m.pt")
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), model(x))
    with pytest.raises(ModelError, match="at least 32x32"):
        architectures.build("vgg19_bn", (3, 24, 24), 5)
    with pytest.raises(ModelError, match="3 channels"):
        architectures.build(arch, (1, 32, 32), 5)


# --------------------------------------------------------------------------- noise size


def test_noise_size_draws_small_noise_and_resizes_it_for_the_model():
    source = sources.make({"kind": "white", "size": 8}, (3, 24, 24))
    stored = source.sample(ChunkRNG(0, 0, torch.device("cpu")), 5)
    assert stored.shape == (5, 3, 8, 8) and source.input_shape == (3, 24, 24)
    x = source.to_input(stored)
    expected = torch.nn.functional.interpolate(
        stored.float() / 255, size=(24, 24), mode="bilinear", align_corners=False
    )
    assert torch.allclose(x, expected, atol=1e-6) and 0 <= x.min() and x.max() <= 1
    assert source.describe()["input_shape"] == [3, 24, 24]
    # the reductions rebuild the source at the stored size: no resizing there
    again = sources.make({"kind": "white", "size": 8}, tuple(source.describe()["shape"]))
    assert torch.equal(again.to_input(stored), stored.float() / 255) and "input_shape" not in again.describe()


def test_a_generator_of_another_size_says_to_set_the_noise_size(tmp_path):
    from revcor.noise import gabor

    images = np.random.default_rng(0).integers(0, 256, (40, 3, 16, 16), dtype=np.uint8)
    gabor.save(gabor.fit(images, sizes=(4, 8), components=5), tmp_path / "g.h5")
    with pytest.raises(ValueError, match="the model takes \\(3, 64, 64\\) \\(a noise size of 16 resizes"):
        sources.make({"kind": "gabor"}, (3, 64, 64), tmp_path / "g.h5")
    with pytest.raises(ValueError, match="the noise size 32 asks for \\(3, 32, 32\\)"):
        sources.make({"kind": "gabor", "size": 32}, (3, 64, 64), tmp_path / "g.h5")
    assert sources.make({"kind": "gabor", "size": 16}, (3, 64, 64), tmp_path / "g.h5").input_shape == (3, 64, 64)


# --------------------------------------------------------------------------- table 1


def test_table1_rows_sit_beside_the_papers(tmp_path):
    result = {
        "n": 1_000_000,
        "images": 50_000,
        "classes": 1000,
        "accuracy": 0.0021,
        "chance": 0.001,
        "centered_accuracy": 0.0015,
        "run_time_s": 3725.4,
        "device": "cuda:0",
        "empty_classes": 601,
        "noise": {"kind": "gabor", "shape": [3, 32, 32], "input_shape": [3, 224, 224]},
    }
    (tmp_path / "a.json").write_text(json.dumps(result))
    other = {
        **result,
        "noise": {"kind": "gabor", "shape": [3, 32, 32]},
        "run_time_s": 59.6,
        "empty_classes": 7,
        "accuracy": 0.0123,
    }
    (tmp_path / "b.json").write_text(json.dumps(other))
    rows = tables.imagenet_rows(
        {"vgg": ("vgg19_bn", "DEFAULT", tmp_path / "a.json"), "res": ("resnet152", "none", tmp_path / "b.json")}
    )
    assert [r["backbone"] for r in rows] == ["resnet152", "vgg19_bn"]  # the paper's order
    assert rows[0]["paper_accuracy"] is None  # random weights: nothing to compare with
    # each row carries its own evaluation's numbers, whatever the paper has
    for row, own in zip(rows, (other, result), strict=True):
        for key in (
            "n",
            "images",
            "classes",
            "accuracy",
            "chance",
            "centered_accuracy",
            "run_time_s",
            "device",
            "empty_classes",
        ):
            assert row[key] == own[key], key
    assert [r["noise"] for r in rows] == ["gabor 32x32", "gabor 32x32 -> 224x224"]
    tables.write_imagenet(rows, tmp_path / "t.md", tmp_path / "t.csv")
    md = (tmp_path / "t.md").read_text()
    assert (
        "| vgg19_bn | DEFAULT | gabor 32x32 -> 224x224 | 1,000,000 | 0.00210 | 0.00100 | 0.00150 | 62:05 | "
        "cuda:0 | 601 of 1000 | 0.00074 | 1:51 | 994 |"
    ) in md
    assert (
        "| resnet152 | none | gabor 32x32 | 1,000,000 | 0.01230 | 0.00100 | 0.00150 | 1:00 | cuda:0 | 7 of 1000 | — | — | — |"
        in md
    )
    assert (tmp_path / "t.csv").read_text().startswith("backbone,weights,experiment,noise")


def test_config_keys(tmp_path):
    from revcor.base.config import ConfigError, validate

    config = validate(
        {
            "datasets": {"imagenet": {"root": "/val"}},
            "models": {"imagenet": {"r": {"arch": "resnet152", "input_size": 32}}},
        },
        SCHEMA,
    )
    assert config["datasets"]["imagenet"] == {"root": "/val", "source": "folder", "size": 224}
    with pytest.raises(ConfigError, match="unknown key 'size'"):
        validate({"datasets": {"mnist": {"size": 32}}}, SCHEMA)
    with pytest.raises(ConfigError, match="'root' is a required property"):
        validate({"datasets": {"imagenet": {}}}, SCHEMA)
