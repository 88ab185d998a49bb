"""Spike-triggered analysis: hooks, receptive fields, STA / whitened STA / STC on units with
known filters, and the noise-driven driver."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from revcor.analyses import units
from revcor.core import maps
from revcor.models import architectures, specs
from revcor.models.layers import capture, outputs
from revcor.noise.sources import WhiteNoise

CPU = torch.device("cpu")
UNIFORM_VAR = (256**2 - 1) / 12 / 255**2  # variance of uint8 uniform noise on [0, 1]


def mnist_cnn(seed=0):
    torch.manual_seed(seed)
    return architectures.build("mnist_cnn", (1, 28, 28), 10).eval()


def feed(model, layers, reducer, x, batch=1000):
    """Run ``x`` through ``model`` in batches and update ``reducer``."""
    with capture(model, layers) as out, torch.no_grad():
        for i in range(0, len(x), batch):
            model(x[i : i + batch])
            reducer.update(x[i : i + batch], out)


def uniform(n, shape=(1, 28, 28), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8).float() / 255


def projection_norm(basis, vectors):
    """Norm of each unit vector's projection onto the span of ``basis`` rows."""
    q, _ = np.linalg.qr(np.asarray(basis).T)
    v = np.asarray(vectors) / np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.linalg.norm(v @ q, axis=1)


# --------------------------------------------------------------------------- hooks, RFs


def test_capture_records_outputs_and_removes_hooks():
    model = mnist_cnn()
    x = torch.rand(3, 1, 28, 28)
    with capture(model, ["conv1", "fc2"]) as out:
        logits = model(x)
        assert model.conv1._forward_hooks and model.fc2._forward_hooks
    assert out["conv1"].shape == (3, 20, 24, 24) and torch.equal(out["fc2"], logits)
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(RuntimeError, match="boom"):
        with capture(model, "conv2"):
            raise RuntimeError("boom")
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(specs.ModelError, match="valid layers: conv1, conv2, fc1, fc2"):
        with capture(model, ["conv1", "pool"]):
            pass
    assert all(not m._forward_hooks for m in model.modules())


def test_receptive_fields():
    model = mnist_cnn().train()
    rf1 = units.receptive_field(model, "conv1", (1, 28, 28))
    assert rf1 == units.RF(0, 0, 5, 5, 1, 1, (20, 24, 24))
    assert units.receptive_field(model, "conv2", (1, 28, 28)) == units.RF(0, 0, 14, 14, 2, 2, (50, 8, 8))
    assert units.receptive_field(model, "fc1", (1, 28, 28)) == units.RF(0, 0, 28, 28, 0, 0, (500,))
    assert model.training and all(p.requires_grad for p in model.parameters())  # restored
    torch.manual_seed(0)
    cifar = architectures.build("cifar_cnn", (3, 32, 32), 10, activation="tanh")
    assert units.receptive_field(cifar, "conv1", (3, 32, 32)) == units.RF(-1, -1, 3, 3, 1, 1, (32, 32, 32))
    # larger than the image at the border, with padding on every side
    assert units.receptive_field(cifar, "conv6", (3, 32, 32)) == units.RF(-14, -14, 32, 32, 4, 4, (256, 8, 8))


def test_unit_patches_match_the_convolution():
    torch.manual_seed(1)
    conv = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, bias=False))
    rf = units.receptive_field(conv, "0", (2, 9, 9))
    assert rf == units.RF(-1, -1, 3, 3, 1, 1, (3, 9, 9))
    x = torch.randn(5, 2, 9, 9)
    y = conv(x).detach()
    conv = conv[0]
    for pos in [(0, 0), (4, 6), (8, 8)]:
        patch = units.unit_patches(x, rf, pos)
        assert torch.allclose(patch @ conv.weight[1].detach().flatten(), y[:, 1, pos[0], pos[1]], atol=1e-5)


# --------------------------------------------------------------------------- STA


def test_sta_of_first_conv_layer_is_its_kernel():
    model = mnist_cnn()
    x = uniform(20000)
    sta, rect = (units.STA(model, ["conv1"], (1, 28, 28), rectify=r) for r in (False, True))
    with capture(model, ["conv1"]) as out, torch.no_grad():
        for i in range(0, len(x), 2000):
            model(x[i : i + 2000])
            sta.update(x[i : i + 2000], out)
            rect.update(x[i : i + 2000], out)
    kernel = model.conv1.weight.detach().numpy()
    s = sta.result()["conv1"]
    assert s.shape == (20, 1, 5, 5) and sta.count == 20000
    assert maps.similarity(s, kernel).min() > 0.99
    # cross-covariance normalisation: exactly the noise variance times the kernel
    assert np.allclose(s, UNIFORM_VAR * kernel, atol=0.05 * np.abs(UNIFORM_VAR * kernel).max())
    corr = maps.similarity(rect.result()["conv1"], kernel)
    assert np.mean(corr > 0.9) >= 0.9
    n_sp = rect.norm("conv1").numpy()
    ref = torch.relu(model.conv1(x[:2000])).detach().double().sum((0, 2, 3)).numpy()
    assert np.all(n_sp > 5 * ref) and np.all(n_sp < 15 * ref)  # ~10x the first tenth


