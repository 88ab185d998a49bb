"""Table 1 end to end on a tiny synthetic ImageNet-style validation folder: the folder as a
dataset -> torchvision backbones with random weights (no training) -> CIFAR-10 Gabor-PCA noise
at 32x32, resized to the backbone's input or fed as it is -> bias maps -> Table 1."""

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from helpers import QUICK_NULLS, snakemake, write_config
from PIL import Image

from revcor.core import engine, evaluate
from revcor.data import datasets
from revcor.models import architectures, loading
from revcor.noise import sources

pytestmark = pytest.mark.workflow  # runs Snakemake or a whole analysis: not in the fast lane

WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361")
PER_CLASS = 5


def write_val(folder: Path, seed: int = 0) -> list[Path]:
    """val/<wnid>/*.JPEG (and one PNG, one greyscale JPEG) of different sizes, a colour per class."""
    rng = np.random.default_rng(seed)
    paths = []
    for c, wnid in enumerate(WNIDS):
        (folder / wnid).mkdir(parents=True)
        for i in range(PER_CLASS):
            h, w = rng.integers(60, 140, size=2)
            colour = np.array([60 * c, 255 - 60 * c, 40 + 50 * i])
            pixels = (colour + rng.normal(0, 20, (h, w, 3))).clip(0, 255).astype(np.uint8)
            image = Image.fromarray(pixels)
            if i == 0:
                path = folder / wnid / f"ILSVRC2012_val_{c}{i}.png"
                image.save(path)
            else:
                path = folder / wnid / f"ILSVRC2012_val_{c}{i}.JPEG"
                (image.convert("L") if i == 1 else image).save(path, quality=90)
            paths.append(path)
    return paths


GABOR = {"kind": "gabor", "dataset": "cifar10"}
CONFIG = {
    "progress": False,
    "threads": 1,
    "statistics": QUICK_NULLS,
    "generators": {"gabor": {"components": 20}},
    "engine": {"chunk_size": 500, "batch_size": 250},
    "models": {
        "imagenet": {
            "squeeze": {"arch": "squeezenet1_1", "weights": "none", "evaluate": True},  # input 64: the dataset's size
            "goog": {"arch": "googlenet", "weights": "none", "input_size": 32},  # the paper: 32x32 input
        }
    },
    "experiments": {
        "in-squeeze": {
            "model": "imagenet/squeeze",
            "n": 1500,
            "jobs": 2,
            "checkpoints": [500],
            "noise": {**GABOR, "size": 32},
        },  # 32 -> 64
        "in-goog": {"model": "imagenet/goog", "n": 1000, "checkpoints": [], "noise": GABOR},
        "in-squeeze-white": {"model": "imagenet/squeeze", "n": 1000, "checkpoints": []},  # 64x64 directly
    },
}


@pytest.fixture(scope="module")
def run(tmp_path_factory, cifar_source):
    workdir = tmp_path_factory.mktemp("imagenet")
    write_val(workdir / "val")
    config = dict(
        CONFIG,
        datasets={
            "cifar10": {"source": "folder", "root": str(cifar_source)},
            "imagenet": {"root": str(workdir / "val"), "size": 64},
        },
    )
    write_config(workdir, config)
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_validation_folder_becomes_the_test_split(run):
    path = run / "data/imagenet.h5"
    val = datasets.load(path, "test")
    assert val.images.shape == (len(WNIDS) * PER_CLASS, 3, 64, 64) and val.images.dtype == np.uint8
    assert val.classes == list(WNIDS)
    assert (val.labels == np.repeat(np.arange(len(WNIDS)), PER_CLASS)).all()
    # the class colour survives the resize and crop (red channel 60 * class)
    red = val.images[:, 0].mean((1, 2)).reshape(len(WNIDS), PER_CLASS)
    assert np.allclose(red[:, 2:], 60 * np.arange(len(WNIDS))[:, None], atol=10)  # class 0: noise clipped at 0
    with h5py.File(path) as f:
        files = [p.decode() for p in f["test/files"][()]]
        digests = [d.decode() for d in f["test/sha256"][()]]
        assert json.loads(f.attrs["subset"]) if isinstance(f.attrs["subset"], str) else f.attrs["subset"]
        assert "train" not in f
    assert files[0] == f"{WNIDS[0]}/ILSVRC2012_val_00.png"
    assert digests[0] == hashlib.sha256((run / "val" / files[0]).read_bytes()).hexdigest()
    provenance = (run / "results/tables/provenance.csv").read_text()
    assert "imagenet,folder,True" in provenance and "A SUBSET" in provenance


def test_backbones_are_built_not_trained(run):
    metrics = json.loads((run / "results/models/imagenet/squeeze.json").read_text())
    assert metrics["weights"] is None and metrics["in_shape"] == [3, 64, 64]
    assert metrics["test"]["n"] == len(WNIDS) * PER_CLASS and "train_loss" not in metrics
    goog = loading.load(run / "results/models/imagenet/goog.pt")
    assert goog.in_shape == (3, 32, 32) and goog.meta["classes"] == list(WNIDS)
    assert isinstance(goog.module, architectures.Backbone) and goog.module.net.aux1 is None
    assert loading.check_fits(goog.module, (3, 32, 32), len(WNIDS)) == len(WNIDS)


