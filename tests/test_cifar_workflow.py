"""The CIFAR-10 pipeline end to end on small synthetic data in the real CIFAR-10 file format:
dataset from a local folder -> the paper's 6-conv CNN -> white and Gabor-PCA classification
images in colour -> template classifiers -> Fig. 3 and Fig. 5, and single units. (Backdoors
run end to end in the TINY workflow; their colour patches are tested in test_backdoor.py.)"""

import json

import h5py
import numpy as np
import pytest
from helpers import (
    CIFAR_TEST,
    QUICK_NULLS,
    assert_png_shows,
    colourful,
    figure_pngs,
    image_axes,
    snakemake,
    template_accuracy_by_hand,
    write_config,
)

from revcor.data import datasets

pytestmark = pytest.mark.workflow  # runs Snakemake or a whole analysis: not in the fast lane

CONFIG = {
    "progress": False,
    "threads": 1,
    "statistics": QUICK_NULLS,
    "training": {"epochs": 3, "batch_size": 64},
    "models": {"cifar10": {"cnn": {"arch": "cifar_cnn", "kwargs": {"activation": "tanh"}}}},
    "generators": {"gabor": {"components": 60}},
    "engine": {"chunk_size": 1000, "batch_size": 250, "store_stimuli": True},  # the stimuli are looked at below
    "experiments": {
        "cifar-cnn": {"model": "cifar10/cnn", "n": 2000, "checkpoints": [1000]},
        "cifar-gabor": {"model": "cifar10/cnn", "n": 2000, "checkpoints": [1000], "noise": {"kind": "gabor"}},
    },
    "units": {
        "cifar-units": {
            "model": "cifar10/cnn",
            "layers": ["conv1", "conv4"],
            "n": 1000,
            "activations": ["conv2", "conv6", "fc2"],
            "injection": {"layers": ["input", "conv2", "conv6"], "gammas": [0.0, 0.5, 1.0]},
        }
    },
}


@pytest.fixture(scope="module")
def config(cifar_source):
    return dict(CONFIG, datasets={"cifar10": {"source": "folder", "root": str(cifar_source)}})


@pytest.fixture(scope="module")
def run(tmp_path_factory, config):
    workdir = tmp_path_factory.mktemp("cifar")
    write_config(workdir, config)
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_cifar_model_trains_on_the_folder_data(run):
    metrics = json.loads((run / "results/models/cifar10/cnn.json").read_text())
    assert metrics["dataset"]["source"] == "folder"
    assert metrics["test"]["accuracy"] > 0.3  # chance is 0.1; the classes are easy


def test_gabor_generator_is_per_channel(run):
    with h5py.File(run / "results/generators/cifar10/gabor.h5") as f:
        assert f["projection"].shape == (3, 60, 1024)  # 600 by default; 60 for 600 images
        settings = json.loads(f.attrs["settings"])
        assert settings["wavelets"] == 1520 and settings["sizes"] == [3, 5, 9, 17]
        assert f["explained"].shape == (3,) and (f["explained"][()] > 0.5).all()


@pytest.mark.parametrize("exp", ["cifar-cnn", "cifar-gabor"])
def test_colour_maps_and_template_accuracy(run, exp):
    with h5py.File(run / f"results/maps/{exp}.h5") as f:
        assert f["maps"].shape == (10, 3, 32, 32) and f["counts"][()].sum() == 2000
        assert f["checkpoints/1000/counts"][()].sum() == 1000
        bias = f["maps"][()]
    result = json.loads((run / f"results/evaluation/{exp}.json").read_text())
    assert result["final"]["bias_maps"]["n"] == CIFAR_TEST
    # the template classifier of the colour maps, computed here on the test images
    test = datasets.load(run / "data/cifar10.h5", "test")
    accuracy = template_accuracy_by_hand(bias, test.images, test.labels)
    assert result["final"]["bias_maps"]["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    what = "cnn bias maps" + (", gabor noise" if exp == "cifar-gabor" else "")
    row = f"| cifar10 | {what} | 2,000 | {100 * accuracy:.1f}% |"
    assert row in (run / "results/tables/template_accuracy.md").read_text()


def test_gabor_noise_is_stored_in_colour_and_in_range(run):
    with h5py.File(run / "results/responses/cifar-gabor/part0.h5") as f:
        stimuli = f["stimuli"][:500]
        noise = json.loads(f.attrs["noise"])
    assert stimuli.shape == (500, 3, 32, 32) and stimuli.dtype == np.uint8
    assert noise["kind"] == "gabor" and noise["generator"].endswith("generators/cifar10/gabor.h5")
    # structured: neighbouring pixels are correlated, unlike white noise
    x = stimuli.astype(np.float64)
    r = np.corrcoef(x[..., :-1].ravel(), x[..., 1:].ravel())[0, 1]
    assert r > 0.3


def test_cifar_single_units(run):
    with h5py.File(run / "results/units/cifar-units.h5") as f:
        assert f["sta/conv1/sta"].shape == (32, 3, 3, 3) and f["sta/conv1/kernel"].shape == (32, 3, 3, 3)
        rf = json.loads(f["sta/conv4"].attrs["rf"])
        assert (rf["height"], rf["stride_y"]) == (14, 2)  # as the paper says: 3, 5, 14 (conv1, conv2, conv4)
        assert f["injection/conv6"].shape == (3, 10)


def test_cifar_figures(run, config, redraw):
    rels = figure_pngs(run)
    for rel in (
        "cifar10",
        "gabor_noise",
        "sta/cifar-units",
        "activations/cifar-units",
        "injection/cifar-units",
    ):
        assert rel in rels, rel
    for rel in rels:
        img = assert_png_shows(run / f"results/figures/{rel}.png", redraw(run, config, rel), min_ink=0.02)
        if rel.split("/")[0] in ("cifar10", "gabor_noise", "sta", "activations"):
            assert colourful(img) > 0.02, rel  # colour maps and images
    for fig in ("cifar10", "gabor_noise"):
        assert (run / f"results/figures/{fig}.pdf").stat().st_size > 10_000, fig
    # Fig. 3: mean training images, then the colour bias maps, min-max normalised per map
    fig = redraw(run, config, "cifar10")
    rgb = [ax.images[0].get_array() for ax in image_axes(fig) if ax.images[0].get_array().ndim == 3]
    with h5py.File(run / "results/maps/cifar-cnn.h5") as f:
        bias = f["maps_centered"][()]
    drawn = [k for k in range(10) if np.isfinite(bias[k]).all()]
    assert len(rgb) == 10 + len(drawn)
    for img, k in zip(rgb[10:], drawn, strict=True):
        m = np.moveaxis(bias[k], 0, -1)
        span = m.max() - m.min()  # 0 for a map equal to the mean of all noise
        np.testing.assert_allclose(img, (m - m.min()) / (span if span > 0 else 1.0), atol=1e-12)
