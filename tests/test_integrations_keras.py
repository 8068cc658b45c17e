"""LocaltrackCallback with real Keras 3 on the torch backend (no TensorFlow): a tiny model."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is first imported

from pathlib import Path

import keras
import numpy as np
import pytest

import localtrack
from localtrack.integrations.keras import LocaltrackCallback

from .test_integrations_common import artifact_versions, rows, run_info, settings


def _fit(callback: LocaltrackCallback, epochs: int = 3) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse", metrics=["mae"])
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model.fit(
        x, y, batch_size=8, epochs=epochs, validation_split=0.25, verbose=0, callbacks=[callback]
    )
    return model


# Keras' own model.save() on the torch backend converts variables through an __array__ that
# numpy 2 calls deprecated; it is Keras' code, not ours (the callback reads the rate without it).
@pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy:DeprecationWarning"
)
def test_keras_callback_logs_epochs_batches_learning_rate_and_models(root: Path) -> None:
    assert keras.backend.backend() == "torch"
    callback = LocaltrackCallback(
        project="keras", dir=root, log_freq="batch", log_model="best", settings=settings()
    )
    _fit(callback)
    run = callback.run
    assert isinstance(run, localtrack.Run)
    run.finish()

    epochs = rows(root, run.id, "epoch/loss", "epoch/epoch", "epoch/val_mae", "epoch/learning_rate")
    assert [r["epoch/epoch"] for r in epochs] == [0, 1, 2]
    assert all(r["epoch/val_mae"] is not None for r in epochs)
    # 12 training samples in batches of 8: 2 batches per epoch; the rate halves every batch
    assert [r["epoch/learning_rate"] for r in epochs] == pytest.approx(
        [0.1 / 4, 0.1 / 16, 0.1 / 64]
    )
    batches = rows(root, run.id, "batch/loss", "batch/batch_step", "batch/learning_rate")
    assert [r["batch/batch_step"] for r in batches] == [1, 2, 3, 4, 5, 6]
    defined = {
        d["name"]: d["step_metric"] for d in run_info(root, run.id).meta["metric_definitions"]
    }
    assert defined == {"epoch/*": "epoch/epoch", "batch/*": "batch/batch_step"}
    versions = artifact_versions(root, f"keras/model-{run.id}")
    assert 1 <= len(versions) <= 3 and set(versions[-1].entries()) == {"model.keras"}
