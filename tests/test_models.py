import sys
import textwrap
import warnings

import pytest
import torch
from torch import nn

from revcor.models import architectures, loading, specs
from revcor.models.layers import get_layer, layer_names
from revcor.models.specs import ModelError

MNIST = (1, 28, 28)
CIFAR = (3, 32, 32)

# arch -> (in_shape, kwargs, num_classes, outputs, named layers, parameter count)
CASES = {
    "mnist_cnn": (
        MNIST,
        {},
        10,
        10,
        ["conv1", "conv2", "fc1", "fc2"],
        20 * 25 + 20 + 50 * 20 * 25 + 50 + 800 * 500 + 500 + 500 * 10 + 10,
    ),
    "fashion_cnn": (
        MNIST,
        {},
        10,
        10,
        ["conv1", "conv2", "fc1", "fc2"],
        40 * 25 + 40 + 50 * 40 * 25 + 50 + 800 * 1000 + 1000 + 1000 * 10 + 10,
    ),
    "binary_cnn": (
        MNIST,
        {},
        2,
        1,
        ["conv1", "conv2", "fc1", "fc2"],
        10 * 25 + 10 + 50 * 10 * 25 + 50 + 800 * 100 + 100 + 100 + 1,
    ),
    "mlp": (MNIST, {}, 10, 10, ["fc1", "fc2"], 784 * 1000 + 1000 + 1000 * 10 + 10),
    "logreg": (MNIST, {}, 10, 10, ["fc"], 784 * 10 + 10),
    "rnn": (
        MNIST,
        {},
        10,
        10,
        ["rnn", "fc"],
        (28 * 100 + 100 * 100 + 2 * 100) + (100 * 100 + 100 * 100 + 2 * 100) + 100 * 10 + 10,
    ),
    "cifar_cnn": (
        CIFAR,
        {},
        10,
        10,
        ["conv1", "bn1", "conv2", "conv3", "bn3", "conv4", "conv5", "bn5", "conv6", "fc1", "fc2", "fc3"],
        (3 * 9 * 32 + 32)
        + 2 * 32
        + (32 * 9 * 64 + 64)
        + (64 * 9 * 128 + 128)
        + 2 * 128
        + (128 * 9 * 128 + 128)
        + (128 * 9 * 256 + 256)
        + 2 * 256
        + (256 * 9 * 256 + 256)
        + (4096 * 1024 + 1024)
        + (1024 * 512 + 512)
        + (512 * 10 + 10),
    ),
}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_all_architectures_covered():
    assert set(CASES) == set(architectures.ARCHITECTURES) - set(specs.BACKBONES)  # backbones: test_imagenet.py


@pytest.mark.parametrize("arch", sorted(CASES))
def test_architecture_shapes_layers_and_size(arch):
    in_shape, kwargs, k, outputs, layers, count = CASES[arch]
    torch.manual_seed(0)
    model = architectures.build(arch, in_shape, k, **kwargs).eval()
    out = model(torch.rand(3, *in_shape))
    assert out.shape == (3, outputs)
    assert set(layers) <= set(layer_names(model))
    for name in layers:
        assert get_layer(model, name) is getattr(model, name)
    assert n_params(model) == count
    assert loading.check_fits(model, in_shape, k) == outputs


def test_mnist_cnn_parameter_count_is_431080():
    assert n_params(architectures.build("mnist_cnn", MNIST, 10)) == 431080


def test_logits_not_probabilities():
    torch.manual_seed(0)
    model = architectures.build("logreg", MNIST, 10)
    with torch.no_grad():
        model.fc.weight.mul_(100)
        out = model(torch.rand(4, *MNIST))
    assert not torch.allclose(out.sum(1), torch.ones(4))
    assert (out < 0).any()


def test_variants_and_other_sizes():
    assert architectures.build("binary_cnn", MNIST, 1, conv1_channels=40).conv1.out_channels == 40
    tanh = architectures.build("cifar_cnn", CIFAR, 10, activation="tanh").eval()
    assert tanh(torch.rand(2, *CIFAR)).shape == (2, 10)
    assert architectures.build("mnist_cnn", (3, 32, 32), 5).fc1.in_features == 50 * 5 * 5
    assert architectures.build("cifar_cnn", (1, 16, 24), 4).fc1.in_features == 256 * 2 * 3
    assert architectures.build("rnn", (3, 10, 7), 3)(torch.rand(2, 3, 10, 7)).shape == (2, 3)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("nope", MNIST, 10), {}, "unknown architecture 'nope'; known: mnist_cnn"),
        (("mnist_cnn", (1, 12, 12), 10), {}, r"at least 16x16 pixels, got in_shape \(C,H,W\)=\(1, 12, 12\)"),
        (("cifar_cnn", (3, 4, 4), 10), {}, "at least 8x8"),
        (("mnist_cnn", (28, 28), 10), {}, "in_shape must be three positive integers"),
        (("binary_cnn", MNIST, 10), {}, "num_classes 1 or 2"),
        (("mlp", MNIST, 1), {}, "num_classes an integer >= 2"),
        (("mnist_cnn", MNIST, 10), {"activation": "tanh"}, r"does not accept options \['activation'\]"),
        (("cifar_cnn", CIFAR, 10), {"activation": "gelu"}, "'relu' or 'tanh'"),
    ],
)
def test_build_errors(args, kwargs, match):
    with pytest.raises(ModelError, match=match):
        architectures.build(*args, **kwargs)


