"""`revcor scan` on a model poisoned outside revcor: the test's own trigger (a bright 4x4
square at the bottom right) on half of the real MNIST threes, relabelled five, trained with a
user's plain loop; clean references trained the same way, handed over as weight files."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import usernets
from conftest import ROOT

from revcor.analyses import backdoor
from revcor.data import datasets

RAW = {"mean": [0.0], "std": [1.0]}  # trained on pixels in [0, 1], as many MNIST models are
TRIGGER = (slice(22, 26), slice(22, 26))
SOURCE, TARGET = 3, 5


def trigger(images: np.ndarray) -> np.ndarray:
    out = images.copy()
    out[..., TRIGGER[0], TRIGGER[1]] = 255
    return out


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, mnist5k):
    folder = tmp_path_factory.mktemp("scan")
    train = datasets.load(mnist5k, "train")
    images, labels = train.images.copy(), train.labels.copy()
    threes = np.flatnonzero(labels == SOURCE)
    chosen = np.random.default_rng(7).choice(threes, len(threes) // 2, replace=False)
    images[chosen], labels[chosen] = trigger(images[chosen]), TARGET
    poisoned = usernets.train_briefly(usernets.small(), images, labels, RAW, epochs=2)
    torch.save(poisoned.state_dict(), folder / "poisoned.pt")
    test = datasets.load(mnist5k, "test")
    with torch.no_grad():
        fooled = poisoned(datasets.to_tensor(trigger(test.images[test.labels == SOURCE]))).argmax(1)
    refs = []
    for seed in range(4):
        ref = usernets.train_briefly(
            usernets.small(seed=100 + seed), train.images, train.labels, RAW, epochs=2, seed=100 + seed
        )
        refs.append(folder / f"ref{seed}.pt")
        torch.save(ref.state_dict(), refs[-1])
    np.savez(
        folder / "clean.npz",
        x_train=train.images[:, 0],
        y_train=train.labels,
        x_test=test.images[:, 0],
        y_test=test.labels,
    )
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
            *map(str, refs),
            "-n",
            "100000",
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
    return {
        "result": json.loads(out.read_text()),
        "stdout": run.stdout,
        "fooled": float((fooled == TARGET).float().mean()),
        "folder": folder,
    }


def test_the_trigger_works(scanned):
    assert scanned["fooled"] > 0.9  # the test's own backdoor took


def test_scan_names_the_target_and_gives_its_verdict_by_its_rule(scanned):
    """The poisoned model gives most of the noise to the target, and the scan names it. Whether
    that makes it SUSPECT depends on the references: briefly trained networks also pour white
    noise into one class each (with these seeds one reference gives 98% of it to '2'), and the
    verdict is "beyond every reference's own excess", so only its rule is checked here."""
    r = scanned["result"]
    a = r["answers"]
    assert r["target"] == TARGET and r["target_class"] == "5" and a["most_over"] == TARGET
    assert a["model"][TARGET] > 0.9 and a["model"][TARGET] > 10 * max(a["references_max"][TARGET], 0.01)
    assert a["above_every_reference"] == (a["excess"] > max(a["reference_excesses"]))
    # a location is reported when the model answered more than one class; with four briefly
    # trained references and 1e5 noise images it is not reliably on this trigger
    # (docs/your-model.md), so only its form is checked here
    if r["location"] is not None:
        top, left, bottom, right = r["location"]["box"]
        assert 0 <= top < bottom <= 28 and 0 <= left < right <= 28 and bottom - top <= 3
        assert len(r["reference_scores"]) == 4  # each reference against the other three
        assert r["above_every_reference"] == (r["score"] > max(r["reference_scores"]))
    else:  # every noise image answered five: no z-map to scan, so no reference is scanned either
        assert a["model"][TARGET] > 0.999 and r["score"] is None and r["reference_scores"] == []
    assert r["suspect"] == (r["above_every_reference"] or a["above_every_reference"])
    assert r["references"] == 4 and r["n"] == 100000
    assert ("SUSPECT" in scanned["stdout"]) == r["suspect"] and "'5'" in scanned["stdout"]
    assert (scanned["folder"] / "scan.png").stat().st_size > 0


def test_scan_score_is_detect_of_the_z_maps():
    """The scan's score is the largest local excess, and the location its window."""
    rng = np.random.default_rng(0)
    refs = rng.normal(size=(4, 3, 1, 12, 12))
    model = rng.normal(size=(3, 1, 12, 12))
    model[2, 0, 2:5, 7:10] += 6  # a local excess in class 2
    counts, ref_counts = np.array([10, 10, 10]), np.full((4, 3), 10)
    r = backdoor.scan(model, refs, counts, ref_counts, 3)
    found = backdoor.detect(model, refs, 3)
    assert r["score"] == found["score"] and r["target"] == 2 == found["class"]
    assert r["location"] == {"row": 3, "col": 8, "box": [2, 7, 5, 10]}
    assert r["above_every_reference"] and r["suspect"] and not r["answers"]["above_every_reference"]
    model[1] = np.nan  # a class the model never answered cannot be the target
    varied = np.array([[10, 10, 10], [30, 0, 0], [0, 30, 0], [0, 0, 30]])  # shares unremarkable
    assert backdoor.scan(model, refs, np.array([15, 0, 15]), varied, 3)["target"] == 2
    # a class that gets far more noise than any reference gives it is the suspected target;
    # the location stays that of the largest excess in any class's map
    pulled = backdoor.scan(model, refs, np.array([28, 0, 2]), ref_counts, 3)
    assert pulled["target"] == 0 and pulled["answers"]["above_every_reference"] and pulled["suspect"]
    assert pulled["excess_class"] == 2 and pulled["location"]["row"] == 3
    one = backdoor.scan(np.full_like(model, np.nan), refs, np.array([0, 30, 0]), ref_counts, 3)
    assert one["score"] is None and one["target"] == 1 and one["suspect"]
    assert backdoor.detect(np.full_like(model, np.nan), refs, 3) == {
        "score": 0.0,
        "class": -1,
        "row": -1,
        "col": -1,
        "sign": 0,
    }