def test_noise_is_drawn_at_32_and_resized_for_the_model(run):
    part = run / "results/responses/in-squeeze/part0.h5"
    with h5py.File(part) as f:
        logits, seed = f["logits"][:20], int(f.attrs["seed"])
        n, size = int(f.attrs["n"]), int(f.attrs["chunk_size"])
        described = json.loads(f.attrs["noise"])
        assert f.attrs["wall_time_s"] > 0 and "stimuli" not in f  # noise is a seed
    assert described["shape"] == [3, 32, 32] and described["input_shape"] == [3, 64, 64]
    # what the model saw: the noise regenerated from its key, resized to 64x64
    src = sources.make({"kind": "gabor", "size": 32}, (3, 64, 64), run / described["generator"])
    stimuli = engine.draw(src, seed, 0, n, size, torch.device("cpu"))[0][:20]
    assert stimuli.shape == (20, 3, 32, 32)
    model = loading.load(str(run / "results/models/imagenet/squeeze.pt")).module
    x = torch.nn.functional.interpolate(stimuli.float() / 255, size=(64, 64), mode="bilinear", align_corners=False)
    with torch.no_grad():
        assert torch.allclose(model(x), torch.from_numpy(logits), atol=1e-4)
    for name, shape in (("in-goog", [3, 32, 32]), ("in-squeeze-white", [3, 64, 64])):
        with h5py.File(run / f"results/responses/{name}/part0.h5") as f:
            noise = json.loads(f.attrs["noise"])
        assert noise["shape"] == shape and "input_shape" not in noise


def test_maps_stay_at_the_noise_size(run):
    with h5py.File(run / "results/maps/in-squeeze.h5") as f:
        assert f["maps"].shape == (len(WNIDS), 3, 32, 32) and f["counts"][()].sum() == 1500
        assert f["checkpoints/500/counts"][()].sum() == 500
        fed = f["feedback"][()]  # the 32x32 maps, resized to the 64x64 input as the noise was
        final = f["maps"][()]
        assert len(fed) == len(WNIDS) and (fed >= 0).any()
    with h5py.File(run / "results/maps/in-squeeze-white.h5") as f:
        assert f["maps"].shape == (len(WNIDS), 3, 64, 64)
    # the feedback is the model's label of each map resized to its input (-1: an empty class)
    drawn = np.isfinite(final).reshape(len(WNIDS), -1).all(1)
    model = loading.load(str(run / "results/models/imagenet/squeeze.pt")).module
    x = torch.nn.functional.interpolate(
        torch.from_numpy(final[drawn]).float(), size=(64, 64), mode="bilinear", align_corners=False
    )
    with torch.no_grad():
        labels = model(x).argmax(1).numpy()
    expected = np.full(len(WNIDS), -1)
    expected[drawn] = labels
    np.testing.assert_array_equal(fed, expected)


def test_table1(run):
    r = run / "results"
    result = json.loads((r / "imagenet/in-squeeze.json").read_text())
    with h5py.File(r / "maps/in-squeeze.h5") as f:
        counts = f["counts"][()]
    parts = []
    for i in range(2):
        with h5py.File(r / f"responses/in-squeeze/part{i}.h5") as f:
            parts.append(f.attrs["wall_time_s"])
    assert result["images"] == len(WNIDS) * PER_CLASS and result["chance"] == 1 / len(WNIDS)
    assert result["empty_classes"] == int((counts == 0).sum())
    assert result["run_time_s"] == pytest.approx(sum(parts)) and result["parts"] == 2
    assert set(result["by_n"]) == {"500", "1500"} and result["map_shape"] == [3, 32, 32]
    # the template classifier of the final maps on the validation images resized to 32x32
    val = datasets.load(run / "data/imagenet.h5", "test")
    small = (
        torch.nn.functional.interpolate(
            torch.from_numpy(val.images).float() / 255, size=(32, 32), mode="bilinear", antialias=True
        )
        .double()
        .numpy()
    )
    with h5py.File(r / "maps/in-squeeze.h5") as f:
        expected = evaluate.template_accuracy(f["maps"][()], small, val.labels)["accuracy"]
    assert result["accuracy"] == pytest.approx(expected)
    table = (r / "tables/imagenet.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| squeezenet1_1") or line.startswith("| googlenet")]
    assert len(rows) == 3
    assert "gabor 32x32 -> 64x64" in table and "gabor 32x32 |" in table and "white 64x64" in table
    assert "| 1,500 |" in table and "of 4 |" in table
    assert table.index("| squeezenet1_1") < table.index("| googlenet")  # the paper's order
    # ImageNet experiments make Table 1, not the template table, z-maps or evaluation/{exp}.json
    assert not (r / "tables/template_accuracy.md").exists() and not (r / "evaluation/in-squeeze.json").exists()
    assert not (r / "figures/zmaps").exists()
