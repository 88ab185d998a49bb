"""The revcor command line on models that are not revcor's own."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from revcor import cli
from revcor.base import store


class Tiny(nn.Module):
    """A fixed template matcher on 1x8x8 images: class k likes bright pixels in row k."""

    def __init__(self):
        super().__init__()
        w = torch.zeros(4, 64)
        for k in range(4):
            w[k, k * 16 : (k + 1) * 16] = 1.0
        self.fc = nn.Linear(64, 4, bias=False)
        self.fc.weight.data = w

    def forward(self, x):
        return self.fc(x.flatten(1))


@pytest.fixture
def torchscript(tmp_path):
    path = tmp_path / "tiny.pt"
    torch.jit.script(Tiny().eval()).save(str(path))
    return path


@pytest.fixture
def test_data(tmp_path):
    """A revcor dataset file with 1x8x8 images whose class is the bright band."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    images = (rng.random((200, 1, 8, 8)) * 60).astype(np.uint8)
    for k in range(4):
        images[labels == k, 0, 2 * k : 2 * k + 2] = 255
    path = tmp_path / "bands.h5"
    with store.create(
        path,
        {
            "kind": "dataset",
            "name": "bands",
            "classes": list("abcd"),
            "source": "test",
            "subset": False,
            "image_shape": [1, 8, 8],
        },
    ) as f:
        for split in ("train", "test"):
            f[f"{split}/images"], f[f"{split}/labels"] = images, labels
    return path


def test_images_from_torchscript_with_significance_reliability_and_accuracy(torchscript, test_data, tmp_path, capsys):
    out = tmp_path / "maps.h5"
    code = cli.main(
        [
            "images",
            str(torchscript),
            "-n",
            "20000",
            "--seed",
            "1",
            "--input-shape",
            "1,8,8",
            "--test-data",
            str(test_data),
            "--checkpoints",
            "1000",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "template-classifier accuracy" in printed
    with store.open_artifact(out, "maps") as f:
        counts, maps, z = f["counts"][()], f["maps"][()], f["zmaps"][()]
        assert counts.shape == (4,) and counts.sum() == 20000
        assert maps.shape == z.shape == (4, 1, 8, 8)
        assert f["checkpoints/1000/counts"][()].sum() == 1000
        accuracy = store.get_attr(f, "template_accuracy")["accuracy"]
        significant, infoval, reliability = f["significant"][()], f["infoval"][()], f["reliability"][()]
        tested = store.get_attr(f, "significance")
        assert f["checkpoints/1000/significant"].shape == (4, 1, 8, 8)
    assert tested["method"] == "pixel" and tested["alpha"] == 0.05 and tested["null"]["draws"] == 512
    # class k's map is bright where the model looks for class k: rows 2k, 2k+1
    for k in range(4):
        inside = maps[k, 0, 2 * k : 2 * k + 2].mean()
        assert inside > maps[k, 0].mean() + 0.02
        assert z[k, 0, 2 * k : 2 * k + 2].mean() > 5
        # significant: those rows, brighter; elsewhere only darker pixels (other classes' rows)
        rows = np.zeros((8, 8), dtype=bool)
        rows[2 * k : 2 * k + 2] = True
        assert significant[k, 0, rows].all() and (z[k, 0][significant[k, 0] & ~rows] < 0).all()
        assert infoval[k] > 5 and reliability[k] > 0.8
    assert accuracy > 0.9


def test_bad_model_and_mismatched_data_are_one_line_errors(torchscript, test_data, tmp_path, capsys):
    assert cli.main(["images", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "o.h5")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "images",
                str(torchscript),
                "--input-shape",
                "1,28,28",
                "--test-data",
                str(test_data),
                "--out",
                str(tmp_path / "o.h5"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "differs from the test data" in err and "Traceback" not in err
    assert not (tmp_path / "o.h5").exists()
    assert cli.main(["images", str(torchscript), "-n", "10", "--out", str(tmp_path / "o.h5")]) == 2
    assert "input shape" in capsys.readouterr().err


def test_console_script_runs(torchscript, tmp_path):
    """The installed ``revcor`` command, which leaves without tearing the interpreter down:
    its output through a pipe, its files and its exit codes are complete."""
    out = tmp_path / "m.h5"
    revcor = str(Path(sys.executable).with_name("revcor"))
    result = subprocess.run(
        [
            revcor,
            "images",
            str(torchscript),
            "-n",
            "3000",
            "--input-shape",
            "1,8,8",
            "--quiet",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout, result.stdout
    with h5py.File(out) as f:
        assert f["counts"][()].sum() == 3000
    failed = subprocess.run(
        [revcor, "images", str(tmp_path / "none.pt"), "--out", str(out)], capture_output=True, text=True
    )
    assert failed.returncode == 2 and "revcor: error: model file" in failed.stderr and failed.stdout == ""


def test_every_cli_default_is_the_apis_and_the_apis_are_the_schemas():
    """One source of defaults: each option's default equals the default of its revcor.api
    argument, and those come from the schema (revcor.base.defaults)."""
    import inspect

    from revcor import api
    from revcor.base import defaults

    parser = cli.parser()
    commands = parser._subparsers._group_actions[0].choices
    checked = 0
    for name, sub in commands.items():
        signature = inspect.signature(getattr(api, name)).parameters
        for action in sub._actions:
            if action.dest not in signature or signature[action.dest].default is inspect.Parameter.empty:
                continue  # required: no default
            want = signature[action.dest].default
            got = action.default
            if action.dest == "compile":
                got = {"on": True, "off": False}.get(got, got)
            if isinstance(want, tuple):
                want = list(want)
            assert got == want, (name, action.dest, got, want)
            checked += 1
    assert checked >= 40
    assert api.classification_images.__kwdefaults__["max_n"] == defaults.EXPERIMENT["max_n"] == 1_000_000
    assert inspect.signature(api.scan).parameters["seeds"].default == tuple(defaults.SCAN["references"]["seeds"])
    assert defaults.SCAN["references"]["seeds"] == [100, 101, 102, 103, 104]  # the schema's, not restated


def test_help_shows_the_defaults_and_python_m_revcor_runs():
    run = subprocess.run([sys.executable, "-m", "revcor", "scan", "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "(default: [100, 101, 102, 103, 104])" in " ".join(run.stdout.split())


def test_the_command_line_lets_waiting_threads_sleep_unless_told_otherwise(monkeypatch):
    """GOMP_SPINCOUNT=10000 before torch loads (waiting threads spin briefly, then sleep: runs
    sharing the CPU keep their throughput, benchmarks/shared_cpu.py); a wait policy or spin
    count the user set stays, alone."""
    for key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert os.environ["GOMP_SPINCOUNT"] == "10000" and "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE" and "GOMP_SPINCOUNT" not in os.environ
