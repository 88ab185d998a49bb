"""Template classifiers: how much do classification images know about the real data?

A template classifier L2-normalizes each test image and each template (a bias map, a mean
training image, a logistic-regression weight vector) and predicts the class whose template
has the largest dot product with the image (paper Sec. 3.1). Classes without a template
(no noise sample fell in them) are never predicted.
"""

from __future__ import annotations

import numpy as np

from revcor.models.metrics import confusion, scores


def usable(templates: np.ndarray) -> np.ndarray:
    """Which templates can classify: finite and not all zero."""
    t = templates.reshape(len(templates), -1)
    return np.isfinite(t).all(1) & (np.linalg.norm(np.nan_to_num(t), axis=1) > 0)


def template_predict(templates: np.ndarray, images: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Index of the best-matching template for each image (NaN templates are skipped)."""
    if tuple(templates.shape[1:]) != tuple(images.shape[1:]):
        raise ValueError(
            f"templates of shape {tuple(templates.shape[1:])} cannot classify images of shape {tuple(images.shape[1:])}"
        )
    t = templates.reshape(len(templates), -1).astype(np.float64)
    valid = usable(templates)
    if not valid.any():
        raise ValueError("no usable template (every class empty or every map zero)")
    t = np.where(valid[:, None], np.nan_to_num(t), 0.0)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-300)
    out = np.empty(len(images), dtype=np.int64)
    for i in range(0, len(images), batch):
        x = images[i : i + batch].reshape(min(batch, len(images) - i), -1).astype(np.float64)
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
        s = x @ t.T
        s[:, ~valid] = -np.inf
        out[i : i + batch] = s.argmax(1)
    return out


def template_accuracy(templates: np.ndarray, images: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, per-class accuracy and confusion matrix of a template classifier.

    When no template is usable (every class empty, or all maps identical after centring)
    the accuracy is None.
    """
    k = len(templates)
    empty = int((~np.isfinite(templates.reshape(k, -1)).all(1)).sum())
    if not usable(templates).any():
        return {
            "accuracy": None,
            "per_class_accuracy": None,
            "confusion": None,
            "n": len(images),
            "empty_classes": empty,
            "note": "no usable template (every class empty or every map zero)",
        }
    return scores(confusion(labels, template_predict(templates, images), k)) | {"empty_classes": empty}


def mean_images(images: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Mean training image of each class, in [0, 1]."""
    flat = images.reshape(len(images), -1).astype(np.float64) / 255
    sums = np.zeros((k, flat.shape[1]))
    np.add.at(sums, labels, flat)
    counts = np.bincount(labels, minlength=k)[:, None]
    return (sums / np.maximum(counts, 1)).reshape(k, *images.shape[1:])
