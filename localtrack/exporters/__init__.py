"""Writing localtrack runs out in other tools' formats: ``localtrack export-to``.

::

    tensorboard.py  event files any TensorBoard opens (scalars, histograms, images)
    mlflow.py       runs in an MLflow store (file, SQLite or server), through the mlflow client
    wandb.py        W&B offline run folders, replayed through the wandb package (wandb sync)

Each exporter reads through ``StoreReader`` and writes with the other tool's own writer.
``docs/import-export.md`` is the user's guide.
"""

from __future__ import annotations
