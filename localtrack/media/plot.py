"""W&B's preset charts (``localtrack.plot.line`` …): a Table plus the chart preset that draws it.

Each function returns a ``Chart`` to log under a key: ``run.log({"pr": localtrack.plot.pr_curve(
y_true, y_probas, labels)})``. The data is stored as a Table (Parquet, readable like any table);
the preset names the chart and which columns it plots. The UI draws it natively (uPlot, canvas).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import curves
from .types import Table

__all__ = [
    "Chart",
    "bar",
    "confusion_matrix",
    "histogram",
    "line",
    "line_series",
    "pr_curve",
    "roc_curve",
    "scatter",
]


class Chart(Table):
    """A Table with the preset chart that draws it (``preset``: name, fields, title)."""

    kind = "chart"

    def __init__(
        self, table: Table | None, preset: str, fields: dict[str, str], title: str
    ) -> None:
        super().__init__(columns=table.columns if table else [], data=table.data if table else [])
        self.preset = {"preset": preset, "fields": dict(fields), "title": str(title or "")}
        if table is not None and table.error:
            self.error = table.error
        elif not self.error:
            missing = [c for c in fields.values() if c not in self.columns]
            if missing:
                self.error = f"the table has no column {missing[0]!r} (it has {self.columns})"

    def encode(self) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        record, blobs = super().encode()
        record["chart"] = self.preset
        return record, blobs


def _failed(preset: str, exc: Exception, title: str) -> Chart:
    chart = Chart(None, preset, {}, title)
    chart.error = f"cannot make a {preset} chart: {exc}"
    return chart


def line(
    table: Table,
    x: str,
    y: str,
    stroke: str | None = None,
    title: str = "",
    split_table: bool = False,
) -> Chart:
    """A line of column `y` over column `x`."""
    return Chart(table, "line", {"x": x, "y": y}, title)


def scatter(table: Table, x: str, y: str, title: str = "", split_table: bool = False) -> Chart:
    """Points of column `y` against column `x`."""
    return Chart(table, "scatter", {"x": x, "y": y}, title)


def bar(table: Table, label: str, value: str, title: str = "", split_table: bool = False) -> Chart:
    """One bar per row: `value` by `label`."""
    return Chart(table, "bar", {"label": label, "value": value}, title)


def histogram(table: Table, value: str, title: str = "", split_table: bool = False) -> Chart:
    """The distribution of column `value` (binned when drawn)."""
    return Chart(table, "histogram", {"value": value}, title)


def line_series(
    xs: Sequence[Any],
    ys: Sequence[Sequence[float]],
    keys: Sequence[str] | None = None,
    title: str = "",
    xname: str = "x",
    split_table: bool = False,
) -> Chart:
    """Several lines over one x (``xs``) or one x per line (a list of lists)."""
    try:
        ys_list = [list(np.asarray(y, dtype=np.float64)) for y in ys]
        names = (
            [str(k) for k in keys]
            if keys is not None
            else [f"key_{i}" for i in range(len(ys_list))]
        )
        if len(names) != len(ys_list):
            raise ValueError(f"{len(names)} keys for {len(ys_list)} lines")
        per_line = len(xs) > 0 and np.ndim(xs[0]) == 1  # one x list per line
        rows = []
        for i, (name, y) in enumerate(zip(names, ys_list, strict=True)):
            x = list(xs[i]) if per_line else list(xs)
            if len(x) != len(y):
                raise ValueError(f"line {name!r} has {len(y)} values for {len(x)} x values")
            rows += [[_num(a), name, float(b)] for a, b in zip(x, y, strict=True)]
        table = Table(columns=["step", "lineKey", "lineVal"], data=rows)
        chart = Chart(
            table,
            "line_series",
            {"step": "step", "lineKey": "lineKey", "lineVal": "lineVal"},
            title,
        )
        chart.preset["xname"] = str(xname)
        return chart
    except Exception as exc:
        return _failed("line_series", exc, title)


def confusion_matrix(
    probs: Any = None,
    y_true: Any = None,
    preds: Any = None,
    class_names: Sequence[str] | None = None,
    title: str = "Confusion Matrix Curve",
    split_table: bool = False,
) -> Chart:
    """Counts of (actual, predicted) pairs from ``preds`` or the argmax of ``probs``."""
    try:
        if (probs is None) == (preds is None):
            raise ValueError("give exactly one of probs= and preds=")
        truth = np.asarray(y_true).astype(np.int64).ravel()
        predicted = (
            np.asarray(preds).astype(np.int64).ravel()
            if preds is not None
            else np.argmax(np.asarray(probs), axis=1)
        )
        n = (
            len(class_names)
            if class_names is not None
            else int(max(truth.max(initial=0), predicted.max(initial=0))) + 1
        )
        names = (
            [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(n)]
        )
        counts = curves.confusion_counts(truth, predicted, n)
        rows = [[names[a], names[p], int(counts[a, p])] for a in range(n) for p in range(n)]
        table = Table(columns=["Actual", "Predicted", "nPredictions"], data=rows)
        return Chart(
            table,
            "confusion_matrix",
            {"Actual": "Actual", "Predicted": "Predicted", "nPredictions": "nPredictions"},
            title,
        )
    except Exception as exc:
        return _failed("confusion_matrix", exc, title)


def pr_curve(
    y_true: Any = None,
    y_probas: Any = None,
    labels: Sequence[str] | None = None,
    classes_to_plot: Sequence[int] | None = None,
    interp_size: int = 21,
    title: str = "Precision-Recall Curve",
    split_table: bool = False,
) -> Chart:
    """One-vs-rest precision over recall per class, interpolated on `interp_size` recall points."""
    try:
        truth, probas, classes, names = curves.class_setup(
            y_true, y_probas, labels, classes_to_plot
        )
        rows = []
        for c in classes:
            recall, precision = curves.pr_points(truth == c, probas[:, c], int(interp_size))
            rows += [[names[c], float(r), float(p)] for r, p in zip(recall, precision, strict=True)]
        table = Table(columns=["class", "recall", "precision"], data=rows)
        return Chart(table, "pr_curve", {"class": "class", "x": "recall", "y": "precision"}, title)
    except Exception as exc:
        return _failed("pr_curve", exc, title)


def roc_curve(
    y_true: Any = None,
    y_probas: Any = None,
    labels: Sequence[str] | None = None,
    classes_to_plot: Sequence[int] | None = None,
    title: str = "ROC Curve",
    split_table: bool = False,
) -> Chart:
    """One-vs-rest true positive rate over false positive rate per class."""
    try:
        truth, probas, classes, names = curves.class_setup(
            y_true, y_probas, labels, classes_to_plot
        )
        rows = []
        for c in classes:
            fpr, tpr = curves.roc_points(truth == c, probas[:, c])
            rows += [[names[c], float(f), float(t)] for f, t in zip(fpr, tpr, strict=True)]
        table = Table(columns=["class", "fpr", "tpr"], data=rows)
        return Chart(table, "roc_curve", {"class": "class", "x": "fpr", "y": "tpr"}, title)
    except Exception as exc:
        return _failed("roc_curve", exc, title)


def _num(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
