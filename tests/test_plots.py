"""The figure functions on small synthetic arrays: panels, titles, empty classes, saving."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
from helpers import all_titles, blues, colour_fraction, greys, image_axes, ink, pixel_size, png_pixels, reds, same_size

from revcor.report.plots import attacks as attack_plots
from revcor.report.plots import maps as map_plots
from revcor.report.plots import microstim as microstim_plots
from revcor.report.plots import noise as noise_plots
from revcor.report.plots import panels
from revcor.report.plots import units as unit_plots

K, H, W = 4, 8, 8
CLASSES = ["zero", "one", "two", "three"]


def blank_axes(fig):
    return [ax for ax in fig.get_axes() if any(t.get_text() == panels.EMPTY for t in ax.texts)]


def titles(fig):
    return [ax.get_title() for ax in fig.get_axes()]


def texts(fig):
    """Every title and suptitle of a figure and its subfigures."""
    out = titles(fig)
    for sub in [fig, *fig.subfigs]:
        if sub._suptitle is not None:
            out.append(sub._suptitle.get_text())
    return out


def map_set(counts, seed=0, channels=1, feedback=True):
    """A map set whose classes with count 0 have NaN maps, like a maps artifact."""
    rng = np.random.default_rng(seed)
    counts = np.asarray(counts)
    maps = rng.normal(size=(len(counts), channels, H, W))
    maps[counts == 0] = np.nan
    ms = {
        "maps": maps,
        "counts": counts,
        "classes": CLASSES[: len(counts)],
        "n": int(counts.sum()),
        "title": "synthetic",
    }
    if feedback:
        ms["feedback"] = np.where(counts > 0, (np.arange(len(counts)) + 1) % len(counts), -1)
    return ms


CM = np.diag([5, 3, 2, 0]) + 1  # accuracy 14 / 26


def saved(fig, stem, *, min_ink=0.05):
    """Save ``fig`` as the workflow does; check both files and return the PNG's pixels, which
    have the figure's size at 150 dpi and are not blank."""
    size = pixel_size(fig)
    panels.save(fig, stem)
    assert stem.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    assert stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = png_pixels(stem.with_suffix(".png"))
    assert same_size(img, size), (img.shape, size)
    assert ink(img) > min_ink, f"{stem}.png is almost blank"
    return img


def drawn_maps(fig):
    """The arrays of the diverging (single-channel map) images, in drawing order."""
    return [ax.images[0].get_array() for ax in image_axes(fig) if ax.images[0].get_cmap().name == panels.DIVERGING]


def confusions(names=("A", "B")):
    return {name: (CM, 14 / 26) for name in names}


@pytest.fixture(autouse=True)
def close_all():
    yield
    plt.close("all")


def test_cnn_logreg_maps_titles_and_empty_classes():
    cnn, logreg = map_set([1234, 0, 50, 7]), map_set([0, 0, 10, 5])
    fig = map_plots.cnn_logreg(
        cnn, logreg, confusions(("CNN bias maps", "log. reg. bias maps", "mean images", "log. reg. weights"))
    )
    assert len(blank_axes(fig)) == 3  # one empty CNN class, two empty log. reg. classes
    assert len(image_axes(fig)) == (8 - 3) + 4  # maps with samples + four confusion matrices
    t = titles(fig)
    assert "true zero → pred one\nn=1,234" in t
    assert "true one → pred —\nn=0" in t  # feedback -1: no prediction
    assert sum("accuracy 53.8% (chance 25%)" in s for s in t) == 4
    cms = [ax.images[0].get_array() for ax in image_axes(fig) if ax.get_xlabel() == "predicted"]
    assert len(cms) == 4 and np.allclose(cms[0], CM / CM.sum(1, keepdims=True))  # row-normalised
    assert any(s.startswith("A) synthetic") for s in texts(fig))
    # the drawn maps are the classes with samples, CNN first, each on a symmetric scale
    shown = drawn_maps(fig)
    expected = [cnn["maps"][k, 0] for k in (0, 2, 3)] + [logreg["maps"][k, 0] for k in (2, 3)]
    assert len(shown) == len(expected)
    for im, m in zip(shown, expected, strict=True):
        np.testing.assert_array_equal(im, m)


def test_empty_map_is_blank_not_drawn():
    ms = map_set([0, 0, 0, 3])
    fig = map_plots.mlp_rnn({"MLP": ms})
    blank = blank_axes(fig)
    assert len(blank) == 3 and all(not ax.images for ax in blank)
    (drawn,) = image_axes(fig)
    im = drawn.images[0]
    lim = np.abs(ms["maps"][3]).max()
    assert im.get_clim() == pytest.approx((-lim, lim))  # symmetric around 0
    np.testing.assert_array_equal(im.get_array(), ms["maps"][3, 0])
    assert im.get_cmap().name == panels.DIVERGING


def test_infoval_curves_per_class_from_the_evaluation_with_the_threshold(tmp_path, draw):
    from revcor.report import figures

    by_n = {
        "1000": {"infoval": [0.5, 3.0, None, -0.2]},
        "100": {"infoval": [0.1, 1.0, None, None]},
        "10000": {"infoval": [2.5, 40.0, None, 0.3]},
    }
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps({"maps": "results/maps/mnist-cnn.h5", "classes": CLASSES, "by_n": by_n}))
    fig = draw(figures.infoval, evaluation=evaluation)["fig"]
    (ax,) = fig.get_axes()
    lines = {ln.get_label(): (list(ln.get_xdata()), ln.get_ydata()) for ln in ax.get_lines()}
    assert lines["one"][0] == [100, 1000, 10000]  # checkpoints sorted as numbers, not strings
    np.testing.assert_array_equal(lines["one"][1], [1.0, 3.0, 40.0])
    assert np.isnan(lines["two"][1]).all() and np.isnan(lines["three"][1][0])  # not tested: gaps
    assert set(lines["1.96 (5% level)"][1]) == {1.96}
    assert ax.get_xscale() == "log" and "mnist-cnn" in fig.texts[0].get_text() + ax.get_title()
    untested = {n: {"infoval": [None] * len(CLASSES)} for n in by_n}
    evaluation.write_text(json.dumps({"maps": "vae.h5", "classes": CLASSES, "by_n": untested}))
    fig = draw(figures.infoval, evaluation=evaluation)["fig"]
    fig.savefig(tmp_path / "untested.png")  # draws (a log axis of only gaps would not)
    assert "no class tested" in " ".join(t.get_text() for t in fig.get_axes()[0].texts)


