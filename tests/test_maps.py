"""Classification images from statistics: right under the null, and find a known template."""

import numpy as np
import pytest
import torch

from revcor.core import engine, evaluate, maps
from revcor.core.reduce import Reducer
from revcor.core.stats import Layout
from revcor.noise import sources

CPU = torch.device("cpu")


def reduce(logits_fn, n=60000, shape=(1, 8, 8), k=3, checkpoints=(6000,)):
    src = sources.WhiteNoise(shape)
    red = Reducer(Layout([str(i) for i in range(k)]), shape, k, list(checkpoints) + [n], 0, n, CPU)
    for i in range(engine.n_chunks(n, 10000)):
        stored = engine.draw(src, 0, i, n, 10000, CPU)[0]
        x = src.to_input(stored, torch.float64)
        red.update(i * 10000, x, logits_fn(x).float())
    return red.result()


def test_zmaps_are_standard_normal_when_answers_ignore_the_noise():
    g = torch.Generator().manual_seed(3)
    stats = reduce(lambda x: torch.randn(len(x), 3, generator=g, dtype=torch.float64))
    z = maps.class_maps(stats)["zmaps"]
    assert abs(z.mean()) < 0.1 and 0.85 < z.std() < 1.15


def test_bias_maps_recover_a_linear_template():
    w = torch.zeros(3, 64, dtype=torch.float64)
    w[0, :8], w[1, 28:36], w[2, -8:] = 1, 1, 1  # class k looks at one band of pixels
    stats = reduce(lambda x: (x.flatten(1) - 0.5) @ w.T)
    m = maps.class_maps(stats)
    assert m["counts"].sum() == 60000 and m["maps"].shape == (3, 1, 8, 8)
    for k in range(3):
        r = np.corrcoef(m["maps_centered"][k].ravel(), w[k].numpy())[0, 1]
        assert r > 0.8
        assert m["zmaps"][k].ravel()[w[k].numpy() > 0].min() > 5
        # the logit's correlation map (Eq. 2) peaks on the same pixels
        assert np.corrcoef(m["corr_maps"][k].ravel(), w[k].numpy())[0, 1] > 0.9
    # sample complexity: the first 6,000 samples already correlate with the full-n maps
    early = maps.class_maps(stats, 6000)["maps_centered"]
    assert np.corrcoef(early.ravel(), m["maps_centered"].ravel())[0, 1] > 0.7
    # the maps classify images made of their own templates
    images = np.stack([w[k].numpy().reshape(1, 8, 8) for k in range(3)])
    assert evaluate.template_accuracy(m["maps"], images, np.arange(3))["accuracy"] == 1.0


def test_empty_classes_are_nan_and_never_predicted():
    stats = reduce(lambda x: torch.tensor([[1.0, 0.0, 0.0]]).expand(len(x), 3).clone(), n=2000, checkpoints=())
    m = maps.class_maps(stats)
    assert m["counts"].tolist() == [2000, 0, 0]
    assert np.isnan(m["maps"][1:]).all() and np.isnan(m["zmaps"]).all()
    result = evaluate.template_accuracy(m["maps"], np.random.rand(5, 1, 8, 8), np.array([0, 1, 2, 0, 1]))
    assert result["empty_classes"] == 2 and result["accuracy"] == 0.4


def test_convergence_numbers():
    rng = np.random.default_rng(4)
    final = rng.normal(size=(4, 3, 8, 8))
    same = np.stack([final, final])
    assert maps.convergence(same) == pytest.approx([1.0, 1.0])
    assert maps.convergence(np.stack([2 * final + 1, final])) == pytest.approx([1.0, 1.0])  # Pearson
    assert maps.convergence(np.stack([-final, final]))[0] == pytest.approx(-1.0)
    big = rng.normal(size=(2, 10, 1, 64, 64))
    assert abs(maps.convergence(big)[0]) < 0.02  # independent maps
    # empty classes are left out of the mean: class 0 empty at n, class 1 empty at the end
    m = np.stack([final, final])
    m[0, 2] = -final[2]
    m[0, 0] = np.nan
    m[:, 1] = np.nan
    corr = maps.correlation_with_last(m)
    assert np.isnan(corr[0, 0]) and np.isnan(corr[:, 1]).all()
    assert corr[0, 2] == pytest.approx(-1) and corr[0, 3] == pytest.approx(1)
    assert maps.convergence(m) == pytest.approx([0.0, 1.0])  # mean of (-1, 1); of (1, 1, 1)
    # constant maps (zero variance) and no class at all: NaN, no warning
    with np.errstate(all="raise"):
        assert np.isnan(maps.convergence(np.full((2, 4, 1, 8, 8), np.nan))).all()
        flat = np.stack([np.zeros_like(final), final])
        assert np.isnan(maps.convergence(flat)[0]) and maps.convergence(flat)[1] == pytest.approx(1)
