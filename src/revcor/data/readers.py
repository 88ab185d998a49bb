"""Datasets a user brings: a folder of class sub-folders, an arrays file, or any torchvision
dataset class; read into uint8 (N, C, H, W) splits with their class names.

Each reader returns a :class:`Read`: the ``train`` and ``test`` splits, the sha256 of the
files read, and a sentence saying how the split was made. Problems are a :class:`DataError`
naming the file or class: an unreadable image, mixed image sizes without ``size``, a label
out of range, an empty class, a split without some class.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
from PIL import Image

from revcor.base import store
from revcor.base.errors import RevcorError

if TYPE_CHECKING:
    import torch

SPLITS = ("train", "test")
USER_SOURCES = ("folder", "arrays", "torchvision")
# Pillow modes by the channel count they become; 16-bit grey is scaled to 8 bits.
_GREY = {"1", "L", "I;16", "I;16B", "I;16L", "I;16N"}
_ALPHA = {"LA", "La", "PA", "RGBA", "RGBa"}
_MODE = {1: "L", 3: "RGB", 4: "RGBA"}
# Names under which arrays files usually keep images and labels, tried in this order.
_ARRAY_NAMES = (("x", "y"), ("X", "y"), ("X", "Y"), ("images", "labels"), ("data", "targets"), ("data", "labels"))
_CLASS_NAMES = ("classes", "class_names", "label_names")


class DataError(RevcorError, ValueError):
    """A dataset cannot be built or read; the message says why and what to do."""


@dataclass(frozen=True)
class Split:
    """One split of a dataset: uint8 images (N, C, H, W), int64 labels (N,), class names."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]


@dataclass(frozen=True)
class Read:
    """What a reader found: both splits, {file name: sha256} and how the split was made."""

    train: Split
    test: Split
    files: dict[str, str]
    split_rule: str


# --------------------------------------------------------------------------- shared


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Float images (N, C, H, W) resized to ``size`` (H, W): bilinear, antialiased when
    shrinking; returned unchanged when they already have that size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    import torch.nn.functional as F  # a tensor comes with torch loaded

    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)


def fit_size(images: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """uint8 images (N, C, H, W) resized to ``size`` (rounded back to uint8), or unchanged."""
    if size is None or tuple(images.shape[-2:]) == tuple(size):
        return images
    import torch  # only when images are resized: reading a dataset file never loads it

    x = resize(torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32), size)
    return x.round_().clamp_(0, 255).to(torch.uint8).numpy()


def as_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """``size`` setting -> (H, W): an int is square, [H, W] as given."""
    if size is None:
        return None
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in hw):
        raise DataError(f"size must be a positive integer or [height, width], got {size!r}")
    return hw


def stratified_test(labels: np.ndarray, per_class: np.ndarray, seed: int) -> np.ndarray:
    """Mask of the test images: the first ``per_class[k]`` images of each class k in the order of
    ``numpy.random.default_rng(seed).permutation``."""
    perm = np.random.default_rng(seed).permutation(len(labels))
    order = perm[np.argsort(labels[perm], kind="stable")]  # grouped by class, shuffled within
    sorted_labels = labels[order]
    rank = np.empty(len(labels), np.int64)
    rank[order] = np.arange(len(labels)) - np.searchsorted(sorted_labels, sorted_labels)
    return rank < per_class[labels]


def split_by_fraction(
    images: np.ndarray, labels: np.ndarray, classes: list[str], fraction: float, seed: int, what: str
) -> tuple[Split, Split, str]:
    """A seeded stratified split: ``fraction`` of each class (at least one image) to test."""
    if not 0 < fraction < 1:
        raise DataError(f"test_fraction must be between 0 and 1, got {fraction}")
    counts = np.bincount(labels, minlength=len(classes))
    if small := [classes[k] for k in range(len(classes)) if counts[k] < 2]:
        raise DataError(f"{what}: classes {', '.join(map(repr, small[:5]))} have fewer than 2 images; cannot split")
    per_class = np.clip(np.round(fraction * counts).astype(np.int64), 1, counts - 1)
    test = stratified_test(labels, per_class, seed)
    rule = (
        f"stratified: {fraction:g} of each class (at least 1) to test, chosen by "
        f"numpy.random.default_rng({seed}).permutation; the rest to train; original order kept"
    )
    return Split(images[~test], labels[~test], classes), Split(images[test], labels[test], classes), rule


