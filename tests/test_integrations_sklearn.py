"""log_estimator with real scikit-learn: a classifier (confusion matrix) and a regressor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression

import localtrack
from localtrack.integrations.sklearn import log_estimator
from localtrack.store.reader import StoreReader

from .test_integrations_common import media_keys, run_info, settings


def _data(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(n, 3))
    return x, x[:, 0] + 0.5 * x[:, 1]


def test_log_estimator_classifier_logs_params_scores_and_confusion_matrix(root: Path) -> None:
    x, target = _data()
    y = np.digitize(target, [-0.5, 0.5])  # three classes
    clf = LogisticRegression(C=0.5, max_iter=200).fit(x[:40], y[:40])
    run = localtrack.init(project="sk", dir=root, settings=settings())
    scores = log_estimator(run, clf, x[40:], y[40:])
    run.finish()

    assert set(scores) == {"test/accuracy", "test/precision", "test/recall", "test/f1"}
    info = run_info(root, run.id)
    assert info.config["estimator"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert info.config["estimator_params"]["C"] == 0.5
    assert info.summary["test/accuracy"] == scores["test/accuracy"] == clf.score(x[40:], y[40:])
    assert media_keys(root, run.id) == {
        "test/confusion_matrix": "image",
        "test/confusion_matrix_table": "table",
    }
    page = StoreReader(root).table_page(run.id, "test/confusion_matrix_table", offset=0, limit=20)
    assert sum(row[-1] for row in page.rows) == 20  # every test sample counted once


def test_log_estimator_regressor_logs_error_scores(root: Path) -> None:
    x, y = _data()
    reg = LinearRegression().fit(x[:40], y[:40])
    run = localtrack.init(project="sk", dir=root, settings=settings())
    scores = log_estimator(run, reg, x[40:], y[40:], prefix="holdout")
    run.finish()
    assert set(scores) == {"holdout/r2", "holdout/mse", "holdout/rmse", "holdout/mae"}
    assert scores["holdout/r2"] > 0.99 and media_keys(root, run.id) == {}
