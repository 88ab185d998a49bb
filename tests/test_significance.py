"""Statistics of classification images: null maps, family-wise error control, cluster tests,
InfoVal and split-half reliability, calibrated on models whose answers are known."""

import numpy as np
import pytest
import torch
from scipy import stats as scistats

from revcor.core import engine, maps, nulls, significance
from revcor.core.reduce import Reducer
from revcor.core.stats import Layout
from revcor.data import datasets
from revcor.noise import gabor, sources

CPU = torch.device("cpu")


def experiment(source, answer, n, seed, k, chunk_size=1000):
    """Class maps of ``n`` noise images of ``source`` answered by ``answer(x, rng)`` -> labels."""
    rng = np.random.default_rng(seed)
    red = Reducer(Layout([str(i) for i in range(k)]), source.shape, k, [n], 0, n, CPU)
    for i in range(engine.n_chunks(n, chunk_size)):
        x = source.to_input(engine.draw(source, 10_000 + seed, i, n, chunk_size, CPU)[0], torch.float64)
        labels = torch.as_tensor(answer(x, rng))
        red.update(i * chunk_size, x, torch.nn.functional.one_hot(labels, k).float())
    return maps.class_maps(red.result())


def random_answers(rates):
    """A model that ignores its input: labels drawn at fixed class rates."""
    return lambda x, rng: rng.choice(len(rates), size=len(x), p=rates)


def calibration(source, method, runs, rates, n, bank):
    """Share of ``runs`` null experiments with at least one significant pixel, and all InfoVals."""
    flagged, infovals = 0, []
    for seed in range(runs):
        m = experiment(source, random_answers(rates), n, seed, len(rates))
        result = significance.assess(m["zmaps"], m["counts"], bank, method=method, replicates=400, seed=seed)
        flagged += bool(result.significant.any())
        infovals += list(result.infoval[np.isfinite(result.infoval)])  # classes with a tested map
    return flagged / runs, np.array(infovals)


def binomial_bounds(p, runs, level=0.999):
    lo, hi = scistats.binom.interval(level, runs, p)
    return lo / runs, hi / runs


@pytest.fixture(scope="module")
def white():
    return sources.WhiteNoise((1, 10, 10))


@pytest.fixture(scope="module")
def gabor_source(mnist5k):
    """Gabor-PCA noise fitted on 300 real MNIST digits: smooth, correlated, clipped."""
    fitted = gabor.fit(datasets.load(mnist5k, "train").images[:300], components=30)
    return sources.GaborNoise(fitted, storage="float32")


@pytest.fixture(scope="module")
def gabor_bank(gabor_source):
    return nulls.draw_bank(gabor_source, maps=1000, draws=512, seed=7, device=CPU)


def test_null_bank_is_standardised_keyed_and_saved(white, tmp_path):
    bank = nulls.draw_bank(white, maps=500, draws=16, seed=3, device=CPU)
    assert bank.maps.shape == (500, 100) and bank.maps.dtype == np.float32
    assert abs(bank.maps.mean()) < 0.02 and bank.maps.std() == pytest.approx(1, abs=0.02)
    np.testing.assert_allclose(bank.mean, 0.5, atol=0.01)
    np.testing.assert_allclose(bank.std, np.sqrt((256**2 - 1) / 12) / 255, rtol=0.03)  # uint8 levels
    assert bank.attrs["noise_key"]["seed"] == 3 and bank.attrs["noise_key"]["source"]["kind"] == "white"
    again = nulls.draw_bank(white, maps=500, draws=16, seed=3, device=CPU)
    np.testing.assert_array_equal(bank.maps, again.maps)
    bank.save(tmp_path / "null.h5")
    loaded = significance.NullBank.load(tmp_path / "null.h5")
    np.testing.assert_array_equal(loaded.maps, bank.maps)
    assert loaded.shape == (1, 10, 10) and loaded.attrs["draws"] == 16