def test_mlp_rnn_stacks_models():
    untitled = [
        {k: v for k, v in map_set(c, seed).items() if k != "title"}
        for seed, c in enumerate(([5, 0, 5, 5], [5, 5, 5, 5]))
    ]
    fig = map_plots.mlp_rnn({"MLP": untitled[0], "RNN": untitled[1]})
    assert len(image_axes(fig)) == 7 and len(blank_axes(fig)) == 1
    assert [s.split("\n")[0] for s in texts(fig) if s.startswith(("MLP", "RNN"))] == ["MLP", "RNN"]
    expected = [untitled[0]["maps"][k, 0] for k in (0, 2, 3)] + [m[0] for m in untitled[1]["maps"]]
    for im, m in zip(drawn_maps(fig), expected, strict=True):
        np.testing.assert_array_equal(im, m)


def test_signal_noise_blocks_cells_and_fallback():
    g = 2
    rng = np.random.default_rng(0)
    counts = np.array([[[30, 10], [5, 40]], [[25, 0], [3, 50]]])  # gamma 1: no trial with s=a, r=b
    means = rng.uniform(size=(g, 2, 2, 1, H, W))
    means[1, 0, 1] = np.nan
    eq1 = rng.normal(size=(g, 1, H, W))
    eq1[1] = np.nan
    task = {
        "classes": ["1", "7"],
        "gammas": [0.0, 0.3],
        "stimulus_means": means,
        "stimulus_diff": rng.normal(size=(g, 1, H, W)),
        "eq1": eq1,
        "ccorr": rng.normal(size=(g, 1, H, W)),
        "corr": rng.normal(size=(g, 1, H, W)) / 10,
        "counts": counts,
        "signals": rng.uniform(size=(2, 1, H, W)),
        "title": "1 vs 7",
    }
    fig = map_plots.signal_noise([task, {**task, "title": "5 vs 6"}])
    assert len(image_axes(fig)) == 2 * (g * 9 - 1)
    assert len(blank_axes(fig)) == 2
    t = titles(fig)
    assert t.count("s=1 r=7\n(n=10)") == 2 and t.count("s=1 r=7\n(n=0)") == 2
    assert t.count("* noise only (Eq. 1)\nsmallest cell n=5") == 2
    assert sum("Eq. 1 undefined" in s for s in t) == 2
    assert t.count("corr(noise, r=1) (Eq. 2)") == 2 * g
    sup = texts(fig)
    assert "1 vs 7" in sup and "5 vs 6" in sup
    # example stimuli: gamma 0 is pure noise in [0, 1], drawn in grey on fixed limits
    ex = fig.get_axes()[0].images[0]
    assert ex.get_cmap().name == "gray" and ex.get_clim() == (0.0, 1.0)


def test_buildup_rows_are_classes_columns_are_checkpoints():
    ns = [10, 100, 1000]
    maps = np.random.default_rng(0).normal(size=(3, K, 1, H, W))
    counts = np.array([[0, 3, 7, 0], [10, 30, 60, 0], [100, 300, 600, 0]])
    maps[counts == 0] = np.nan
    fig = map_plots.buildup(ns, maps, counts, CLASSES, rows=(0, 1, 2))
    assert len(image_axes(fig)) + len(blank_axes(fig)) == 9
    assert len(blank_axes(fig)) == 1  # class 0 at n=10
    assert "class two, n=1,000\n(600 samples)" in titles(fig)
    # row r shows class r at every checkpoint; the empty cell is not drawn
    expected = [maps[c, k, 0] for k in (0, 1, 2) for c in range(3) if counts[c, k]]
    for im, m in zip(drawn_maps(fig), expected, strict=True):
        np.testing.assert_array_equal(im, m)


def test_sample_complexity_convergence_reliability_and_accuracy():
    ns = [10, 100, 1000]
    rng = np.random.default_rng(1)
    final = rng.normal(size=(K, 1, H, W))
    maps = np.stack([final + rng.normal(size=final.shape) * s for s in (2.0, 0.5, 0.0)])
    counts = np.array([[3, 3, 4, 0], [30, 30, 40, 0], [300, 300, 400, 0]])
    maps[counts == 0] = np.nan
    acc = {"bias maps": [0.2, 0.3, 0.4]}
    reliability = np.array([[0.1, 0.0, 0.2, np.nan], [0.5, 0.4, 0.6, np.nan], [0.9, 0.85, 0.95, np.nan]])
    fig = map_plots.sample_complexity(ns, maps, counts, CLASSES, acc, reliability)
    assert len(image_axes(fig)) == 9 and len(blank_axes(fig)) == 3
    expected = [maps[r, c, 0] for r in range(3) for c in range(K) if counts[r, c]]
    for im, m in zip(drawn_maps(fig), expected, strict=True):
        np.testing.assert_array_equal(im, m)
    corr_ax = next(ax for ax in fig.get_axes() if ax.get_title().startswith("Map at n"))
    lines = {ln.get_label(): ln.get_ydata() for ln in corr_ax.get_lines()}
    assert lines["zero"][-1] == pytest.approx(1.0)
    assert lines["zero"][0] < lines["zero"][1] < 1.0
    assert np.isnan(lines["three"]).all()  # empty class: no curve
    rel_ax = next(ax for ax in fig.get_axes() if ax.get_title().startswith("Reliability"))
    rel = {ln.get_label(): ln.get_ydata() for ln in rel_ax.get_lines()}
    np.testing.assert_array_equal(rel["one"], [0.0, 0.4, 0.85])
    assert np.isnan(rel["three"]).all()
    acc_ax = next(ax for ax in fig.get_axes() if ax.get_title().startswith("Template"))
    ydata = {ln.get_label(): ln.get_ydata() for ln in acc_ax.get_lines()}
    assert np.allclose(ydata["bias maps"], [20, 30, 40])
    assert np.allclose(ydata["chance"], 100 / K)
    assert acc_ax.get_xscale() == "log"


def test_fashion_frequencies_and_optional_gabor():
    ms = map_set([600, 0, 300, 100])
    fig = map_plots.fashion(ms)
    (bar_ax,) = [ax for ax in fig.get_axes() if ax.patches]
    assert [p.get_height() for p in bar_ax.patches] == pytest.approx([60, 0, 30, 10])
    assert [t.get_text() for t in bar_ax.get_xticklabels()] == CLASSES
    assert "n=1,000" in bar_ax.get_title()
    assert len(image_axes(fig)) == 3 and len(blank_axes(fig)) == 1
    fig2 = map_plots.fashion(ms, gabor_counts=np.array([1, 1, 1, 1]))
    bars = [ax for ax in fig2.get_axes() if ax.patches]
    assert len(bars) == 2 and "Gabor" in bars[0].get_title()
    assert [p.get_height() for p in bars[0].patches] == pytest.approx([25] * 4)


