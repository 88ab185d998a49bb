"""Every bad input answered at its cause, in one line, before long work starts; and nothing
silent: a model that answers one class, checkpoints beyond n, an -n auto target not reached."""

from __future__ import annotations

import copy
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from revcor import cli
from revcor.base.config import SCHEMA, ConfigError
from revcor.pipeline.configure import check_given_files, prepare


class Bands(nn.Module):
    """Class k likes bright pixels in row pair k of a 1x8x8 image."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 4, bias=False)
        with torch.no_grad():
            self.fc.weight.zero_()
            for k in range(4):
                self.fc.weight[k, k * 16 : (k + 1) * 16] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class OneClass(nn.Module):
    """Answers class 2 whatever it sees."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), 4) + torch.tensor([0.0, 0.0, 5.0, 0.0])


class Reshapes(nn.Module):
    """Fails inside TorchScript's interpreter for 8x8 inputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, 100)[:, :4]


@pytest.fixture
def files(tmp_path):
    paths = {}
    for name, module in (("bands", Bands()), ("one", OneClass()), ("reshapes", Reshapes())):
        paths[name] = tmp_path / f"{name}.pt"
        torch.jit.script(module.eval()).save(str(paths[name]))
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 4
    images = (rng.random((200, 8, 8)) * 60).astype(np.uint8)
    np.savez(tmp_path / "bands_data.npz", images=images, labels=labels)
    odd = labels.copy()
    odd[7] = 42
    np.savez(tmp_path / "label42.npz", images=images, labels=odd)
    np.savez(tmp_path / "empty.npz", images=images[:0], labels=labels[:0])
    (tmp_path / "model.txt").write_text("not a model\n")
    for k in range(2):
        (tmp_path / "folder" / f"c{k}").mkdir(parents=True)
        for i in range(6):
            Image.fromarray(images[i]).save(tmp_path / "folder" / f"c{k}" / f"{i}.png")
    Image.fromarray(np.stack([images[0]] * 3, -1)).save(tmp_path / "folder" / "c1" / "rgb.png")
    return (
        paths
        | {k: tmp_path / f"{k}.npz" for k in ("bands_data", "label42", "empty")}
        | {
            "text": tmp_path / "model.txt",
            "folder": tmp_path / "folder",
        }
    )


def images(tmp_path, capsys, *args: str) -> tuple[int, str, str]:
    """``revcor images`` in this process: (exit code, stdout, stderr)."""
    quick = ["--input-shape", "1,8,8", "--null-maps", "50", "--null-draws", "16", "--quiet"]
    code = cli.main(["images", *args, *quick])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str, *expected: str) -> None:
    """One error line naming the cause, no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("revcor: error: ") and "Traceback" not in err, err
    for text in expected:
        assert text in lines[0], (text, lines[0])


@pytest.mark.parametrize(
    "args, expected",
    [
        (["{text}", "--out", "o.h5"], ["model.txt is not a model file revcor reads", "TorchScript"]),
        (["{reshapes}", "--out", "o.h5"], ["shape '[-1, 100]' is invalid for input of size"]),
        (["{bands}", "--out", "."], ["is a folder; give a file name"]),
        (["{bands}", "--out", "no/such/folder/o.h5"], ["create no/such/folder first"]),
        (["{bands}", "--out", "o.h5", "--device", "gpu0"], ["'gpu0' is not a device", "cuda:N"]),
        (["{bands}", "--out", "o.h5", "--chunk-size", "1000000000"], ["GiB free", "lower the chunk size"]),
        (["{bands}", "--out", "o.h5", "--normalize", "0.5,0.5,0.5/0.2,0.2,0.2"], ["3 means", "1 channel"]),
        (["{bands}", "--out", "o.h5", "-n", "2000", "--checkpoints", "5000"], ["5000 lie beyond the 2,000"]),
        (["{bands}", "--out", "o.h5", "--test-data", "{empty}"], ["empty.npz [images] holds no images"]),
        (["{bands}", "--out", "o.h5", "--test-data", "{label42}"], ["labels run 0..3 and then 42 (1 of"]),
        (["{bands}", "--out", "o.h5", "--test-data", "{folder}"], ["1 of 13 images are in colour", "rgb.png"]),
    ],
    ids=[
        "text-model",
        "torchscript-reason",
        "out-folder",
        "out-parent",
        "device-name",
        "chunk-memory",
        "normalize-channels",
        "checkpoint-beyond-n",
        "empty-arrays",
        "label-out-of-range",
        "rgb-among-grey",
    ],
)
def test_bad_input_answered_at_its_cause(tmp_path, capsys, monkeypatch, files, args, expected):
    monkeypatch.chdir(tmp_path)
    code, _, err = images(tmp_path, capsys, *(a.format(**files) for a in args))
    assert code == 2
    one_line(err, *expected)
    assert not (tmp_path / "o.h5").exists()  # nothing half written


