"""A Keras 3 training logged the W&B way, with only the imports swapped (was: ``import wandb``
and ``from wandb.integration.keras import WandbMetricsLogger``). Keras runs on the torch
backend: no TensorFlow needed."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

import localtrack as wandb
from localtrack.integrations.keras import LocaltrackCallback as WandbMetricsLogger

run = wandb.init(project="keras-demo", config={"epochs": 3, "batch_size": 8})
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
model.fit(
    x,
    y,
    epochs=run.config.epochs,
    batch_size=run.config.batch_size,
    validation_split=0.25,
    callbacks=[WandbMetricsLogger(log_freq=2)],
    verbose=0,
)
run.finish()
print(run.id)
