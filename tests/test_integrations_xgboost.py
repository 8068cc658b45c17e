"""LocaltrackCallback with real XGBoost (the CPU-only xgboost-cpu wheel): a few boosting rounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xgboost as xgb

import localtrack
from localtrack.integrations.xgboost import LocaltrackCallback

from .test_integrations_common import artifact_versions, rows, run_info, settings


def _data(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(n, 4))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


def test_xgboost_callback_logs_rounds_best_score_and_model(root: Path) -> None:
    x, y = _data()
    dtrain, dvalid = xgb.DMatrix(x[:48], y[:48]), xgb.DMatrix(x[48:], y[48:])
    run = localtrack.init(project="xgb", dir=root, settings=settings())
    params = {"objective": "binary:logistic", "eval_metric": ["logloss", "error"], "max_depth": 2}
    xgb.train(
        params,
        dtrain,
        num_boost_round=5,
        evals=[(dtrain, "train"), (dvalid, "valid")],
        early_stopping_rounds=3,
        callbacks=[LocaltrackCallback(log_model=True)],
        verbose_eval=False,
    )
    run.finish()

    logged = rows(root, run.id, "valid/logloss", "iteration", "train/error")
    assert [r["iteration"] for r in logged] == list(range(len(logged))) and len(logged) >= 4
    assert all(r["train/error"] is not None for r in logged)
    summary = run_info(root, run.id).summary
    assert summary["best_iteration"] < len(logged) and summary["best_score"] > 0
    assert set(artifact_versions(root, f"xgb/model-{run.id}")[0].entries()) == {"model.json"}


def test_xgboost_callback_in_the_sklearn_wrapper_starts_its_run(root: Path) -> None:
    x, y = _data()
    callback = LocaltrackCallback(project="xgb", dir=root, settings=settings())
    model = xgb.XGBClassifier(n_estimators=3, max_depth=2, callbacks=[callback])
    model.fit(x, y, eval_set=[(x, y)], verbose=False)
    assert callback.run is localtrack.run
    callback.run.finish()
    assert len(rows(root, callback.run.id, "validation_0/logloss")) == 3
