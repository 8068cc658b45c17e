"""scikit-learn: ``log_estimator(run, est, X_test, y_test)`` after fitting.

Records the estimator's class and ``get_params()`` in ``run.config`` (``estimator``,
``estimator_params``) and logs its test scores — for a classifier ``test/accuracy``,
``test/precision``, ``test/recall``, ``test/f1`` (macro averages) and a confusion matrix as an
image (``test/confusion_matrix``, drawn with matplotlib) and a table
(``test/confusion_matrix_table``); for a regressor ``test/r2``, ``test/mse``, ``test/rmse`` and
``test/mae``. The scores also land in the summary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._common import require

sk_base = require("sklearn.base", "sklearn", "scikit-learn")
sk_metrics = require("sklearn.metrics", "sklearn", "scikit-learn")

__all__ = ["log_estimator"]


def log_estimator(
    run: Any,
    estimator: Any,
    X_test: Any,
    y_test: Any,
    prefix: str = "test",
    labels: Sequence[Any] | None = None,
) -> dict[str, float]:
    """Log a fitted estimator's params, test scores and (classifiers) confusion matrix.

    Returns the scores logged, keyed as logged (``"test/accuracy"``, …). ``labels`` names the
    classes in the confusion matrix (default: ``estimator.classes_``)."""
    params = estimator.get_params(deep=False)
    kind = type(estimator)
    run.config.update(
        {"estimator": f"{kind.__module__}.{kind.__qualname__}", "estimator_params": params},
        allow_val_change=True,
    )
    predicted = estimator.predict(X_test)
    key = f"{prefix}/" if prefix else ""
    if sk_base.is_classifier(estimator):
        scores = _classifier_scores(y_test, predicted)
    else:
        scores = _regressor_scores(y_test, predicted)
    data: dict[str, Any] = {f"{key}{name}": value for name, value in scores.items()}
    if sk_base.is_classifier(estimator):
        classes = list(labels if labels is not None else getattr(estimator, "classes_", []))
        if not classes:
            classes = sorted(set(list(y_test)) | set(list(predicted)))
        matrix = sk_metrics.confusion_matrix(y_test, predicted, labels=classes)
        data.update(_confusion_media(key, matrix, [str(c) for c in classes]))
    run.log(data)
    return {name: value for name, value in data.items() if isinstance(value, float)}


def _classifier_scores(y_true: Any, y_pred: Any) -> dict[str, float]:
    precision, recall, f1, _support = sk_metrics.precision_recall_fscore_support(
        y_true, y_pred, average="macro", zero_division=0
    )
    return {
        "accuracy": float(sk_metrics.accuracy_score(y_true, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


def _regressor_scores(y_true: Any, y_pred: Any) -> dict[str, float]:
    mse = float(sk_metrics.mean_squared_error(y_true, y_pred))
    return {
        "r2": float(sk_metrics.r2_score(y_true, y_pred)),
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(sk_metrics.mean_absolute_error(y_true, y_pred)),
    }


def _confusion_media(key: str, matrix: Any, classes: list[str]) -> dict[str, Any]:
    """The confusion matrix as an image (true rows × predicted columns) and as a table."""
    import localtrack

    figure_module = require("matplotlib.figure", "sklearn", "matplotlib")
    size = 1.6 + 0.45 * len(classes)
    figure = figure_module.Figure(figsize=(size, size), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in _cells(matrix):
        colour = "white" if count > threshold else "black"
        axes.text(col, row, str(count), ha="center", va="center", color=colour)
    rows = [
        [true, pred, int(matrix[i][j])]
        for i, true in enumerate(classes)
        for j, pred in enumerate(classes)
    ]
    return {
        f"{key}confusion_matrix": localtrack.Image(
            figure, caption="rows: true, columns: predicted"
        ),
        f"{key}confusion_matrix_table": localtrack.Table(
            columns=["true", "predicted", "count"], data=rows
        ),
    }


def _cells(matrix: Any) -> list[tuple[tuple[int, int], int]]:
    return [((i, j), int(matrix[i][j])) for i in range(len(matrix)) for j in range(len(matrix[i]))]
