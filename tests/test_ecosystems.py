"""Models from other ecosystems: ONNX files run by onnxruntime, Hugging Face ``ModelOutput``,
dict and tuple outputs, ``.safetensors`` weights, checkpoints and timm architectures; each
gives the answers of the network it holds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import usernets
from safetensors.torch import save_file

from revcor import api
from revcor.core import maps
from revcor.data import datasets
from revcor.models import architectures, given, loading
from revcor.models.specs import ModelError

NORM = usernets.MNIST_NORMALIZE


@pytest.fixture(scope="module")
def digits(mnist5k) -> torch.Tensor:
    return datasets.to_tensor(datasets.load(mnist5k, "test").images[:300])


@pytest.fixture(scope="module")
def folded(user_models) -> torch.nn.Module:
    """The user's trained network with its input normalisation folded in."""
    return usernets.Normalizing(user_models["net"], **NORM).eval()


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory, folded) -> str:
    """The trained network exported with torch.onnx.export (its default exporter), with a
    dynamic batch dimension."""
    path = tmp_path_factory.mktemp("onnx") / "net.onnx"
    batch = torch.export.Dim("batch")
    torch.onnx.export(folded, (torch.zeros(2, 1, 28, 28),), str(path), dynamic_shapes={"x": {0: batch}})
    return str(path)


def test_onnx_maps_equal_the_torch_runs(onnx_file, folded, digits):
    loaded = loading.load(onnx_file)
    assert loaded.in_shape == (1, 28, 28) and "ONNX" in loaded.source
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(digits), folded(digits), rtol=1e-5, atol=1e-5)
    run = {"seed": 3, "device": "cpu", "progress": False, "checkpoints": [], "compile": False}
    a = maps.class_maps(api.classification_images(onnx_file, 8192, **run))
    b = maps.class_maps(api.classification_images(folded, 8192, input_shape=(1, 28, 28), **run))
    np.testing.assert_array_equal(a["counts"], b["counts"])
    np.testing.assert_allclose(a["maps"], b["maps"], atol=1e-5)
    np.testing.assert_allclose(a["zmaps"], b["zmaps"], atol=1e-5, equal_nan=True)


def test_onnx_goes_through_the_workflows_model_file_and_layer_analyses_refuse(
    tmp_path, onnx_file, folded, digits, mnist5k
):
    loaded = given.write({"file": onnx_file}, tmp_path / "m.pt", in_shape=(1, 28, 28), num_classes=10, meta={})
    again = loading.load(tmp_path / "m.pt").module  # the program travels inside the revcor model file
    with torch.no_grad():
        torch.testing.assert_close(again(digits), folded(digits), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(loaded.module(digits), folded(digits), rtol=1e-5, atol=1e-5)
    with pytest.raises(ModelError, match="TorchScript or ONNX model cannot run"):
        api.units(onnx_file, mnist5k, tmp_path / "u.h5", layers=["conv1"], n=1000, progress=False)


@pytest.mark.parametrize(
    "wrapper, key",
    [(usernets.HuggingFaceStyle, None), (usernets.DictOutput, "scores"), (usernets.TupleOutput, None)],
    ids=["modeloutput", "dict", "tuple"],
)
def test_structured_outputs_give_the_logits(wrapper, key, folded, digits):
    module = wrapper(folded).eval()
    wrapped = loading.wrap(module, output_key=key)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(digits), folded(digits))
    run = {"seed": 1, "device": "cpu", "progress": False, "checkpoints": [], "input_shape": (1, 28, 28)}
    a = api.classification_images(module, 2048, output_key=key, **run)
    b = api.classification_images(folded, 2048, **run)
    np.testing.assert_array_equal(a["count"], b["count"])
    np.testing.assert_array_equal(a["sum"], b["sum"])


def test_a_dict_without_logits_names_its_keys_and_a_wrong_key_is_refused(folded):
    module = usernets.DictOutput(folded).eval()
    with pytest.raises(ModelError, match="dict with keys features, scores.*--output-key"):
        api.classification_images(module, 1000, input_shape=(1, 28, 28), device="cpu", progress=False)
    with pytest.raises(ModelError, match="has no 'logits'"):
        api.classification_images(
            module, 1000, input_shape=(1, 28, 28), output_key="logits", device="cpu", progress=False
        )


def test_safetensors_and_checkpoint_dicts_are_weights_of_a_factory(tmp_path, user_models, digits):
    state = user_models["net"].state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "w.safetensors")
    torch.save({"epoch": 3, "model_state_dict": state, "optimizer": {}}, tmp_path / "ckpt.pt")
    torch.save({"epoch": 3, "optimizer": {"lr": 1e-3}}, tmp_path / "no_weights.pt")
    for weights in ("w.safetensors", "ckpt.pt"):
        loaded = loading.load("usernets:make", tmp_path / weights, normalize=NORM)
        with torch.no_grad():
            torch.testing.assert_close(loaded.module(digits), usernets.Normalizing(user_models["net"], **NORM)(digits))
    with pytest.raises(ModelError, match="checkpoint with keys epoch, optimizer and no state dict"):
        loading.load("usernets:make", tmp_path / "no_weights.pt")


def test_timm_architectures_by_name_trained_here_and_given_with_weights(tmp_path, mnist5k, digits):
    train = datasets.load(mnist5k, "train")
    net = architectures.build("timm:test_resnet", (1, 28, 28), 10)
    net = usernets.train_briefly(net, train.images[:2000], train.labels[:2000], NORM, epochs=1)
    with torch.no_grad():
        accuracy = (
            net(usernets.Normalizing(torch.nn.Identity(), **NORM)(digits)).argmax(1).numpy()
            == datasets.load(mnist5k, "test").labels[:300]
        ).mean()
    assert accuracy > 0.5  # it learned something: a real model, not a random one
    save_file(net.state_dict(), tmp_path / "timm.safetensors")
    settings = {"timm": "test_resnet", "weights": str(tmp_path / "timm.safetensors"), "normalize": NORM}
    loaded = given.write(settings, tmp_path / "m.pt", in_shape=(1, 28, 28), num_classes=10, meta={})
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(digits), usernets.Normalizing(net, **NORM).eval()(digits))
    with pytest.raises(ModelError, match="not a timm architecture"):
        architectures.build("timm:no_such_net", (1, 28, 28), 10)


@pytest.mark.workflow
def test_onnx_runs_the_forward_only_analyses_attack_and_scan(tmp_path, onnx_file, mnist5k):
    attack = api.attack(onnx_file, mnist5k, tmp_path / "attack.h5", n=4096, noise_samples=200, progress=False)
    assert set(attack["mean"]) and all(0 <= r <= 1 for rates in attack["mean"].values() for r in rates)
    result, _ = api.scan(
        onnx_file,
        mnist5k,
        references=[onnx_file] * 3,
        n=4096,
        local_n=2000,
        causal_images=10,
        device="cpu",
        out=tmp_path / "scan.json",
        progress=False,
    )
    # the model is its own references: nothing sets it apart
    assert result["verdict"] == "clean" and result["p_value"] > 0.05 and (tmp_path / "scan.json").is_file()