def test_null_bank_reuses_its_buffers_without_changing_a_bit(white):
    """Chunks of 3,000 (the last one shorter) drawn into reused float64 buffers give exactly the
    bank that fresh tensors and the plain formula give."""
    bank = nulls.draw_bank(white, maps=500, draws=16, seed=3, device=CPU, chunk_size=3000)
    n, sums, total, total_sq = 8000, torch.zeros(500, 100, dtype=torch.float64), 0, 0
    for index in range(3):
        start, stop = engine.chunk_span(index, n, 3000)
        x = white.to_input(engine.draw(white, 3, index, n, 3000, CPU)[0], torch.float64).reshape(stop - start, -1)
        sums.index_add_(0, torch.arange(start, stop) // 16, x)
        total, total_sq = total + x.sum(0), total_sq + (x * x).sum(0)
    mean = total / n
    std = (total_sq / n - mean**2).sqrt()
    np.testing.assert_array_equal(bank.mean, mean.numpy())
    np.testing.assert_array_equal(bank.std, std.numpy())
    np.testing.assert_array_equal(bank.maps, ((sums - 16 * mean) * (1 / (std * 16**0.5))).float().numpy())


def test_null_zmaps_have_the_spread_of_real_class_maps(white):
    """The null replicates stand for class maps of noise the answers ignore: their z values
    are standard normal, and the largest |z| of a file has the distribution that real
    random-answer experiments give. With a class of a few samples the mean of uniform noise
    has lighter tails than the normal, so the null is conservative there, never liberal."""
    bank = nulls.draw_bank(white, maps=1000, draws=32, seed=1, device=CPU)
    null = np.concatenate(list(significance.null_zmaps(bank, np.array([4, 400, 1596]), 2000, seed=0)))
    assert null.shape == (2000, 3, 100)
    assert null.mean() == pytest.approx(0, abs=0.01) and null.std() == pytest.approx(1, abs=0.02)
    for rates, agree in (([0.2, 0.3, 0.5], True), ([0.002, 0.2, 0.798], False)):
        real_max, null_max = [], []
        for seed in range(300):
            m = experiment(white, random_answers(rates), 2000, seed, 3)
            real_max.append(np.nanmax(np.abs(m["zmaps"])))
            z = np.concatenate(list(significance.null_zmaps(bank, m["counts"], 10, seed=seed)))
            null_max += list(np.nanmax(np.abs(z), axis=(1, 2)))
        real_q, null_q = np.quantile(real_max, 0.95), np.quantile(null_max, 0.95)  # the FWER threshold
        if agree:
            assert real_q == pytest.approx(null_q, rel=0.05)
            assert scistats.ks_2samp(real_max, null_max).pvalue > 0.001
        else:
            assert real_q < null_q * 1.02


@pytest.mark.parametrize("method", ["pixel", "cluster"])
def test_familywise_error_and_infoval_are_calibrated_on_white_noise(white, method):
    bank = nulls.draw_bank(white, maps=1000, draws=32, seed=7, device=CPU)
    runs = 400
    rate, infovals = calibration(white, method, runs, [0.4, 0.3, 0.2, 0.07, 0.03], 2000, bank)
    lo, hi = binomial_bounds(0.05, runs)
    assert lo <= rate <= hi, rate
    assert abs(infovals.mean()) < 0.15 and 0.8 < infovals.std() < 1.25


@pytest.mark.parametrize("method", ["pixel", "cluster"])
def test_both_tests_are_calibrated_on_smooth_clipped_noise(gabor_source, gabor_bank, method):
    runs = 200
    rate, infovals = calibration(gabor_source, method, runs, [0.5, 0.3, 0.2], 1000, gabor_bank)
    lo, hi = binomial_bounds(0.05, runs)
    assert lo <= rate <= hi, rate
    assert abs(infovals.mean()) < 0.2 and 0.8 < infovals.std() < 1.25


def test_few_draws_make_the_pixel_test_conservative_on_clipped_noise(gabor_source, gabor_bank):
    """Pixels of Gabor-PCA noise that are clipped at 0 or 1 are skewed: sums of 32 draws have
    heavier tails than class means of hundreds of samples, so the threshold is too high (the
    reason null maps sum 512 draws by default)."""
    few = nulls.draw_bank(gabor_source, maps=1000, draws=32, seed=7, device=CPU)
    m = experiment(gabor_source, random_answers([0.5, 0.3, 0.2]), 1000, 0, 3)
    strict = significance.assess(m["zmaps"], m["counts"], few, replicates=400).threshold
    assert strict > significance.assess(m["zmaps"], m["counts"], gabor_bank, replicates=400).threshold + 0.3


def test_classes_of_a_few_samples_are_not_tested(gabor_source, gabor_bank):
    """The mean of a few clipped Gabor-PCA images is too skewed for the normal null: tested,
    a class of about 10 samples gets significant pixels in many null runs; left out below
    min_count, it never does and the file keeps its error rate."""
    runs, rates = 100, [0.01, 0.5, 0.49]
    flagged = {1: 0, 100: 0}
    for seed in range(runs):
        m = experiment(gabor_source, random_answers(rates), 1000, seed, 3)
        for min_count in flagged:
            result = significance.assess(
                m["zmaps"], m["counts"], gabor_bank, replicates=300, seed=seed, min_count=min_count
            )
            flagged[min_count] += bool(result.significant[0].any())
            if min_count == 100:
                assert np.isnan(result.infoval[0]) and result.attrs["min_count"] == 100
    assert flagged[1] / runs > 0.12 and flagged[100] == 0, flagged


def linear_model(weights, noise_sd, mean):
    """Label 1 when the noise image's projection on ``weights`` plus internal noise is positive."""
    w = torch.as_tensor(weights.ravel(), dtype=torch.float64)

    def answer(x, rng):
        drive = (x.flatten(1) - mean) @ w
        return (drive + noise_sd * torch.as_tensor(rng.standard_normal(len(x)))) > 0

    return lambda x, rng: answer(x, rng).long()


def test_a_template_is_found_where_it_is_and_nowhere_else(white):
    w = np.zeros((1, 10, 10))
    w[0, 3:7, 3:7] = 1.0  # the model looks at a 4x4 square
    bank = nulls.draw_bank(white, maps=1000, draws=32, seed=2, device=CPU)
    m = experiment(white, linear_model(w, 1.0, 0.5), 4000, 0, 2)
    for method in ("pixel", "cluster"):
        result = significance.assess(m["zmaps"], m["counts"], bank, method=method, replicates=500)
        inside = result.significant[:, w > 0]
        assert inside.mean() > 0.9 and not result.significant[:, w == 0].any(), method
        assert (result.infoval > 10).all()
    assert result.attrs["method"] == "cluster" and result.attrs["null"]["draws"] == 32


def test_split_half_reliability_predicts_two_independent_runs(white):
    """For a linear observer with known weights, Spearman-Brown on the two halves of one run
    predicts how well two independent runs of the same size agree."""
    w = np.zeros((1, 10, 10))
    w[0, 2:8, 4:6], w[0, 4:6, 2:8] = 1.0, 1.0  # a cross
    model = linear_model(w, 2.0, 0.5)
    runs = [experiment(white, model, 3000, seed, 2) for seed in range(4)]
    predicted = np.mean([m["reliability"][1] for m in runs])
    observed = np.mean(
        [
            np.corrcoef(a["maps_centered"][1].ravel(), b["maps_centered"][1].ravel())[0, 1]
            for a, b in (runs[:2], runs[2:])
        ]
    )
    assert 0.3 < observed < 0.95  # neither noise nor a finished map: the regime where it matters
    assert predicted == pytest.approx(observed, abs=0.03)


def test_halves_are_the_even_and_odd_trials_at_every_checkpoint(white):
    red = Reducer(Layout(["a", "b"]), (1, 10, 10), 2, [11, 1000], 0, 1000, CPU)
    x = torch.rand(1000, 1, 10, 10, dtype=torch.float64)
    red.update(0, x[:501], torch.tensor([[1.0, 0.0]]).expand(501, 2))
    red.update(501, x[501:], torch.tensor([[0.0, 1.0]]).expand(499, 2))
    stats = red.result()
    flat = x.numpy().reshape(1000, -1)
    np.testing.assert_allclose(stats["hsum"][0, 0, 0, 0], flat[:11:2].sum(0))  # checkpoint 11: trials 0, 2, .. 10
    np.testing.assert_allclose(stats["hsum"][1, 0, 0, 1], flat[502::2].sum(0))
    assert stats["hcount"][:, 0, 0].tolist() == [[6, 0], [251, 249]]
    assert np.isfinite(maps.class_maps(stats)["reliability"]).all()
    # at 11 samples every answer is a, so its centred map is 0 in each half: no reliability
    assert np.isnan(maps.class_maps(stats, 11)["reliability"]).all()


def test_errors_name_the_problem(white):
    bank = nulls.draw_bank(white, maps=10, draws=2, seed=0, device=CPU)
    with pytest.raises(ValueError, match=r"z-maps of shape \(1, 8, 8\) and null maps of shape \(1, 10, 10\) differ"):
        significance.assess(np.zeros((2, 1, 8, 8)), np.array([5, 5]), bank)
    with pytest.raises(ValueError, match="significance method 'both'"):
        significance.method_for("white", "both")
    assert significance.method_for("gabor") == "cluster" and significance.method_for("white") == "pixel"


def test_whitened_maps_show_the_template_not_the_noise_structure(gabor_source, gabor_bank, white):
    """A linear observer weighing a few scattered pixels: under smooth Gabor-PCA noise its
    bias map is the template smeared by the noise correlations (Sigma w); the whitened map
    divides them out and correlates with the template far better. Under white noise the
    whitened map is the raw map divided by the pixel variance."""
    w = np.zeros((1, 28, 28))
    w[0, 8, 8], w[0, 8, 20], w[0, 20, 14] = 1.0, -1.0, 1.0
    m = experiment(gabor_source, linear_model(w, 0.05, torch.from_numpy(gabor_bank.mean)), 20000, 0, 2)
    assert gabor_bank.covariance.shape == (784, 784) and gabor_bank.attrs["covariance_draws"] == 16 * 784
    centred = m["maps_centered"]
    whitened = maps.whitened_maps(centred, gabor_bank.covariance, 0.01)
    template = w.ravel()
    raw_r = np.corrcoef(centred[1].ravel(), template)[0, 1]
    white_r = np.corrcoef(whitened[1].ravel(), template)[0, 1]
    assert white_r > raw_r + 0.2, (raw_r, white_r)
    assert nulls.draw_bank(white, maps=10, draws=2, seed=0, device=CPU).covariance is None  # nothing to whiten
    x = white.to_input(engine.draw(white, 0, 0, 1600, 1600, CPU)[0], torch.float64).reshape(1600, -1).numpy()
    c = np.random.default_rng(0).normal(size=(2, 1, 10, 10))
    c[1] = np.nan
    out = maps.whitened_maps(c, np.cov(x, rowvar=False, bias=True), 0.0)
    assert np.corrcoef(out[0].ravel(), c[0].ravel())[0, 1] > 0.95  # covariance from 1,600 draws
    # 1 / variance of uniform noise, times the inverse-Wishart bias n / (n - D - 1) of 1,600 draws
    assert np.median(out[0] / c[0]) == pytest.approx(12.0 * 1600 / 1499, rel=0.05)
    assert np.isnan(out[1]).all()


def test_differences_of_two_runs_of_the_same_model_are_calibrated(white):
    bank = nulls.draw_bank(white, maps=1000, draws=64, seed=5, device=CPU)
    rates = [0.5, 0.3, 0.2]
    runs, flagged, infovals = 150, 0, []
    for seed in range(runs):
        a = experiment(white, random_answers(rates), 1500, 2 * seed, 3)
        b = experiment(white, random_answers(rates), 1500, 2 * seed + 1, 3)
        _, result = significance.difference(a, b, bank, bank, replicates=300, seed=seed)
        flagged += bool(result.significant.any())
        infovals += list(result.infoval[np.isfinite(result.infoval)])
    lo, hi = binomial_bounds(0.05, runs)
    assert lo <= flagged / runs <= hi, flagged / runs
    assert abs(np.mean(infovals)) < 0.2 and 0.75 < np.std(infovals) < 1.3


def test_a_difference_finds_what_one_model_added(white):
    """Two linear observers alike but for a 2x2 patch that only the first one weighs (like a
    backdoor trigger): the difference of their maps is significant on the patch, brighter,
    and elsewhere only where the shared template lost weight to it (darker), never outside."""
    base = np.zeros((1, 10, 10))
    base[0, 2:8, 4:6] = 1.0
    poisoned = base.copy()
    poisoned[0, 7:9, 0:2] = 1.5
    bank = nulls.draw_bank(white, maps=1000, draws=64, seed=5, device=CPU)
    a = experiment(white, linear_model(poisoned, 1.0, 0.5), 20000, 0, 2)
    b = experiment(white, linear_model(base, 1.0, 0.5), 20000, 1, 2)
    z, result = significance.difference(a, b, bank, bank, method="pixel", replicates=500)
    patch = np.zeros((1, 10, 10), dtype=bool)
    patch[0, 7:9, 0:2] = True
    template = base > 0
    assert result.significant[1][patch].all() and (z[1][patch] > 0).all()
    assert not result.significant[1][~patch & ~template].any()
    assert (z[1][result.significant[1] & template] < 0).all() and result.infoval[1] > 5
    assert result.attrs["null"]["a"]["draws"] == 64


def signal_experiment(source, n, gammas, seed, rates=(0.5, 0.5), chunk_size=1000):
    """Eq. 1 maps of ``n`` trials per gamma (signal classes alternating) of a binary model that
    ignores the stimulus and answers a or b at ``rates``."""
    rng = np.random.default_rng(seed)
    layout = Layout(["a", "b"], ["a", "b"], list(gammas))
    total = n * len(gammas)
    red = Reducer(layout, source.shape, 2, [total], 0, total, CPU)
    for i in range(engine.n_chunks(total, chunk_size)):
        x = source.to_input(engine.draw(source, 20_000 + seed, i, total, chunk_size, CPU)[0], torch.float64)
        idx = torch.arange(i * chunk_size, i * chunk_size + len(x))
        answers = torch.as_tensor(rng.choice(2, size=len(x), p=rates))
        logits = torch.nn.functional.one_hot(answers, 2).float()
        red.update(i * chunk_size, x, logits, signal_label=idx % 2, gamma_index=idx // n, stimulus=x)
    return maps.binary_maps(red.result())


def test_eq1_and_response_maps_of_a_model_that_ignores_the_noise_are_calibrated(white):
    """Signal+noise trials answered at random: the Eq. 1 and c_corr z-maps of every gamma are
    standard normal, the pixel test of each family flags a file in about 5% of runs, and a
    model that does use the noise is found."""
    bank = nulls.draw_bank(white, maps=1000, draws=32, seed=11, device=CPU)
    runs, flagged, infovals, zs = 300, {"eq1": 0, "ccorr": 0}, [], []
    for seed in range(runs):
        m = signal_experiment(white, 800, [0.0, 0.3, 0.5], seed, rates=(0.6, 0.4))
        counts = {"eq1": m["counts"].reshape(3, 4), "ccorr": m["counts"].sum(1)}
        signs = {"eq1": significance.EQ1_SIGNS, "ccorr": significance.RESPONSE_SIGNS}
        for key in flagged:
            result = significance.assess_contrasts(
                m[f"zmaps_{key}"], counts[key], signs[key], bank, replicates=400, seed=seed
            )
            flagged[key] += bool(result.significant.any())
            infovals += list(result.infoval)
        zs.append(m["zmaps_eq1"].ravel())
    z = np.concatenate(zs)
    assert abs(z.mean()) < 0.01 and z.std() == pytest.approx(1, abs=0.02)
    lo, hi = binomial_bounds(0.05, runs)
    assert all(lo <= v / runs <= hi for v in flagged.values()), flagged
    assert abs(np.mean(infovals)) < 0.15 and 0.8 < np.std(infovals) < 1.25
    # a model that says a when pixel 0 is bright: its Eq. 1 maps flag pixel 0 at every gamma
    rng = np.random.default_rng(0)
    layout = Layout(["a", "b"], ["a", "b"], [0.0, 0.5])
    red = Reducer(layout, white.shape, 2, [4000], 0, 4000, CPU)
    x = white.to_input(engine.draw(white, 5, 0, 4000, 4000, CPU)[0], torch.float64)
    answers = (x.reshape(4000, -1)[:, 0] + 0.3 * torch.as_tensor(rng.standard_normal(4000)) < 0.5).long()
    idx = torch.arange(4000)
    red.update(0, x, torch.nn.functional.one_hot(answers, 2).float(), idx % 2, idx // 2000, x)
    m = maps.binary_maps(red.result())
    result = significance.assess_contrasts(
        m["zmaps_eq1"], m["counts"].reshape(2, 4), significance.EQ1_SIGNS, bank, replicates=400
    )
    assert result.significant[:, 0, 0, 0].all() and result.significant.sum() == 2
    assert (result.infoval > 10).all()
