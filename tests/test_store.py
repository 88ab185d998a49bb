"""Artifacts appear only when complete; failures leave nothing behind."""
import h5py
import pytest

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