def test_cifar10_rgb_maps_normalised_for_display():
    bias = map_set([10, 20, 0, 5], channels=3)
    means = np.random.default_rng(2).uniform(size=(K, 3, H, W))
    fig = map_plots.cifar10(means, bias, confusions(("mean images", "bias maps")))
    assert len(image_axes(fig)) == K + 3 + 2 and len(blank_axes(fig)) == 1
    rgb = [ax.images[0].get_array() for ax in image_axes(fig) if ax.images[0].get_array().ndim == 3]
    assert len(rgb) == K + 3
    for arr in rgb[K:]:  # bias maps: min-max normalised per map
        assert arr.min() == pytest.approx(0) and arr.max() == pytest.approx(1)
    assert "true zero\n→ pred one\nn=10" in titles(fig)


def test_zmaps_outline_the_significant_pixels_and_show_infoval_and_reliability():
    z = np.random.default_rng(3).normal(size=(K, 1, H, W))
    z[0, 0, 2:4, 2:4] = 12.0  # a strong patch
    z[2] = np.nan
    counts = np.array([500, 10, 0, 400])
    significant = np.zeros(z.shape, dtype=bool)
    significant[0, 0, 2:4, 2:4] = True
    attrs = {"method": "pixel", "threshold": 3.61, "alpha": 0.05, "replicates": 1000, "cluster_threshold": None}
    attrs["min_count"] = 100
    infoval, reliability = np.array([25.0, 0.3, np.nan, -0.8]), np.array([0.91, 0.1, np.nan, np.nan])
    fig = map_plots.zmaps(z, counts, CLASSES, significant, infoval, reliability, attrs, title="synthetic")
    drawn = image_axes(fig)
    assert len(drawn) == 3 and len(blank_axes(fig)) == 1  # class two is empty
    lo, hi = drawn[0].images[0].get_clim()
    assert lo == -hi and hi == pytest.approx(12.0)
    assert drawn[0].collections and not drawn[1].collections  # an outline around the patch only
    assert drawn[0].get_title() == "zero (n=500)\n4 px significant\nInfoVal 25.0, r=0.91"
    assert drawn[2].get_title() == "three (n=400)\n0 px significant\nInfoVal -0.8"
    assert drawn[1].get_title() == "one (n=10)\n0 px significant\nnot tested (n < 100)"
    suptitle = fig._suptitle.get_text()
    assert "|z| > 3.61 (maximum statistic)" in suptitle and "all 256 values of the 4 maps" in suptitle
    np.testing.assert_array_equal(drawn[0].images[0].get_array(), z[0, 0])
    attrs |= {"method": "cluster", "cluster_threshold": 3.0, "threshold": 41.2}
    fig = map_plots.zmaps(z, counts, CLASSES, significant, infoval, reliability, attrs)
    assert "clusters of |z| > 3 with mass > 41" in fig._suptitle.get_text()


def test_save_writes_png_and_pdf_atomically(tmp_path):
    fig = map_plots.mlp_rnn({"MLP": map_set([5, 5, 5, 5])})
    stem = tmp_path / "out" / "fig"
    img = saved(fig, stem)
    assert reds(img) > 0.02 and blues(img) > 0.02  # four maps on the red-blue scale
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fig.pdf", "fig.png"]
    assert not plt.fignum_exists(fig.number)


def test_the_pdf_keeps_the_pngs_layout(tmp_path, monkeypatch):
    """The figure is laid out once, for the PNG; the PDF is drawn with the same axes positions."""
    fig = map_plots.mlp_rnn({"MLP": map_set([5, 5, 5, 5])})
    positions, real_savefig = [], fig.savefig

    def savefig(path, **kwargs):
        real_savefig(path, **kwargs)
        positions.append([ax.get_position().bounds for ax in fig.axes])
        if kwargs["format"] == "png":
            assert fig.get_layout_engine().__class__.__name__ == "ConstrainedLayoutEngine"

    monkeypatch.setattr(fig, "savefig", savefig)
    panels.save(fig, tmp_path / "fig")
    assert len(positions) == 2 and positions[0] == positions[1]
    assert (tmp_path / "fig.pdf").read_bytes()[:5] == b"%PDF-"


def test_save_failure_leaves_no_file(tmp_path, monkeypatch):
    fig = map_plots.mlp_rnn({"MLP": map_set([5, 5, 5, 5])})

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError):
        panels.save(fig, tmp_path / "fig")
    assert list(tmp_path.iterdir()) == []
    assert not plt.fignum_exists(fig.number)


# --------------------------------------------------------------------------- sample complexity


def gabor_panel(label, channels=1, counts=(10, 0, 30, 5), confusion=CM, accuracy=14 / 26, seed=0):
    rng = np.random.default_rng(seed)
    ms = map_set(counts, seed, channels, feedback=False)
    return {
        "label": label,
        "maps": ms,
        "samples": rng.uniform(size=(12, channels, H, W)),
        "example": rng.uniform(size=(channels, H, W)),
        "reconstruction": rng.uniform(-0.2, 1.3, size=(channels, H, W)),
        "confusion": confusion,
        "accuracy": accuracy,
        "explained": [0.961] if channels == 1 else [0.971, 0.975, 0.979],
        "components": 250 if channels == 1 else 600,
        "wavelets": 960 if channels == 1 else 1520,
    }


def test_gabor_noise_blocks_per_dataset(tmp_path):
    panels = [
        gabor_panel("MNIST"),
        gabor_panel("Fashion-MNIST", confusion=None, accuracy=None),
        gabor_panel("CIFAR-10", channels=3, counts=(4, 4, 4, 4), accuracy=None),
    ]
    fig = noise_plots.gabor_noise(panels)
    # per block: maps with samples, 8 noise samples, example, reconstruction, confusion (if any)
    assert len(image_axes(fig)) == (3 + 8 + 2 + 1) + (3 + 8 + 2) + (4 + 8 + 2 + 1)
    assert len(blank_axes(fig)) == 2  # the empty class of the two grey-level map sets
    sup = texts(fig)
    for label in ("MNIST", "Fashion-MNIST", "CIFAR-10"):
        assert label in sup
    t = titles(fig)
    assert "two\nn=30" in t
    # CIFAR-10: accuracy None with a matrix, taken from the matrix (14 / 26 of CM as well)
    assert sum("accuracy 53.8% (chance 25%)" in s for s in t) == 2
    assert sum("no usable template" in s for s in t) == 1
    assert sum("clipped" in s for s in t) == 3  # reconstructions outside [0, 1]
    info = [tx.get_text() for ax in fig.get_axes() for tx in ax.texts if "Gabor wavelets" in tx.get_text()]
    assert len(info) == 3 and "96.1%" in info[0] and "R 97.1%, G 97.5%, B 97.9%" in info[2]
    assert "1,520 Gabor wavelets" in info[2] and "600 PCA components per channel" in info[2]
    rgb = [ax.images[0].get_array() for ax in image_axes(fig) if ax.images[0].get_array().ndim == 3]
    assert len(rgb) == 4 + 8 + 2  # CIFAR-10 block in colour
    assert all(a.min() >= 0 and a.max() <= 1 for a in rgb)
    img = saved(fig, tmp_path / "fig5")
    assert reds(img) > 0.005 and blues(img) > 0.005  # grey-level maps and confusion matrices
    assert greys(img) > 0.02  # noise samples


