"""Accuracy of a classifier: confusion matrices and the scores read from them."""

from __future__ import annotations

import numpy as np


def confusion(true: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Confusion matrix (K, K) of counts, rows = true class, columns = predicted class."""
    return np.bincount(
        np.asarray(true, dtype=np.int64) * k + np.asarray(pred, dtype=np.int64), minlength=k * k
    ).reshape(k, k)


def scores(cm: np.ndarray) -> dict:
    """{"accuracy", "per_class_accuracy" (recall; None for classes without examples),
    "confusion", "n"} of a confusion matrix."""
    totals = cm.sum(1)
    return {
        "accuracy": float(np.trace(cm) / cm.sum()),
        "per_class_accuracy": [float(cm[i, i] / totals[i]) if totals[i] else None for i in range(len(cm))],
        "confusion": cm.tolist(),
        "n": int(cm.sum()),
    }
