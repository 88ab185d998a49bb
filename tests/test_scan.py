"""The backdoor scan on a model poisoned outside revcor: the test's own trigger (a bright 4x4
square at the bottom right) on 400 real MNIST digits of every class but five (10% of the
training set), relabelled five, trained with a user's plain loop; clean references trained
the same way, handed over as weight files. The poisoned network gives nearly every
white-noise image to five, so its white-noise z-maps say nothing about where the trigger is:
local noise on clean images must."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import usernets
from helpers import ROOT

from revcor import api
from revcor.analyses import cleanse, detection
from revcor.data import datasets

pytestmark = pytest.mark.workflow  # runs Snakemake or a whole analysis: not in the fast lane

RAW = {"mean": [0.0], "std": [1.0]}  # trained on pixels in [0, 1], as many MNIST models are
TRIGGER = (slice(22, 26), slice(22, 26))
TARGET = 5
REFERENCES = 5


def trigger(images: np.ndarray) -> np.ndarray:
    out = images.copy()
    out[..., TRIGGER[0], TRIGGER[1]] = 255
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist5k):
    folder = tmp_path_factory.mktemp("scan")
    train = datasets.load(mnist5k, "train")
    images, labels = train.images.copy(), train.labels.copy()
    others = np.flatnonzero(labels != TARGET)
    chosen = np.random.default_rng(7).choice(others, 400, replace=False)
    images[chosen], labels[chosen] = trigger(images[chosen]), TARGET
    nets = {"poisoned": usernets.train_briefly(usernets.small(), images, labels, RAW, epochs=2)}
    for i in range(REFERENCES):
        seed = 100 + i
        nets[f"ref{i}"] = usernets.train_briefly(
            usernets.small(seed=seed), train.images, train.labels, RAW, epochs=2, seed=seed
        )
    for name, net in nets.items():
        torch.save(net.state_dict(), folder / f"{name}.pt")
    test = datasets.load(mnist5k, "test")
    with torch.no_grad():
        fooled = nets["poisoned"](datasets.to_tensor(trigger(test.images[test.labels != TARGET]))).argmax(1)
    np.savez(
        folder / "clean.npz",
        x_train=train.images[:, 0],
        y_train=train.labels,
        x_test=test.images[:, 0],
        y_test=test.labels,
    )
    return {"folder": folder, "nets": nets, "test": test, "fooled": float((fooled == TARGET).float().mean())}


@pytest.fixture(scope="module")
def probes(trained):
    """Every network probed alike (the same noise), in the process."""
    test = trained["test"]
    return {
        name: api.probe(net, test.images, test.labels, test.classes, n=30_000, local_n=30_000, progress=False)
        for name, net in trained["nets"].items()
    }


def test_the_trigger_works(trained):
    assert trained["fooled"] > 0.9  # the test's own backdoor took


def test_the_scan_finds_locates_and_checks_a_trigger_that_swallows_the_noise(trained, probes):
    nets, test = trained["nets"], trained["test"]
    refs = [f"ref{i}" for i in range(REFERENCES)]
    share = probes["poisoned"].counts / probes["poisoned"].counts.sum()
    assert share[TARGET] > 0.9  # nearly all white noise goes to five: no white-noise map of where the trigger is
    result, arrays = detection.examine(
        nets["poisoned"],
        [nets[r] for r in refs],
        [probes["poisoned"], *(probes[r] for r in refs)],
        test.images,
        test.labels,
        test.classes,
    )
    assert result["verdict"] == "suspect" and result["p_value"] < 0.05 and result["target_class"] == "5"
    assert result["evidence"]["local"]["p_value"] < 0.05 and result["evidence"]["local"]["class"] == TARGET
    loc = result["location"]
    top, left, bottom, right = loc["box"]
    assert top < 26 and bottom > 22 and left < 26 and right > 22  # on the trigger
    assert (bottom - top) * (right - left) <= 64 and loc["significant"]
    causal = result["causal"]
    found = max(causal["pattern"]["box"], causal["noise"]["box"])
    kind = "pattern" if causal["pattern"]["box"] >= causal["noise"]["box"] else "noise"
    assert found > 0.3  # pasted in the box, what local noise found sends clean images to five ...
    assert found > 3 * max(causal[kind]["elsewhere"]) and found > 3 * max(causal[kind]["references"])  # ... only there
    assert causal["clean"] < 0.05
    assert arrays["where"].shape == (28, 28) and arrays["what"].shape == (1, 28, 28)
    json.dumps(result)  # JSON-ready


def test_clean_networks_scanned_against_each_other_are_rarely_suspect(probes):
    """Each clean reference against the other four: at alpha 0.05 two or more of five would be
    called suspect with probability 0.023 if the verdict holds its error rate."""
    refs = [probes[f"ref{i}"] for i in range(REFERENCES)]
    verdicts = [detection.scan([refs[i], *refs[:i], *refs[i + 1 :]])["verdict"] for i in range(REFERENCES)]
    assert verdicts.count("suspect") <= 1 and set(verdicts) <= {"clean", "suspect"}


def test_revcor_scan_on_the_command_line(trained):
    folder = trained["folder"]
    out = folder / "scan.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "revcor.cli",
            "scan",
            "usernets:small",
            "--state-dict",
            str(folder / "poisoned.pt"),
            "--data",
            str(folder / "clean.npz"),
            "--references",
            *(str(folder / f"ref{i}.pt") for i in range(3)),
            "-n",
            "20000",
            "--local-n",
            "20000",
            "--quiet",
            "--out",
            str(out),
            "--figure",
            str(folder / "scan.png"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'tests'}:{ROOT / 'src'}"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    r = json.loads(out.read_text())
    assert {"verdict", "p_value", "score", "target", "location", "evidence", "causal", "match"} <= set(r)
    assert r["references"] == 3 and r["n"] == 20000 and r["local"]["n"] == 20000
    assert r["score"] == pytest.approx(-np.log10(r["p_value"]))
    assert r["verdict"].upper() in run.stdout and f"p = {r['p_value']:.2g}" in run.stdout and "'5'" in run.stdout
    assert (folder / "scan.png").stat().st_size > 0


def test_neural_cleanse_finds_the_same_trigger(trained):
    """The baseline of docs/backdoor.md, on the same poisoned network (shortened optimisation):
    the target's reversed trigger is the smallest by far and sits on the square. (Whether its
    anomaly index passes 2 depends on how much the other labels' masks differ: for this
    briefly trained network they range from about 25 to 90 pixels, and the index stays near
    1.6 even with the paper's full optimisation, so the flag is not asserted.)"""
    test = trained["test"]
    settings = cleanse.Settings(steps=20, samples=200)
    result = cleanse.neural_cleanse(trained["nets"]["poisoned"], test.images, 10, settings, seed=0)
    norms = sorted(result["norms"])
    assert result["target"] == TARGET and result["norms"][TARGET] == norms[0] < norms[1] / 3
    assert result["score"] == pytest.approx(result["anomaly_indices"][TARGET])
    assert result["suspect"] == (result["score"] > 2) and result["suspect"] == (TARGET in result["flagged"])
    rows, cols = np.nonzero(result["mask"] >= 0.5 * result["mask"].max())
    assert rows.max() >= 22 and cols.max() >= 22 and rows.min() < 26 and cols.min() < 26  # on the trigger
    assert all(p.requires_grad for p in trained["nets"]["poisoned"].parameters())  # the network is left as it was


def test_anomaly_index_is_the_papers():
    norms = np.array([10.0, 11.0, 9.0, 2.0, 10.5])
    median, mad = 10.0, 1.4826 * 1.0  # |norm - median|: 0, 1, 1, 8, 0.5; their median 1
    np.testing.assert_allclose(cleanse.anomaly_indices(norms), np.abs(norms - median) / mad)