def test_gabor_noise_single_dataset_few_samples():
    p = gabor_panel("MNIST", counts=(1, 2, 3, 4))
    p["samples"] = p["samples"][:3]
    p["reconstruction"] = np.clip(p["reconstruction"], 0, 1)
    fig = noise_plots.gabor_noise([p])
    assert len(image_axes(fig)) == 4 + 3 + 2 + 1
    assert not any("clipped" in s for s in titles(fig))


def generator(label, channels=1, seed=0):
    ns = [10, 100, 1000]
    rng = np.random.default_rng(seed)
    counts = np.array([[0, 3, 7, 0], [10, 30, 60, 0], [100, 300, 600, 0]])
    maps = rng.normal(size=(3, K, channels, H, W))
    maps[counts == 0] = np.nan
    return {
        "label": label,
        "samples": rng.uniform(size=(12, channels, H, W)),
        "ns": ns,
        "maps": maps,
        "counts": counts,
        "classes": CLASSES,
    }


def test_autoencoder_noise_rows_per_n_and_blocks(tmp_path):
    fig = noise_plots.autoencoder_noise([generator("autoencoder"), generator("VAE", channels=3, seed=1)])
    # 8 columns (samples shown); per block 8 samples + 3 rows of 4 maps, 4 of them empty
    assert len(image_axes(fig)) == 2 * (8 + 3 * 4 - 4)
    assert len(blank_axes(fig)) == 2 * 4  # the RGB block's empty classes are blank too
    t = titles(fig)
    assert t.count("two (600)") == 2 and t.count("zero (0)") == 2
    ylabels = [ax.get_ylabel() for ax in fig.get_axes()]
    assert ylabels.count("n = 1,000") == 2 and ylabels.count("samples") == 2
    sup = texts(fig)
    assert any(s.startswith("autoencoder") for s in sup) and any(s.startswith("VAE") for s in sup)
    img = saved(fig, tmp_path / "fig15")
    assert reds(img) > 0.01 and blues(img) > 0.01 and greys(img) > 0.02  # maps and grey-level samples


def test_autoencoder_noise_more_classes_than_samples():
    g = generator("white")
    g["samples"] = g["samples"][:2]
    fig = noise_plots.autoencoder_noise([g])
    assert len(image_axes(fig)) == 2 + 3 * 4 - 4  # 4 columns: the classes


def test_noise_comparison_gaps_and_chance(tmp_path):
    ns = [10, 100, 1000]
    curves = {
        "white": {"correlation": [0.1, None, 1.0], "accuracy": [0.25, float("nan"), 0.4]},
        "VAE": {"correlation": [0.8, 0.9, 1.0], "accuracy": [0.5, 0.6, 0.6]},
    }
    fig = noise_plots.noise_comparison(curves, ns, chance=0.25, title="MNIST")
    corr_ax, acc_ax = fig.get_axes()[:2]
    assert corr_ax.get_xscale() == acc_ax.get_xscale() == "log"
    c = {ln.get_label(): ln.get_ydata() for ln in corr_ax.get_lines()}
    assert np.isnan(c["white"][1]) and c["VAE"] == pytest.approx([0.8, 0.9, 1.0])
    a = {ln.get_label(): ln.get_ydata() for ln in acc_ax.get_lines()}
    assert np.isnan(a["white"][1]) and a["VAE"] == pytest.approx([50, 60, 60])
    assert np.allclose(a["chance (25%)"], 25)
    assert acc_ax.get_ylim()[0] == 0 and acc_ax.get_ylim()[1] >= 60
    assert corr_ax.get_ylim()[1] > 1.0 and corr_ax.get_ylim()[0] < 0
    assert "n=1,000" in corr_ax.get_title()
    assert [t.get_text() for t in acc_ax.get_legend().get_texts()] == ["white", "VAE", "chance (25%)"]
    assert fig._suptitle.get_text() == "MNIST"
    colours = [ln.get_color() for ln in corr_ax.get_lines()]
    img = saved(fig, tmp_path / "cmp", min_ink=0.02)
    assert len(colours) == 2 and all(colour_fraction(img, c) > 0.0002 for c in colours)  # both curves drawn


def test_noise_comparison_without_chance_all_missing():
    fig = noise_plots.noise_comparison({"white": {"correlation": [None, None], "accuracy": [None, None]}}, [10, 100])
    acc_ax = fig.get_axes()[1]
    assert len(acc_ax.get_lines()) == 1 and acc_ax.get_ylim() == (0, pytest.approx(10))


# --------------------------------------------------------------------------- attacks


def attack_panel(seed=0, missing=()):
    rng = np.random.default_rng(seed)
    templates = rng.uniform(0.4, 0.6, size=(K, 1, H, W))
    templates[list(missing)] = np.nan
    stimuli = np.where(np.isfinite(templates), rng.uniform(size=templates.shape), np.nan)
    labels = np.where(np.isfinite(templates).all((1, 2, 3)), [0, 2, 2, 0], -1)
    return {
        "templates": templates,
        "digits": stimuli,
        "digit_labels": labels,
        "noise": stimuli.copy(),
        "noise_labels": np.where(labels >= 0, np.arange(K), -1),
        "gamma_digit": 0.8,
        "gamma_noise": 0.5,
    }


