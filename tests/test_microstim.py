"""Microstimulation (Eq. 6) and psychometric fits."""

import numpy as np
import pytest
import torch
from torch import nn

from revcor.analyses import microstim, psychometric
from revcor.models import architectures
from revcor.noise.sources import WhiteNoise

CPU = torch.device("cpu")


def test_bias_change_is_eq6():
    a = np.array([[1.0, 3.0], [0.5, 0.5], [4.0, 0.0]])  # 3 maps, 2 units each; max = 4
    np.testing.assert_allclose(microstim.bias_change(a, lam=0.1, k=2), 0.1 * 2 * np.array([4, 1, 4]) / 4)
    np.testing.assert_allclose(microstim.bias_change(a, 0.1, 2, sign=-1), -0.1 * 2 * np.array([4, 1, 4]) / 4)
    with pytest.raises(ValueError, match="NaN"):
        microstim.bias_change(np.full((2, 2), np.nan), 1, 1)
    with pytest.raises(ValueError, match="positive"):
        microstim.bias_change(-np.ones((2, 2)), 1, 1)


def test_layer_ks_shared_or_per_layer():
    layers = {"conv1": 0.1, "fc1": 0.01}
    assert microstim.layer_ks({"layers": layers, "ks": [0, 1]}) == {"conv1": [0, 1], "fc1": [0, 1]}
    per = {"conv1": [0, 0.01], "fc1": [0, 100]}
    assert microstim.layer_ks({"layers": layers, "ks": per}) == per
    with pytest.raises(ValueError, match="no entry for layer"):
        microstim.layer_ks({"layers": layers, "ks": {"conv1": [0, 1]}})
    with pytest.raises(ValueError, match="as many values"):
        microstim.layer_ks({"layers": layers, "ks": {"conv1": [0, 1], "fc1": [0, 1, 2]}})
    with pytest.raises(ValueError, match="need a 0"):
        microstim.layer_ks({"layers": layers, "ks": [1, 2]})


def test_stimulated_copy_leaves_the_original_bitwise_untouched():
    torch.manual_seed(0)
    model = architectures.build("mnist_cnn", (1, 28, 28), 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    delta = np.linspace(-1, 1, 20)
    stim = microstim.stimulated(model, "conv1", delta)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    np.testing.assert_allclose(stim.conv1.bias.detach().numpy() - before["conv1.bias"].numpy(), delta, atol=1e-6)
    assert torch.equal(stim.conv2.weight, model.conv2.weight)
    with pytest.raises(ValueError, match="shape"):
        microstim.stimulated(model, "conv1", np.zeros(3))


def test_raising_the_target_logit_bias_raises_the_hit_rate():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    signals = torch.zeros(5, 1, 4, 4)
    source = WhiteNoise((1, 4, 4), storage="float32")
    gammas = [0.0, 0.5, 1.0]
    base = microstim.target_hits(model, signals, source, gammas, target=2, n=2000, seed=1)
    again = microstim.target_hits(model, signals, source, gammas, target=2, n=2000, seed=1)
    np.testing.assert_array_equal(base, again)  # same stimuli for every model
    up = microstim.stimulated(model, "1", np.array([0.0, 0.0, 100.0]))
    assert (microstim.target_hits(up, signals, source, gammas, target=2, n=2000, seed=1) == 2000).all()
    down = microstim.stimulated(model, "1", np.array([0.0, 0.0, -100.0]))
    assert (microstim.target_hits(down, signals, source, gammas, target=2, n=2000, seed=1) == 0).all()


@pytest.mark.parametrize(
    "kind, truth",
    [
        ("logistic", {"threshold": 0.35, "width": 0.05, "guess": 0.1, "lapse": 0.02}),
        ("weibull", {"threshold": 0.4, "width": 4.0, "guess": 0.05, "lapse": 0.03}),
    ],
)
def test_fit_recovers_a_known_psychometric_function(kind, truth):
    gammas = np.linspace(0, 1, 21)
    rng = np.random.default_rng(3)
    n = 2000
    hits = rng.binomial(n, psychometric.curve(gammas, truth, kind))
    result = psychometric.fit(gammas, hits, n, kind=kind, bootstrap=100, seed=0)
    for key, value in truth.items():
        assert result[key] == pytest.approx(value, abs=0.03 if key != "width" else 0.2 * value), key
        lo, hi = result["ci"][key]
        assert lo <= result[key] <= hi
    lo, hi = result["ci"]["threshold"]
    assert lo <= truth["threshold"] <= hi and hi - lo < 0.05


def test_a_flat_curve_has_no_threshold_intervals():
    gammas = np.linspace(0, 0.8, 9)
    result = psychometric.fit(gammas, [0] * 8 + [2], 1000, bootstrap=50)
    assert result["rise"] < psychometric.FLAT and result["ci"] == {} and result["bootstrap"] == 0


def test_sweep_measures_every_curve_once_and_says_why_a_layer_is_skipped():
    """The sweep without files: the unstimulated curve (k = 0) is the same for every layer and
    sign; raising the target's output bias raises its hits and lowering lowers them; a class no
    stimulus was called has its layers skipped with the reason."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 3)).eval()
    source = WhiteNoise((1, 8, 8), storage="float32")
    signals = {0: torch.rand(5, 1, 8, 8), 2: torch.rand(5, 1, 8, 8)}
    means = {"1": np.ones((3, 16)), "3": np.eye(3)}  # per class: 16 hidden units; the output of the class alone
    counts = np.array([10, 10, 0])
    result = microstim.sweep(
        model,
        {"1": 0.5, "3": 0.5},
        {"1": [0, 1], "3": [0, 2]},
        [1, -1],
        signals,
        means,
        counts,
        ["a", "b", "c"],
        source,
        [0.0, 0.5],
        n=200,
        seed=0,
        fit_kind="logistic",
        bootstrap=0,
        device=CPU,
    )
    assert result.hits.shape == (2, 2, 2, 2, 2)
    base = result.hits[:, :, 0, 0]
    assert (base == base[0, 0]).all()  # one unstimulated curve for every sign and layer
    assert result.hits[0, 1, 1, 0].sum() > base[0, 0].sum() > result.hits[1, 1, 1, 0].sum()  # raised, lowered
    assert (result.hits[:, :, :, 1] == -1).all() and set(result.skipped) == {"1/c", "3/c"}
    assert "no stimulus was called c" in result.skipped["1/c"]
    assert set(result.fits) == {
        f"{s}/{layer}/{k:g}/a"
        for s in ("+1", "-1")
        for layer in "13"
        for k in (0, 1, 2)
        if (layer, k) in {("1", 0), ("1", 1), ("3", 0), ("3", 2)}
    }
