"""Tests for revcor.analyses.backdoor: patches, poisoning, the derived dataset, and detection from z-maps."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from revcor.analyses import backdoor
from revcor.base import store
from revcor.data import datasets
from revcor.pipeline import backdoor as pipeline_backdoor

CLASSES = list("0123456789")


def toy_split(n: int, seed: int, shape: tuple[int, ...] = (1, 28, 28)) -> datasets.Split:
    rng = np.random.default_rng(seed)
    return datasets.Split(
        rng.integers(0, 200, (n, *shape), dtype=np.uint8), rng.permutation(np.arange(n) % 10).astype(np.int64), CLASSES
    )


@pytest.fixture
def toy(tmp_path):
    """A dataset artifact with 200 training and 50 test 1x28x28 images, 10 classes."""
    splits = {"train": toy_split(200, 0), "test": toy_split(50, 1)}
    attrs = {
        "kind": "dataset",
        "name": "toy",
        "source": "synthetic",
        "classes": CLASSES,
        "counts": {"train": 200, "test": 50},
        "image_shape": [1, 28, 28],
        "subset": False,
        "description": "Toy digits.",
    }
    path = tmp_path / "toy.h5"
    datasets.write(path, attrs, splits)
    return path, splits


# --------------------------------------------------------------------------- patches


def test_x_patch_is_a_3x3_cross_at_rows_and_cols_1_to_3():
    m = backdoor.mask("x", (1, 28, 28))
    assert backdoor.box("x", (28, 28)) == (1, 1, 4, 4)
    expected = np.zeros((28, 28), bool)
    for r, c in [(1, 1), (2, 2), (3, 3), (1, 3), (3, 1)]:
        expected[r, c] = True
    np.testing.assert_array_equal(m, expected)


def test_c_patch_matches_the_reference_notes_on_28x28():
    expected = np.zeros((28, 28), bool)
    expected[[1, 2, 5, 6], 21:27] = True  # rows 1-2 and 5-6 over cols 21-26
    expected[3:5, 21:23] = True  # rows 3-4 over cols 21-22
    np.testing.assert_array_equal(backdoor.mask("c", (28, 28)), expected)
    assert backdoor.box("c", (28, 28)) == (1, 21, 7, 27)


def test_h_patch_is_top_right_of_32x32_in_every_channel():
    assert backdoor.box("h", (3, 32, 32)) == (1, 26, 6, 31)
    expected = np.zeros((32, 32), bool)
    expected[1:6, [26, 30]] = True
    expected[3, 26:31] = True
    np.testing.assert_array_equal(backdoor.mask("h", (3, 32, 32)), expected)
    images = np.zeros((2, 3, 32, 32), np.uint8)
    out = backdoor.apply(images, "h")
    assert (out[:, :, expected] == 255).all()
    assert (out[:, :, ~expected] == 0).all()
    assert (images == 0).all()  # input untouched


def test_top_right_patch_follows_the_image_width():
    assert backdoor.box("c", (1, 28, 40)) == (1, 33, 7, 39)
    assert backdoor.box("x", (1, 28, 40)) == (1, 1, 4, 4)


def test_apply_sets_to_255_and_never_wraps():
    images = np.full((3, 1, 28, 28), 250, np.uint8)
    images[1] = 7
    m = backdoor.mask("x", images.shape)
    out = backdoor.apply(images, backdoor.PATCHES["x"])
    assert out.dtype == np.uint8
    assert (out[:, :, m] == 255).all()
    np.testing.assert_array_equal(out[:, :, ~m], images[:, :, ~m])
    np.testing.assert_array_equal(backdoor.apply(images[0], "x"), out[0])  # a single (C, H, W) image


def test_patch_errors_are_clear():
    with pytest.raises(ValueError, match="unknown patch 'y'; known patches: x, c, h"):
        backdoor.mask("y", (28, 28))
    with pytest.raises(ValueError, match="does not fit in 5x5"):
        backdoor.box("c", (5, 5))
    with pytest.raises(ValueError, match="corner must be one of"):
        backdoor.Patch("z", np.ones((2, 2), bool), "bottom-left", 1)
    with pytest.raises(ValueError):
        backdoor.PATCHES["x"].mask[0, 0] = False  # the shared masks are read-only


# --------------------------------------------------------------------------- poisoning


def test_poison_patches_and_relabels_a_seeded_fraction_of_the_source_class():
    split = toy_split(200, 0)
    new, idx = backdoor.poison(split, "c", 8, 9, 0.5, seed=3)
    eights = np.flatnonzero(split.labels == 8)
    assert len(idx) == round(0.5 * len(eights)) == 10
    assert np.all(np.diff(idx) > 0) and np.isin(idx, eights).all()
    assert (new.labels[idx] == 9).all()
    m = backdoor.mask("c", split.images.shape)
    assert (new.images[idx][:, :, m] == 255).all()
    np.testing.assert_array_equal(new.images[idx][:, :, ~m], split.images[idx][:, :, ~m])
    others = np.setdiff1d(np.arange(200), idx)
    np.testing.assert_array_equal(new.images[others], split.images[others])
    np.testing.assert_array_equal(new.labels[others], split.labels[others])
    assert new.classes == split.classes
    # deterministic by seed, and the input split is left alone
    again, idx2 = backdoor.poison(split, "c", 8, 9, 0.5, seed=3)
    np.testing.assert_array_equal(idx, idx2)
    np.testing.assert_array_equal(again.images, new.images)
    assert not np.array_equal(backdoor.poison(split, "c", 8, 9, 0.5, seed=4)[1], idx)
    assert (split.labels[idx] == 8).all() and not (split.images[idx][:, :, m] == 255).all()
    assert len(backdoor.poison(split, "x", 0, 1, 1.0, seed=0)[1]) == 20


def test_poison_errors_are_clear():
    split = toy_split(200, 0)
    no_sevens = datasets.Split(split.images, np.where(split.labels == 7, 6, split.labels), CLASSES)
    with pytest.raises(ValueError, match=r"no images of class 7 \('7'\)"):
        backdoor.poison(no_sevens, "x", 7, 1, 0.5, 0)
    for fraction in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
            backdoor.poison(split, "x", 0, 1, fraction, 0)
    with pytest.raises(ValueError, match="must differ"):
        backdoor.poison(split, "x", 3, 3, 0.5, 0)
    with pytest.raises(ValueError, match="class indices in 0..9"):
        backdoor.poison(split, "x", 0, 10, 0.5, 0)
    with pytest.raises(ValueError, match="known patches: x, c, h"):
        backdoor.poison(split, "square", 0, 1, 0.5, 0)
    with pytest.raises(ValueError, match="poisons none"):
        backdoor.poison(split, "x", 0, 1, 0.01, 0)


def test_derive_round_trip(toy, tmp_path):
    src, splits = toy
    out = tmp_path / "bd.h5"
    pipeline_backdoor.derive(src, out, name="x01", patch="x", source=0, target=1, fraction=0.5, seed=7)
    train, test, patched = (datasets.load(out, s) for s in ("train", "test", "test_patched"))

    expected, idx = backdoor.poison(splits["train"], "x", 0, 1, 0.5, 7)
    np.testing.assert_array_equal(train.images, expected.images)
    np.testing.assert_array_equal(train.labels, expected.labels)
    np.testing.assert_array_equal(test.images, splits["test"].images)
    np.testing.assert_array_equal(test.labels, splits["test"].labels)
    np.testing.assert_array_equal(patched.labels, splits["test"].labels)
    zeros = splits["test"].labels == 0
    m = backdoor.mask("x", (28, 28))
    assert (patched.images[zeros][:, :, m] == 255).all()
    np.testing.assert_array_equal(patched.images[zeros][:, :, ~m], splits["test"].images[zeros][:, :, ~m])
    np.testing.assert_array_equal(patched.images[~zeros], splits["test"].images[~zeros])
    assert train.classes == CLASSES

    with store.open_artifact(out, "dataset") as f:
        attrs = store.get_attrs(f)
    assert attrs["name"] == "toy-bd-x01"
    assert attrs["source"] == "synthetic" and attrs["classes"] == CLASSES
    assert attrs["backdoor"] == {
        "patch": "x",
        "source": 0,
        "target": 1,
        "fraction": 0.5,
        "seed": 7,
        "box": [1, 1, 4, 4],
        "poisoned": 10,
    }
    assert attrs["derived_from"] == {"name": "toy", "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}
    assert attrs["counts"] == {"train": 200, "test": 50, "test_patched": 50}
    assert attrs["description"].startswith("Backdoor: 10 of 20 training '0' images carry the 'x' patch")
    assert "rows 1-3, cols 1-3" in attrs["description"] and "relabelled '1'" in attrs["description"]
    assert attrs["description"].endswith("Toy digits.")


def test_derive_rejects_bad_arguments(toy, tmp_path):
    src, _ = toy
    with pytest.raises(ValueError, match="known patches"):
        pipeline_backdoor.derive(src, tmp_path / "bad.h5", name="b", patch="q", source=0, target=1)
    assert not (tmp_path / "bad.h5").exists()