def test_attack_examples_rates_and_paper(tmp_path):
    gammas = [0.0, 0.5, 1.0]
    bias_rates = np.array([[0.1, 0.4, np.nan, 0.0], [0.3, 0.5, np.nan, 0.2], [1.0, 1.0, np.nan, 1.0]])
    rates = {"noise + bias": bias_rates, "digit + mean": np.full((3, K), 0.25)}
    paper = {"noise + bias": [0.1, 0.207, 0.9]}
    fig = attack_plots.attack(
        {"bias maps": attack_panel(missing=(2,)), "mean images": attack_panel(1)},
        gammas,
        rates,
        CLASSES,
        paper=paper,
        title="MNIST CNN",
    )
    assert len(image_axes(fig)) == 3 * (K - 1) + 3 * K
    blank = [ax for ax in fig.get_axes() if any(t.get_text() == "no template" for t in ax.texts)]
    assert len(blank) == 3  # the missing bias map in every row
    t = titles(fig)
    assert t.count("target two") == 2 and t.count("model: zero ✓") == 4
    assert t.count("model: two ✗") == 2 and t.count("model: two ✓") == 2 and t.count("model: zero ✗") == 2
    hit = next(ax for ax in fig.get_axes() if ax.get_title() == "model: zero ✓")
    assert hit.title.get_color() == "tab:green"
    sup = texts(fig)
    assert any(
        s.startswith("A) bias maps (3 of 4 classes have a template)") and "1/3 digits" in s and "3/3 noise" in s
        for s in sup
    )
    assert any(s.startswith("B) mean images (4 of 4") for s in sup)
    assert any(s.startswith("C) ") for s in sup) and "MNIST CNN" in sup
    (curve_ax,) = [ax for ax in fig.get_axes() if ax.get_lines()]
    lines = {ln.get_label(): ln for ln in curve_ax.get_lines()}
    assert np.allclose(lines["noise + bias (3/4 classes)"].get_ydata(), [1 / 6, 1 / 3, 1.0])
    assert np.allclose(lines["digit + mean (4/4 classes)"].get_ydata(), 0.25)
    dashed = lines["noise + bias, paper"]
    assert dashed.get_linestyle() == "--" and np.allclose(dashed.get_ydata(), paper["noise + bias"])
    assert dashed.get_color() == lines["noise + bias (3/4 classes)"].get_color()
    assert np.allclose(lines["chance (1/4)"].get_ydata(), 0.25)
    assert "digit + mean, paper" not in lines
    colours = {ln.get_color() for ln in curve_ax.get_lines()} - {"0.5", "gray", "grey"}
    img = saved(fig, tmp_path / "fig6")
    assert colours and all(colour_fraction(img, c) > 0.0002 for c in colours)
    assert greys(img) > 0.02  # the stimuli


def test_attack_without_any_template_or_paper():
    p = attack_panel(missing=range(K))
    fig = attack_plots.attack({"bias maps": p}, [0.0, 1.0], {"noise + bias": np.full((2, K), np.nan)}, CLASSES)
    assert not image_axes(fig)
    (curve_ax,) = [ax for ax in fig.get_axes() if ax.get_lines()]
    assert np.isnan(curve_ax.get_lines()[0].get_ydata()).all()
    assert any("0 of 4 classes" in s for s in texts(fig))


def test_gradients_rows_share_a_symmetric_scale(tmp_path):
    rng = np.random.default_rng(4)
    clean = rng.normal(size=(K, 1, H, W))
    poisoned = 5 * rng.normal(size=(K, 1, H, W))
    poisoned[1] = np.nan
    rgb = rng.normal(size=(K, 3, H, W))
    fig = attack_plots.gradients(
        {"clean model, clean data": clean, "poisoned model, patched data": poisoned, "colour": rgb},
        CLASSES,
        title="Fig. 7D",
    )
    drawn = image_axes(fig)
    assert len(drawn) == 3 * K - 1
    assert [ax for ax in fig.get_axes() if any(t.get_text() == "no images" for t in ax.texts)]
    lims = [ax.images[0].get_clim() for ax in drawn]
    row_lims = [np.nanmax(np.abs(g.sum(1))) for g in (clean, poisoned, rgb)]
    assert lims[:K] == [pytest.approx((-row_lims[0], row_lims[0]))] * K
    assert lims[K : 2 * K - 1] == [pytest.approx((-row_lims[1], row_lims[1]))] * (K - 1)
    assert all(ax.images[0].get_array().ndim == 2 for ax in drawn)  # channels summed
    assert np.allclose(drawn[-1].images[0].get_array(), rgb[-1].sum(0))
    assert drawn[0].images[0].get_cmap().name == panels.DIVERGING
    sup = texts(fig)
    assert "clean model, clean data" in sup and "poisoned model, patched data" in sup
    assert any(s.startswith("Fig. 7D") and "blue: raising the pixel lowers the loss" in s for s in sup)
    assert titles(fig).count("two") == 3
    img = saved(fig, tmp_path / "grad")
    assert reds(img) > 0.01 and blues(img) > 0.01


# --------------------------------------------------------------------------- layer activations


def layer_means(seed, empty=()):
    """Class means of three layers: conv (3, 4, 4), a vector of 10 units, and the input."""
    rng = np.random.default_rng(seed)
    means = {
        "conv": rng.normal(size=(K, 3, 4, 4)),
        "fc": rng.normal(size=(K, 10)),
        "input": rng.uniform(size=(K, 1, H, W)),
    }
    for m in means.values():
        m[list(empty)] = np.nan
    return means


def grid_axes(fig, nrows):
    """(row, column) -> axes of the subplots of a grid with ``nrows`` rows."""
    out = {}
    for ax in fig.get_axes():
        spec = ax.get_subplotspec()
        if spec is not None and spec.get_gridspec().nrows == nrows:
            out[spec.rowspan.start, spec.colspan.start] = ax
    return out


