"""LightGBM: ``lgb.train(params, dtrain, valid_sets=[dvalid], callbacks=[LocaltrackCallback()])``.

The training parameters go to ``run.config`` at the first round; each boosting round logs every
evaluation result as ``<data>/<metric>`` (``valid_0/l2``, ``training/binary_logloss``;
``lgb.cv``'s means as ``<data>/<metric>`` and their spread as ``<data>/<metric>_std``) with
``iteration`` as their x axis. ``log_summary(booster)`` puts the booster's best iteration and
best scores into the summary and, with ``log_model=True``, logs the booster as an artifact.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from ._common import log_checkpoint, require, resolve_run, scalar

lgb = require("lightgbm", "lightgbm")

__all__ = ["LocaltrackCallback", "log_summary"]


class LocaltrackCallback:
    """A LightGBM callback: pass it in ``callbacks=[...]`` of ``lgb.train``/``lgb.cv``/``fit``.

    ``run=`` logs to a run you started; otherwise the current run, else a new one started with
    ``init_kwargs`` (``project=``, ``name=``, ``dir=``, …). The run stays open after training.
    """

    order = 20  # after LightGBM's own evaluation logging and early stopping (10, 30)
    before_iteration = False

    def __init__(self, run: Any = None, log_params: bool = True, **init_kwargs: Any) -> None:
        self._run = run
        self._init_kwargs = init_kwargs
        self._log_params = log_params
        self._started = False
        self._defined: set[str] = set()

    def __deepcopy__(self, memo: dict[int, Any]) -> LocaltrackCallback:
        return self  # scikit-learn's clone() copies callbacks; a run cannot be copied

    @property
    def run(self) -> Any:
        """The run this callback logs to (None before training starts)."""
        return self._run

    def __call__(self, env: Any) -> None:
        if not self._started:
            self._run, _started = resolve_run(self._run, self._init_kwargs)
            self._started = True
            if self._log_params and env.params:
                self._run.config.update({"params": dict(env.params)}, allow_val_change=True)
        data: dict[str, Any] = {}
        for result in env.evaluation_result_list or []:
            data_name, metric, value = result[0], result[1], result[2]
            if data_name == "cv_agg" and " " in metric:  # older lgb.cv: ("cv_agg", "valid l2", …)
                data_name, metric = metric.split(" ", 1)
            if len(result) > 4 and (std := scalar(result[4])) is not None:  # lgb.cv's spread
                data[f"{data_name}/{metric}_std"] = std
            if (number := scalar(value)) is not None:
                data[f"{data_name}/{metric}"] = number
            if data_name not in self._defined:
                self._run.define_metric(f"{data_name}/*", step_metric="iteration")
                self._defined.add(data_name)
        if data:
            data["iteration"] = env.iteration
            self._run.log(data)


def log_summary(booster: Any, run: Any = None, log_model: bool = False) -> None:
    """Put a trained booster's best iteration and best scores in the summary; optionally log it
    (``model.txt``) as a version of the ``model-<run id>`` artifact."""
    run, _started = resolve_run(run, {})
    best_iteration = getattr(booster, "best_iteration", None)
    if best_iteration:
        run.summary["best_iteration"] = int(best_iteration)
    for data_name, metrics in (getattr(booster, "best_score", None) or {}).items():
        for metric, value in metrics.items():
            if (number := scalar(value)) is not None:
                run.summary[f"best/{data_name}/{metric}"] = number
    if log_model:
        with tempfile.TemporaryDirectory(prefix="localtrack-lightgbm-") as folder:
            path = os.path.join(folder, "model.txt")
            booster.save_model(path)
            log_checkpoint(run, path, f"model-{run.id}")
