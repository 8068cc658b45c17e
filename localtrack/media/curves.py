"""The numbers behind the preset charts: PR and ROC curves and confusion counts, in numpy.

No scikit-learn: each curve sorts the scores once and counts true and false positives at every
distinct threshold with cumulative sums.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_CURVE_POINTS = 2000


def binary_counts(is_pos: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(true positives, false positives) when predicting positive at score >= each distinct
    score, thresholds from high to low."""
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, hits = scores[order], is_pos[order].astype(np.int64)
    last = np.r_[np.nonzero(np.diff(sorted_scores))[0], len(scores) - 1]  # end of each run
    tp = np.cumsum(hits)[last]
    fp = (last + 1) - tp
    return tp, fp


def pr_points(
    is_pos: np.ndarray, scores: np.ndarray, interp_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """(recall grid, interpolated precision): the best precision at recall >= each grid point."""
    tp, fp = binary_counts(is_pos, scores)
    positives = int(is_pos.sum())
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / positives if positives else np.zeros_like(precision, dtype=np.float64)
    grid = np.linspace(0.0, 1.0, interp_size)
    best = np.zeros(interp_size)
    for i, r in enumerate(grid):
        mask = recall >= r - 1e-12
        best[i] = precision[mask].max() if mask.any() else 0.0
    return grid, best


def roc_points(is_pos: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate), starting at (0, 0)."""
    tp, fp = binary_counts(is_pos, scores)
    positives, negatives = int(is_pos.sum()), int((~is_pos).sum())
    tpr = np.r_[0.0, tp / positives] if positives else np.zeros(len(tp) + 1)
    fpr = np.r_[0.0, fp / negatives] if negatives else np.zeros(len(fp) + 1)
    if len(fpr) > MAX_CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(fpr) - 1, MAX_CURVE_POINTS).astype(np.int64))
        fpr, tpr = fpr[keep], tpr[keep]
    return fpr, tpr


def class_setup(
    y_true: Any, y_probas: Any, labels: Any, classes_to_plot: Any
) -> tuple[np.ndarray, np.ndarray, list[int], list[str]]:
    truth = np.asarray(y_true).ravel()
    probas = np.asarray(y_probas, dtype=np.float64)
    if probas.ndim == 1:
        probas = np.stack([1 - probas, probas], axis=1)
    if probas.ndim != 2 or len(probas) != len(truth):
        raise ValueError(
            f"y_probas must be N×classes with N = len(y_true) = {len(truth)}, not {probas.shape}"
        )
    if not np.isfinite(probas).all():
        raise ValueError("y_probas must not contain NaN or infinity")
    n = probas.shape[1]
    names = [str(x) for x in labels] if labels is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"labels has {len(names)} names but y_probas has {n} columns")
    if truth.dtype.kind in "UOS":
        lookup = {name: i for i, name in enumerate(names)}
        truth = np.array([lookup[str(t)] for t in truth])
    classes = list(range(n)) if classes_to_plot is None else [int(c) for c in classes_to_plot]
    return truth.astype(np.int64), probas, classes, names


def confusion_counts(truth: np.ndarray, predicted: np.ndarray, n: int) -> np.ndarray:
    """n×n counts, rows actual, columns predicted."""
    if len(truth) != len(predicted):
        raise ValueError(f"y_true has {len(truth)} labels but the predictions {len(predicted)}")
    if len(truth) and (
        min(truth.min(), predicted.min()) < 0 or max(truth.max(), predicted.max()) >= n
    ):
        raise ValueError(f"class indices must be in 0..{n - 1}")
    return np.bincount(truth * n + predicted, minlength=n * n).reshape(n, n)


def histogram_bins(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(0), np.array([0.0, 1.0])
    counts, edges = np.histogram(finite, bins=bins)
    return counts, edges