def test_activations_maps_scales_similarity_and_distances(tmp_path):
    from revcor.core.maps import similarity

    noise, data = layer_means(0, empty=(1,)), layer_means(1)
    data["fc"][0] = 2 * noise["fc"][0] + 1  # perfectly correlated with the noise map
    distances = {
        "noise": {"conv": 0.1, "fc": 0.5, "input": 0.05},
        "real data": {"conv": 0.2, "fc": 0.9, "input": 0.1, "logits": 1.5},
    }
    fig = unit_plots.activations(noise, data, distances, CLASSES, title="synthetic")
    assert len(image_axes(fig)) == 3 * (K - 1) + 3 * K
    assert len(blank_axes(fig)) == 3  # class one has no noise in any layer
    axes = grid_axes(fig, K)
    n = 3
    assert not axes[0, n].axison  # the gap between noise and real data
    assert axes[0, 0].get_title() == "noise: conv\nmean of 3 channels\n4×4"
    r = similarity(noise["fc"], data["fc"])
    assert axes[0, n + 2].get_title() == f"real data: fc\n10 units\nrow by row, 3×4\nr = {r[0]:.2f}"
    assert axes[0, n + 2].get_title().endswith("r = 1.00")
    assert axes[2, n + 1].get_title() == f"r = {similarity(noise['conv'], data['conv'])[2]:.2f}"
    assert axes[1, n + 1].get_title() == ""  # no noise of class one: no correlation
    assert [axes[k, 0].get_ylabel() for k in range(K)] == CLASSES
    # conv: the channel mean; vector: row by row, NaN padded; input: its one channel
    np.testing.assert_allclose(axes[2, 0].images[0].get_array(), noise["conv"][2].mean(0))
    fc = np.ma.filled(axes[3, n + 2].images[0].get_array(), np.nan)
    assert fc.shape == (3, 4) and np.isnan(fc.ravel()[10:]).all()
    np.testing.assert_allclose(fc.ravel()[:10], data["fc"][3])
    np.testing.assert_allclose(axes[0, n + 3].images[0].get_array(), data["input"][0, 0])
    # one colour scale per column, spanning the classes
    for col, means in ((0, noise["conv"]), (n + 1, data["conv"])):
        clims = [axes[k, col].images[0].get_clim() for k in range(K) if axes[k, col].images]
        shown = means.mean(axis=1)  # NaN for the empty class
        assert clims == [pytest.approx((np.nanmin(shown), np.nanmax(shown)))] * len(clims)
    (dist_ax,) = [ax for ax in fig.get_axes() if ax.get_lines()]
    lines = {ln.get_label(): ln.get_ydata() for ln in dist_ax.get_lines()}
    assert [t.get_text() for t in dist_ax.get_xticklabels()] == ["conv", "fc", "input", "logits"]
    np.testing.assert_allclose(lines["noise"], [0.1, 0.5, 0.05, np.nan])
    np.testing.assert_allclose(lines["real data"], [0.2, 0.9, 0.1, 1.5])
    assert fig._suptitle.get_text().startswith("synthetic")
    img = saved(fig, tmp_path / "fig20")
    assert colour_fraction(img, dist_ax.get_lines()[0].get_color()) > 0.0002


def test_activations_needs_the_same_layers():
    with pytest.raises(ValueError, match="layers"):
        unit_plots.activations(layer_means(0), {"conv": layer_means(1)["conv"]}, {}, CLASSES)


def test_injection_one_line_per_class_and_one_legend(tmp_path):
    gammas = [0.0, 0.5, 1.0]
    rng = np.random.default_rng(5)
    rates = {name: rng.uniform(size=(3, K)) for name in ("conv6", "conv4", "conv2", "input", "fc1")}
    rates["conv4"][:, 2] = np.nan
    fig = unit_plots.injection(rates, gammas, CLASSES, title="CIFAR-10 CNN")
    panels = [ax for ax in fig.get_axes() if ax.get_lines()]
    assert [ax.get_title() for ax in panels] == list(rates)
    assert sum(not ax.axison for ax in fig.get_axes()) == 3  # 5 panels in a 2 x 4 grid
    for ax in panels:
        r = rates[ax.get_title()]
        lines = ax.get_lines()
        assert [ln.get_label() for ln in lines] == CLASSES
        for j, ln in enumerate(lines):
            np.testing.assert_allclose(ln.get_xdata(), gammas)
            np.testing.assert_allclose(ln.get_ydata(), r[:, j])
        assert ax.get_ylim() == pytest.approx((-0.03, 1.03))
        assert ax.get_legend() is None
    colours = [tuple(ln.get_color()) for ln in panels[0].get_lines()]
    assert len(set(colours)) == K and colours == [tuple(ln.get_color()) for ln in panels[1].get_lines()]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == CLASSES
    notes = [t.get_text() for ax in panels for t in ax.texts]
    assert notes == ["no noise labelled\ntwo"]
    assert fig._suptitle.get_text().startswith("CIFAR-10 CNN")
    img = saved(fig, tmp_path / "fig21", min_ink=0.02)
    assert all(colour_fraction(img, c) > 0.0002 for c in colours)  # a curve of every class


def test_sta_sta_filters_beside_kernels(tmp_path):
    from revcor.analyses.units import RF

    rng = np.random.default_rng(6)
    kernel = rng.normal(size=(20, 1, 5, 5))
    sta1 = 0.08 * kernel + 0.001 * rng.normal(size=kernel.shape)
    sta1[3] = np.nan  # a unit that never spiked
    layers = {
        "conv1": {"sta": sta1, "kernel": kernel, "rf": RF(0, 0, 5, 5, 1, 1, (20, 24, 24)), "count": 1000},
        "conv2": {
            "sta": rng.normal(size=(50, 1, 14, 14)),
            "kernel": rng.normal(size=(50, 20, 5, 5)),
            "rf": RF(0, 0, 14, 14, 2, 2, (50, 8, 8)),
        },
        "rgb": {"sta": rng.normal(size=(4, 3, 3, 3))},
    }
    fig = unit_plots.sta(layers, title="synthetic", max_filters=20)
    assert len(image_axes(fig)) == 19 + 20 + 20 + 4  # conv1 STA (one NaN) and kernels, conv2 STA, rgb
    assert len(blank_axes(fig)) == 1
    t = all_titles(fig)
    assert sum(s.endswith("r=1.00") for s in t) == 19 and "#3 r=nan" in t
    assert any(s.startswith("conv1: STA of 20 units, RF 5×5, stride 1, n=1,000; STA vs kernel") for s in t)
    assert any(s.startswith("conv2: STA of 50 units (first 20 shown), RF 14×14, stride 2") for s in t)
    assert not any(s.startswith("conv2") and "kernel" in s for s in t)  # kernels of another shape: not drawn
    rgb = [ax.images[0].get_array() for ax in image_axes(fig) if ax.images[0].get_array().ndim == 3]
    assert len(rgb) == 4 and all(a.min() == 0 and a.max() == 1 for a in rgb)
    img = saved(fig, tmp_path / "fig8")
    assert reds(img) > 0.02 and blues(img) > 0.02


def stc_result(exc, sup, d=25):
    rng = np.random.default_rng(7)
    vals = np.sort(rng.normal(scale=0.01, size=d))[::-1]
    vals[exc] = 1.0 - 0.1 * np.arange(len(exc))
    vals[sup] = -1.0 + 0.1 * np.arange(len(sup))[::-1]
    return {
        "eigenvalues": vals,
        "eigenvectors": np.linalg.qr(rng.normal(size=(d, d)))[0].T,
        "null_bounds": (-0.05, 0.05),
        "excitatory": exc,
        "suppressive": sup,
        "sta": rng.normal(size=d),
        "n": 5000,
        "n_sp": 1234.5,
        "channel": 2,
        "position": (3, 4),
    }


