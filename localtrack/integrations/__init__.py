"""Framework integrations: a logger or callback per framework, each a module of its own.

::

    lightning.py     LocaltrackLogger — a PyTorch Lightning Logger
    transformers.py  LocaltrackCallback — a Hugging Face TrainerCallback
    keras.py         LocaltrackCallback — a Keras 3 callback (any backend; torch needs no TensorFlow)
    xgboost.py       LocaltrackCallback — an xgboost.callback.TrainingCallback
    lightgbm.py      LocaltrackCallback — a LightGBM callback
    sklearn.py       log_estimator(run, est, X_test, y_test) — params, scores, confusion matrix
    _common.py       what they share: finding the run, picking scalars, logging checkpoints

Importing this package imports no framework; importing one of its modules imports that framework,
and says which ``pip install 'localtrack[<extra>]'`` to run when it is missing. Each uses only the
public localtrack API. Usage: docs/integrations.md.
"""

from __future__ import annotations

__all__: list[str] = []