def test_no_dc_offset_from_the_noise_mean():
    torch.manual_seed(2)
    conv = nn.Sequential()
    conv.add_module("c", nn.Conv2d(1, 2, 5))
    with torch.no_grad():
        conv.c.weight.sub_(conv.c.weight.mean((1, 2, 3), keepdim=True))  # zero-sum kernels
        conv.c.bias.fill_(1.0)
    x = uniform(4000, (1, 16, 16))
    centred, nominal0 = (units.STA(conv, ["c"], (1, 16, 16), mean=m, rectify=True) for m in (0.5, 0.0))
    with capture(conv, ["c"]) as out, torch.no_grad():
        conv(x)
        centred.update(x, out)
        nominal0.update(x, out)
    s = centred.result()["c"]
    for k in range(2):
        assert abs(s[k].mean()) < 0.02 * np.abs(s[k]).max()
    # the sample mean is removed exactly: the nominal mean only conditions the float32 sums
    assert np.allclose(nominal0.result()["c"], s, atol=2e-3 * np.abs(s).max())
    assert maps.similarity(s, conv.c.weight.detach().numpy()).min() > 0.95
    # the authors' way (no mean removed) has an offset of about mean(noise) = 0.5
    y = torch.relu(out["c"]).double()
    windows = F.unfold(x.double(), 5)  # (N, 25, P)
    authors = torch.einsum("nmp,ndp->md", y.flatten(2), windows) / y.sum((0, 2, 3))[:, None]
    assert np.all(authors.mean(1).numpy() > 0.45)


def test_linear_layer_sta_is_the_weight_rows():
    torch.manual_seed(3)
    model = architectures.build("logreg", (1, 28, 28), 10)
    res = units.run(
        model, ["fc"], WhiteNoise((1, 28, 28)), n=100_000, seed=1, chunk_size=40_000, batch_size=5000, progress=False
    )
    fc = res["fc"]
    assert fc["sta"].shape == (10, 1, 28, 28) and fc["count"] == 100_000
    assert fc["rf"] == units.RF(0, 0, 28, 28, 0, 0, (10,))
    assert maps.similarity(fc["sta"], fc["kernel"]).min() > 0.99
    assert np.allclose(fc["kernel"].reshape(10, -1), model.fc.weight.detach().numpy())


# --------------------------------------------------------------------------- whitened STA


def test_whitened_sta_recovers_the_filter_from_correlated_stimuli():
    torch.manual_seed(4)
    conv = nn.Sequential()
    conv.add_module("c", nn.Conv2d(1, 4, 5))
    g = torch.Generator().manual_seed(5)
    t = torch.arange(-3, 4.0)
    blur = torch.exp(-(t[:, None] ** 2 + t[None] ** 2) / 2)[None, None]
    x = F.conv2d(torch.randn(4000, 1, 22, 22, generator=g), blur / blur.sum())  # smooth, mean 0
    reducer = units.WhitenedSTA(conv, ["c"], (1, 16, 16), mean=0.0)
    feed(conv, ["c"], reducer, x)
    kernel = conv.c.weight.detach().numpy()
    whitened = maps.similarity(reducer.result()["c"], kernel)
    plain = maps.similarity(reducer.plain()["c"], kernel)
    assert whitened.min() > 0.95
    assert np.all(plain < whitened - 0.1)


def test_whitened_sta_limits_the_dimension():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 40 * 40, 2))
    with pytest.raises(ValueError, match="4800 x 4800"):
        units.WhitenedSTA(model, ["1"], (3, 40, 40))


# --------------------------------------------------------------------------- STC


def energy_data(n=50_000, d=64, seed=6):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    w, _ = torch.linalg.qr(torch.randn(d, 2, generator=g, dtype=torch.float64))
    return x, w.T


def test_stc_finds_the_two_filters_of_an_energy_model():
    x, w = energy_data()
    y = ((x @ w.T) ** 2).sum(1)
    stc = units.STC(64, shuffles=20, seed=0)
    for i in range(0, len(x), 10_000):
        stc.update(x[i : i + 10_000], y[i : i + 10_000])
    res = stc.result()
    assert res["excitatory"] == [0, 1] and res["suppressive"] == []
    lower, upper = res["null_bounds"]
    assert lower < 0 < upper < 0.3 < res["eigenvalues"][1]
    assert np.all(np.diff(res["eigenvalues"]) <= 0)
    assert projection_norm(w.numpy(), res["eigenvectors"][:2]).min() > 0.95
    assert np.abs(res["sta"]).max() < 0.1  # symmetric nonlinearity: no STA
    assert res["stc"].shape == (64, 64) and res["n"] == 50_000