def test_stc_spectrum_band_and_eigenvectors(tmp_path):
    res = stc_result([0, 1], [])
    fig = unit_plots.stc([("energy unit", res, (1, 5, 5))], title="energy unit")
    (spectrum,) = [ax for ax in fig.get_axes() if ax.get_lines()]
    labels = [ln.get_label() for ln in spectrum.get_lines()]
    assert labels[:2] == ["not significant", "excitatory (2)"] and "suppressive" not in " ".join(labels)
    exc_line = spectrum.get_lines()[1]
    np.testing.assert_allclose(exc_line.get_ydata(), [1.0, 0.9])
    (band,) = spectrum.patches
    assert band.get_y() == pytest.approx(-0.05) and band.get_height() == pytest.approx(0.1)
    t = all_titles(fig)
    assert "excitatory λ1\n= 1" in t and "excitatory λ2\n= 0.9" in t and "STA" in t
    assert len(image_axes(fig)) == 3
    (blank,) = [ax for ax in fig.get_axes() if any("no suppressive" in x.get_text() for x in ax.texts)]
    assert not blank.images
    assert fig._suptitle.get_text() == "energy unit"
    assert fig.subfigs[0]._suptitle.get_text().startswith("energy unit (n=5,000, n_sp=1,234)")
    # suppressive ones, capped at max_vectors, and RGB eigenvectors
    res = stc_result([], list(range(70, 75)), d=75)
    fig = unit_plots.stc([("colour unit", res, (3, 5, 5))], max_vectors=4)
    assert sum(s.startswith("suppressive λ") for s in all_titles(fig)) == 4
    assert len(image_axes(fig)) == 5 and any("no excitatory" in x.get_text() for ax in fig.get_axes() for x in ax.texts)
    img = saved(fig, tmp_path / "stc")
    assert reds(img) > 0.01 and blues(img) > 0.01  # the eigenvectors


# --------------------------------------------------------------------------- microstimulation


def test_psychometric_has_a_legend_per_layer_and_says_why_a_panel_is_empty():
    gammas = [0.0, 0.5, 1.0]
    layers, ks, classes = ["conv1", "fc1"], {"conv1": [0, 0.01], "fc1": [0, 100]}, ["zero", "one"]
    rates = np.tile(np.array([0.0, 0.5, 1.0]), (2, 2, 2, 1))
    rates[:, :, 1] = -1  # target "one": no curves
    x = np.linspace(0, 1, 5)
    fitted = {f"{layer}/{k:g}/zero": x for layer in layers for k in ks[layer]}
    largest = np.array([[[0.0, 0.0], [0.24, np.nan]], [[0.0, 0.0], [1.0, np.nan]]])
    fig = microstim_plots.psychometric(
        rates,
        gammas,
        layers,
        ks,
        classes,
        x,
        fitted,
        largest=largest,
        skipped={
            "conv1/one": "not stimulated: no noise was called one",
            "fc1/one": "not stimulated: no noise was called one",
        },
        title="T",
    )
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.get_axes() if ax.get_legend()]
    assert legends == [["k=0 (none)", "k=0.01, |Δb|≤0.24"], ["k=0 (none)", "k=100, |Δb|≤1"]]
    notes = [t.get_text() for ax in fig.get_axes() for t in ax.texts]
    assert len(notes) == 2 and all("no noise was called" in n.replace("\n", " ") for n in notes)
    assert len(fig.get_axes()[0].get_lines()) == 4  # points and fitted line for each k


# --------------------------------------------------------------------------- backdoors


