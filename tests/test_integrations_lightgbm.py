"""LocaltrackCallback with real LightGBM on the CPU: a few boosting rounds, train and cv."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np

import localtrack
from localtrack.integrations.lightgbm import LocaltrackCallback, log_summary

from .test_integrations_common import artifact_versions, rows, run_info, settings

PARAMS = {"objective": "regression", "num_leaves": 4, "min_data_in_leaf": 2, "verbose": -1}


def _data(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(n, 3))
    return x, x[:, 0] * 2 + x[:, 1]


def test_lightgbm_callback_logs_params_rounds_and_summary(root: Path) -> None:
    x, y = _data()
    dtrain = lgb.Dataset(x[:48], y[:48])
    dvalid = lgb.Dataset(x[48:], y[48:], reference=dtrain)
    run = localtrack.init(project="lgb", dir=root, settings=settings())
    booster = lgb.train(
        {**PARAMS, "metric": ["l2", "l1"]},
        dtrain,
        num_boost_round=5,
        valid_sets=[dtrain, dvalid],
        valid_names=["train", "valid"],
        callbacks=[LocaltrackCallback(), lgb.early_stopping(3, verbose=False)],
    )
    log_summary(booster, log_model=True)
    run.finish()

    info = run_info(root, run.id)
    assert info.config["params"]["num_leaves"] == 4
    logged = rows(root, run.id, "valid/l2", "iteration", "train/l1")
    assert [r["iteration"] for r in logged] == list(range(len(logged))) and len(logged) >= 4
    assert all(r["train/l1"] is not None for r in logged)
    assert info.summary["best_iteration"] >= 1 and info.summary["best/valid/l2"] > 0
    assert set(artifact_versions(root, f"lgb/model-{run.id}")[0].entries()) == {"model.txt"}


def test_lightgbm_callback_logs_cv_means_and_spread(root: Path) -> None:
    x, y = _data()
    callback = LocaltrackCallback(project="lgb", dir=root, settings=settings())
    lgb.cv(
        {**PARAMS, "metric": "l2"},
        lgb.Dataset(x, y),
        num_boost_round=3,
        stratified=False,
        nfold=2,
        callbacks=[callback],
    )
    callback.run.finish()
    logged = rows(root, callback.run.id, "valid/l2", "valid/l2_std")
    assert len(logged) == 3 and all(r["valid/l2_std"] >= 0 for r in logged)