def check_split(split: Split, what: str) -> Split:
    """``split`` with int64 labels, after checking that it is non-empty, labels are in range and
    no class is missing."""
    k = len(split.classes)
    if len(split.images) != len(split.labels):
        raise DataError(f"{what} has {len(split.images)} images but {len(split.labels)} labels")
    if len(split.labels) == 0:
        raise DataError(f"{what} is empty")
    if split.images.dtype != np.uint8 or split.images.ndim != 4:
        raise DataError(f"{what}: expected uint8 images (N, C, H, W), got {split.images.dtype} {split.images.shape}")
    labels = np.asarray(split.labels).astype(np.int64)
    if labels.min() < 0 or labels.max() >= k:
        bad = labels[(labels < 0) | (labels >= k)][0]
        raise DataError(f"{what}: label {bad} is out of range for {k} classes (0..{k - 1})")
    empty = np.flatnonzero(np.bincount(labels, minlength=k) == 0)
    if len(empty):
        missing, gap = [split.classes[c] for c in empty], int(empty[0])
        beyond = labels > gap  # labels past the first missing class: stray values when they are few
        if split.classes == [str(c) for c in range(k)] and 0 < beyond.sum() <= 0.05 * len(labels):
            odd = np.unique(labels[beyond])
            raise DataError(
                f"{what}: labels run 0..{gap - 1} and then {', '.join(map(str, odd[:5]))}"
                f"{' ...' if len(odd) > 5 else ''} ({int(beyond.sum())} of {len(labels)} images), so classes "
                f"{gap}..{int(odd[0]) - 1} would have no images; fix those labels or give the class names"
            )
        raise DataError(f"{what} has no images of class {', '.join(map(repr, missing[:5]))}")
    return Split(split.images, labels, list(split.classes))


# --------------------------------------------------------------------------- folders of images


def image_suffixes() -> set[str]:
    """File suffixes Pillow can read."""
    return {s for s, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def class_folders(root: Path, suffixes: Iterable[str]) -> tuple[list[str], list[list[Path]]]:
    """Class names (sorted sub-folders of ``root``) and each class's image files (sorted)."""
    suffixes = {s.lower() for s in suffixes}
    if not root.is_dir():
        raise DataError(f"the image folder {root} does not exist")
    is_image = lambda p: p.is_file() and p.suffix.lower() in suffixes  # noqa: E731
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if loose := sum(1 for p in root.iterdir() if is_image(p)):
        raise DataError(f"{root} holds {loose} images directly; put each class's images in a sub-folder named after it")
    if not folders:
        raise DataError(f"{root} has no class sub-folders; expected {root}/<class>/<image files>")
    files = [sorted(p for p in folder.iterdir() if is_image(p)) for folder in folders]
    if empty := [folder.name for folder, f in zip(folders, files, strict=True) if not f]:
        raise DataError(
            f"class folders without images in {root}: {', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}"
        )
    return [folder.name for folder in folders], files


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"cannot read image {path}: {e}") from None


def _mode_for(modes: Iterable[str]) -> str:
    modes = set(modes)
    if modes <= _GREY:
        return "L"
    return "RGBA" if modes & _ALPHA else "RGB"


