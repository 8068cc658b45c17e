"""Writing localtrack runs out in other tools' formats: ``localtrack export-to``.

::

    tensorboard.py  event files any TensorBoard opens (scalars, histograms, images)
    mlflow.py       runs in an MLflow store (file, SQLite or server), through the mlflow client
    wandb.py        W&B offline run folders, replayed through the wandb package (wandb sync)
    runcontent.py   a run's media, files and logged artifact versions as files to hand over

Each exporter reads through ``StoreReader`` and writes with the other tool's own writer.
``docs/import-export.md`` is the user's guide.
"""

from __future__ import annotations