def test_stc_of_a_unit_independent_of_the_stimulus_is_empty():
    x, _ = energy_data(seed=7)
    y = torch.distributions.Exponential(1.0).sample((len(x),)).double()
    stc = units.STC(64, shuffles=20, seed=1)
    stc.update(x, y)
    res = stc.result()
    assert res["excitatory"] == [] and res["suppressive"] == []
    with pytest.raises(ValueError, match=">= 0"):
        stc.update(x[:10], -y[:10])
    silent = units.STC(64)
    silent.update(x[:100], torch.zeros(100))
    with pytest.raises(ValueError, match="never responded"):
        silent.result()
    with pytest.raises(ValueError, match="D <= 1024"):
        units.STC(3 * 32 * 32)


# --------------------------------------------------------------------------- driver


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 5 * 5, 3)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        return self.fc(torch.relu(self.conv2(x)).flatten(1))


def test_compiled_layer_outputs_give_the_eager_stas(compile_cache, caplog):
    torch.manual_seed(8)
    model = TinyCNN().eval()
    common = {"n": 2500, "seed": 3, "chunk_size": 1000, "batch_size": 256, "progress": False}  # short batches
    eager = units.run(model, ["conv1", "conv2"], WhiteNoise((1, 12, 12)), **common)
    with caplog.at_level("INFO", logger="revcor.core.engine"):
        compiled = units.run(model, ["conv1", "conv2"], WhiteNoise((1, 12, 12)), **common, compiled="default")
    (message,) = [r.getMessage() for r in caplog.records if r.name == "revcor.core.engine"]
    assert message.startswith("compiled the forward pass (default) in ")  # no warning: outputs agree
    assert any(compile_cache.rglob("*.py"))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    for name in ("conv1", "conv2"):
        assert compiled[name]["count"] == 2500
        np.testing.assert_allclose(compiled[name]["sta"], eager[name]["sta"], rtol=1e-5, atol=1e-7, err_msg=name)


def test_layer_outputs_stop_early_or_give_the_logits_too():
    model = mnist_cnn()
    x = torch.rand(3, 1, 28, 28)
    with outputs(model, ["conv1"]) as stopped:
        logits, out = stopped(x)
    assert logits is None and out["conv1"].shape == (3, 20, 24, 24)
    with outputs(model, ["conv2", "conv1"], logits=True, stop=False) as full:
        logits, out = full(x)
    assert torch.equal(logits, model(x)) and list(out) == ["conv2", "conv1"]
    with pytest.raises(ValueError, match="stop=False"):
        with outputs(model, ["conv1"], logits=True):
            pass
    model.forward = lambda x: model.conv1(x)  # conv2 never runs
    with outputs(model, ["conv1", "conv2"], stop=False) as partial:
        with pytest.raises(specs.ModelError, match="'conv2' did not run"):
            partial(x)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_run_end_to_end():
    torch.manual_seed(8)
    model = TinyCNN().train()
    res = units.run(
        model,
        ["conv1", "conv2"],
        WhiteNoise((1, 12, 12)),
        n=6000,
        seed=3,
        chunk_size=2500,
        batch_size=1000,
        progress=False,
        whiten_layers=["conv1"],
        stc_units=[("conv2", 2), ("conv1", 0, (0, 0))],
        shuffles=5,
    )
    assert list(res) == ["conv1", "conv2"] and model.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    c1, c2 = res["conv1"], res["conv2"]
    assert c1["rf"] == units.RF(0, 0, 3, 3, 1, 1, (4, 10, 10))
    assert c2["rf"] == units.RF(-2, -2, 8, 8, 2, 2, (6, 5, 5))
    assert c1["sta"].shape == (4, 1, 3, 3) and c2["sta"].shape == (6, 1, 8, 8)
    assert c2["kernel"].shape == (6, 4, 3, 3) and c1["count"] == c2["count"] == 6000
    assert maps.similarity(c1["sta"], c1["kernel"]).min() > 0.99
    # white noise: the whitened STA is the STA over the noise variance
    expected = c1["sta"] / UNIFORM_VAR
    assert np.allclose(c1["whitened"], expected, rtol=0.1, atol=0.05 * np.abs(expected).max())
    (s2,) = c2["stc"]
    assert s2["channel"] == 2 and s2["position"] == (2, 2) and s2["eigenvectors"].shape == (64, 64)
    (s1,) = c1["stc"]
    assert s1["position"] == (0, 0) and s1["sta"].shape == (9,)
    # the driver is deterministic in the seed
    again = units.run(
        model, ["conv1"], WhiteNoise((1, 12, 12)), n=6000, seed=3, chunk_size=2500, batch_size=1000, progress=False
    )
    assert np.array_equal(again["conv1"]["sta"], c1["sta"])