def to_array(im: Image.Image, mode: str) -> np.ndarray:
    """A Pillow image as uint8 (C, H, W) in ``mode`` (L, RGB or RGBA); 16-bit grey scaled."""
    if im.mode.startswith("I;16") and mode == "L":
        pixels = (np.asarray(im, dtype=np.uint32) // 257).astype(np.uint8)
    elif im.mode in ("I", "F"):
        raise DataError(f"{getattr(im, 'filename', 'an image')} holds 32-bit {im.mode} pixels; save it with 8 bits")
    else:
        pixels = np.asarray(im.convert(mode))
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def read_images(
    files: Sequence[Path], *, channels: int | str = "auto", size: tuple[int, int] | None = None, workers: int = 4
) -> tuple[np.ndarray, dict[str, str]]:
    """Decode ``files`` into uint8 (N, C, H, W) and their sha256 by path, after checking from
    the headers that they agree in size (unless ``size`` resizes them all)."""
    headers = {}
    for path in files:
        with _open(path) as im:
            headers[path] = (im.mode, im.size)
    sizes = {wh for _, wh in headers.values()}
    if size is None and len(sizes) > 1:
        (a, wa), (b, wb) = [next((p, wh) for p, (_, wh) in headers.items() if wh == s) for s in list(sizes)[:2]]
        raise DataError(
            f"images differ in size ({a}: {wa[0]}x{wa[1]}, {b}: {wb[0]}x{wb[1]} width x height); "
            "give size: [height, width] to resize them all"
        )
    if channels == "auto":
        mode = _mode_for(m for m, _ in headers.values())
        odd = [p for p, (m, _) in headers.items() if m not in _GREY]  # grey among colour (ImageNet) is fine
        if mode != "L" and 2 * len(odd) < len(headers):
            raise DataError(
                f"{len(odd)} of {len(headers)} images are in colour (e.g. {odd[0]}, mode {headers[odd[0]][0]}) among "
                "grey ones; convert them to grey (or give channels: 1 in the dataset's config to read all as grey)"
            )
    elif channels in _MODE:
        mode = _MODE[channels]
    else:
        raise DataError(f"images can be read with 1, 3 or 4 channels (or auto), not {channels!r}")

    def one(path: Path) -> tuple[np.ndarray, str]:
        raw = path.read_bytes()
        try:
            with Image.open(io.BytesIO(raw)) as im:
                im.filename = str(path)
                pixels = to_array(im, mode)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"cannot read image {path}: {e}") from None
        return fit_size(pixels[None], size)[0], hashlib.sha256(raw).hexdigest()

    with ThreadPoolExecutor(max(1, workers)) as pool:
        done = list(pool.map(one, files))
    return np.stack([a for a, _ in done]), {str(p): d for p, (_, d) in zip(files, done, strict=True)}


def manifest(folder: str, entries: Sequence[tuple[str, str]], noun: str = "images") -> dict[str, str]:
    """The record of many files of ``folder`` as {description: sha256 of their 'sha256  path'
    lines}, from (path, sha256) ``entries`` in the order given."""
    lines = "".join(f"{d}  {path}\n" for path, d in entries)
    return {
        f"{folder}/ ({len(entries)} {noun}, sha256 of 'sha256  path' lines)": hashlib.sha256(lines.encode()).hexdigest()
    }


def from_folder(
    root: str | Path,
    *,
    size: int | Sequence[int] | None = None,
    channels: int | str = "auto",
    test_fraction: float = 0.2,
    seed: int = 0,
    workers: int = 4,
) -> Read:
    """Images in ``root/<class>/`` (any format Pillow reads), or in ``root/train/<class>/`` and
    ``root/test/<class>/``; without those, a seeded stratified split of ``test_fraction``."""
    root, hw = Path(root), as_size(size)
    suffixes = image_suffixes()
    presplit = all((root / s).is_dir() for s in SPLITS)
    parts = (
        {s: class_folders(root / s, suffixes) for s in SPLITS} if presplit else {"all": class_folders(root, suffixes)}
    )
    classes = sorted({c for names, _ in parts.values() for c in names})
    files = [p for _, per_class in parts.values() for f in per_class for p in f]
    images, digests = read_images(files, channels=channels, size=hw, workers=workers)
    i, splits = 0, {}
    for part, (names, per_class) in parts.items():
        n = sum(len(f) for f in per_class)
        labels = np.repeat([classes.index(c) for c in names], [len(f) for f in per_class]).astype(np.int64)
        splits[part] = Split(images[i : i + n], labels, classes)
        i += n
    if presplit:
        rule = "the train/ and test/ sub-folders"
        train, test = (check_split(splits[s], f"the {s} split of {root}") for s in SPLITS)
    else:
        whole = splits["all"]
        train, test, rule = split_by_fraction(whole.images, whole.labels, classes, test_fraction, seed, str(root))
    entries = sorted((str(Path(path).relative_to(root)), d) for path, d in digests.items())
    return Read(train, test, manifest(root.name, entries), rule)


