"""The Snakemake workflow end to end on a tiny config, and its incremental reruns."""

import csv
import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from helpers import (
    TINY,
    assert_png_shows,
    auroc_by_hand,
    blues,
    copy_files,
    deep_copy,
    figure_inputs,
    figure_pngs,
    greys,
    image_axes,
    mtimes,
    reds,
    snakemake,
    template_accuracy_by_hand,
    write_config,
)

from revcor.analyses.microstim import target_hits
from revcor.core import maps
from revcor.data import datasets
from revcor.models import loading
from revcor.noise.sources import WhiteNoise
from revcor.report import tables

pytestmark = pytest.mark.workflow  # runs Snakemake or a whole analysis: not in the fast lane


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def finite(stack: np.ndarray) -> list[np.ndarray]:
    """The single-channel maps the figures draw in colour: those of classes with samples, unless 0 everywhere."""
    return [m[0] for m in stack if np.isfinite(m).all() and np.abs(m).max() > 0]


def colour_maps(fig) -> list[np.ndarray]:
    """The arrays of the images drawn on the red-blue scale of the maps, in drawing order."""
    return [ax.images[0].get_array() for ax in image_axes(fig) if ax.images[0].get_cmap().name == "RdBu_r"]


def test_workflow_makes_every_artifact(run):
    r = run / "results"
    for path in [
        "models/mnist-5k/cnn.pt",
        "models/mnist-5k-1v7/cnn.json",
        "maps/cnn.h5",
        "maps/b17.h5",
        "evaluation/cnn.json",
        "evaluation/mnist-5k/baselines.json",
        "tables/template_accuracy.md",
        "stats/cnn/part2.h5",
    ]:
        assert (r / path).is_file(), path
    metrics = json.loads((r / "models/mnist-5k/cnn.json").read_text())
    assert metrics["test"]["accuracy"] > 0.5 and metrics["dataset"]["subset"] is True
    with h5py.File(r / "maps/cnn.h5") as f:
        assert f["counts"][()].sum() == 6000
        assert f["maps"].shape == (10, 1, 28, 28) and f["zmaps"].shape == (10, 1, 28, 28)
        assert f["checkpoints/1000/counts"][()].sum() == 1000
    with h5py.File(r / "maps/b17.h5") as f:
        assert f["eq1"].shape == (2, 1, 28, 28) and f["counts"][()].sum() == 3000
    assert not list(run.rglob("*.tmp")), "temporary files left behind"


