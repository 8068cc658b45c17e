"""PyTorch Lightning: ``Trainer(logger=LocaltrackLogger(project="mnist", log_model=True))``.

Hyperparameters go to ``run.config``, metrics are logged at the trainer's global step,
``logger.experiment`` is the ``Run`` (on rank zero; a no-op stand-in on the other ranks),
``log_image``/``log_table`` log media, and ``ModelCheckpoint`` files are logged as versions of
the ``model-<run id>`` artifact (``log_model=True``: at the end of training; ``"all"``: each one
as it is saved). ``LocaltrackLogger(id=..., resume="allow")`` continues a run.
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ._common import log_checkpoint, require, resolve_run, scalars

require("lightning", "lightning")
from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment  # noqa: E402
from lightning.pytorch.utilities import rank_zero_only  # noqa: E402

__all__ = ["LocaltrackLogger"]

_CHECKPOINT_FIELDS = ("monitor", "mode", "save_last", "save_top_k", "save_weights_only")


class LocaltrackLogger(Logger):
    """A Lightning logger writing to a localtrack run.

    ``project``, ``name``, ``id``, ``dir`` and any other keyword go to ``localtrack.init()``
    (``version`` is Lightning's word for ``id``); ``run=`` logs to a run you started yourself
    (the current run, when there is one, is used otherwise). ``prefix`` is put before every
    metric key. The run is not finished with training (as W&B's logger): call
    ``logger.experiment.finish()``, or let the interpreter's exit do it.
    """

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        id: str | None = None,
        version: str | None = None,
        dir: str | os.PathLike[str] | None = None,
        log_model: bool | Literal["all"] = False,
        prefix: str = "",
        checkpoint_name: str | None = None,
        run: Any = None,
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        if log_model not in (True, False, "all"):
            raise ValueError(f"log_model must be True, False or 'all', not {log_model!r}")
        self._id = id or version
        self._init_kwargs: dict[str, Any] = {"project": project, "name": name, **init_kwargs}
        if self._id is not None:
            self._init_kwargs["id"] = self._id
        if dir is not None:
            self._init_kwargs["dir"] = dir
        self._project = project
        self._log_model = log_model
        self._prefix = prefix
        self._checkpoint_name = checkpoint_name
        self._run = run
        self._checkpoint_callback: Any = None
        self._logged_checkpoints: dict[str, float] = {}  # path → mtime when logged

    # -- Lightning's Logger properties --------------------------------------------------------

    @property
    def name(self) -> str:
        """The project (Lightning puts checkpoints under <root>/<name>/<version>/)."""
        if self._run is not None or rank_zero_only.rank == 0:
            return str(self.experiment.project)
        return self._project or "lightning_logs"

    @property
    def version(self) -> str | None:
        """The run id (starting the run on rank zero: Lightning names checkpoint folders by it)."""
        if self._run is not None or rank_zero_only.rank == 0:
            return str(self.experiment.id)
        return self._id

    @property
    def save_dir(self) -> str | None:
        return None  # checkpoints go under Trainer(default_root_dir=...), not into the store

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The localtrack Run (started on first use, on rank zero only)."""
        if self._run is None:
            self._run, _started = resolve_run(None, self._init_kwargs)
        return self._run

    # -- logging ------------------------------------------------------------------------------

    @rank_zero_only
    def log_hyperparams(self, params: Mapping[str, Any] | Namespace, *args: Any, **kw: Any) -> None:
        """Merge the hyperparameters (``save_hyperparameters()``, a dict or a Namespace) into the config."""
        values = vars(params) if isinstance(params, Namespace) else dict(params or {})
        self.experiment.config.update(values, allow_val_change=True)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log the scalar metrics at `step` (the trainer's global step)."""
        data = scalars(metrics, prefix=f"{self._prefix}/" if self._prefix else "")
        if data:
            self.experiment.log(data, step=step)

    @rank_zero_only
    def log_image(
        self, key: str, images: Sequence[Any], step: int | None = None, **kwargs: Any
    ) -> None:
        """Log images (arrays, tensors, PIL images, figures, paths); ``caption=[...]`` per image.

        One image is logged under `key`, several under ``key/0``, ``key/1``, …"""
        import localtrack

        if not isinstance(images, (list, tuple)):
            raise TypeError(f"images must be a list, not {type(images).__name__}")
        captions = kwargs.get("caption") or [None] * len(images)
        if len(captions) != len(images):
            raise ValueError(f"{len(captions)} captions for {len(images)} images")
        items = [
            localtrack.Image(_array(img), caption=c)
            for img, c in zip(images, captions, strict=True)
        ]
        if len(items) == 1:
            data: dict[str, Any] = {key: items[0]}
        else:
            data = {f"{key}/{i}": item for i, item in enumerate(items)}
        self.experiment.log(data, step=step)

    @rank_zero_only
    def log_table(
        self,
        key: str,
        columns: list[str] | None = None,
        data: list[list[Any]] | None = None,
        dataframe: Any = None,
        step: int | None = None,
    ) -> None:
        """Log a table from `columns` and `data` rows, or from a pandas `dataframe`."""
        import localtrack

        table = localtrack.Table(columns=columns, data=data, dataframe=dataframe)
        self.experiment.log({key: table}, step=step)

    # -- checkpoints --------------------------------------------------------------------------

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Called by Lightning after each save: log it now (``"all"``) or remember it (True)."""
        if self._log_model == "all":
            self._log_new_checkpoints(checkpoint_callback)
        elif self._log_model is True:
            self._checkpoint_callback = checkpoint_callback

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """At the end of fit/test: log the remembered checkpoints and flush the run."""
        if self._checkpoint_callback is not None and status != "failed":
            self._log_new_checkpoints(self._checkpoint_callback)
        if self._run is not None and hasattr(self._run, "flush"):
            self._run.flush()

    def _log_new_checkpoints(self, callback: Any) -> None:
        paths = [callback.last_model_path, callback.best_model_path]
        paths.extend(getattr(callback, "best_k_models", {}) or {})
        scores = dict(getattr(callback, "best_k_models", {}) or {})
        fields = {f: getattr(callback, f) for f in _CHECKPOINT_FIELDS if hasattr(callback, f)}
        name = self._checkpoint_name or f"model-{self.experiment.id}"
        for path in sorted({p for p in paths if p and os.path.isfile(p)}, key=os.path.getmtime):
            mtime = os.path.getmtime(path)
            if self._logged_checkpoints.get(path) == mtime:
                continue
            score = scores.get(path)
            metadata = {
                "original_filename": Path(path).name,
                "score": _item(score),
                "ModelCheckpoint": fields,
            }
            aliases = ["best"] if path == callback.best_model_path else []
            log_checkpoint(
                self.experiment, path, name, aliases, metadata=metadata, file_name="model.ckpt"
            )
            self._logged_checkpoints[path] = mtime


def _item(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _array(image: Any) -> Any:
    """A tensor as a numpy array (localtrack.Image takes arrays, PIL images, figures, paths)."""
    if hasattr(image, "detach"):
        return image.detach().cpu().numpy()
    return image
