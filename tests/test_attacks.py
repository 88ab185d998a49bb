"""Targeted attacks with class templates and mean input gradients, on tiny models."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from revcor.analyses import attacks

K, C, H, W = 4, 1, 6, 6
GAMMAS = [0.0, 0.25, 0.5, 0.75, 1.0]


def orthogonal_templates():
    """K templates in [0, 1]: template k is bright on its own block of rows, grey elsewhere."""
    t = np.full((K, C, H, W), 0.5, dtype=np.float32)
    for k in range(K):
        t[k, :, k, :] = 1.0
    return t


class TemplateMatcher(nn.Module):
    """Linear model whose logit k is the dot product of the input with (template k - 0.5)."""

    def __init__(self, templates):
        super().__init__()
        w = torch.from_numpy(templates - 0.5).flatten(1)
        self.fc = nn.Linear(w.shape[1], len(w))
        with torch.no_grad():
            self.fc.weight.copy_(w)
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(x.flatten(1))


class HardLabels(nn.Module):
    """Exposes only the hard labels of ``model``, as one-hot outputs."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        logits = self.model(x)
        return F.one_hot(logits.argmax(1), logits.shape[1]).float()


def base_images(n=50, seed=0):
    return attacks.white_noise(n, (C, H, W), seed, torch.device("cpu"))


def test_target_rates_full_template_always_wins_and_chance_at_zero():
    t = orthogonal_templates()
    model = TemplateMatcher(t)
    rates = attacks.target_rates(model, t, base_images(), GAMMAS, batch_size=7)
    assert rates.shape == (len(GAMMAS), K) and rates.dtype == np.float64
    assert np.array_equal(rates[-1], np.ones(K))  # gamma 1: the template itself
    # gamma 0: every stimulus gets exactly one label, so the rates over k sum to 1
    assert rates[0].sum() == pytest.approx(1.0) and rates[0].mean() == pytest.approx(1 / K)
    assert np.all(np.diff(rates.mean(1)) >= 0)  # more template, more hits on average
    digits = torch.from_numpy(np.repeat(t[2:3], 9, axis=0))  # "signal" images of class 2
    r = attacks.target_rates(model, t, digits, GAMMAS)
    assert np.array_equal(r[0], [0, 0, 1, 0]) and np.array_equal(r[-1], np.ones(K))


def test_target_rates_nan_templates_and_batch_size_invariance():
    t = orthogonal_templates()
    model = TemplateMatcher(t)
    partial = t.copy()
    partial[1] = np.nan
    base = base_images(37, seed=3)
    rates = attacks.target_rates(model, partial, base, GAMMAS, batch_size=5)
    assert np.isnan(rates[:, 1]).all() and np.isfinite(np.delete(rates, 1, axis=1)).all()
    full = attacks.target_rates(model, t, base, GAMMAS, batch_size=1000)
    assert np.array_equal(np.delete(rates, 1, axis=1), np.delete(full, 1, axis=1))


def test_compiled_target_rates_equal_the_eager_ones(compile_cache):
    t = orthogonal_templates()
    model, base = TemplateMatcher(t), base_images(45, seed=2)
    eager = attacks.target_rates(model, t, base, GAMMAS, batch_size=16)
    compiled = attacks.target_rates(model, t, base, GAMMAS, batch_size=16, compiled="default")
    assert any(compile_cache.rglob("*.py")) and np.array_equal(compiled, eager)


def test_target_rates_only_uses_hard_labels():
    t = orthogonal_templates()
    model = TemplateMatcher(t)
    base = base_images(40, seed=1)
    soft = attacks.target_rates(model, t, base, GAMMAS, batch_size=16)
    hard = attacks.target_rates(HardLabels(model), t, base, GAMMAS, batch_size=16)
    assert np.array_equal(soft, hard)


def test_target_rates_puts_model_in_eval_mode():
    t = orthogonal_templates()
    model = nn.Sequential(TemplateMatcher(t), nn.Dropout(0.9)).train()
    rates = attacks.target_rates(model, t, base_images(), [1.0])
    assert not model.training and np.array_equal(rates[0], np.ones(K))


