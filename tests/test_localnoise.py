"""Local noise: coverage sums, the where and what z-maps (their null scale, and a known
trigger found where it is), reproducible trials."""

import numpy as np
import pytest
import torch
from torch import nn

from revcor.analyses import localnoise

SHAPE = (1, 12, 12)
K = 3


class Rule(nn.Module):
    """Answers the image's own class (0 for dark images, 1 for bright ones: their median pixel,
    which one noise window cannot move) unless the mean of the ``region`` is above ``level``:
    then class 2. A trigger with a known place."""

    def __init__(self, region: tuple[slice, slice] | None, level: float = 0.8):
        super().__init__()
        self.region, self.level = region, level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        own = (x.flatten(1).median(1).values > 0.5).long()
        logits = nn.functional.one_hot(own, K).float()
        if self.region is not None:
            fired = x[:, 0, self.region[0], self.region[1]].mean((1, 2)) > self.level
            logits[fired] = torch.tensor([0.0, 0.0, 2.0])
        return logits


class Guess(nn.Module):
    """Answers at random, whatever the image: the null of both maps."""

    def __init__(self):
        super().__init__()
        self.gen = torch.Generator().manual_seed(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.rand(len(x), K, generator=self.gen)


def images() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 2
    x = (rng.integers(0, 60, (60, *SHAPE)) + 130 * labels[:, None, None, None]).astype(np.uint8)
    return x, labels


def test_box_sum_counts_the_windows_covering_each_pixel():
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 5, (2, 3, 6, 7)).astype(float)
    size = 4
    brute = np.zeros((2, 3, 9, 10))
    for i in range(6):
        for j in range(7):
            brute[..., i : i + size, j : j + size] += counts[..., i, j, None, None]
    assert np.array_equal(localnoise.box_sum(counts, size), brute)


def test_window_size_follows_the_image():
    assert localnoise.window_size((1, 28, 28)) == 8
    assert localnoise.window_size((3, 32, 40)) == 10
    assert localnoise.window_size((1, 8, 8)) == 3


def test_maps_are_null_when_the_noise_changes_nothing():
    """A model whose answers do not depend on the noise: for every source row (the two
    classes the images have, and the pooled row), the what z is a null z (mean 0, SD 1) and
    the rate of each answer among the trials covering a pixel is the answer's overall rate
    within its sampling error."""
    x, y = images()
    ln = localnoise.run(Guess(), x, y, K, 30000, size=4, seed=3)
    assert ln.n == 30000 and ln.counts.shape == (K, K, 9, 9) and ln.sums.shape == (K, K, *SHAPE)
    what = ln.what()[[0, 1, K]]
    assert np.isfinite(what).all() and abs(what.mean()) < 0.05 and 0.9 < what.std() < 1.1 and np.abs(what).max() < 5
    hits, covered = (a[[0, 1, K]] for a in ln.covering())
    overall = hits.sum((2, 3), keepdims=True) / covered.sum((2, 3), keepdims=True)
    z = (hits / covered - overall) / np.sqrt(overall * (1 - overall) / covered)
    assert abs(z.mean()) < 0.1 and 0.8 < z.std() < 1.2  # neighbouring pixels share trials: not independent


def test_a_trigger_lights_up_where_it_is_and_what_it_is():
    x, y = images()
    ln = localnoise.run(Rule((slice(7, 10), slice(2, 5))), x, y, K, 30000, size=5, seed=4)
    hits, covered = ln.covering()
    where = hits[K, 2] / covered[K, 2]  # every other class answering 2
    near = np.zeros(where.shape, dtype=bool)
    near[2:15, 0:10] = True  # pixels a window that reaches the trigger can cover
    assert where[near].max() > 0.01 and (where[~near] == 0).all()  # noise sets it off only near the trigger
    what = ln.what()[K, 2, 0]
    region = np.zeros(what.shape, dtype=bool)
    region[7:10, 2:5] = True
    assert what[region].min() > 5  # bright noise there sets it off
    assert np.nanmax(np.abs(what[~region])) < 5  # and nowhere else
    assert np.array_equal(ln.clean, np.diag([30.0, 30.0, 0.0]))  # without noise every image gets its own class
    rates, trials = ln.position_rates()
    assert rates.shape == (K + 1, K, 8, 8) and np.isclose(trials[K, 2].sum(), ln.counts[[0, 1]].sum())


def test_trials_are_a_function_of_the_seed():
    x, y = images()
    a = localnoise.run(Rule((slice(7, 10), slice(2, 5))), x, y, K, 3000, size=5, seed=9, batch_size=100)
    b = localnoise.run(Rule((slice(7, 10), slice(2, 5))), x, y, K, 3000, size=5, seed=9, batch_size=256)
    c = localnoise.run(Rule((slice(7, 10), slice(2, 5))), x, y, K, 3000, size=5, seed=10)
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.sums, b.sums)
    assert not np.array_equal(a.counts, c.counts)


def test_bad_arguments_are_named():
    x, y = images()
    with pytest.raises(ValueError, match="must fit"):
        localnoise.run(Rule(None), x, y, K, 10, size=13)
    with pytest.raises(ValueError, match="one label in 0..2"):
        localnoise.run(Rule(None), x, y + 5, K, 10)