def test_template_accuracy_is_the_template_classifier_of_the_maps(run):
    """The accuracies of evaluation/ and of the table, against the template classifier computed
    here from the maps and the test images, and the mean images from the training images."""
    r = run / "results"
    train, test = (datasets.load(run / "data/mnist-5k.h5", split) for split in ("train", "test"))
    table = (r / "tables/template_accuracy.md").read_text()
    for exp, what in (
        ("cnn", "cnn bias maps"),
        ("logreg", "logreg bias maps"),
        ("gabor", "cnn bias maps, gabor noise"),
    ):
        with h5py.File(r / f"maps/{exp}.h5") as f:
            bias, centred, n = f["maps"][()], f["maps_centered"][()], int(f.attrs["n"])
            whitened = f["whitened_maps"][()] if "whitened_maps" in f else None  # structured noise only
        result = json.loads((r / f"evaluation/{exp}.json").read_text())["final"]
        accuracy = template_accuracy_by_hand(bias, test.images, test.labels)
        centred_accuracy = template_accuracy_by_hand(centred, test.images, test.labels)
        assert result["bias_maps"]["accuracy"] == pytest.approx(accuracy, abs=1e-12), exp
        assert result["centered_maps"]["accuracy"] == pytest.approx(centred_accuracy, abs=1e-12), exp
        whitened_cell = "—"
        if whitened is not None:
            whitened_accuracy = template_accuracy_by_hand(whitened, test.images, test.labels)
            assert result["whitened_maps"]["accuracy"] == pytest.approx(whitened_accuracy, abs=1e-12), exp
            whitened_cell = pct(whitened_accuracy)
        empty = int((~np.isfinite(bias.reshape(10, -1)).all(1)).sum())
        row = f"| mnist-5k | {what} | {n:,} | {pct(accuracy)} | {pct(centred_accuracy)} | {whitened_cell} | {empty} |"
        assert row in table, (row, table)
    means = np.stack([train.images[train.labels == k].mean(0) for k in range(10)])  # 0..255: scale is irrelevant
    accuracy = template_accuracy_by_hand(means, test.images, test.labels)
    baselines = json.loads((r / "evaluation/mnist-5k/baselines.json").read_text())
    assert baselines["mean_images"]["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert f"| mnist-5k | mean images | — | {pct(accuracy)} | — | — | 0 | — | — |" in table


def test_auto_n_stops_when_the_maps_are_reliable_and_is_exact(run):
    r = run / "results"
    rounds = [json.loads(p.read_text()) for p in sorted((r / "auto/gabor").glob("round*.json"))]
    last = rounds[-1]
    assert last["done"] and last["met"] and all(not d["done"] for d in rounds[:-1])
    assert [d["n"] for d in rounds] == [1000 * 2**i for i in range(len(rounds))] and last["n"] <= 16000
    with h5py.File(r / "maps/gabor.h5") as f:
        assert int(f.attrs["n"]) == last["n"] == f["counts"][()].sum()  # the n reached, far below max_n 1e6
        judged = f["counts"][()] >= 300
        assert judged.any() and (f["reliability"][()][judged] >= 0.9).all()
    # white noise does not reach 0.99: three rounds to max_n, and exactly the fixed-n run's chunks
    rounds = [json.loads(p.read_text()) for p in sorted((r / "auto/cnn-auto").glob("round*.json"))]
    assert [(d["n"], d["done"], d["met"]) for d in rounds] == [
        (1000, False, False),
        (2000, False, False),
        (3000, True, False),
    ]
    with h5py.File(r / "maps/cnn-auto.h5") as auto, h5py.File(r / "maps/cnn.h5") as fixed:
        assert int(auto.attrs["n"]) == 3000
        for key in ("maps", "counts", "zmaps", "reliability"):
            np.testing.assert_array_equal(auto[key][()], fixed[f"checkpoints/3000/{key}"][()])


def test_every_noise_map_has_its_statistics(run):
    """Significant pixels, InfoVal, reliability and whitened maps in every plain maps file,
    from null maps shared by the experiments with the same noise; the comparison of two."""
    r = run / "results"
    assert sorted(str(p.relative_to(r / "nulls")) for p in (r / "nulls").rglob("*.h5")) == [
        "mnist-5k-1v7/white.h5",  # the signal+noise experiment b17
        "mnist-5k-bd-x0to1/white.h5",
        "mnist-5k/gabor.h5",
        "mnist-5k/vae.h5",
        "mnist-5k/white.h5",
    ]
    with h5py.File(r / "nulls/mnist-5k/white.h5") as f:
        white_key = json.loads(f.attrs["noise_key"])
        assert f["maps"].shape == (200, 784) and "covariance" not in f  # white noise: nothing to whiten
    with h5py.File(r / "nulls/mnist-5k/gabor.h5") as f:
        assert f["covariance"].shape == (784, 784)
    table = (r / "tables/template_accuracy.md").read_text()
    for exp, method in (("cnn", "pixel"), ("logreg", "pixel"), ("gabor", "cluster"), ("vae", "cluster")):
        with h5py.File(r / f"maps/{exp}.h5") as f:
            tested = json.loads(f.attrs["significance"])
            assert tested["method"] == method and tested["alpha"] == 0.05 and tested["replicates"] == 200
            assert tested["null"]["maps"] == 200 and tested["null"]["draws"] == 32
            counts, infoval, reliability = f["counts"][()], f["infoval"][()], f["reliability"][()]
            assert f["significant"].shape == f["zmaps"].shape
            assert ("whitened_maps" in f) == (method == "cluster")  # structured noise only
            judged = (counts >= tested["min_count"]) & (counts < counts.sum())  # enough samples, and a rest
            assert (np.isfinite(infoval) == judged).all() and not f["significant"][()][~judged].any()
            assert f["checkpoints/1000/significant"].shape == f["significant"].shape
            if method == "pixel":  # any |z| beyond the threshold is significant, and only those
                z = np.nan_to_num(f["zmaps"][()])
                beyond = (np.abs(z) > tested["threshold"]) & judged[:, None, None, None]
                np.testing.assert_array_equal(f["significant"][()], beyond)
        if exp == "cnn":
            assert tested["null"]["noise_key"] == white_key
        by_n = json.loads((r / f"evaluation/{exp}.json").read_text())["by_n"]
        assert by_n[str(counts.sum())]["reliability"] == [None if np.isnan(v) else v for v in reliability]
        shown = [v for v in reliability if np.isfinite(v)]
        median = f"{np.median(shown):.2f}" if shown else "—"
        row = next(line for line in table.splitlines() if f"| {counts.sum():,} |" in line and exp.split("-")[0] in line)
        assert f"| {median} |" in row, (row, median)
    with h5py.File(r / "maps/detect-mnist-5k-cnn_r100.h5") as f:
        assert json.loads(f.attrs["significance"])["null"]["noise_key"] == white_key  # one null, many models
    with h5py.File(r / "maps/b17.h5") as f:  # signal+noise: Eq. 1 and c_corr maps per gamma, one family each
        tested = json.loads(f.attrs["significance"])
        assert set(tested) == {"eq1", "ccorr"} and tested["eq1"]["method"] == "pixel"
        cells = f["counts"][()]
        for key in ("eq1", "ccorr"):
            z = f[f"zmaps_{key}"][()]
            assert z.shape == f["significant_" + key].shape == (2, 1, 28, 28) and f["infoval_" + key].shape == (2,)
            beyond = np.abs(np.nan_to_num(z)) > tested[key]["threshold"]
            judged = (cells.reshape(2, 4) if key == "eq1" else cells.sum(1)).min(1) >= tested[key]["min_count"]
            np.testing.assert_array_equal(f["significant_" + key][()], beyond & judged[:, None, None, None])
        # a gamma with an empty cell (TINY's one-epoch CNN may answer 7 to everything) has no map to test;
        # the standard errors themselves are calibrated in tests/test_significance.py
        for key, c in (("eq1", cells.reshape(2, 4)), ("ccorr", cells.sum(1))):
            undefined = np.isnan(f[f"zmaps_{key}"][()]).reshape(2, -1).all(1)
            np.testing.assert_array_equal(undefined, (c == 0).any(1))
            assert (
                not f[f"significant_{key}"][()][undefined].any() and np.isnan(f[f"infoval_{key}"][()][undefined]).all()
            )
    with h5py.File(r / "comparisons/gabor-vae.h5") as f:
        assert f["zmaps"].shape == f["significant"].shape == (10, 1, 28, 28)
        assert json.loads(f.attrs["significance"])["method"] == "cluster"


def test_structured_noise_experiments(run, redraw):
    r = run / "results"
    with h5py.File(r / "generators/mnist-5k/gabor.h5") as f:
        assert f["projection"].shape == (1, 250, 784) and 0.9 < f["explained"][0] < 1
        explained = f["explained"][0]
    with h5py.File(r / "responses/vae/part0.h5") as f:
        assert json.loads(f.attrs["noise"])["kind"] == "vae" and "generator_sha256" in f.attrs
    table = (r / "tables/noise_comparison.md").read_text()
    assert all(f"{label}: accuracy" in table for label in ("white", "Gabor-PCA", "VAE"))
    assert "| 1,000 |" in table and "cnn bias maps, gabor noise" in (r / "tables/template_accuracy.md").read_text()
    # Fig. 5: the Gabor experiment's maps, noise samples and the generator's numbers
    fig = redraw(run, TINY, "gabor_noise")
    with h5py.File(r / "maps/gabor.h5") as f:
        expected = finite(f["maps_centered"][()])
    for m, e in zip(colour_maps(fig), expected, strict=True):
        np.testing.assert_array_equal(m, e)
    info = [t.get_text() for ax in fig.get_axes() for t in ax.texts if "Gabor wavelets" in t.get_text()]
    assert info == [f"960 Gabor wavelets\n250 PCA components\nvariance explained:\n{explained:.1%}"]
    # the noise comparison: its accuracy curves are the evaluations at each checkpoint
    fig = redraw(run, TINY, "noise_comparison")
    acc_ax = fig.get_axes()[1]
    curves = {ln.get_label(): ln for ln in acc_ax.get_lines()}
    for exp, label in (("cnn", "white"), ("gabor", "Gabor-PCA"), ("vae", "VAE")):
        by_n = json.loads((r / f"evaluation/{exp}.json").read_text())["by_n"]
        line = curves[label]
        expected = [
            100 * by_n[str(int(n))]["bias_maps"]["accuracy"] if str(int(n)) in by_n else np.nan
            for n in line.get_xdata()
        ]
        np.testing.assert_allclose(line.get_ydata(), expected)
        assert f"| {int(line.get_xdata()[0]):,} |" in table


def test_attack_and_backdoor_artifacts(run, redraw):
    r = run / "results"
    attack = json.loads((r / "attacks/gabor.json").read_text())
    assert set(attack["mean"]) == {"noise + bias", "digit + bias", "noise + mean", "digit + mean"}
    assert attack["mean"]["digit + mean"][0] == pytest.approx(0.1, abs=0.1)  # gamma = 0: the test set's labels
    # gamma = 0: each digit gets one label, so the rates over the 10 mean images sum to 1
    assert attack["mean"]["digit + mean"][0] == pytest.approx(0.1, abs=1e-12)
    # and the rate of class k is the fraction of test digits the model calls k (its confusion matrix)
    metrics = json.loads((r / "models/mnist-5k/cnn.json").read_text())
    called = np.asarray(metrics["test"]["confusion"]).sum(0) / metrics["test"]["n"]
    with h5py.File(r / "attacks/gabor.h5") as f:
        np.testing.assert_allclose(f["rates/digit + mean"][0], called, atol=1e-12)
        gammas = json.loads(f.attrs["gammas"]) if isinstance(f.attrs["gammas"], str) else list(f.attrs["gammas"])
        at_one = f["rates/digit + mean"][gammas.index(1.0)]
    # gamma = 1: the stimulus is the mean image itself, so the rate is 1 where the model calls it its class
    with h5py.File(r / "baselines/mnist-5k.h5") as f:
        mean_images = torch.from_numpy(f["mean_images"][()]).float()
    model = loading.load(str(r / "models/mnist-5k/cnn.pt")).module
    with torch.no_grad():
        labels = model(mean_images).argmax(1).numpy()
    np.testing.assert_array_equal(at_one, (labels == np.arange(10)).astype(float))
    row = (
        f"| noise + bias | {attack['model']} | bias maps of gabor | {attack['classes_with_template']['bias']} | "
        + " | ".join(f"{v:.3f}" for v in attack["mean"]["noise + bias"])
        + " |"
    )
    assert row in (r / "tables/attack.md").read_text()

    metrics = json.loads((r / "models/mnist-5k-bd-x0to1/cnn_s0.json").read_text())
    assert metrics["test_patched"]["n"] == metrics["test"]["n"] == 1000
    detection = json.loads((r / "backdoors/x0to1/detection.json").read_text())
    assert [(m["role"], m["model"]) for m in detection["models"]] == [
        ("poisoned", "mnist-5k-bd-x0to1/cnn_s0"),
        ("clean", "mnist-5k/cnn"),  # seed 0 is the clean model's own: no second training
    ]
    scores = {role: [m["score"] for m in detection["models"] if m["role"] == role] for role in ("poisoned", "clean")}
    assert detection["auroc"] == pytest.approx(auroc_by_hand(scores["poisoned"], scores["clean"]))
    paper = {role: [m["paper"]["score"] for m in detection["models"] if m["role"] == role] for role in scores}
    assert detection["paper_auroc"] == pytest.approx(auroc_by_hand(paper["poisoned"], paper["clean"]))
    assert detection["references"] == 3
    for m in detection["models"]:  # every model gets a calibrated verdict, its p-value and a location
        assert m["verdict"] == ("suspect" if m["p_value"] < detection["alpha"] else "clean")
        assert m["score"] == pytest.approx(-np.log10(m["p_value"]))
        assert m["location"]["box"] is not None and m["causal"]["images"] > 0
    table = (r / "tables/backdoor_detection.md").read_text()
    assert "x0to1 (mnist-5k, 0→1)" in table and f"{detection['models'][0]['p_value']:.2g}" in table
    assert f"| x0to1 | {detection['paper_auroc']:.3f} |" in table  # the paper's AUROC row stays
    # detection runs stay out of the summaries
    assert "detect-" not in (r / "tables/template_accuracy.md").read_text()
    assert not list((r / "figures/zmaps").glob("detect-*"))
    # the detection figure shows these p-values and this AUROC
    (ax,) = redraw(run, TINY, "backdoor_detection").get_axes()
    assert (
        f"AUROC {detection['auroc']:.2f} (paper's score {detection['paper_auroc']:.2f}); 3 references" in ax.get_title()
    )
    shown = sorted(y for c in ax.collections[::2] for y in c.get_offsets()[:, 1])
    assert shown == pytest.approx(sorted(scores["poisoned"] + scores["clean"]))
    # Fig. 7: the bias maps of a clean and of a poisoned model, then the detector's excess
    _, inputs, _ = figure_inputs(run, TINY, "backdoor/x0to1")
    expected = []
    for role in ("clean", "poisoned"):
        with h5py.File(inputs[f"{role}_maps"]) as f:
            expected += finite(f["maps_centered"][()])
    # (an excess map is blank when that model gave all noise one class: it has no z-map)
    scored = [role for role in ("clean", "poisoned") if np.isfinite(detection["excess"][role]).any()]
    fig = redraw(run, TINY, "backdoor/x0to1")
    shown = colour_maps(fig)
    assert len(shown) == len(expected) + len(scored)
    for m, e in zip(shown, expected, strict=False):
        np.testing.assert_array_equal(m, e)
    for m, role in zip(shown[len(expected) :], scored, strict=True):
        np.testing.assert_array_equal(m, detection["excess"][role])
    for found in detection["models"]:  # a model without z-maps scores 0 and points nowhere
        assert (found["paper"]["class"] == -1) == (found["paper"]["score"] == 0.0)


def test_single_unit_artifacts(run, redraw):
    r = run / "results"
    with h5py.File(r / "units/units.h5") as f:
        assert f["sta/conv1/sta"].shape == (20, 1, 5, 5) and f["sta/conv2/sta"].shape == (50, 1, 14, 14)
        assert f["sta/fc1/sta"].shape == (500, 1, 28, 28)
        assert json.loads(f["sta/conv2"].attrs["rf"])["stride_y"] == 2
        # the first layer is linear in the noise: its STA is its kernel
        assert maps.similarity(f["sta/conv1/sta"][()], f["sta/conv1/kernel"][()]).min() > 0.9
        assert f["sta/conv1/stc/0/eigenvalues"].shape == (25,)
        assert f["activations/noise/fc1"].shape == (10, 500) and f["injection/input"].shape == (3, 10)
        sta, kernel = f["sta/conv1/sta"][()], f["sta/conv1/kernel"][()]
        injection = {layer: f[f"injection/{layer}"][()] for layer in ("input", "fc1")}
    with h5py.File(r / "units/gabor-units.h5") as f:
        assert f["sta/conv1/whitened"].shape == (20, 1, 5, 5)
    # Fig. 8: every conv1 STA beside its kernel
    fig = redraw(run, TINY, "sta/units")
    shown = [ax.images[0].get_array() for ax in image_axes(fig)]
    for unit in range(20):
        assert any(np.array_equal(s, sta[unit, 0]) for s in shown[:40]), unit
        assert any(np.array_equal(s, kernel[unit, 0]) for s in shown[:40]), unit
    # Fig. 21: a curve per class of the injection rates
    fig = redraw(run, TINY, "injection/units")
    panels = {ax.get_title(): ax for ax in fig.get_axes() if ax.get_lines()}
    assert set(panels) == {"input", "fc1"}
    for layer, rates in injection.items():
        for k, line in enumerate(panels[layer].get_lines()):
            np.testing.assert_array_equal(line.get_xdata(), [0.0, 0.5, 1.0])
            np.testing.assert_array_equal(line.get_ydata(), rates[:, k])


def test_microstimulation(run, redraw):
    r = run / "results"
    before = (r / "models/mnist-5k/cnn.pt").read_bytes()
    with h5py.File(r / "microstim/stim.h5") as f:
        assert f["hits"].shape == (2, 3, 2, 2, 4)  # signs, layers, ks, targets, gammas
        hits = f["hits"][()]
        assert (hits >= 0).all() and (hits <= 200).all()  # -1: not stimulated; here every curve was
        fits = json.loads(f.attrs["fits"])
        spec = json.loads(f.attrs["spec"])
        largest = f["largest_bias_change"][()]  # layers, ks, targets
    assert largest.shape == (3, 2, 2) and (largest[:, 0] == 0).all() and (largest[:, 1] > 0).all()
    # k = 0 is the unstimulated model: the same hits for every sign and layer, which are those
    # of the model on its white-noise signal+noise stimuli
    model = loading.load(str(r / "models/mnist-5k/cnn.pt")).module
    test = datasets.load(run / "data/mnist-5k.h5", "test")
    for t, target in enumerate((0, 8)):
        signals = datasets.to_tensor(test.images[test.labels == target])
        expected = target_hits(
            model, signals, WhiteNoise((1, 28, 28), storage="float32"), spec["gammas"], target, n=200, seed=spec["seed"]
        )
        assert (hits[:, :, 0, t] == expected).all(), (hits[:, :, 0, t], expected)
    assert (hits[:, :, 1] != hits[:, :, 0]).any()  # stimulation changes answers
    assert {"+1/fc1/2/8", "-1/conv1/0/0", "+1/conv1/0.02/0"} <= set(fits)
    assert "threshold" in fits["+1/conv1/0.02/0"]["ci"]
    assert fits["+1/fc1/2/8"]["ci"] == {}  # noise alone is already an 8: a flat curve, no intervals
    assert (r / "models/mnist-5k/cnn.pt").read_bytes() == before  # stimulation works on copies
    table = (r / "tables/microstim/stim.md").read_text()
    # target 8: noise alone is already an 8, no threshold
    assert re.search(r"\| raise \| fc1 \| 2 \| [0-9.e+-]+ \| 1 \|", table)
    assert "curve flattened" in table
    assert not (r / "figures/microstim_lowered/binary.png").exists()  # only raised biases asked for
    # Fig. 23: the points are the hit rates of the raised biases
    fig = redraw(run, TINY, "microstim_raised/stim")
    points = [ln.get_ydata() for ax in fig.get_axes() for ln in ax.get_lines() if ln.get_marker() not in (None, "None")]
    expected = [hits[0, li, ki, t] / 200 for li in range(3) for t in range(2) for ki in range(2)]
    assert len(points) == len(expected)
    for p in expected:
        assert any(np.allclose(p, q) for q in points)


def test_every_figure_is_drawn_from_its_artifacts(run, redraw):
    """Each PNG is not blank, has colour maps in red and blue or grey-level images, and is the
    figure that revcor.report.figures draws from the artifacts now."""
    rels = figure_pngs(run)
    for rel in (
        "cnn_logreg",
        "gabor_noise",
        "autoencoder_noise",
        "noise_comparison",
        "attack/gabor",
        "backdoor/x0to1",
        "backdoor/x0to1-gradients",
        "backdoor_detection",
        "sta/units",
        "sta/gabor-units",
        "activations/units",
        "injection/units",
        "stc/units",
        "microstim_raised/stim",
        "microstim_lowered/stim",
        "microstim_raised/binary",
        "zmaps/cnn",
        "sample_complexity/cnn",
        "whitened/gabor",
        "comparison/gabor-vae",
        "infoval/cnn",
    ):
        assert rel in rels, rel
    for rel in rels:
        img = assert_png_shows(run / f"results/figures/{rel}.png", redraw(run, TINY, rel), min_ink=0.02)
        kind = rel.split("/")[0]
        # maps on the red-blue scale (the VAE's noise all went to one class: its centred and
        # whitened maps are blank, as the figure says)
        if (
            kind in ("cnn_logreg", "gabor_noise", "backdoor", "sta", "zmaps", "stc", "comparison")
            or rel == "whitened/gabor"
        ):
            assert reds(img) > 0.002 and blues(img) > 0.002, rel
        if kind in ("gabor_noise", "autoencoder_noise", "attack"):
            assert greys(img) > 0.01, rel  # noise samples, stimuli


def test_report_has_captions_figures_and_provenance(run):
    result = snakemake(run, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (run / "report.html").read_text(errors="replace")
    assert "template classifier" in html.lower()  # table caption
    assert "classification images of binary CNNs" in html and "cnn_logreg.png" in html  # figures
    assert "provenance.csv" in html and "Provenance of every dataset" in html  # data provenance


def report_figures(report: Path) -> dict[str, tuple[int, int]]:
    """Open the report in headless Chromium as a reader would and show every figure of every
    subcategory: {"subcategory/row": (width, height) of the image shown}."""
    from playwright.sync_api import sync_playwright

    shown = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(report.as_uri())
        page.wait_for_selector("text=What this run analysed", timeout=30_000)
        page.get_by_text("Figures", exact=True).first.click()
        menu = page.locator("#app").inner_text().split("\n\n")[0].splitlines()  # the menu comes first
        for sub in menu[menu.index("Figures") + 1 :]:
            page.get_by_text(sub, exact=True).first.click()
            if page.get_by_text("PNG", exact=True).count():
                page.get_by_text("PNG", exact=True).first.click()
            rows = page.locator("table tbody tr")
            for i in range(rows.count()):
                if "PDF" in rows.nth(i).inner_text():  # the PDF twin of a figure shown as PNG
                    continue
                rows.nth(i).locator("a[iconname=eye]").click()
                img = page.locator("img[src^='data:image/png']").first
                img.wait_for(timeout=10_000)
                shown[f"{sub}/{' '.join(rows.nth(i).inner_text().split())}"] = tuple(
                    img.evaluate("e => [e.naturalWidth, e.naturalHeight]")
                )
            page.get_by_text("Figures", exact=True).first.click()
        browser.close()
    return shown


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_in_a_browser_opens_on_what_was_run_and_shows_every_figure(run):
    if CHROMIUM is None:
        pytest.skip("no Chromium (apt-get install chromium; .ci/run installs it)")
    result = snakemake(run, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    shown = report_figures(run / "report.html")
    assert len(shown) == len(figure_pngs(run)), (sorted(shown), figure_pngs(run))  # every figure of the run
    assert all(w > 300 and h > 100 for w, h in shown.values()), shown


def test_rerun_does_nothing_then_only_what_changed(run):
    before = mtimes(run)
    result = snakemake(run)
    assert result.returncode == 0, result.stderr[-3000:]
    assert mtimes(run) == before, "a second run rewrote artifacts"

    changed = deep_copy(TINY)
    changed["models"]["mnist-5k"]["logreg"]["epochs"] = 2
    write_config(run, changed)
    result = snakemake(run)
    assert result.returncode == 0, result.stderr[-3000:]
    after = mtimes(run)
    rerun = {k for k in before if after[k] != before[k]}
    assert "results/models/mnist-5k/logreg.pt" in rerun
    assert {
        "results/maps/logreg.h5",
        "results/evaluation/logreg.json",
        "results/evaluation/mnist-5k/baselines.json",
        "results/tables/template_accuracy.md",
    } <= rerun
    # cnn_logreg shows logreg maps; the attack reads the mean images stored with the baselines
    downstream = ("logreg", "baselines", "template_accuracy", "cnn_logreg.", "attack")
    untouched = [k for k in before if not any(d in k for d in downstream)]
    assert untouched and not rerun & set(untouched), sorted(rerun & set(untouched))


def test_parts_merge_to_the_single_job_maps(run, tmp_path):
    single = deep_copy(TINY)
    single["experiments"] = {"cnn": dict(TINY["experiments"]["cnn"], jobs=1)}
    single["attacks"], single["backdoors"] = {}, {}
    write_config(tmp_path, single)
    # reuse the trained model and dataset, so only the noise steps run
    copy_files(
        run, tmp_path, ("data/mnist-5k.h5", "results/models/mnist-5k/cnn.pt", "results/models/mnist-5k/cnn.json")
    )
    result = snakemake(tmp_path, "results/maps/cnn.h5")
    assert result.returncode == 0, result.stderr[-3000:]
    # the sufficient statistics and the maps (means) agree to 1e-12 relative
    with h5py.File(run / "results/stats/cnn.h5") as a, h5py.File(tmp_path / "results/stats/cnn.h5") as b:
        assert set(a) == set(b)
        for key in a:
            np.testing.assert_allclose(a[key][()], b[key][()], rtol=1e-12, atol=0)
    with h5py.File(run / "results/maps/cnn.h5") as a, h5py.File(tmp_path / "results/maps/cnn.h5") as b:
        np.testing.assert_array_equal(a["counts"][()], b["counts"][()])
        for key in ("maps", "weighted_maps", "thresholded_maps"):
            np.testing.assert_allclose(a[key][()], b[key][()], rtol=1e-12, atol=0)
        # z and correlation maps subtract nearly equal means: compare on the scale of the means
        for key in ("zmaps", "corr_maps", "maps_centered"):
            np.testing.assert_allclose(a[key][()], b[key][()], rtol=0, atol=1e-10)


def test_seed_spread_retrains_and_summarises_per_seed(run, tmp_path):
    """seeds: [0, 1]: the logistic regression and the 1-vs-7 CNN retrained with seed 1, their
    experiment, attack and microstimulation repeated, and every value of the spread table
    read back from those artifacts."""
    spread = deep_copy(TINY)
    spread |= {"seeds": [0, 1], "comparisons": {}, "backdoors": {}, "units": {}}
    spread["models"] = {
        "mnist-5k": {"logreg": TINY["models"]["mnist-5k"]["logreg"]},
        "mnist-5k-1v7": TINY["models"]["mnist-5k-1v7"],
    }
    spread["experiments"] = {"logreg": TINY["experiments"]["logreg"]}
    spread["attacks"] = dict(TINY["attacks"], experiments=["logreg"])
    spread["microstim"] = {"binary": TINY["microstim"]["binary"]}
    write_config(tmp_path, spread)
    copy_files(
        run,
        tmp_path,
        (
            "data/mnist-5k.h5",
            "data/mnist-5k-1v7.h5",
            "results/models/mnist-5k/logreg.pt",
            "results/models/mnist-5k/logreg.json",
            "results/models/mnist-5k-1v7/cnn.pt",
            "results/models/mnist-5k-1v7/cnn.json",
        ),
    )
    result = snakemake(tmp_path, "results/tables/seed_spread.md")
    assert result.returncode == 0, result.stderr[-3000:]
    r = tmp_path / "results"
    weights = [loading.load(r / f"models/mnist-5k/{m}.pt").module.state_dict() for m in ("logreg", "logreg_s1")]
    assert json.loads((r / "models/mnist-5k/logreg_s1.json").read_text())["seed"] == 1
    assert not all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # another seed, another model
    rows = list(csv.DictReader((r / "tables/seed_spread.csv").open()))
    value = {(row["analysis"], row["measure"], int(row["seed"])): row["value"] for row in rows}
    accuracies = []
    for seed, name in ((0, "logreg"), (1, "logreg_s1")):
        final = json.loads((r / f"evaluation/{name}.json").read_text())["final"]["bias_maps"]
        accuracies.append(final["accuracy"])
        key = "logreg (mnist-5k logreg bias maps)"
        assert float(value[(key, "accuracy", seed)]) == pytest.approx(final["accuracy"], abs=1e-12)
        assert int(value[(key, "empty classes", seed)]) == final["empty_classes"]
        attack = json.loads((r / f"attacks/{name}.json").read_text())
        for kind, rates in attack["mean"].items():
            for gamma, rate in zip(attack["gammas"], rates, strict=True):
                assert float(value[(f"logreg: {kind}", f"γ={gamma:g}", seed)]) == pytest.approx(rate, abs=1e-12)
        stim = "binary" if seed == 0 else "binary_s1"
        for row in tables.microstim_rows(r / f"microstim/{stim}.h5"):
            got = value[("binary", f"{row['direction']} {row['layer']} k={row['k']:g}", seed)]
            assert (got == "") == (row["mean_threshold_shift"] is None)
            assert got == "" or float(got) == pytest.approx(row["mean_threshold_shift"], abs=1e-12)
    md = (r / "tables/seed_spread.md").read_text()
    mean, sd = np.mean(accuracies), np.std(accuracies, ddof=1)
    assert f"| {100 * mean:.1f}% ± {100 * sd:.1f}% |" in md
    assert "| paper: noise + bias | 0.100 | 0.207 | 0.900 |" in md  # Table 2 at TINY's gammas 0, 0.5, 1
    assert "| logreg (mnist-5k logreg bias maps) | accuracy | 47.6% |" in md  # the paper's logreg beside ours
    assert not (r / "tables/microstim/binary_s1.md").exists() and not list(r.rglob("figures/*/*_s1.png"))


def test_bad_config_stops_before_any_rule(tmp_path):
    bad = deep_copy(TINY)
    bad["models"]["mnist-5k"]["cnn"]["epochz"] = 3
    write_config(tmp_path, bad)
    result = snakemake(tmp_path)
    assert result.returncode != 0
    assert "models.mnist-5k.cnn: unknown key 'epochz'" in result.stderr + result.stdout
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()
    # rule names in resources.rules are checked against the workflow's rules
    bad = deep_copy(TINY)
    bad["resources"] = {"rules": {"nosie": {"mem_mb": 100}}}
    write_config(tmp_path, bad)
    result = snakemake(tmp_path)
    assert result.returncode != 0
    assert re.search(
        r"resources\.rules names nosie, not one of: .*\bresponses, .*\bstats\b", result.stderr + result.stdout
    )
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()
