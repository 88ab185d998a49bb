"""Class-mean layer activations and activation injection, against direct computations on a tiny CNN."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from revcor.analyses import activations
from revcor.core import engine, maps
from revcor.models.layers import replace_output
from revcor.noise import sources

K, C, H, W = 4, 1, 6, 6
CPU = torch.device("cpu")
GAMMAS = [0.0, 0.3, 0.7, 1.0]


class Tiny(nn.Module):
    """conv (1->3, 3x3) ReLU -> fc1 (48 -> hidden) ReLU -> fc2 (hidden -> K), with the fc2
    bias set so that every class gets a share of uniform noise images."""

    def __init__(self, hidden=5, seed=0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.conv = nn.Conv2d(C, 3, 3)
            self.fc1 = nn.Linear(3 * 4 * 4, hidden)
            self.fc2 = nn.Linear(hidden, K)
        with torch.no_grad():
            self.fc2.weight.mul_(20)
            self.fc2.bias.zero_()
            self.fc2.bias.sub_(self(images(500, seed=9)).mean(0))

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(F.relu(self.conv(x)).flatten(1))))


def reference(net, x, layer=None, fn=None):
    """Tiny's forward pass step by step: logits and every layer's output; the output of
    ``layer`` is replaced by ``fn(output)``."""
    out = {}

    def stage(name, a):
        out[name] = fn(a) if name == layer else a
        return out[name]

    with torch.no_grad():
        x = stage("input", x)
        c = stage("conv", net.conv(x))
        h = stage("fc1", net.fc1(F.relu(c).flatten(1)))
        return stage("fc2", net.fc2(F.relu(h))), out


def never_predicts_last(net):
    with torch.no_grad():
        net.fc2.bias[K - 1] = -100.0
    return net


def images(n=120, seed=1):
    return torch.from_numpy(np.random.default_rng(seed).uniform(size=(n, C, H, W)).astype(np.float32))


def labels_of(n=120, seed=2):
    return np.random.default_rng(seed).integers(0, K, size=n)


def no_hooks(net):
    return all(not m._forward_hooks for m in net.modules())


def direct_means(values, classes):
    """(K, ...) per-class means by a Python loop over the classes; NaN for empty classes."""
    values = values.numpy().astype(np.float64)
    out = np.full((K, *values.shape[1:]), np.nan)
    for k in range(K):
        if (classes == k).any():
            out[k] = values[classes == k].mean(0)
    return out


LAYERS = ["conv", "fc1", "fc2", "input"]


def test_class_means_by_prediction_matches_direct_and_empty_class_is_nan():
    net = never_predicts_last(Tiny())
    x = images()
    logits, outs = reference(net, x)
    pred = logits.argmax(1).numpy()
    assert not (pred == K - 1).any()
    batches = ((x[i : i + 17], None) for i in range(0, len(x), 17))
    got = activations.class_means(net, LAYERS, batches, K, device=CPU)
    assert np.array_equal(got["counts"], np.bincount(pred, minlength=K))
    assert got["counts"].dtype == np.int64
    assert got["means"]["conv"].shape == (K, 3, 4, 4) and got["means"]["fc1"].shape == (K, 5)
    assert got["means"]["input"].shape == (K, C, H, W)
    for name in LAYERS:
        m = got["means"][name]
        assert m.dtype == np.float64
        np.testing.assert_allclose(m, direct_means(outs[name], pred), rtol=1e-5, atol=1e-6)
        assert np.isnan(m[K - 1]).all() and np.isfinite(m[: K - 1]).all()
    assert no_hooks(net)


def test_compiled_class_means_equal_the_eager_ones(compile_cache):
    net, x = Tiny(), images(300)
    batches = lambda: ((x[i : i + 64], None) for i in range(0, len(x), 64))  # noqa: E731 (a short last batch)
    eager = activations.class_means(net, LAYERS, batches(), K, device=CPU)
    compiled = activations.class_means(net, LAYERS, batches(), K, device=CPU, compiled="default")
    assert any(compile_cache.rglob("*.py"))
    assert np.array_equal(compiled["counts"], eager["counts"])
    for name in LAYERS:
        np.testing.assert_allclose(compiled["means"][name], eager["means"][name], rtol=1e-5, atol=1e-7)
    assert no_hooks(net)


def test_class_means_by_label_uses_the_labels():
    net = Tiny()
    x = images(90)
    y = labels_of(90)
    y[y == 2] = 0  # class 2 has no images
    got = activations.class_means(
        net,
        ["fc1", "conv"],
        activations.data_batches((x.numpy() * 255).round().astype(np.uint8), y, 25, CPU),
        K,
        by="label",
        device=CPU,
    )
    assert np.array_equal(got["counts"], np.bincount(y, minlength=K))
    _, outs = reference(net, torch.from_numpy((x.numpy() * 255).round().astype(np.float32) / 255))
    for name in ("fc1", "conv"):
        np.testing.assert_allclose(got["means"][name], direct_means(outs[name], y), rtol=1e-5, atol=1e-6)
        assert np.isnan(got["means"][name][2]).all()
    rect = activations.class_means(
        net,
        ["fc1", "conv"],
        activations.data_batches((x.numpy() * 255).round().astype(np.uint8), y, 25, CPU),
        K,
        by="label",
        rectify=True,
        device=CPU,
    )
    for name in ("fc1", "conv"):  # the mean firing rate: mean of max(output, 0), not max of the mean
        assert (outs[name] < 0).any()
        np.testing.assert_allclose(rect["means"][name], direct_means(outs[name].clamp(min=0), y), rtol=1e-5, atol=1e-6)


def test_class_means_errors_remove_the_hooks():
    net = Tiny()
    with pytest.raises(ValueError, match="needs labels"):
        activations.class_means(net, ["conv", "fc1"], [(images(8), None)], K, by="label")
    assert no_hooks(net)

    def failing():
        yield images(8), None
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        activations.class_means(net, ["conv", "fc1"], failing(), K)
    assert no_hooks(net)
    with torch.no_grad():
        net.fc2.bias[K - 1] = 100.0  # always predicts class 3: outside 3 classes
    with pytest.raises(ValueError, match=r"predicted labels must lie in \[0, 3\), got \[3, 3\]"):
        activations.class_means(net, ["fc1"], [(images(20), None)], K - 1)
    with pytest.raises(ValueError, match="no samples"):
        activations.class_means(net, ["fc1"], [], K)
    with pytest.raises(ValueError, match="by must be"):
        activations.class_means(net, ["fc1"], [], K, by="truth")
    assert no_hooks(net)


def test_replace_hook_changes_the_output_and_is_removed_on_exit_and_on_exception():
    net = Tiny()
    x = images(3)
    with replace_output(net, "fc1", lambda a: torch.zeros_like(a)):
        assert net.fc1._forward_hooks
        replaced = net(x)
    assert torch.allclose(replaced, net.fc2(torch.zeros(3, 5)).expand(3, K))
    assert no_hooks(net)
    with pytest.raises(KeyError):
        with replace_output(net, "conv", lambda a: a):
            raise KeyError("inside")
    assert no_hooks(net)
    with pytest.raises(ValueError, match="no layer 'nope'"):
        with replace_output(net, "nope", lambda a: a):
            pass


def test_noise_and_data_batches():
    source = sources.make({"kind": "white"}, (C, H, W))
    got = list(activations.noise_batches(source, 25, 7, 4, CPU, chunk_size=10))
    assert [len(x) for x, _ in got] == [4, 4, 2] * 2 + [4, 1]
    assert all(y is None and x.dtype == torch.float32 for x, y in got)
    expected = torch.cat([source.to_input(engine.draw(source, 7, i, 25, 10, CPU)[0]) for i in range(3)])
    assert torch.equal(torch.cat([x for x, _ in got]), expected)
    plain = torch.cat([x for x, _ in activations.noise_batches(source, 25, 7, 10, CPU)])
    assert torch.equal(plain, expected)  # chunk size defaults to the batch size
    imgs = np.arange(5 * C * H * W, dtype=np.int64).reshape(5, C, H, W).astype(np.uint8)
    batches = list(activations.data_batches(imgs, [0, 1, 2, 3, 0], 2, CPU))
    assert [len(y) for _, y in batches] == [2, 2, 1]
    assert torch.equal(batches[1][0], torch.from_numpy(imgs[2:4]).float() / 255)
    assert batches[2][1].tolist() == [0]
    with pytest.raises(ValueError, match="5 images but 4 labels"):
        list(activations.data_batches(imgs, [0, 1, 2, 3], 2, CPU))


def test_class_distances_on_constructed_means():
    m = np.zeros((4, 2, 2))
    m[1, 0, 0] = 2.0
    m[2, 0, 1] = 2.0
    m[3] = np.nan  # absent class: ignored
    # distances 2, 2 and 2*sqrt(2) between the three classes; 4 units
    assert activations.class_distances(m) == pytest.approx((4 + 2 * np.sqrt(2)) / 3 / 2)
    assert activations.class_distances(np.array([[1.0, 1.0], [np.nan, 0.0]])) != activations.class_distances(
        np.array([[1.0, 1.0], [0.0, 0.0]])
    )
    assert np.isnan(activations.class_distances(np.array([[1.0, 1.0], [np.nan, 0.0]])))
    # a constant shift of every unit by d is an RMS difference of d per unit whatever the size
    for units in (3, 300):
        assert activations.class_distances(np.stack([np.zeros(units), np.full(units, 0.5)])) == pytest.approx(0.5)


def test_similarity_is_the_per_class_pearson_correlation():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 3, 2, 2))
    b = np.stack([2 * a[0] + 1, -a[1], rng.normal(size=(3, 2, 2)), np.full((3, 2, 2), np.nan)])
    r = maps.similarity(a, b)
    assert r.shape == (4,)
    assert r[0] == pytest.approx(1.0) and r[1] == pytest.approx(-1.0)
    assert r[2] == pytest.approx(np.corrcoef(a[2].ravel(), b[2].ravel())[0, 1])
    assert np.isnan(r[3])
    with pytest.raises(ValueError, match="differ"):
        maps.similarity(a, b[:3])


def noise_means(net, layers):
    source = sources.make({"kind": "white"}, (C, H, W))
    return activations.class_means(net, layers, activations.noise_batches(source, 400, 3, 64, CPU), K, device=CPU)[
        "means"
    ]


def brute_rates(net, layer, acts, x, y, gammas):
    """Rates by a loop over gammas and targets through the step-by-step forward pass."""
    rates = np.full((len(gammas), K), np.nan)
    for k in range(K):
        if not np.isfinite(acts[k]).all():
            continue
        a = torch.from_numpy(acts[k]).float()
        for i, g in enumerate(gammas):
            if layer == "input":
                logits, _ = reference(net, (1 - g) * a + g * x)
            else:
                logits, _ = reference(net, x, layer, lambda out, a=a, g=g: (1 - g) * a + g * out)
            pred = logits.argmax(1).numpy()
            rates[i, k] = ((pred == k) & (y != k)).sum() / (y != k).sum()
    return rates


@pytest.mark.parametrize("layer", ["conv", "fc1", "input"])
def test_injection_rates_match_brute_force_and_limits(layer):
    net = never_predicts_last(Tiny())
    acts = noise_means(net, [layer])[layer]
    assert np.isnan(acts[K - 1]).all() and np.isfinite(acts[: K - 1]).all()
    x, y = images(), labels_of()
    before = net(x).detach()
    rates = activations.injection_rates(net, layer, acts, x, y, GAMMAS, batch_size=50, device=CPU)
    assert rates.shape == (len(GAMMAS), K) and rates.dtype == np.float64
    np.testing.assert_array_equal(rates, brute_rates(net, layer, acts, x, y, GAMMAS))
    assert np.isnan(rates[:, K - 1]).all()  # no noise fell into the last class
    # gamma = 1: the clean model's labels
    clean = before.argmax(1).numpy()
    for k in range(K - 1):
        assert rates[-1, k] == pytest.approx(((clean == k) & (y != k)).sum() / (y != k).sum())
    # gamma = 0: every image gets the label of the injected activation alone
    for k in range(K - 1):
        a = torch.from_numpy(acts[k][None]).float()
        alone = (
            (reference(net, a)[0] if layer == "input" else reference(net, x[:1], layer, lambda out, a=a: a)[0])
            .argmax(1)
            .item()
        )
        assert rates[0, k] == float(alone == k)
    # hooks gone, model unchanged
    assert no_hooks(net)
    torch.testing.assert_close(net(x), before, rtol=1e-5, atol=1e-6)


def test_injection_forces_the_target_at_the_last_hidden_layer():
    net = Tiny(hidden=K)
    with torch.no_grad():
        net.fc2.weight.copy_(torch.eye(K))
        net.fc2.bias.zero_()
    acts = 1e4 * np.eye(K)  # fc1 output that makes logit k dominate
    x, y = images(), labels_of()
    rates = activations.injection_rates(net, "fc1", acts, x, y, [0.0, 0.5, 1.0], batch_size=7, device=CPU)
    assert np.array_equal(rates[:2], np.ones((2, K)))
    clean = net(x).argmax(1).numpy()
    assert np.allclose(rates[2], [((clean == k) & (y != k)).mean() / (y != k).mean() for k in range(K)])


def test_injection_checks_shapes_and_removes_the_hook():
    net = Tiny()
    with pytest.raises(ValueError, match=r"class activations of shape \(7,\) do not match the output \(5,\)"):
        activations.injection_rates(net, "fc1", np.zeros((K, 7)), images(10), labels_of(10), [0.5])
    assert no_hooks(net)
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        activations.injection_rates(net, "fc1", np.zeros((K, 5)), images(10), labels_of(9), [0.5])
    all_nan = activations.injection_rates(net, "fc1", np.full((K, 5), np.nan), images(10), labels_of(10), [0, 1])
    assert np.isnan(all_nan).all()


def test_examples_picks_a_correct_image_and_injects_per_layer():
    net = never_predicts_last(Tiny())
    acts = noise_means(net, ["conv", "fc1", "input"])
    x, y = images(), labels_of()
    clean = net(x).argmax(1).numpy()
    source = int(clean[0])
    target = (source + 1) % (K - 1)
    ex = activations.examples(net, acts, x, y, source, target, 0.4, device=CPU)
    first_correct = np.flatnonzero((y == source) & (clean == source))[0]
    assert ex["index"] == first_correct and ex["prediction"] == source and ex["label"] == source
    assert np.array_equal(ex["image"], x[first_correct].numpy())
    assert ex["target"] == target and ex["gamma"] == 0.4
    one = x[first_correct : first_correct + 1]
    for layer in ("conv", "fc1"):
        a = torch.from_numpy(acts[layer][target]).float()
        want = reference(net, one, layer, lambda out, a=a: 0.6 * a + 0.4 * out)[0].argmax(1).item()
        assert ex["injected"][layer] == want
    a = torch.from_numpy(acts["input"][target]).float()
    assert ex["injected"]["input"] == reference(net, 0.6 * a + 0.4 * one)[0].argmax(1).item()
    missing = activations.examples(net, acts, x, y, source, K - 1, 0.4, device=CPU)["injected"]
    assert missing == {"conv": -1, "fc1": -1, "input": -1}
    with pytest.raises(ValueError, match="no image of class 9"):
        activations.examples(net, acts, x, y, 9, 0, 0.4)
    assert no_hooks(net)
