"""Gabor-PCA noise: the wavelet bank, ridge with intercept, PCA, sampling and its artifact."""

import numpy as np
import pytest
import torch

from revcor.base import store
from revcor.noise import gabor, sources
from revcor.noise.rng import ChunkRNG

CPU = torch.device("cpu")


def images(n=300, c=1, side=28, seed=0):
    """Blobs at random places: structured images with a varied mean brightness."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    out = np.empty((n, c, side, side))
    for i in range(n):
        cy, cx = rng.uniform(5, side - 5, 2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(2, 5) ** 2))
        out[i] = blob * rng.uniform(0.3, 1, (c, 1, 1)) + rng.uniform(0, 0.2)
    return (out.clip(0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize("side, count", [(28, 960), (32, 1520)])
def test_bank_has_the_papers_size(side, count):
    waves = gabor.bank(side, side)
    assert waves.shape == (count, side, side)
    assert np.abs(waves).reshape(count, -1).max(1).min() > 0  # no empty wavelet


def test_kernel_orientation_and_phase():
    k0, k90 = gabor.kernel(15, 0, 0), gabor.kernel(15, 90, 0)
    np.testing.assert_allclose(k90, k0.T, atol=1e-12)  # rotating by 90 degrees transposes
    assert k0[7, 7] == pytest.approx(1.0)  # even phase peaks at the centre
    odd = gabor.kernel(15, 0, 90)
    np.testing.assert_allclose(odd, -odd[:, ::-1], atol=1e-12)  # odd phase is antisymmetric
    assert odd.min() < 0 < odd.max()  # signed, never forced positive


def test_ridge_with_intercept_matches_the_normal_equations():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(50, 6)), rng.normal(size=(50, 3)) + 4
    w, b = gabor.ridge_weights(x, y, alpha=0.5)
    # minimise |y - x w - b|^2 + alpha |w|^2 (intercept not penalised): gradient is zero
    resid = y - x @ w - b
    np.testing.assert_allclose(x.T @ resid, 0.5 * w, atol=1e-10)
    np.testing.assert_allclose(resid.sum(0), 0, atol=1e-10)


def test_fit_keeps_the_mean_and_intercept():
    imgs = images()
    full = gabor.fit(imgs, components=300, examples=3)  # every direction kept
    np.testing.assert_allclose(full.reconstructions_pca, full.reconstructions, atol=1e-8)
    assert full.explained[0] == pytest.approx(1.0)
    # ridge on many wavelets reconstructs the images closely, brightness (intercept) included
    err = np.abs(full.reconstructions - full.examples).mean()
    assert err < 0.05 and abs(full.reconstructions.mean() - full.examples.mean()) < 0.01
    small = gabor.fit(imgs, components=20)
    assert 0.5 < small.explained[0] < full.explained[0]
    assert small.projection.shape == (1, 20, 784) and (small.low < 0).all() and (small.high > 0).all()


def test_gabor_noise_samples_in_range_reproducibly_and_structured():
    fitted = gabor.fit(images(), components=40)
    source = sources.GaborNoise(fitted, storage="float32")
    a = source.sample(ChunkRNG(3, 5, CPU), 2000)
    b = source.sample(ChunkRNG(3, 5, CPU), 2000)
    assert a.shape == (2000, 1, 28, 28) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, source.sample(ChunkRNG(3, 6, CPU), 2000))
    assert a.min() >= 0 and a.max() <= 1
    x = a.double().numpy()
    assert np.corrcoef(x[..., :-1].ravel(), x[..., 1:].ravel())[0, 1] > 0.3  # smooth, unlike white
    # without clipping, the mean image is the PCA mean plus the scores' mid-range projection
    u8 = sources.GaborNoise(fitted, storage="uint8").sample(ChunkRNG(3, 5, CPU), 10)
    assert u8.dtype == torch.uint8


def test_colour_is_fitted_per_channel():
    fitted = gabor.fit(images(n=200, c=3, side=32), components=30)
    assert fitted.projection.shape == (3, 30, 1024) and fitted.explained.shape == (3,)
    x = sources.GaborNoise(fitted, storage="float32").sample(ChunkRNG(0, 0, CPU), 8)
    assert x.shape == (8, 3, 32, 32)


def test_save_load_round_trip(tmp_path):
    fitted = gabor.fit(images(n=100), components=10)
    gabor.save(fitted, tmp_path / "g.h5", {"dataset": "synthetic"})
    back = gabor.load(tmp_path / "g.h5")
    for name in ("projection", "offset", "low", "high", "explained", "examples"):
        np.testing.assert_array_equal(getattr(back, name), getattr(fitted, name))
    assert back.settings == fitted.settings and back.shape == (1, 28, 28)
    source = sources.make({"kind": "gabor", "storage": "float32"}, (1, 28, 28), tmp_path / "g.h5")
    assert source.describe()["generator"].endswith("g.h5") and source.describe()["components"] == 10
    with pytest.raises(ValueError, match=r"makes \(1, 28, 28\) images, the model takes \(3, 32, 32\)"):
        sources.make({"kind": "gabor"}, (3, 32, 32), tmp_path / "g.h5")
    with pytest.raises(ValueError, match="needs its fitted generator"):
        sources.make({"kind": "gabor"}, (1, 28, 28))


def test_any_size_and_shape():
    """Non-paper sizes get 3 and the odd sizes near a quarter and a half of the shorter side,
    and 250 components per 784 pixels (fewer when the images allow fewer)."""
    assert gabor.default_sizes(28, 28) == (3, 7, 15) == gabor.default_sizes(28, 29)
    assert gabor.default_sizes(16, 16) == (3, 5, 9) and gabor.default_sizes(24, 40) == (3, 7, 13)
    assert gabor.default_sizes(20, 12) == (3, 7)
    waves = gabor.bank(20, 12)
    assert waves.shape == (8 * (7 * 4 + 3 * 2), 20, 12)  # 8 kernels of size 3 on 7x4 tiles, of size 7 on 3x2
    assert np.abs(waves).reshape(len(waves), -1).max(1).min() > 0
    fitted = gabor.fit(images(n=80, side=24)[:, :, :, 2:22])  # 24 x 20
    assert fitted.shape == (1, 24, 20) and fitted.components == 80  # 153 by default, 80 images allow 80
    x = sources.GaborNoise(fitted, storage="float32").sample(ChunkRNG(0, 0, CPU), 4)
    assert x.shape == (4, 1, 24, 20)


def test_clear_errors():
    with pytest.raises(gabor.GaborError, match="250 components asked, but 100 images"):
        gabor.fit(images(n=100), components=250)
    with pytest.raises(store.ArtifactError):
        gabor.load("/nonexistent/g.h5")