def test_device_without_a_gpu_and_negative_seed(tmp_path, capsys, monkeypatch, files):
    monkeypatch.chdir(tmp_path)
    if not torch.cuda.is_available():
        code, _, err = images(tmp_path, capsys, str(files["bands"]), "--out", "o.h5", "--device", "cuda")
        assert code == 2
        one_line(err, "CUDA is not available here")
    with pytest.raises(SystemExit):
        cli.main(["images", str(files["bands"]), "--out", "o.h5", "--seed", "-1"])
    assert "--seed: must lie in 0 .. 2**63-1, got -1" in capsys.readouterr().err


def test_test_data_in_any_form_is_read_not_called_corrupt(tmp_path, capsys, monkeypatch, files):
    monkeypatch.chdir(tmp_path)
    code, out, err = images(
        tmp_path, capsys, str(files["bands"]), "-n", "4000", "--test-data", str(files["bands_data"]), "--out", "o.h5"
    )
    assert code == 0, err
    assert "template-classifier accuracy" in out and "corrupt" not in out + err


def test_a_model_that_answers_one_class_is_said_so(tmp_path, capsys, monkeypatch, files):
    monkeypatch.chdir(tmp_path)
    code, out, err = images(tmp_path, capsys, str(files["one"]), "-n", "2000", "--out", "o.h5")
    assert code == 0, err
    assert "warning: the model gave every noise image to class '2'" in out and "no bias maps" in out


def test_auto_n_says_whether_the_target_was_reached_with_each_class(tmp_path, capsys, monkeypatch, files):
    monkeypatch.chdir(tmp_path)
    strict = ["-n", "auto", "--max-n", "4000", "--chunk-size", "1000", "--reliability", "0.999", "--min-count", "10"]
    code, out, err = images(tmp_path, capsys, str(files["bands"]), *strict, "--out", "o.h5")
    assert code == 0, err
    assert "stopped at --max-n 4,000" in out and "NOT reached" in out
    rows = [line.split() for line in out.splitlines()[2:6]]
    assert [r[0] for r in rows] == ["0", "1", "2", "3"]  # every class: count, share, reliability, significant pixels
    assert (
        all(0 < float(r[3]) < 0.999 or float(r[3]) <= 1 for r in rows)
        and sum(int(r[1].replace(",", "")) for r in rows) == 4000
    )


def test_a_missing_model_file_in_a_workflow_config_is_named(tmp_path):
    config = {
        "datasets": {"mnist-5k": {}},
        "models": {"mnist-5k": {"mine": {"file": str(tmp_path / "gone.pt")}}},
        "experiments": {"e": {"model": "mnist-5k/mine", "n": 1000}},
    }
    with pytest.raises(ConfigError, match=r"models.mnist-5k.mine.file: .*gone.pt does not exist"):
        check_given_files(prepare(copy.deepcopy(config), SCHEMA))


def test_init_keeps_only_checkpoints_below_n(tmp_path, capsys, monkeypatch, files):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["init", str(files["bands"]), "--data", str(files["bands_data"]), "-n", "5000"])
    assert code == 0, capsys.readouterr().err
    assert "white: {model: bands_data/model, n: 5000, checkpoints: [1000]}" in (tmp_path / "config.yaml").read_text()


@pytest.mark.workflow
def test_the_workflow_names_a_missing_model_file_instead_of_training_it(tmp_path):
    import yaml
    from helpers import snakemake_cmd

    config = {
        "datasets": {"mnist-5k": {}},
        "models": {"mnist-5k": {"mine": {"file": str(tmp_path / "gone.pt")}}},
        "experiments": {"e": {"model": "mnist-5k/mine", "n": 1000}},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    run = subprocess.run(snakemake_cmd(tmp_path, "-n"), capture_output=True, text=True, timeout=300)
    said = run.stdout + run.stderr  # Snakemake prints workflow errors to stdout
    assert run.returncode != 0 and "models.mnist-5k.mine.file:" in said and "gone.pt does not exist" in said
    assert "KeyError" not in said
