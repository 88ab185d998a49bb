"""Models a user brings: every format, normalised inputs, softmax outputs, NaN answers, the
checks before any work, and their layers. The network is a user's (tests/usernets.py), trained
briefly on real MNIST digits with a plain loop."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
import torchvision
import usernets
import yaml
from helpers import ROOT

from revcor.data import datasets
from revcor.models import given, layers, loading
from revcor.models.specs import ModelError
from revcor.pipeline.given import import_model

NORM = usernets.MNIST_NORMALIZE
QUICK_CLI_NULLS = ["--null-maps", "200", "--null-draws", "32"]  # plumbing, not calibration (test_significance.py)


@pytest.fixture(scope="module")
def digits(mnist5k) -> torch.Tensor:
    return datasets.to_tensor(datasets.load(mnist5k, "test").images[:300])


def reference(user_models, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return usernets.Normalizing(user_models["net"], **NORM).eval()(x)


@pytest.mark.parametrize(
    "spec",
    [
        {"file": "script"},
        {"file": "program"},
        {"factory": "usernets:make", "state_dict": "state", "kwargs": {"width": 8}},
    ],
    ids=["torchscript", "export", "factory"],
)
def test_every_format_gives_the_users_answers(tmp_path, user_models, digits, spec):
    settings = {k: str(user_models[v]) if k in ("file", "state_dict") else v for k, v in spec.items()}
    loaded = given.write(
        {**settings, "normalize": NORM}, tmp_path / "m.pt", in_shape=(1, 28, 28), num_classes=10, meta={}
    )
    with torch.no_grad():
        got = loaded.module(digits)
    torch.testing.assert_close(got, reference(user_models, digits), rtol=1e-5, atol=1e-5)
    again = loading.load(tmp_path / "m.pt").module  # the file alone is enough
    with torch.no_grad():
        torch.testing.assert_close(again(digits), got)


def test_export_programs_compile_through_their_module_and_torchscript_runs_as_it_is(compile_cache, user_models):
    from revcor import api

    common = {"input_shape": (1, 28, 28), "batch_size": 256, "chunk_size": 1000, "progress": False, "device": "cpu"}
    program = str(user_models["program"])
    eager = api.classification_images(program, 1500, compile=False, **common)
    compiled = api.classification_images(program, 1500, compile=True, **common)
    assert compiled.attrs["compiled"] == "default" and any(compile_cache.rglob("*.py"))
    np.testing.assert_array_equal(compiled["count"], eager["count"])
    np.testing.assert_allclose(compiled["sum"], eager["sum"], rtol=1e-6, atol=1e-9)
    script = api.classification_images(str(user_models["script"]), 300, compile=True, **common)
    assert script.attrs["compiled"] == "eager"


def test_torchvision_architecture_with_a_weights_file(tmp_path):
    net = torchvision.models.get_model("resnet18", num_classes=7).eval()
    torch.save(net.state_dict(), tmp_path / "w.pt")
    settings = {
        "torchvision": "resnet18",
        "weights": str(tmp_path / "w.pt"),
        "normalize": {"mean": [0.5] * 3, "std": [0.2] * 3},
    }
    loaded = given.write(settings, tmp_path / "m.pt", in_shape=(3, 32, 40), num_classes=7, meta={})
    x = torch.rand(4, 3, 32, 40)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), net((x - 0.5) / 0.2))
    assert [n for n in layers.layer_names(loaded.module) if n.count(".") == 0][:3] == ["conv1", "bn1", "relu"]
    with pytest.raises(ModelError, match="needs weights"):
        given.write({"torchvision": "resnet18"}, tmp_path / "x.pt", in_shape=(3, 32, 32), num_classes=7, meta={})


def test_layers_of_an_export_program_by_their_own_names(tmp_path, user_models, digits):
    program = loading.load(user_models["program"], normalize=NORM).module
    assert layers.layer_names(program) == ["conv1", "bn1", "conv2", "bn2", "drop", "fc"]
    with layers.capture(program, ["conv1"]) as out, torch.no_grad():
        program(digits)
    with torch.no_grad():
        want = user_models["net"].conv1((digits - 0.1307) / 0.3081)
    torch.testing.assert_close(out["conv1"], want, rtol=1e-5, atol=1e-5)


def test_torchscript_layers_refuse_with_the_reason(user_models):
    script = loading.load(user_models["script"]).module
    assert "conv1" in layers.layer_names(script)
    with pytest.raises(ModelError, match="TorchScript or ONNX model cannot run.*torch.export program"):
        layers.get_layer(script, "conv1")


def test_import_checks_the_model_against_the_data_before_any_work(tmp_path, mnist5k, user_models):
    out = {"model_out": str(tmp_path / "m.pt"), "metrics_out": str(tmp_path / "m.json")}
    with pytest.raises(ModelError, match=r"NaN or infinite outputs for 256 of 256 test images"):
        import_model(str(mnist5k), {"file": str(user_models["nan"])}, name="nan", **out)
    with pytest.raises(ModelError, match="outputs probabilities .* set outputs: probabilities"):
        import_model(str(mnist5k), {"file": str(user_models["softmax"]), "normalize": NORM}, name="soft", **out)
    assert not list(tmp_path.iterdir())  # nothing half-written
    soft = import_model(
        str(mnist5k),
        {"file": str(user_models["softmax"]), "normalize": NORM, "outputs": "probabilities"},
        name="s",
        **out,
    )
    logits = import_model(str(mnist5k), {"file": str(user_models["script"]), "normalize": NORM}, name="l", **out)
    assert soft["test"]["accuracy"] == logits["test"]["accuracy"] > 0.8
    assert soft["test"]["confusion"] == logits["test"]["confusion"]
    # the layer analyses the config names are checked here, before any noise is drawn
    script = {"file": str(user_models["script"]), "normalize": NORM}
    with pytest.raises(ModelError, match="units.units cannot run on model s: layer analyses .* TorchScript"):
        import_model(str(mnist5k), script, name="s", layers={"units.units": ["conv1"]}, **out)
    program = {"file": str(user_models["program"]), "normalize": NORM}
    with pytest.raises(ModelError, match="microstim.m cannot run on model p: model has no layer 'conv9'"):
        import_model(str(mnist5k), program, name="p", layers={"microstim.m": ["conv9"]}, **out)
    import_model(str(mnist5k), program, name="p", layers={"units.units": ["conv1", "bn2", "fc"]}, **out)
    wrong = {"factory": "usernets:make", "kwargs": {"classes": 4}, "state_dict": str(user_models["state"])}
    with pytest.raises(ModelError, match="does not fit the model: shape mismatch"):
        import_model(str(mnist5k), wrong, name="w", **out)


def revcor(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "revcor.cli", "images", "--input-shape", "1,28,28", *QUICK_CLI_NULLS, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.workflow
def test_cli_refuses_nan_answers_probabilities_and_bad_arguments(tmp_path, user_models):
    maps = tmp_path / "maps.h5"
    run = revcor(str(user_models["nan_bright"]), "-n", "4000", "--quiet", "--out", str(maps), cwd=tmp_path)
    assert run.returncode == 2 and "NaN or infinite outputs for" in run.stderr, run.stderr[-2000:]
    assert "Traceback" not in run.stderr and not maps.exists()
    run = revcor(str(user_models["softmax"]), "-n", "2000", "--quiet", "--out", str(maps), cwd=tmp_path)
    assert run.returncode == 2 and "outputs probabilities" in run.stderr and not maps.exists()
    for bad in (["-n", "-5"], ["-n", "0"], ["--checkpoints", "0,100"], ["--batch-size", "0"], ["--normalize", "0.5/0"]):
        run = revcor(str(user_models["script"]), *bad, "--out", str(maps), cwd=tmp_path)
        assert run.returncode == 2 and "error: argument" in run.stderr and not maps.exists(), (bad, run.stderr)


@pytest.mark.workflow
def test_cli_probabilities_and_normalize_give_the_logit_models_maps(tmp_path, user_models):
    common = ["-n", "3000", "--seed", "3", "--quiet", "--normalize", "0.1307/0.3081", "--alpha", "0.01"]
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    run = revcor(str(user_models["script"]), *common, "--out", str(a), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    run = revcor(str(user_models["softmax"]), *common, "--outputs", "probabilities", "--out", str(b), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    with h5py.File(a) as fa, h5py.File(b) as fb:
        np.testing.assert_array_equal(fa["counts"][()], fb["counts"][()])
        np.testing.assert_array_equal(fa["maps"][()], fb["maps"][()])
        assert fa["counts"][()].max() < 3000  # the normalised model answers more than one class
        tested = json.loads(fa.attrs["significance"])
        assert tested["alpha"] == 0.01 and (tested["null"]["maps"], tested["null"]["draws"]) == (200, 32)


@pytest.mark.workflow
def test_cli_auto_n_stops_at_the_first_reliable_round_and_equals_the_fixed_run(tmp_path, user_models):
    """-n auto: rounds of 1, 2, 4 ... chunks until every class with --min-count samples is
    as reliable as asked; the file ends at the n reached, exactly the maps of a fixed run of that n
    (with the same checkpoints, so that the float64 sums are added in the same order)."""
    common = [str(user_models["script"]), "--normalize", "0.1307/0.3081", "--chunk-size", "1000", "--quiet"]
    auto, fixed = tmp_path / "auto.h5", tmp_path / "fixed.h5"
    target = ["--max-n", "64000", "--reliability", "0.3", "--min-count", "500", "--checkpoints", "1000"]
    run = revcor(*common, "-n", "auto", *target, "--out", str(auto), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    with h5py.File(auto) as f:
        n, kept = int(f.attrs["n"]), json.loads(f.attrs["checkpoints"])
        reached = "split-half reliability 0.3 for every class with 500 or more images reached"
        assert n < 64000 and f"{n:,} noise images (n auto: {reached})" in run.stdout
        assert kept == [1000 * 2**i for i in range(len(kept))] and kept[-1] == n  # one checkpoint per round
        for cp in kept:
            judged = f[f"checkpoints/{cp}/counts"][()] >= 500
            met = judged.any() and (f[f"checkpoints/{cp}/reliability"][()][judged] >= 0.3).all()
            assert met == (cp == n), cp  # the first round that met the target, and only that one
    rounds = ",".join(map(str, kept[:-1])) or "1000"  # the same prefix sums: bit for bit
    run = revcor(*common, "-n", str(n), "--checkpoints", rounds, "--out", str(fixed), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    with h5py.File(auto) as a, h5py.File(fixed) as b:
        for key in ("counts", "maps", "zmaps", "reliability"):
            np.testing.assert_array_equal(a[key][()], b[key][()])
    run = revcor(*common, "-n", "auto", "--reliability", "1.5", "--out", str(fixed), cwd=tmp_path)
    assert run.returncode == 2 and "must lie in (0, 1]" in run.stderr


@pytest.mark.workflow
def test_init_writes_a_config_that_plans_every_analysis(tmp_path, user_models, mnist5k):
    out = tmp_path / "config.yaml"
    args = [str(user_models["program"]), "--data", str(mnist5k), "--normalize", "0.1307/0.3081", "--out", str(out)]
    run = subprocess.run(
        [sys.executable, "-m", "revcor.cli", "init", *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-2000:]
    config = yaml.safe_load(out.read_text())
    assert config["datasets"]["mnist_5k"]["classes"] == [str(k) for k in range(10)]
    assert config["models"]["mnist_5k"]["model"]["normalize"] == {"mean": [0.1307], "std": [0.3081]}
    assert set(config["experiments"]) == {"white", "gabor", "vae"}
    stim = config["microstim"]["stim"]
    assert config["units"]["units"]["layers"] == ["conv1"] and stim["ks"] == {"conv1": [0, 0.05, 0.1]}
    assert stim["layers"] == {"conv1": 0.1}
    plan = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(tmp_path),
            "-n",
            "--quiet",
            "rules",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert plan.returncode == 0, plan.stderr[-3000:]
    for rule in (
        "dataset",
        "given_model",
        "responses",
        "gabor",
        "autoencoder",
        "attack",
        "units",
        "microstim",
        "scan",
        "train",
    ):
        assert rule in plan.stdout, rule
    again = subprocess.run(
        [sys.executable, "-m", "revcor.cli", "init", *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert again.returncode == 2 and "exists" in again.stderr
    script = tmp_path / "script.yaml"
    args = [str(user_models["script"]), "--data", str(mnist5k), "--out", str(script)]
    assert (
        subprocess.run(
            [sys.executable, "-m", "revcor.cli", "init", *args], capture_output=True, cwd=tmp_path
        ).returncode
        == 0
    )
    text = script.read_text()
    assert "cannot be hooked (TorchScript)" in text and "units:" not in text.replace("# units", "")


@pytest.mark.workflow
def test_cli_units_and_microstimulation_of_a_users_model(tmp_path, user_models, mnist5k):
    """The workflow's single-unit and microstimulation steps from the command line, on an
    exported program whose layers keep the user's names, with Gabor-PCA noise fitted on the data."""
    common = [str(user_models["program"]), "--data", str(mnist5k), "--normalize", "0.1307/0.3081", "--quiet"]
    units = tmp_path / "units.h5"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "revcor.cli",
            "units",
            *common,
            "--layers",
            "conv1",
            "--noise",
            "gabor",
            "-n",
            "3000",
            "--whiten",
            "conv1",
            "--activations",
            "conv1,fc",
            "--inject",
            "fc",
            "--out",
            str(units),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    with h5py.File(units) as f:
        sta, kernel = f["sta/conv1/sta"][()], f["sta/conv1/kernel"][()]
        assert sta.shape == kernel.shape == (8, 1, 3, 3) and "whitened" in f["sta/conv1"]
        assert f["activations/noise/fc"].shape == (10, 10) and f["injection/fc"].shape[1] == 10
        assert json.loads(f.attrs["noise"])["kind"] == "gabor"
    stim = tmp_path / "stim.h5"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "revcor.cli",
            "microstim",
            *common,
            "--layers",
            "conv1=0.1",
            "--ks",
            "0,0.05",
            "--classes",
            "0,1",
            "-n",
            "100",
            "--bootstrap",
            "2",
            "--gammas",
            "0,0.3,0.6",
            "--out",
            str(stim),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    with h5py.File(stim) as f:
        assert f["hits"].shape[-1] == 3 and np.isfinite(f["hits"][()]).all()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "revcor.cli",
            "units",
            str(user_models["script"]),
            "--data",
            str(mnist5k),
            "--layers",
            "conv1",
            "--quiet",
            "--out",
            str(tmp_path / "x.h5"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert (
        bad.returncode == 2 and "TorchScript or ONNX model cannot run" in bad.stderr and "Traceback" not in bad.stderr
    )


@pytest.mark.workflow
def test_cli_images_with_structured_noise_fitted_on_the_data(tmp_path, user_models, mnist5k):
    out = tmp_path / "vae.h5"
    common = [str(user_models["program"]), "--normalize", "0.1307/0.3081", "-n", "2000", "--quiet"]
    run = revcor(*common, "--noise", "vae", "--data", str(mnist5k), "--out", str(out), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    with h5py.File(out) as f:
        assert json.loads(f.attrs["noise"])["kind"] == "vae" and f["counts"][()].sum() == 2000
    run = revcor(*common, "--noise", "gabor", "--out", str(tmp_path / "g.h5"), cwd=tmp_path)
    assert run.returncode == 2 and "(--data)" in run.stderr


@pytest.mark.workflow
def test_cli_attack_of_a_users_model(tmp_path, user_models, mnist5k):
    out = tmp_path / "attack.h5"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "revcor.cli",
            "attack",
            str(user_models["state"]),
            "--data",
            str(mnist5k),
            "--normalize",
            "0.1307/0.3081",
            "-n",
            "3000",
            "--gammas",
            "0,0.5,1",
            "--noise-samples",
            "200",
            "--quiet",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 2 and "package.module:factory" in run.stderr  # a state dict is not a model
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "revcor.cli",
            "attack",
            "usernets:make",
            "--state-dict",
            str(user_models["state"]),
            "--data",
            str(mnist5k),
            "--normalize",
            "0.1307/0.3081",
            "-n",
            "3000",
            "--gammas",
            "0,0.5,1",
            "--noise-samples",
            "200",
            "--quiet",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "tests")},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    with h5py.File(out) as f:
        digit_mean = f["rates/digit + mean"][()]
        assert digit_mean.shape == (3, 10) and f["bias/templates"].shape[1:] == (1, 28, 28)
    # gamma = 1: the stimulus is the class's mean image itself, which the model mostly calls that class
    assert np.nanmean(digit_mean[-1]) > 0.5