# --------------------------------------------------------------------------- arrays files


def _arrays_in(path: Path) -> tuple[dict[str, Callable[[], np.ndarray]], dict[str, tuple[int, ...]]]:
    """Lazy readers and shapes of the arrays of an .npz or .h5 file, by name."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            z = np.load(path, allow_pickle=False)
            return {k: (lambda k=k: z[k]) for k in z.files}, {k: z[k].shape for k in z.files}
        if suffix in (".h5", ".hdf5"):
            with h5py.File(path, "r") as f:
                names: list[str] = []
                f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
                shapes = {n: f[n].shape for n in names}

            def read(n: str) -> np.ndarray:
                with h5py.File(path, "r") as f:
                    return f[n][()]

            return {n: (lambda n=n: read(n)) for n in names}, shapes
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    raise DataError(f"{path}: arrays are read from .npz, .h5 or a pair of .npy files, not {suffix or 'no suffix'}")


def _find_pair(names: Iterable[str], images: str | None, labels: str | None) -> dict[str, tuple[str, str]]:
    """{part: (images name, labels name)} with part ``all`` or ``train`` and ``test``."""
    names = set(names)
    if images or labels:
        if not (images and labels):
            raise DataError("give both images: and labels: (array names), or neither to find them by convention")
        for split in SPLITS:  # names given for the data as a whole, or with split prefixes/suffixes
            if {f"{split}/{images}", f"{split}/{labels}"} <= names:
                return {s: (f"{s}/{images}", f"{s}/{labels}") for s in SPLITS if f"{s}/{images}" in names}
        return {"all": (images, labels)}
    for x, y in _ARRAY_NAMES:
        for form in ("{x}_{s}", "{s}_{x}", "{s}/{x}"):
            pairs = {s: (form.format(x=x, s=s), form.format(x=y, s=s)) for s in SPLITS}
            if all(set(p) <= names for p in pairs.values()):
                return pairs
    for x, y in _ARRAY_NAMES:
        if {x, y} <= names:
            return {"all": (x, y)}
    raise DataError(
        f"cannot tell which arrays hold the images and labels among {', '.join(sorted(names))}; name them with "
        f"images: and labels: (usual names: {', '.join(f'{x}/{y}' for x, y in _ARRAY_NAMES)}, optionally with "
        "_train/_test or train/ test/)"
    )


def to_uint8(x: np.ndarray, what: str) -> np.ndarray:
    """Images as uint8: uint8 as is, integers in 0..255, floats in [0, 1] scaled by 255."""
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_:
        return x.astype(np.uint8) * 255
    if np.issubdtype(x.dtype, np.integer):
        if x.size and (x.min() < 0 or x.max() > 255):
            raise DataError(f"{what}: integer pixels must lie in 0..255, found {x.min()}..{x.max()}")
        return x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise DataError(f"{what}: {int((~np.isfinite(x)).sum())} pixels are NaN or infinite")
        if x.size and (x.min() < 0 or x.max() > 1):
            raise DataError(
                f"{what}: float pixels must lie in [0, 1], found {x.min():.4g}..{x.max():.4g} "
                "(undo any normalisation; put the model's in normalize: instead)"
            )
        return np.round(x * 255).astype(np.uint8)
    raise DataError(f"{what}: images of dtype {x.dtype} cannot be read; use uint8 or float in [0, 1]")


def to_nchw(x: np.ndarray, channel_order: str, what: str) -> np.ndarray:
    """(N, H, W) -> one channel; (N, ., ., .) by ``channel_order`` (first, last or auto)."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim != 4:
        raise DataError(f"{what}: images must be (N, H, W) or (N, C, H, W) / (N, H, W, C), got shape {x.shape}")
    if channel_order == "auto":
        first, last = x.shape[1] <= 4, x.shape[3] <= 4
        if first == last:
            raise DataError(
                f"{what}: cannot tell where the channels are in shape {x.shape}; give channel_order: first or last"
            )
        channel_order = "first" if first else "last"
    if channel_order not in ("first", "last"):
        raise DataError(f"channel_order must be first, last or auto, got {channel_order!r}")
    return x if channel_order == "first" else np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def to_labels(y: np.ndarray, classes: list[str] | None, what: str) -> tuple[np.ndarray, list[str]]:
    """Integer labels (N,) and class names from labels given as integers, one-hot rows or strings."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 and np.isin(y, (0, 1)).all() and (y.sum(1) == 1).all():
        y = y.argmax(1)  # one-hot
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{what}: labels must be (N,) integers, strings or one-hot rows, got shape {y.shape}")
    if y.dtype.kind in "USO":
        y = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in y.tolist()])
        names = sorted(set(y.tolist()))
        if classes is not None and set(classes) != set(names):
            raise DataError(f"{what}: label names {names[:5]} differ from the classes given {classes[:5]}")
        classes = classes or names
        return np.array([classes.index(v) for v in y.tolist()], np.int64), classes
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise DataError(f"{what}: labels must be whole numbers")
    if y.dtype.kind not in "iuf":
        raise DataError(f"{what}: labels of dtype {y.dtype} cannot be read")
    y = y.astype(np.int64)
    return y, classes if classes is not None else [str(k) for k in range(int(y.max()) + 1 if y.size else 0)]


def from_arrays(
    path: str | Path | Sequence[str | Path],
    *,
    images: str | None = None,
    labels: str | None = None,
    classes: Sequence[str] | None = None,
    channel_order: str = "auto",
    size: int | Sequence[int] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Read:
    """Images and labels from an ``.npz`` or ``.h5`` file (array names given or found by the usual
    conventions, with or without a train/test split) or from a pair ``[images.npy, labels.npy]``.
    Class names from ``classes``, else from the file (``classes``/``class_names``), else the
    label values."""
    paths = [Path(p) for p in ([path] if isinstance(path, (str, Path)) else path)]
    if missing := [p for p in paths if not p.is_file()]:
        raise DataError(f"arrays file {missing[0]} does not exist")
    if len(paths) == 2:
        if not all(p.suffix.lower() == ".npy" for p in paths):
            raise DataError(
                f"a pair of arrays files must be [images.npy, labels.npy], got {', '.join(map(str, paths))}"
            )
        try:
            loaded = {n: np.load(p, allow_pickle=False) for n, p in zip(("x", "y"), paths, strict=True)}
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read {paths[0]} / {paths[1]}: {e}") from None
        arrays, pairs = {n: (lambda a=a: a) for n, a in loaded.items()}, {"all": ("x", "y")}
    elif len(paths) == 1:
        arrays, _ = _arrays_in(paths[0])
        pairs = _find_pair(arrays, images, labels)
    else:
        raise DataError(f"path is one arrays file or a pair [images.npy, labels.npy], got {len(paths)} paths")
    where = " / ".join(map(str, paths))
    names = list(classes) if classes else None
    for key in _CLASS_NAMES:
        if names is None and key in arrays:
            names = [v.decode() if isinstance(v, bytes) else str(v) for v in arrays[key]().tolist()]
    hw = as_size(size)
    parts = {}
    for part, (xn, yn) in pairs.items():
        what = f"{where} [{xn}]"
        x = fit_size(to_nchw(to_uint8(np.asarray(arrays[xn]()), what), channel_order, what), hw)
        y, names = to_labels(arrays[yn](), names, f"{where} [{yn}]")
        if len(x) == 0 or len(y) == 0:
            raise DataError(f"{what} holds no images ({len(x)} images, {len(y)} labels)")
        parts[part] = (x, y)
    if len({x.shape[1:] for x, _ in parts.values()}) > 1:
        raise DataError(f"{where}: the splits' images differ in shape: {[x.shape[1:] for x, _ in parts.values()]}")
    if names is None or len(names) <= max(int(y.max()) for _, y in parts.values()):
        top = max(int(y.max()) for _, y in parts.values())
        raise DataError(f"{where}: label {top} is out of range for {len(names or [])} class names")
    digests = {p.name: store.sha256(p) for p in paths}
    if "all" in parts:
        x, y = parts["all"]
        check_split(Split(x, y, names), where)
        train, test, rule = split_by_fraction(x, y, names, test_fraction, seed, where)
        return Read(train, test, digests, rule)
    train, test = (check_split(Split(*parts[s], names), f"the {s} split of {where}") for s in SPLITS)
    return Read(train, test, digests, f"the file's own train/test split ({', '.join(pairs['train'])} / ...)")


# --------------------------------------------------------------------------- torchvision classes


def torchvision_class(name: str) -> type:
    """The torchvision dataset class ``name`` (e.g. SVHN, KMNIST, EMNIST, USPS, GTSRB, STL10)."""
    import torch.utils.data  # with torchvision, only where a torchvision dataset is read

    tv = importlib.import_module("torchvision.datasets")
    cls = getattr(tv, name, None)
    if not (inspect.isclass(cls) and issubclass(cls, torch.utils.data.Dataset)):
        known = sorted(n for n in dir(tv) if inspect.isclass(getattr(tv, n)) and n[0].isupper())
        raise DataError(f"torchvision.datasets has no dataset class {name!r}; classes include {', '.join(known[:40])}")
    return cls


def from_torchvision(
    name: str,
    root: str | Path,
    *,
    kwargs: Mapping[str, Any] | None = None,
    download: bool = True,
    classes: Sequence[str] | None = None,
    size: int | Sequence[int] | None = None,
    channels: int | str = "auto",
) -> Read:
    """Both splits of the torchvision classification dataset class ``name``, downloaded into
    ``root`` with torchvision's own URLs and checksums (``train=True/False`` or
    ``split="train"/"test"``, whichever the class takes; ``kwargs`` adds or overrides
    arguments, e.g. ``{split: digits}`` for EMNIST)."""
    cls = torchvision_class(name)
    params = inspect.signature(cls).parameters
    root, hw = Path(root), as_size(size)
    splits = {}
    for split in SPLITS:
        args: dict[str, Any] = {"train": split == "train"} if "train" in params else {"split": split}
        args.update(kwargs or {})
        if "download" in params:
            args["download"] = download
        try:
            ds = cls(str(root), **args)
        except (RuntimeError, OSError, ValueError) as e:
            how = "downloaded with torchvision's checksums" if download else "found (download: false)"
            raise DataError(f"torchvision {name}({args}) could not be {how} in {root}: {e}") from None
        splits[split] = _read_samples(ds, f"torchvision {name} {split}", hw, channels)
    names = list(classes or getattr(splits["train"][2], "classes", None) or [])
    top = max(int(s[1].max()) for s in splits.values())
    names = names or [str(k) for k in range(top + 1)]
    train, test = (
        check_split(Split(x, y, names), f"the {s} split of torchvision {name}") for s, (x, y, _) in splits.items()
    )
    entries = [
        (str(p.relative_to(root)), store.sha256(p)) for p in sorted(root.rglob("*")) if p.is_file() and p.stat().st_size
    ]
    return Read(train, test, manifest(root.name, entries, "files"), f"torchvision {name}'s own train/test split")


def _read_samples(
    ds: Any, what: str, size: tuple[int, int] | None, channels: int | str
) -> tuple[np.ndarray, np.ndarray, Any]:
    """Every (image, label) of a torchvision dataset as uint8 (N, C, H, W) and int64 labels."""
    import torch  # a torch Dataset comes with torch loaded; reading revcor's own files never needs it

    first, _ = ds[0]
    if not isinstance(first, Image.Image):
        raise DataError(f"{what} yields {type(first).__name__} images; revcor reads datasets of PIL images")
    modes = {first.mode}
    mode = _MODE.get(channels) if channels != "auto" else _mode_for(modes)
    if mode is None:
        raise DataError(f"images can be read with 1, 3 or 4 channels (or auto), not {channels!r}")
    images, labels = [], []
    for i in range(len(ds)):
        im, target = ds[i]
        if not isinstance(target, (int, np.integer)) and not (isinstance(target, torch.Tensor) and target.ndim == 0):
            raise DataError(f"{what} sample {i} has target {target!r}; revcor needs one class index per image")
        pixels = to_array(im, mode)
        if size is None and images and pixels.shape != images[0].shape:
            raise DataError(f"{what}: images differ in size ({images[0].shape} vs {pixels.shape} at {i}); give size:")
        images.append(fit_size(pixels[None], size)[0])
        labels.append(int(target))
    return np.stack(images), np.array(labels, np.int64), ds
