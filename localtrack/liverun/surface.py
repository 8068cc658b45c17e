"""The W&B-shaped run surface beyond logging: identity, settable metadata, files and code.

``Run`` (live.py) inherits these so ``import localtrack as wandb`` scripts find ``run.entity``,
``run.name = ...``, ``run.save(...)``, ``run.log_code()``, ``run.mark_preempting()``, ``run.url``
and the rest, artifacts and ``define_metric`` included. Every edit goes through run.json's schema (store/runschema.py) and is saved at once,
like config changes; the writer refreshes the index row on its next round.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..store.jsondoc import Invalid
from ..store.runschema import check_field

if TYPE_CHECKING:
    from ..alerts.emit import AlertEmitter
    from ..store.layout import RunPaths
    from ..store.runmeta import MetaDocument
    from ..store.writer import RunWriter
    from .edits import RunEdits
    from .files_save import FileSaver

log = logging.getLogger(__name__)
LOCAL_UI = "http://127.0.0.1:8080"  # `localtrack ui`'s default address


class RunSurface:
    """Mixed into Run: attributes and helpers W&B scripts use besides log()."""

    _meta: MetaDocument
    _paths: RunPaths
    _writer: RunWriter
    _settings: dict[str, Any]
    _saver: FileSaver | None = None
    _alerter: AlertEmitter | None = None
    _edits: RunEdits

    # -- identity and metadata ------------------------------------------------------------------

    def _edit(self, field: str, value: Any) -> None:
        try:
            check_field(field, value)
        except Invalid as exc:
            raise UsageError(f"run.{field} = {value!r}: {field}{exc.at} {exc}") from None
        self._meta.update(**{field: value, "updated_at": time.time()})
        self._writer.publish_meta_later()

    @property
    def name(self) -> str:
        return str(self._meta.get("name"))

    @name.setter
    def name(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise UsageError("run.name must be a non-empty string")
        self._edit("name", value)

    @property
    def notes(self) -> str | None:
        return self._meta.get("notes")

    @notes.setter
    def notes(self, value: str | None) -> None:
        self._edit("notes", value)

    @property
    def tags(self) -> tuple[str, ...]:
        """The run's tags (a tuple, as W&B's; assign a new sequence to change them)."""
        return tuple(self._meta.get("tags") or ())

    @tags.setter
    def tags(self, value: Sequence[str]) -> None:
        if isinstance(value, str) or not isinstance(value, Sequence | set | frozenset):
            raise UsageError("run.tags takes a list of strings, e.g. run.tags = ['baseline']")
        self._edit("tags", sorted({str(t) for t in value}))

    @property
    def entity(self) -> str | None:
        return self._meta.get("entity")

    @property
    def group(self) -> str | None:
        return self._meta.get("group")

    @property
    def job_type(self) -> str | None:
        return self._meta.get("job_type")

    @property
    def path(self) -> str:
        """``entity/project/id`` (``project/id`` without an entity), what ``Api().run()`` takes."""
        parts = [self._meta.get("entity"), self._meta.get("project"), self._paths.run_id]
        return "/".join(str(p) for p in parts if p)

    @property
    def start_time(self) -> float:
        """When the run was created, in seconds since the epoch."""
        return float(self._meta.get("created_at") or 0.0)

    @property
    def resumed(self) -> bool:
        """Whether this process continues a run that existed before (``resume=``)."""
        return len(self._meta.get("segments") or []) > 1

    @property
    def offline(self) -> bool:
        return self._settings.get("mode") != "online"

    @property
    def disabled(self) -> bool:
        return False

    @property
    def display_name(self) -> str:
        """W&B's older name for ``name`` (settable too)."""
        return self.name

    @display_name.setter
    def display_name(self, value: str) -> None:
        self.name = value

    def project_name(self) -> str:
        return str(self._meta.get("project"))

    @property
    def sweep_id(self) -> str | None:
        """The sweep this run is a trial of (set by ``localtrack agent``), else None."""
        from ..settings import from_env

        value = from_env("sweep_id")
        return str(value) if value else None

    def _ui_base(self) -> str:
        """The configured server (``base_url``, else ``localtrack login``'s), else the address
        ``localtrack ui`` serves on by default."""
        base = self._settings.get("base_url")
        if not base:
            from ..sync.config import load_config

            try:
                base = load_config().get("default")
            except UsageError:
                base = None
        return str(base or LOCAL_UI).rstrip("/")

    @property
    def url(self) -> str:
        """The run's page: on the configured server (``base_url``, else ``localtrack login``'s),
        else on ``localtrack ui`` at its default local address."""
        return f"{self._ui_base()}/runs/{self._paths.run_id}"

    def get_url(self) -> str:
        return self.url

    def get_project_url(self) -> str:
        """The page of the run's project (``entity/project``) where ``url`` points."""
        namespace = "/".join(str(p) for p in (self.entity, self._meta.get("project")) if p)
        return f"{self._ui_base()}/projects/{namespace}"

    # -- files and code -------------------------------------------------------------------------

    def save(
        self,
        glob_str: str | Path,
        base_path: str | Path | None = None,
        policy: str = "live",
    ) -> list[str]:
        """Copy files matching `glob_str` into the run's ``files/`` (see files_save.py).

        policy: ``"live"`` copies now and again whenever a file changes until finish(),
        ``"now"`` copies once, ``"end"`` copies at finish(). Names keep their path relative to
        `base_path` (default: the glob's folder for an absolute glob, else the working
        directory). Returns the names saved now, under ``files/``.
        """
        from .files_save import FileSaver

        if self._saver is None:
            self._saver = FileSaver(self._paths.files)
            self.attach_background(self._saver)  # type: ignore[attr-defined]
        return self._saver.save(glob_str, base_path, policy)

    def log_code(
        self,
        root: str | Path | None = ".",
        name: str | None = None,
        include_fn: Callable[..., bool] | None = None,
        exclude_fn: Callable[..., bool] | None = None,
    ) -> list[str]:
        """Copy the source files under `root` (``*.py`` unless `include_fn` says otherwise) into
        the run's ``files/code/``; returns the names saved. `name` is accepted for W&B's
        signature (W&B names the code artifact with it)."""
        from .files_save import log_code

        return log_code(self._paths.files, root, include_fn, exclude_fn)

    def restore(self, name: str, **_ignored: Any) -> Path:
        """The path of a file this run saved (``files/<name>``); W&B downloads it from the cloud."""
        path = self._paths.files / name
        if not path.is_file():
            raise UsageError(f"run {self._paths.run_id} has no saved file {name!r}")
        return path

    def log_model(
        self, path: str | Path, name: str | None = None, aliases: list[str] | None = None
    ) -> Any:
        """Log a model file or folder as an artifact of type ``model`` (W&B's default name:
        ``run-<id>-<file name>``); returns the logged Artifact."""
        if name is None:
            base = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).name) or "model"
            name = f"run-{self._paths.run_id}-{base}"
        return self.log_artifact(path, name=name, type="model", aliases=aliases)  # type: ignore[attr-defined]

    def use_model(self, name: str) -> str:
        """Use a model artifact (``"name:alias"``) and return the folder it is downloaded to."""
        artifact = self.use_artifact(name)  # type: ignore[attr-defined]
        if artifact.type != "model":
            raise UsageError(f"{name!r} is a {artifact.type!r} artifact, not a model")
        return str(artifact.download())

    # -- lifecycle -------------------------------------------------------------------------------

    def mark_preempting(self) -> None:
        """Say this run is about to be preempted: run.json records when, and a later
        ``init(id=..., resume="allow")`` continues it where it stopped."""
        self._meta.update(preempting_at=time.time())
        self._writer.publish_meta_later()
        log.info("run %s: marked as preempting", self._paths.run_id)

    def watch(self, models: Any, criterion: Any = None, log: str | None = "gradients",
              log_freq: int = 100, idx: int | None = None, log_graph: bool = False) -> None:  # fmt: skip
        """Log histograms of a PyTorch model's gradients/parameters (see localtrack.watch)."""
        from ..capture.torch_watch import watch as _watch

        _watch(models, criterion, log=log, log_freq=log_freq, idx=idx, log_graph=log_graph,
               run=self)  # fmt: skip

    def unwatch(self, models: Any = None) -> None:
        from ..capture.torch_watch import unwatch as _unwatch

        _unwatch(models)

    def alert(self, title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
        """Raise an alert (W&B's signature): printed to stderr, recorded in the run's
        alerts.jsonl and delivered by whichever evaluator watches the store (docs/alerts.md).
        Another alert with the same title within `wait_duration` (seconds or a timedelta;
        default 60 s) is dropped. Never blocks on a network and never fails training."""
        from ..alerts.emit import AlertEmitter

        if self._alerter is None:
            self._alerter = AlertEmitter(self._paths.dir, self._paths.run_id)
        self._alerter.alert(title, text, level, wait_duration, self._step - 1)

    # -- artifacts (localtrack/artifacts; see docs/artifacts.md) ---------------------------

    def log_artifact(
        self,
        artifact_or_path: Any,
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> Any:
        """Log an Artifact (or a file/folder path) as this run's output; returns it, logged."""
        from ..artifacts.runlink import log_artifact

        return log_artifact(self, artifact_or_path, name, type, aliases, tags)

    def use_artifact(self, artifact_or_name: Any, type: str | None = None, **kwargs: Any) -> Any:
        """Mark an artifact version ("name:v3", "name:latest", "project/name:alias") as input."""
        from ..artifacts.runlink import use_artifact

        return use_artifact(self, artifact_or_name, type, **kwargs)

    def link_artifact(
        self, artifact: Any, target_path: str, aliases: list[str] | None = None
    ) -> Any:
        """Link a logged version into a registry collection ("model-registry/classifier")."""
        from ..artifacts.runlink import link_artifact

        return link_artifact(self, artifact, target_path, aliases)

    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        summary: str | None = None,
        goal: str | None = None,
        hidden: bool | None = None,
        overwrite: bool | None = None,
        **_ignored: Any,
    ) -> None:
        """Declare how a metric (or glob like "val/*") is shown: its x axis and summary mode
        (W&B's ``summary="best"`` with ``goal="minimize"|"maximize"`` is min or max)."""
        self._edits.define_metric(name, step_metric, summary, goal, hidden, overwrite)

    def step_metric_for(self, key: str) -> str | None:
        return self._edits.step_metric_for(key)