def test_target_rates_binary_one_logit_model():
    t = orthogonal_templates()[:2]
    w = torch.from_numpy(t[1] - t[0]).flatten()
    model = nn.Sequential(nn.Flatten(), nn.Linear(w.numel(), 1))
    with torch.no_grad():
        model[1].weight.copy_(w[None])
        model[1].bias.zero_()
    rates = attacks.target_rates(model, t, base_images(), GAMMAS)
    assert rates.shape == (len(GAMMAS), 2)
    assert rates[0].sum() == pytest.approx(1.0) and np.array_equal(rates[-1], [1.0, 1.0])


def test_target_rates_channels_last_conv_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(C, 3, 3), nn.Flatten(), nn.Linear(3 * 4 * 4, K))
    t = orthogonal_templates()
    rates = attacks.target_rates(model, t, base_images(), GAMMAS, batch_size=8)
    assert rates[0].sum() == pytest.approx(1.0)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_white_noise_reproducible_and_in_range():
    a = attacks.white_noise(20, (C, H, W), 5, torch.device("cpu"))
    b = attacks.white_noise(20, (C, H, W), 5, torch.device("cpu"))
    c = attacks.white_noise(20, (C, H, W), 6, torch.device("cpu"))
    assert a.shape == (20, C, H, W) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1 and 0.4 < a.mean() < 0.6


def test_examples_mix_first_base_image_and_label():
    t = orthogonal_templates()
    t[3] = np.nan
    base = base_images(5)
    x, labels = attacks.examples(TemplateMatcher(orthogonal_templates()), t, base, 0.9)
    assert x.shape == (K, C, H, W) and labels.shape == (K,) and labels.dtype == np.int64
    assert np.allclose(x[:3], 0.1 * base[0].numpy() + 0.9 * t[:3])
    assert np.isnan(x[3]).all() and labels[3] == -1
    assert np.array_equal(labels[:3], [0, 1, 2])


def logistic_regression(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, K))
    with torch.no_grad():
        model[1].weight.mul_(10)
    return model


def test_mean_input_gradient_matches_logistic_regression():
    model = logistic_regression()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, C, H, W), dtype=np.uint8)
    labels = rng.integers(0, K - 1, size=30)  # class K-1 gets no image
    grads = attacks.mean_input_gradient(model, images, labels, K, batch_size=7)
    wt, b = model[1].weight.detach().double().numpy(), model[1].bias.detach().double().numpy()
    x = images.reshape(30, -1) / 255
    z = x @ wt.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    per_image = (p - np.eye(K)[labels]) @ wt  # d CE / d x
    assert grads.shape == (K, C, H, W) and grads.dtype == np.float64
    for k in range(K - 1):
        want = per_image[labels == k].mean(0).reshape(C, H, W)
        assert np.allclose(grads[k], want, atol=1e-5)
    assert np.isnan(grads[K - 1]).all()
    assert all(p.grad is None and p.requires_grad for p in model.parameters())


def test_mean_input_gradient_binary_one_logit_and_no_grad_context():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, 1))
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(12, C, H, W), dtype=np.uint8)
    labels = np.array([0, 1] * 6)
    with torch.no_grad():
        grads = attacks.mean_input_gradient(model, images, labels, 2)
    w = model[1].weight.detach().double().numpy()[0]
    z = images.reshape(12, -1) / 255 @ w + model[1].bias.item()
    per_image = (1 / (1 + np.exp(-z)) - labels)[:, None] * w  # d BCE / d x
    for k in range(2):
        assert np.allclose(grads[k].ravel(), per_image[labels == k].mean(0), atol=1e-5)
    assert model[1].weight.grad is None


def test_mean_input_gradient_rejects_bad_labels():
    images = np.zeros((2, C, H, W), dtype=np.uint8)
    with pytest.raises(ValueError, match="labels must lie"):
        attacks.mean_input_gradient(logistic_regression(), images, np.array([0, K]), K)
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        attacks.mean_input_gradient(logistic_regression(), images, np.array([0, 1, 2]), K)