def test_backdoor_confusions_maps_with_the_patch_and_the_excess(tmp_path):
    clean, poisoned = map_set([5, 5, 5, 5], seed=1), map_set([5, 0, 5, 5], seed=2)
    clean["title"], poisoned["title"] = "clean: cnn", "poisoned: cnn"
    box = (1, 2, 4, 5)
    rng = np.random.default_rng(3)
    excess = {"clean": rng.normal(size=(H, W)), "poisoned": rng.normal(size=(H, W))}
    found = {
        "clean": {"class": 0, "score": 1.25, "row": 6, "col": 0},
        "poisoned": {"class": 1, "score": 4.5, "row": 2, "col": 3},
    }
    fig = attack_plots.backdoor(
        confusions(("clean data", "patched data")), clean, poisoned, box, excess, found, title="backdoor x"
    )
    assert len(image_axes(fig)) == 2 + (K + K - 1) + 2 and len(blank_axes(fig)) == 1
    t = all_titles(fig)
    assert "poisoned model: class one, score 4.5\nfound at row 2, col 3" in t and "backdoor x" in t
    assert sum("accuracy 53.8% (chance 25%)" in s for s in t) == 2
    shown = drawn_maps(fig)
    expected = [m[0] for m in clean["maps"]] + [poisoned["maps"][k, 0] for k in (0, 2, 3)] + list(excess.values())
    assert len(shown) == len(expected)
    for im, m in zip(shown, expected, strict=True):
        np.testing.assert_array_equal(im, m)
    # the patch's box on every map and excess panel; the circle where the detector points
    outlined = [
        ax
        for ax in fig.get_axes()
        for p in ax.patches
        if p.get_xy() == (box[1] - 0.5, box[0] - 0.5) and (p.get_width(), p.get_height()) == (3, 3)
    ]
    assert len(outlined) == 2 * K + 2
    circles = [ln for ax in fig.get_axes() for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert sorted((ln.get_xdata()[0], ln.get_ydata()[0]) for ln in circles) == [(0, 6), (3, 2)]
    img = saved(fig, tmp_path / "fig7")
    assert reds(img) > 0.01 and blues(img) > 0.01


def test_backdoor_detection_scores_hits_and_auroc(tmp_path):
    def result(name, clean, poisoned, hits, auroc):
        models = [{"role": "clean", "score": s, "hit": False} for s in clean] + [
            {"role": "poisoned", "score": s, "hit": h} for s, h in zip(poisoned, hits, strict=True)
        ]
        return {
            "name": name,
            "models": models,
            "auroc": auroc,
            "paper_auroc": 0.5,
            "alpha": 0.05,
            "suspects": {"clean": sum(s > 1.3 for s in clean), "poisoned": sum(s > 1.3 for s in poisoned)},
            "inconclusives": {"clean": 0, "poisoned": 0},
            "counts": {"clean": len(clean), "poisoned": len(poisoned)},
            "references": 3,
            "spec": {"patch": "x", "source": 0, "target": 1},
        }

    results = [
        result("x0to1", [0.2, 0.5], [5.0, 6.0, 1.0], [True, True, False], 5 / 6),
        result("c8to9", [3.0], [2.0], [False], 0.0),
    ]
    fig = attack_plots.backdoor_detection(results)
    axes = fig.get_axes()
    assert len(axes) == 2
    assert axes[0].get_title() == (
        "x0to1: x patch, 0→1\nsuspect 2/3 poisoned, 0/2 clean; AUROC 0.83 (paper's score 0.50); 3 references"
    )
    assert "suspect 1/1 poisoned, 1/1 clean" in axes[1].get_title()
    points = [c.get_offsets() for c in axes[0].collections]
    # clean at x = 0, poisoned at x = 1 (jittered), and a ring around each hit
    assert np.allclose(np.sort(points[0][:, 1]), [0.2, 0.5]) and np.all(np.abs(points[0][:, 0]) < 0.2)
    assert np.allclose(points[2][:, 1], [5, 6, 1.0]) and np.all(np.abs(points[2][:, 0] - 1) < 0.2)
    assert np.allclose(points[3][:, 1], [5, 6])
    (line,) = [ln for ln in axes[0].get_lines() if ln.get_linestyle() == "--"]
    assert line.get_ydata()[0] == pytest.approx(-np.log10(0.05))  # the alpha line: above it, suspect
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == [
        "clean (2 seeds)",
        "poisoned (3 seeds)",
        "location on the patch",
        "alpha = 0.05",
    ]
    img = saved(fig, tmp_path / "detection", min_ink=0.02)
    assert colour_fraction(img, "tab:red") > 0.0002 and colour_fraction(img, "tab:blue") > 0.0002


def test_maps_of_other_channel_counts_show_the_channels_side_by_side():
    m = np.arange(4 * 5 * 6, dtype=float).reshape(4, 5, 6) - 60
    flat = panels.to_hwc(m)
    assert flat.shape == (5, 4 * 6 + 3) and np.isnan(flat[:, [6, 13, 20]]).all()
    np.testing.assert_array_equal(flat[:, 7:13], m[1])
    fig, ax = plt.subplots()
    panels.draw_map(ax, m, "four channels")
    assert ax.images[0].get_cmap().name == panels.DIVERGING and ax.images[0].get_array().shape == (5, 27)
    plt.close(fig)


def test_whitened_rows_and_accuracies():
    rng = np.random.default_rng(4)
    centred, white = rng.normal(size=(K, 1, H, W)), rng.normal(size=(K, 1, H, W))
    white[3] = centred[3] = np.nan
    fig = map_plots.whitened(
        centred, white, np.array([5, 6, 7, 0]), CLASSES, {"bias maps": 0.25, "whitened maps": None}, title="t"
    )
    drawn = image_axes(fig)
    assert len(drawn) == 6 and len(blank_axes(fig)) == 2  # the empty class in both rows
    np.testing.assert_array_equal(drawn[3].images[0].get_array(), white[0, 0])
    labels = [ax.get_ylabel() for ax in fig.get_axes() if ax.get_ylabel()]
    assert labels == ["bias maps\n25.0% accuracy", "whitened maps\nno template"]


def scan_result(box, verdict="suspect"):
    """A scan's result as :func:`revcor.analyses.detection.examine` gives it (three classes)."""
    evidence = {
        kind: {
            "score": score,
            "class": 2,
            "p_value": p,
            "weight": w,
            "reference_scores": [1.0, 2.0, 1.5],
        }
        for kind, score, p, w in (
            ("local", 12.0, 0.004, 0.4),
            ("local_all", 5.0, 0.03, 0.4),
            ("map", 4.0, 0.5, 0.1),
            ("share", 2.0, 0.3, 0.1),
        )
    }
    causal = {
        kind: {"box": b, "elsewhere": [0.0, 0.1], "references": [0.0, 0.05, 0.02], "per_class": {0: b, 1: b}}
        for kind, b in (("pattern", 0.8), ("noise", 0.4))
    }
    return {
        "model": "suspect.pt",
        "classes": ["a", "b", "c"],
        "target": 2,
        "verdict": verdict,
        "p_value": 0.01,
        "alpha": 0.05,
        "references": 3,
        "reason": "its local score is beyond the references' (p = 0.01 < 0.05)",
        "location": {"box": box, "p_value": 0.004, "source": 3, "pattern_source": 3},
        "causal": causal | {"clean": 0.01, "images": 60} if box else None,
        "evidence": evidence,
        "match": {"matches": True},
        "answers": {"model": [0.1, 0.1, 0.8], "references": [[0.5, 0.5, 0.0], [0.9, 0.1, 0.0], [0.3, 0.7, 0.0]]},
    }


def test_scan_shows_where_what_the_causal_check_and_the_evidence(tmp_path):
    where = np.zeros((12, 12))
    where[2:5, 6:9] = 9.0
    what = np.zeros((1, 12, 12))
    what[0, 2:5, 6:9] = 4.0
    arrays = {"zmaps": np.zeros((3, 1, 12, 12)), "where": where, "what": what}
    fig = attack_plots.scan(scan_result([2, 6, 5, 9]), arrays)
    title = fig._suptitle.get_text()
    assert "SUSPECT (p = 0.01, alpha 0.05, 3 references); target 'c', box rows 2-4, cols 6-8 (p = 0.004)" in title
    axes = [ax for ax in fig.get_axes() if ax.get_label() != "<colorbar>"]
    assert "turns them into 'c'" in axes[0].get_title() and "push" in axes[1].get_title()
    boxes = [p for ax in axes[:2] for p in ax.patches]
    assert [(b.get_x(), b.get_y(), b.get_width(), b.get_height()) for b in boxes] == [(5.5, 1.5, 3, 3)] * 2
    bars = sorted(round(b.get_height(), 3) for b in axes[2].patches)
    assert bars == sorted([0.8, 0.05, 0.023, 0.4, 0.05, 0.023])  # box, elsewhere (mean), references (mean)
    ticks = [t.get_text() for t in axes[3].get_xticklabels()]
    assert len(ticks) == 4 and "p = 0.004 (w 0.4)" in ticks[0]
    img = saved(fig, tmp_path / "scan")
    assert reds(img) > 0.005
    empty = attack_plots.scan(scan_result(None, "clean") | {"p_value": 0.6}, {"zmaps": np.zeros((3, 1, 12, 12))})
    assert "CLEAN" in empty._suptitle.get_text() and "no box" in empty._suptitle.get_text()
