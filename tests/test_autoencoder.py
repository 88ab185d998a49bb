"""Autoencoder and VAE noise generators: training, latent statistics, artifacts."""

import numpy as np
import pytest
import torch

from revcor.base import store
from revcor.noise import autoencoder, gabor
from revcor.noise.autoencoder import Autoencoder


def bars(n: int, side: int = 8, channels: int = 1, seed: int = 0) -> np.ndarray:
    """uint8 images, each one bright horizontal or vertical bar on a dim noisy background."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, (n, channels, side, side)).astype(np.uint8)
    pos = rng.integers(0, side, n)
    vertical = rng.random(n) < 0.5
    for i in range(n):
        if vertical[i]:
            images[i, :, :, pos[i]] = 230
        else:
            images[i, :, pos[i], :] = 230
    return images


def sample(gen: autoencoder.DecoderGenerator, n: int, seed: int = 1) -> torch.Tensor:
    eps = torch.randn(n, len(gen.latent_mean), generator=torch.Generator().manual_seed(seed))
    z = torch.from_numpy(gen.latent_mean) + eps @ torch.from_numpy(gen.latent_chol).T
    with torch.no_grad():
        return gen.decoder(z)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return bars(512)


@pytest.mark.parametrize("variational", [False, True])
def test_fit_gives_decoder_of_images_in_unit_range(images, variational):
    gen = autoencoder.fit(images, variational=variational, latent=4, hidden=(32, 16), batch_size=64)
    assert gen.shape == (1, 8, 8) and gen.variational is variational
    assert not gen.decoder.training
    assert len(gen.history) == 2 and all(np.isfinite(gen.history))
    assert gen.settings == {
        "epochs": 2,
        "lr": 1e-3,
        "batch_size": 64,
        "seed": 0,
        "hidden": [32, 16],
        "latent": 4,
        "images": 512,
    }
    assert gen.latent_mean.shape == (4,) and gen.latent_chol.shape == (4, 4)
    assert gen.latent_mean.dtype == gen.latent_chol.dtype == np.float32
    np.testing.assert_array_equal(gen.latent_chol, np.tril(gen.latent_chol))
    if variational:
        np.testing.assert_array_equal(gen.latent_mean, np.zeros(4))
        np.testing.assert_array_equal(gen.latent_chol, np.eye(4))
    x = sample(gen, 100)
    assert x.shape == (100, 64) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert float(x.std(0).mean()) > 0  # different codes give different images


@pytest.mark.parametrize("variational", [False, True])
def test_training_loss_decreases(images, variational):
    gen = autoencoder.fit(images, variational=variational, epochs=5, lr=3e-3, batch_size=32)
    h = gen.history
    assert all(a > b for a, b in zip(h, h[1:], strict=False)), h
    assert h[-1] < 0.9 * h[0]


def test_same_seed_same_weights_other_seed_differs(images):
    def weights(seed):
        gen = autoencoder.fit(images[:128], variational=True, latent=3, hidden=(16,), batch_size=32, seed=seed)
        return gen.decoder.state_dict()

    a, b, c = weights(0), weights(0), weights(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_ae_latent_gaussian_matches_codes(images, monkeypatch):
    made = []

    class Spy(Autoencoder):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(autoencoder, "Autoencoder", Spy)
    gen = autoencoder.fit(images, variational=False, latent=5, hidden=(32,), batch_size=64)
    (model,) = made
    assert model.decoder is gen.decoder and not model.training
    with torch.no_grad():
        mu, logvar = model.encode(torch.from_numpy(images).float() / 255)
    assert logvar is None
    codes = mu.double().numpy()
    np.testing.assert_allclose(gen.latent_mean, codes.mean(0), rtol=1e-5, atol=1e-5)
    chol = gen.latent_chol.astype(np.float64)
    cov = np.cov(codes, rowvar=False)
    np.testing.assert_allclose(chol @ chol.T, cov + 1e-6 * np.eye(5), rtol=1e-4, atol=1e-5)
    assert np.all(np.diag(chol) > 0)
    # sampled codes follow the same Gaussian
    eps = np.random.default_rng(0).standard_normal((20000, 5))
    z = gen.latent_mean + eps @ chol.T
    np.testing.assert_allclose(np.cov(z, rowvar=False), cov, atol=0.05 * np.abs(cov).max())


def test_autoencoder_module_shapes():
    torch.manual_seed(0)
    x = torch.rand(7, 3, 4, 4)
    ae, vae = Autoencoder(48, (20, 10), 6), Autoencoder(48, (20, 10), 6, variational=True)
    recon, mu, logvar = ae(x)
    assert recon.shape == (7, 48) and mu.shape == (7, 6) and logvar is None
    recon, mu, logvar = vae(x)
    assert recon.shape == (7, 48) and mu.shape == logvar.shape == (7, 6)
    vae.eval()  # eval decodes the mean: deterministic
    assert torch.equal(vae(x)[0], vae.decode(vae.encode(x)[0]))
    assert torch.equal(ae.decode(mu), ae.decoder(mu))


@pytest.mark.parametrize("variational", [False, True])
def test_save_load_round_trip(images, tmp_path, variational):
    gen = autoencoder.fit(images[:256], variational=variational, latent=4, hidden=(16,), batch_size=64)
    path = tmp_path / "gen.h5"
    autoencoder.save(gen, path, {"dataset": "bars"})
    back = autoencoder.load(path)
    assert back.shape == gen.shape and back.variational is variational
    assert back.settings == gen.settings and back.history == gen.history
    assert not back.decoder.training
    np.testing.assert_array_equal(back.latent_mean, gen.latent_mean)
    np.testing.assert_array_equal(back.latent_chol, gen.latent_chol)
    assert back.latent_mean.dtype == back.latent_chol.dtype == np.float32
    torch.testing.assert_close(sample(back, 50), sample(gen, 50), rtol=0, atol=0)
    with store.open_artifact(path, "generator") as f:
        assert store.get_attr(f, "generator") == ("vae" if variational else "ae")
        assert store.get_attr(f, "dataset") == "bars"
        assert set(f["decoder"]) == set(gen.decoder.state_dict())


def test_load_rejects_other_artifacts(tmp_path, images):
    other = tmp_path / "dataset.h5"
    with store.create(other, {"kind": "dataset"}) as f:
        f["x"] = [1]
    with pytest.raises(store.ArtifactError, match="expected 'generator'"):
        autoencoder.load(other)
    g = gabor.fit(images[:64], sizes=(4,), components=8)
    gabor.save(g, tmp_path / "gabor.h5")
    with pytest.raises(store.ArtifactError, match="not an autoencoder or VAE"):
        autoencoder.load(tmp_path / "gabor.h5")


def test_colour_images(tmp_path):
    images = bars(128, side=6, channels=3, seed=2)
    images[:, 1] //= 2  # channels differ
    gen = autoencoder.fit(images, variational=False, latent=3, hidden=(24, 12), batch_size=32)
    assert gen.shape == (3, 6, 6)
    x = sample(gen, 10)
    assert x.shape == (10, 108) and float(x.min()) >= 0 and float(x.max()) <= 1
    autoencoder.save(gen, tmp_path / "c.h5")
    back = autoencoder.load(tmp_path / "c.h5")
    assert back.shape == (3, 6, 6)
    torch.testing.assert_close(sample(back, 10), x, rtol=0, atol=0)


def test_rejects_bad_images():
    with pytest.raises(ValueError, match="uint8"):
        autoencoder.fit(np.zeros((4, 1, 8, 8), np.float32), variational=False)
    with pytest.raises(ValueError, match="uint8"):
        autoencoder.fit(np.zeros((4, 8, 8), np.uint8), variational=False)
