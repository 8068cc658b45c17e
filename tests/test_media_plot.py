"""localtrack.plot presets: W&B's signatures, stored as a Table plus the preset, numbers checked
against brute-force counts written out here (no scikit-learn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import localtrack
from localtrack.store.reader import StoreReader

RNG = np.random.default_rng(7)
Y_TRUE = RNG.integers(0, 3, 200)
PROBAS = RNG.dirichlet(np.ones(3), 200)
PROBAS[np.arange(200), Y_TRUE] += 0.3  # better than chance
PROBAS /= PROBAS.sum(axis=1, keepdims=True)
LABELS = ["cat", "dog", "fox"]


def _brute_rates(positive: np.ndarray, scores: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, fpr, tpr, precision, recall) by counting at each threshold, one at a time."""
    out = []
    for threshold in sorted(set(scores.tolist()), reverse=True):
        predicted = scores >= threshold
        tp = sum(1 for p, y in zip(predicted, positive, strict=True) if p and y)
        fp = sum(1 for p, y in zip(predicted, positive, strict=True) if p and not y)
        out.append(
            (fp / (~positive).sum(), tp / positive.sum(), tp / (tp + fp), tp / positive.sum())
        )
    return out


def _logged(root: Path, chart):
    run = localtrack.init(project="p", dir=root, settings=localtrack.Settings(console=False))
    run.log({"chart": chart})
    run.finish()
    return StoreReader(root).chart(run.id, "chart")


def test_roc_curve_matches_brute_force(root: Path) -> None:
    data = _logged(root, localtrack.plot.roc_curve(Y_TRUE, PROBAS, labels=LABELS))
    assert data.item.chart == {
        "preset": "roc_curve",
        "fields": {"class": "class", "x": "fpr", "y": "tpr"},
        "title": "ROC Curve",
    }
    cols = data.columns
    for c, name in enumerate(LABELS):
        rows = [i for i, k in enumerate(cols["class"]) if k == name]
        got = [(cols["fpr"][i], cols["tpr"][i]) for i in rows]
        want = [(0.0, 0.0)] + [(f, t) for f, t, _, _ in _brute_rates(c == Y_TRUE, PROBAS[:, c])]
        assert np.allclose(got, want)


def test_pr_curve_matches_brute_force_interpolation(root: Path) -> None:
    data = _logged(
        root, localtrack.plot.pr_curve(Y_TRUE, PROBAS, labels=LABELS, classes_to_plot=[1])
    )
    cols = data.columns
    assert set(cols["class"]) == {"dog"} and len(cols["recall"]) == 21
    points = _brute_rates(Y_TRUE == 1, PROBAS[:, 1])
    for r, p in zip(cols["recall"], cols["precision"], strict=True):
        want = max((prec for _, _, prec, rec in points if rec >= r - 1e-12), default=0.0)
        assert p == pytest.approx(want)
    assert (
        cols["precision"][-1] >= (Y_TRUE == 1).mean()
    )  # recall 1 is reached by the lowest threshold


def test_confusion_matrix_counts(root: Path) -> None:
    preds = np.argmax(PROBAS, axis=1)
    data = _logged(
        root, localtrack.plot.confusion_matrix(probs=PROBAS, y_true=Y_TRUE, class_names=LABELS)
    )
    got = {
        (a, p): n
        for a, p, n in zip(
            *(data.columns[c] for c in ("Actual", "Predicted", "nPredictions")), strict=True
        )
    }
    for a in range(3):
        for p in range(3):
            assert got[(LABELS[a], LABELS[p])] == sum(
                1 for t, q in zip(Y_TRUE, preds, strict=True) if t == a and q == p
            )
    assert sum(got.values()) == 200


def test_table_presets_and_line_series(root: Path) -> None:
    table = localtrack.Table(
        columns=["x", "y", "name"], data=[[i, i * i, f"r{i}"] for i in range(5)]
    )
    for chart, preset in [
        (localtrack.plot.line(table, "x", "y", title="sq"), "line"),
        (localtrack.plot.scatter(table, "x", "y"), "scatter"),
        (localtrack.plot.bar(table, "name", "y"), "bar"),
        (localtrack.plot.histogram(table, "y"), "histogram"),
    ]:
        assert chart.preset["preset"] == preset and not chart.error
    series = localtrack.plot.line_series(
        [0, 1, 2], [[1, 2, 3], [4, 5, 6]], keys=["a", "b"], xname="epoch"
    )
    data = _logged(root, series)
    assert data.columns["lineKey"] == ["a"] * 3 + ["b"] * 3
    assert data.columns["lineVal"] == [1, 2, 3, 4, 5, 6] and data.item.chart["xname"] == "epoch"


def test_bad_preset_input_is_a_warning_naming_the_key(root: Path) -> None:
    table = localtrack.Table(columns=["x"], data=[[1]])
    run = localtrack.init(project="p", dir=root, settings=localtrack.Settings(console=False))
    with pytest.warns(UserWarning, match=r"key 'c'.*no column 'y'"):
        run.log({"c": localtrack.plot.line(table, "x", "y"), "ok": 1})
    with pytest.warns(UserWarning, match=r"key 'd'.*y_probas must be N×classes"):
        run.log({"d": localtrack.plot.roc_curve([0, 1], [[0.1, 0.9]])})
    run.finish()
