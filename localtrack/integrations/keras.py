"""Keras 3: ``model.fit(..., callbacks=[LocaltrackCallback(project="mnist")])``.

Logs each epoch's metrics as ``epoch/<name>`` (``epoch/loss``, ``epoch/val_accuracy``, …) with
``epoch/epoch`` as their x axis, and, with ``log_freq="batch"`` or every N batches, the running
batch metrics as ``batch/<name>`` against ``batch/batch_step`` (W&B's WandbMetricsLogger names).
The optimizer's learning rate is logged as ``epoch/learning_rate`` (and ``batch/learning_rate``).
``log_model="all"`` saves the model (``.keras``) after every epoch and logs it as a version of the
``model-<run id>`` artifact; ``log_model="best"`` only when ``monitor`` improved. Works on any Keras
backend; on the torch backend (``KERAS_BACKEND=torch``) no TensorFlow is needed.
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any, Literal

from ._common import log_checkpoint, require, resolve_run, scalar, scalars

keras = require("keras", "keras")

__all__ = ["LocaltrackCallback"]


class LocaltrackCallback(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
    """A Keras callback logging metrics, the learning rate and (opt-in) model checkpoints.

    ``run=`` logs to a run you started; otherwise the current run, else a new one started with
    ``init_kwargs`` (``project=``, ``name=``, ``dir=``, …). The run stays open after ``fit()``.
    """

    def __init__(
        self,
        run: Any = None,
        log_freq: Literal["epoch", "batch"] | int = "epoch",
        log_model: Literal[False, "all", "best"] = False,
        monitor: str = "val_loss",
        mode: Literal["min", "max"] = "min",
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        if log_freq == "batch":
            log_freq = 1
        if log_freq != "epoch" and not (isinstance(log_freq, int) and log_freq > 0):
            raise ValueError(
                f"log_freq must be 'epoch', 'batch' or a positive int, not {log_freq!r}"
            )
        if log_model not in (False, "all", "best"):
            raise ValueError(f"log_model must be False, 'all' or 'best', not {log_model!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        self._run = run
        self._init_kwargs = init_kwargs
        self._batch_freq = None if log_freq == "epoch" else log_freq
        self._log_model = log_model
        self._monitor = monitor
        self._mode = mode
        self._best = math.inf if mode == "min" else -math.inf
        self._batch_step = 0

    @property
    def run(self) -> Any:
        """The run this callback logs to (None before training starts)."""
        return self._run

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._run, _started = resolve_run(self._run, self._init_kwargs)
        self._run.define_metric("epoch/*", step_metric="epoch/epoch")
        if self._batch_freq is not None:
            self._run.define_metric("batch/*", step_metric="batch/batch_step")

    def _learning_rate(self) -> float | None:
        optimizer = getattr(self.model, "optimizer", None)
        rate = getattr(optimizer, "learning_rate", None)
        if rate is None:
            return None
        value = getattr(rate, "value", rate)  # a Variable's backend tensor (a torch scalar here)
        number = scalar(value)
        if number is None:
            try:
                number = float(value)
            except (TypeError, ValueError):  # a schedule the optimizer did not resolve
                return None
        return float(number)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._batch_step += 1
        if self._batch_freq is None or self._batch_step % self._batch_freq:
            return
        data = scalars(logs, prefix="batch/")
        rate = self._learning_rate()
        if rate is not None:
            data["batch/learning_rate"] = rate
        data["batch/batch_step"] = self._batch_step
        self._run.log(data)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        data = scalars(logs, prefix="epoch/")
        rate = self._learning_rate()
        if rate is not None:
            data["epoch/learning_rate"] = rate
        data["epoch/epoch"] = epoch
        self._run.log(data)
        if self._log_model:
            self._maybe_log_model(epoch, logs or {})

    def _maybe_log_model(self, epoch: int, logs: dict[str, Any]) -> None:
        aliases = []
        current = scalar(logs.get(self._monitor))
        if current is not None:
            better = current < self._best if self._mode == "min" else current > self._best
            if better:
                self._best = float(current)
                aliases.append("best")
        if self._log_model == "best" and not aliases:
            return
        metadata = {"epoch": epoch, self._monitor: current}
        with tempfile.TemporaryDirectory(prefix="localtrack-keras-") as folder:
            path = os.path.join(folder, "model.keras")
            self.model.save(path)
            log_checkpoint(self._run, path, f"model-{self._run.id}", aliases, metadata)