def test_save_load_roundtrip(tmp_path):
    torch.manual_seed(1)
    model = architectures.build("binary_cnn", MNIST, 2, conv1_channels=40)
    rng = torch.get_rng_state()
    path = tmp_path / "sub" / "m.pt"
    loading.save(
        model,
        path,
        arch="binary_cnn",
        in_shape=MNIST,
        num_classes=2,
        kwargs={"conv1_channels": 40},
        meta={"task": "1 vs 7", "acc": 0.99},
    )
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temp files left
    loaded = loading.load(path)
    assert torch.equal(torch.get_rng_state(), rng)  # saving and loading leave the global RNG alone
    assert not loaded.module.training
    assert loaded.in_shape == MNIST and loaded.num_classes == 2
    assert loaded.meta == {"task": "1 vs 7", "acc": 0.99}
    assert "binary_cnn" in loaded.source and str(path) in loaded.source
    x = torch.rand(5, *MNIST)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), model.eval()(x))


def test_save_rejects_wrong_arch_and_bad_meta(tmp_path):
    model = architectures.build("logreg", MNIST, 10)
    with pytest.raises(ModelError, match="not a mlp model"):
        loading.save(model, tmp_path / "m.pt", arch="mlp", in_shape=MNIST, num_classes=10, kwargs={}, meta={})
    with pytest.raises(ModelError, match="meta is not JSON-serialisable"):
        loading.save(
            model, tmp_path / "m.pt", arch="logreg", in_shape=MNIST, num_classes=10, kwargs={}, meta={"x": object()}
        )
    assert not list(tmp_path.iterdir())


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5), nn.Linear(3 * 6 * 6, 4)
    )


def test_torchscript_loads(tmp_path):
    torch.manual_seed(2)
    model = small_cnn().eval()
    x = torch.rand(3, 1, 8, 8)
    path = tmp_path / "model.bin"  # detection is by content, not extension
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(model, x).save(str(path))
    loaded = loading.load(path)
    assert "TorchScript" in loaded.source and loaded.in_shape is None
    assert not loaded.module.training
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), model(x))
    assert loading.check_fits(loaded.module, (1, 8, 8), 4) == 4


def export(model: nn.Module, x: torch.Tensor, path, dynamic: bool = True) -> None:
    shapes = ({0: torch.export.Dim("batch")},) if dynamic else None
    torch.export.save(torch.export.export(model, (x,), dynamic_shapes=shapes), path)


def test_torch_export_loads(tmp_path):
    torch.manual_seed(3)
    model = small_cnn().eval()
    x = torch.rand(5, 1, 8, 8)
    export(model, x, tmp_path / "m.pt2")
    loaded = loading.load(tmp_path / "m.pt2")
    assert "torch.export" in loaded.source
    assert loaded.in_shape == (1, 8, 8)
    loaded.module.eval()  # a no-op, but must not raise
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), model(x))
    assert loading.check_fits(loaded.module, loaded.in_shape, 4) == 4


