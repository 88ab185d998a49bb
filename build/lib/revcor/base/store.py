"""HDF5 artifacts written atomically, with provenance in their attributes.

Every artifact is written to a temporary name in the same folder and renamed into place
only when complete, so a killed job never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import platform
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from revcor import __version__
from revcor.base.errors import RevcorError


class ArtifactError(RevcorError, RuntimeError):
    """An artifact is missing, unreadable, or not what it claims to be."""


def _disk_full(path: Path, e: BaseException) -> bool:
    """Whether writing beside ``path`` failed because the disk is full."""
    if isinstance(e, OSError) and e.errno is not None:
        return e.errno == errno.ENOSPC
    if not isinstance(e, Exception):  # KeyboardInterrupt, SystemExit
        return False
    try:  # torch.save, for one, reports a full disk as a RuntimeError without errno
        return os.statvfs(path.parent).f_bavail == 0
    except OSError:
        return False


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched. An
    unwritable folder or a full disk raise an :class:`ArtifactError` naming ``path`` and the cause.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        blocker = next((p for p in path.parents if p.is_file()), None)
        cause = f"{blocker} is a file, not a folder" if blocker else e.strerror
        raise ArtifactError(f"cannot create folder {path.parent}: {cause}") from None
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed earlier attempt
            stale.unlink(missing_ok=True)
        tmp.touch(exist_ok=False)  # an unwritable folder fails here, before any work
    except OSError as e:
        raise ArtifactError(f"cannot write {path}: {e.strerror}") from None
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        full = _disk_full(path, e)
        tmp.unlink(missing_ok=True)
        if full:
            raise ArtifactError(
                f"cannot write {path}: disk full (no space left on device); free some space and rerun"
            ) from e
        raise


@contextlib.contextmanager
def create(path: str | os.PathLike, attrs: Mapping[str, Any] | None = None) -> Iterator[h5py.File]:
    """Open a new HDF5 file for writing that appears at ``path`` only once closed cleanly."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["revcor_version"] = __version__
            f.attrs["python"] = platform.python_version()
            set_attrs(f, attrs or {})
            yield f
            f.attrs["complete"] = True


JSON_KEYS = "json_keys"  # the attribute that lists which attributes hold JSON


def set_attrs(obj: h5py.HLObject, attrs: Mapping[str, Any]) -> None:
    """Store attributes; dicts, lists, tuples and None as JSON strings, listed in the
    ``json_keys`` attribute so that plain strings are never mistaken for JSON."""
    encoded = set(json_keys(obj))
    for key, value in attrs.items():
        if isinstance(value, (dict, list, tuple)) or value is None:
            obj.attrs[key] = json.dumps(value, sort_keys=True, default=str)
            encoded.add(key)
        else:
            obj.attrs[key] = value
            encoded.discard(key)
    if encoded or JSON_KEYS in obj.attrs:
        obj.attrs[JSON_KEYS] = json.dumps(sorted(encoded))


def json_keys(obj: h5py.HLObject) -> list[str]:
    """The attributes of ``obj`` that :func:`set_attrs` stored as JSON."""
    return json.loads(obj.attrs[JSON_KEYS]) if JSON_KEYS in obj.attrs else []


def write_arrays(group: h5py.Group, arrays: Mapping[str, Any]) -> None:
    """Store each array of ``arrays`` as a dataset of ``group`` under its key."""
    for key, value in arrays.items():
        group.create_dataset(key, data=value)


def get_attr(obj: h5py.HLObject, key: str) -> Any:
    """Read an attribute written by :func:`set_attrs` (JSON decoded where it was used), or any
    other attribute with bytes as str and numpy scalars as Python numbers."""
    value = obj.attrs[key]
    if isinstance(value, bytes):
        value = value.decode()
    if key in json_keys(obj):
        return json.loads(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def get_attrs(obj: h5py.HLObject, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Every attribute of ``obj`` as :func:`get_attr` reads it, except ``exclude`` and the
    bookkeeping ``json_keys``."""
    skip = {JSON_KEYS, *exclude}
    return {k: get_attr(obj, k) for k in obj.attrs if k not in skip}


def open_artifact(path: str | os.PathLike, kind: str | None = None) -> h5py.File:
    """Open a finished artifact for reading, with a clear error if it is missing or corrupt."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ArtifactError(
            f"{path} is not a readable HDF5 file (corrupt or truncated?); delete it and rerun: {e}"
        ) from None
    if not f.attrs.get("complete", False):
        f.close()
        raise ArtifactError(f"{path} was not completely written; delete it and rerun")
    if kind is not None and f.attrs.get("kind") != kind:
        found = f.attrs.get("kind")
        f.close()
        raise ArtifactError(f"{path} holds a {found!r} artifact, expected {kind!r}")
    return f


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True, default=str)
            f.write("\n")


def sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, for provenance."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
