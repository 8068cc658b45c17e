"""XGBoost: ``xgb.train(params, dtrain, evals=[(dvalid, "valid")], callbacks=[LocaltrackCallback()])``.

Each boosting round logs the last value of every evaluation metric as ``<data>/<metric>``
(``valid/rmse``, ``train/logloss``; ``xgb.cv``'s ``(mean, std)`` pairs as ``<metric>`` and
``<metric>_std``) with ``iteration`` as their x axis. After training the booster's
``best_iteration``/``best_score`` (early stopping) go to the summary, and ``log_model=True``
logs the booster (``model.json``) as a version of the ``model-<run id>`` artifact. Works with the
scikit-learn wrappers too: ``XGBClassifier(callbacks=[LocaltrackCallback()])``.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from ._common import log_checkpoint, require, resolve_run, scalar

xgb = require("xgboost", "xgboost")

__all__ = ["LocaltrackCallback"]


class LocaltrackCallback(xgb.callback.TrainingCallback):  # type: ignore[misc,name-defined]
    """Logs each boosting round's evaluation metrics; ``log_model=True`` logs the booster.

    ``run=`` logs to a run you started; otherwise the current run, else a new one started with
    ``init_kwargs`` (``project=``, ``name=``, ``dir=``, …). The run stays open after training.
    """

    def __init__(self, run: Any = None, log_model: bool = False, **init_kwargs: Any) -> None:
        super().__init__()
        self._run = run
        self._init_kwargs = init_kwargs
        self._log_model = log_model
        self._defined: set[str] = set()

    def __deepcopy__(self, memo: dict[int, Any]) -> LocaltrackCallback:
        return self  # scikit-learn's clone() copies callbacks; a run cannot be copied

    @property
    def run(self) -> Any:
        """The run this callback logs to (None before training starts)."""
        return self._run

    def before_training(self, model: Any) -> Any:
        self._run, _started = resolve_run(self._run, self._init_kwargs)
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        data: dict[str, Any] = {}
        for data_name, metrics in evals_log.items():
            if data_name not in self._defined:
                self._run.define_metric(f"{data_name}/*", step_metric="iteration")
                self._defined.add(data_name)
            for metric, history in metrics.items():
                if not history:
                    continue
                last = history[-1]
                if isinstance(last, tuple):  # xgb.cv: (mean, std)
                    data[f"{data_name}/{metric}"] = float(last[0])
                    data[f"{data_name}/{metric}_std"] = float(last[1])
                elif (value := scalar(last)) is not None:
                    data[f"{data_name}/{metric}"] = value
        if data:
            data["iteration"] = epoch
            self._run.log(data)
        return False  # never asks training to stop

    def after_training(self, model: Any) -> Any:
        for attr in ("best_iteration", "best_score"):
            value = model.attr(attr) if hasattr(model, "attr") else None
            if value is not None:
                self._run.summary[attr] = float(value) if attr == "best_score" else int(value)
        if self._log_model and hasattr(model, "save_model"):
            with tempfile.TemporaryDirectory(prefix="localtrack-xgboost-") as folder:
                path = os.path.join(folder, "model.json")
                model.save_model(path)
                log_checkpoint(self._run, path, f"model-{self._run.id}")
        return model
