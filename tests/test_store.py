"""Artifacts appear only when complete; failures leave nothing behind."""

import h5py
import numpy as np
import pytest

import revcor
from revcor.base import store


def test_complete_artifact_is_renamed_into_place(tmp_path):
    path = tmp_path / "sub" / "a.h5"
    with store.create(path, {"kind": "thing", "meta": {"a": [1, 2]}}) as f:
        f["x"] = [1, 2, 3]
        assert not path.exists()
    with store.open_artifact(path, "thing") as f:
        assert list(f["x"][()]) == [1, 2, 3]
        assert store.get_attr(f, "meta") == {"a": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["a.h5"]


def test_failure_leaves_no_file(tmp_path):
    path = tmp_path / "a.h5"
    with pytest.raises(RuntimeError):
        with store.create(path, {"kind": "thing"}) as f:
            f["x"] = [1]
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_stale_temporary_files_are_removed(tmp_path):
    stale = tmp_path / ".a.h5.deadbeef.tmp"
    stale.write_bytes(b"half")
    store.write_json(tmp_path / "a.h5", {"ok": True})
    assert not stale.exists()


def test_corrupt_incomplete_and_wrong_kind_are_named(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(store.ArtifactError, match="not a readable HDF5 file"):
        store.open_artifact(bad)
    half = tmp_path / "half.h5"
    with h5py.File(half, "w") as f:
        f.attrs["kind"] = "thing"
    with pytest.raises(store.ArtifactError, match="not completely written"):
        store.open_artifact(half)
    with store.create(tmp_path / "ok.h5", {"kind": "stats"}):
        pass
    with pytest.raises(store.ArtifactError, match="holds a 'stats' artifact, expected 'maps'"):
        store.open_artifact(tmp_path / "ok.h5", "maps")
    with pytest.raises(store.ArtifactError, match="does not exist"):
        store.open_artifact(tmp_path / "missing.h5")


def test_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(store.ArtifactError, match="cannot create folder"):
        store.write_json(blocker / "a.json", {})


def test_failed_rewrite_keeps_the_old_artifact_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "a.h5"
    with store.create(path, {"kind": "thing", "version": 1}) as f:
        f["x"] = [1, 2, 3]
    before = path.read_bytes()
    for error in (RuntimeError("killed"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with store.create(path, {"kind": "thing", "version": 2}) as f:
                f["x"] = [4, 5, 6]
                (tmp,) = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
                assert tmp.name.startswith(".a.h5.")  # hidden, beside the artifact
                raise error
        assert [p.name for p in tmp_path.iterdir()] == ["a.h5"] and path.read_bytes() == before
    with store.open_artifact(path, "thing") as f:
        assert store.get_attr(f, "version") == 1 and list(f["x"][()]) == [1, 2, 3]


def test_atomic_path_renames_only_on_success(tmp_path):
    path = tmp_path / "model.pt"
    path.write_text("old")
    with pytest.raises(ValueError):
        with store.atomic_path(path) as tmp:
            tmp.write_text("half")
            raise ValueError
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    with store.atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.exists() and path.read_text() == "old"
        tmp.write_text("new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_write_json_failure_leaves_nothing(tmp_path, monkeypatch):
    def broken(obj, f, **kwargs):
        f.write('{"trunc')
        raise OSError("device gone")

    monkeypatch.setattr(store.json, "dump", broken)
    with pytest.raises(OSError, match="device gone"):
        store.write_json(tmp_path / "a.json", {"x": 1})
    assert list(tmp_path.iterdir()) == []


def test_incomplete_files_are_refused(tmp_path):
    """A file whose writer stopped before the end: no 'complete' mark, or complete=False."""
    with h5py.File(tmp_path / "killed.h5", "w") as f:  # what store.create had written before the kill
        f.attrs["kind"], f.attrs["revcor_version"] = "maps", "0"
        f["maps"] = [1.0, 2.0]
    with h5py.File(tmp_path / "false.h5", "w") as f:
        f.attrs["kind"], f.attrs["complete"] = "maps", False
    for name in ("killed.h5", "false.h5"):
        with pytest.raises(store.ArtifactError, match=f"{tmp_path / name} was not completely written; delete it"):
            store.open_artifact(tmp_path / name, "maps")


def test_open_artifact_without_kind_opens_any_complete_artifact(tmp_path):
    with store.create(tmp_path / "a.h5", {"kind": "stats"}) as f:
        f["x"] = [1]
    with store.open_artifact(tmp_path / "a.h5") as f:
        assert f.attrs["kind"] == "stats" and f.attrs["complete"] and f.mode == "r"
        assert store.get_attr(f, "revcor_version") == revcor.__version__


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2], "b": {"c": None, "d": "text"}},
        [1, "two", 3.5, None, True],
        [],
        {},
        None,
        "plain text",
        "",
        "nothing",  # starts like null
        "[not json",  # starts like a list
        "{not json",
        "null",  # plain strings that are valid JSON stay strings
        "[1, 2]",
        '{"a": 1}',
        "42",
        42,
        -7,
        2.5,
        True,
        False,
    ],
)
def test_attributes_round_trip(tmp_path, value):
    with store.create(tmp_path / "a.h5", {"kind": "thing"}) as f:
        store.set_attrs(f, {"value": value})
        store.set_attrs(f.create_group("g"), {"value": value})
    with store.open_artifact(tmp_path / "a.h5", "thing") as f:
        for obj in (f, f["g"]):
            got = store.get_attr(obj, "value")
            assert got == value and type(got) is type(value), (got, value)
            assert store.get_attrs(obj, exclude=("kind", "revcor_version", "python", "complete")) == {"value": value}


def test_overwriting_a_json_attribute_with_a_plain_one(tmp_path):
    with store.create(tmp_path / "a.h5", {"kind": "thing"}) as f:
        store.set_attrs(f, {"x": [1], "y": {"a": 1}})
        store.set_attrs(f, {"x": "[1]"})
        assert store.get_attr(f, "x") == "[1]" and store.get_attr(f, "y") == {"a": 1}
        assert store.json_keys(f) == ["y"]


def test_attributes_tuples_come_back_as_lists_and_numpy_scalars_as_python(tmp_path):
    with store.create(tmp_path / "a.h5", {"kind": "thing", "shape": (1, 28, 28)}) as f:
        f.attrs["count"] = np.int64(7)
        f.attrs["mean"] = np.float32(0.5)
        f.attrs["name"] = b"bytes"
        store.set_attrs(f, {"nested": {"t": (1, 2)}, "path": {"p": tmp_path}})
    with store.open_artifact(tmp_path / "a.h5", "thing") as f:
        assert store.get_attr(f, "shape") == [1, 28, 28]
        assert store.get_attr(f, "count") == 7 and type(store.get_attr(f, "count")) is int
        assert store.get_attr(f, "mean") == 0.5 and type(store.get_attr(f, "mean")) is float
        assert store.get_attr(f, "name") == "bytes"
        assert store.get_attr(f, "nested") == {"t": [1, 2]}
        assert store.get_attr(f, "path") == {"p": str(tmp_path)}  # not JSON: stored as its string
        with pytest.raises(KeyError):
            store.get_attr(f, "missing")


def test_sha256_of_a_file(tmp_path):
    import hashlib

    data = np.random.default_rng(0).bytes(3 << 20)  # more than one 1 MB block
    (tmp_path / "f").write_bytes(data)
    assert store.sha256(tmp_path / "f") == hashlib.sha256(data).hexdigest()