def test_torch_export_rejects_training_mode_and_fixed_batch(tmp_path):
    x = torch.rand(5, 1, 8, 8)
    export(small_cnn().train(), x, tmp_path / "train.pt2")
    with pytest.raises(ModelError, match=r"exported in training mode.*model.eval\(\)"):
        loading.load(tmp_path / "train.pt2")
    export(small_cnn().eval(), x, tmp_path / "fixed.pt2", dynamic=False)
    with pytest.raises(ModelError, match="fixed batch size of 5"):
        loading.load(tmp_path / "fixed.pt2")


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    (tmp_path / "mynets.py").write_text(
        textwrap.dedent("""
        from torch import nn

        def make():
            return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))

        def make_with(width):
            return nn.Sequential(nn.Flatten(), nn.Linear(16, width))

        def broken():
            raise RuntimeError("boom")

        def not_a_model():
            return 42
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mynets", raising=False)
    return tmp_path


def test_factory_with_state_dict(factory_module):
    import mynets

    torch.manual_seed(4)
    model = mynets.make()
    torch.save(model.state_dict(), factory_module / "w.pt")
    loaded = loading.load("mynets:make", state_dict=factory_module / "w.pt")
    assert "mynets:make" in loaded.source and not loaded.module.training
    x = torch.rand(2, 1, 4, 4)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), model(x))


@pytest.mark.parametrize(
    "spec, weights, match",
    [
        ("missing_file.pt", None, "model file missing_file.pt does not exist"),
        ("no_such_pkg.mod:make", "w.pt", "cannot import module 'no_such_pkg.mod'.*No module named"),
        ("mynets:absent", "w.pt", "module 'mynets' has no callable 'absent'"),
        (
            "mynets:make_with",
            "w.pt",
            r"calling mynets:make_with\(\) failed: TypeError: missing a required argument: 'width'",
        ),
        ("mynets:not_a_model", "w.pt", "returned a int, not a torch.nn.Module"),
        ("mynets:make", None, "needs a state dict file"),
        ("mynets:make", "absent.pt", "state dict file .*absent.pt does not exist"),
        (
            "mynets:make",
            "wrong.pt",
            r"does not fit the model: shape mismatch 1.weight file \(5, 16\) vs model \(3, 16\)",
        ),
        ("mynets:make", "extra.pt", "unexpected keys extra"),
        ("mynets:make", "whole.pt", "pickled Python objects"),
        ("garbage.pt", None, "model file garbage.pt is not a model file revcor reads"),
        ("w.pt", None, "is a bare state dict"),
    ],
)
def test_bad_specs(factory_module, monkeypatch, spec, weights, match):
    monkeypatch.chdir(factory_module)
    good = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    torch.save(good.state_dict(), "w.pt")
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(16, 5)).state_dict(), "wrong.pt")
    torch.save({**good.state_dict(), "extra": torch.zeros(1)}, "extra.pt")
    torch.save(good, "whole.pt")
    (factory_module / "garbage.pt").write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match=match) as info:
        loading.load(spec, state_dict=weights)
    assert "\n" not in str(info.value)


def test_a_failing_factory_keeps_its_traceback(factory_module, monkeypatch):
    """A bug in the user's factory is not a revcor error: it propagates as it is."""
    monkeypatch.chdir(factory_module)
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).state_dict(), "w.pt")
    with pytest.raises(RuntimeError, match="^boom$"):
        loading.load("mynets:broken", state_dict="w.pt")


def test_check_fits_errors():
    model = architectures.build("mnist_cnn", MNIST, 10)
    with pytest.raises(
        ModelError, match=r"mnist_cnn does not accept inputs of shape \(N,C,H,W\)=\(N,3,32,32\)"
    ) as info:
        loading.check_fits(model, CIFAR, 10, name="mnist_cnn")
    assert "\n" not in str(info.value)
    with pytest.raises(ModelError, match="has 10 outputs but the data has 3 classes"):
        loading.check_fits(model, MNIST, 3)
    binary = architectures.build("binary_cnn", MNIST, 2)
    assert loading.check_fits(binary, MNIST, 2) == 1
    with pytest.raises(ModelError, match="has 1 output but the data has 10 classes"):
        loading.check_fits(binary, MNIST, 10)


def test_check_fits_keeps_mode_and_batchnorm_statistics():
    model = architectures.build("cifar_cnn", CIFAR, 10).train()
    before = model.bn1.running_mean.clone()
    loading.check_fits(model, CIFAR, 10)
    assert model.training
    assert torch.equal(model.bn1.running_mean, before)


def test_predict_labels():
    one = torch.tensor([[-1.0], [0.5], [0.0], [3.0]])
    assert architectures.predict_labels(one).tolist() == [0, 1, 0, 1]
    assert architectures.predict_labels(one[:, 0]).tolist() == [0, 1, 0, 1]
    many = torch.tensor([[0.1, 2.0, -1.0], [5.0, 0.0, 1.0]])
    assert architectures.predict_labels(many).tolist() == [1, 0]
    with pytest.raises(ModelError, match="shape"):
        architectures.predict_labels(torch.zeros(2, 3, 4))


def test_unknown_layer_lists_valid_names():
    model = architectures.build("mnist_cnn", MNIST, 10)
    assert layer_names(model) == ["conv1", "conv2", "fc1", "fc2"]
    with pytest.raises(ModelError, match="no layer 'conv3'; valid layers: conv1, conv2, fc1, fc2"):
        get_layer(model, "conv3")
    rnn = architectures.build("rnn", MNIST, 10)
    with pytest.raises(ModelError, match="valid layers: rnn, fc"):
        get_layer(rnn, "")
