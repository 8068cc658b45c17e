"""localtrack.Api: read runs back, W&B-style, from a store directory or a central server.

::

    api = localtrack.Api()                       # dir= > LOCALTRACK_DIR > ./localtrack-runs
    api = localtrack.Api(base_url="http://tracker:8080", api_key="lt_…")   # a localtrack server
    runs = api.runs("team/mnist", filters={"$and": [{"state": "finished"},
                                                    {"config.lr": {"$lt": 1e-3}}]},
                    order="-summary_metrics.val/acc")
    run = api.run("team/mnist/3f2a9c1b")
    df = run.history(keys=["train/loss"])        # a pandas DataFrame (pandas=False: pyarrow)
    for row in run.scan_history(keys=["val/acc"], page_size=1000): ...
    run.tags.append("best"); run.update()

Filters and orders are ``store/runfilter.py``'s (the server applies the same module). A read
that meets damaged data (a shard that fails its checksum, a torn tail log) returns what is whole
and warns with ``localtrack.DataDamageWarning`` naming the run and the damaged files;
``run.damage()`` lists them without reading the data. README "Read runs back" has the table of
differences from W&B's Api.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping
from typing import Any

from ..errors import DataDamageWarning, RunNotFoundError, UsageError
from ..settings import resolve, resolve_dir
from ..store.reader import ProjectInfo, StoreReader
from ..store.runfilter import compile_filter, parse_order
from .backend import Backend
from .run import ApiRun, File

__all__ = ["Api", "ApiRun", "File", "warn_damage"]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside localtrack, counted from our caller's caller."""
    level, frame = 2, sys._getframe(2)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def warn_damage(run_id: str, problems: list[str]) -> None:
    """Warn, at the caller's line, that a read of `run_id` left damaged data out."""
    warnings.warn(DataDamageWarning(run_id, problems), stacklevel=_caller_stacklevel())


class Api:
    """Read access to runs: a store directory (`dir`), or a ``localtrack server`` (`base_url`,
    with `api_key`, else the key ``localtrack login`` saved for it or ``LOCALTRACK_API_KEY``).

    W&B's ``overrides={"base_url": …}`` and ``timeout=`` are accepted too.
    """

    def __init__(
        self,
        dir: str | os.PathLike[str] | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        overrides = dict(overrides or {})
        base_url = base_url or overrides.pop("base_url", None)
        unknown = sorted(set(overrides) - {"entity", "project"})
        if unknown:
            raise UsageError(f"Api(overrides=…) takes base_url, entity, project; not {unknown}")
        self.default_entity: str | None = overrides.get("entity")
        self.default_project: str | None = overrides.get("project")
        self.backend: Backend
        if base_url:
            if dir is not None:
                raise UsageError("give Api either dir= (a store) or base_url= (a server), not both")
            from ..sync.config import resolve_target
            from .remote import RemoteBackend

            key = api_key or resolve_target(base_url).api_key
            self.backend = RemoteBackend(base_url, key, timeout or 60.0)
            self.base_url: str | None = self.backend.base_url
        else:
            from .local import LocalBackend

            self.reader = StoreReader(
                resolve_dir(dir), index_mode=resolve("index"), on_damage=warn_damage
            )
            self.backend = LocalBackend(self.reader, warn_damage)
            self.base_url = None

    @classmethod
    def over(cls, backend: Backend) -> Api:
        """An Api reading through `backend` (how an artifact read from a server finds its
        runs on the same server)."""
        api = cls.__new__(cls)
        api.default_entity = api.default_project = None
        api.backend = backend
        api.base_url = getattr(backend, "base_url", None)
        reader = getattr(backend, "reader", None)
        if reader is not None:
            api.reader = reader
        return api

    def close(self) -> None:
        """Close the connections to the server (a no-op for a local store)."""
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.base_url or str(self.reader.root)
        return f"<Api {where}>"

    def _namespace(self, path: str | None) -> str | None:
        if path is None:
            if self.default_project:
                ns = [self.default_entity, self.default_project]
                return "/".join(p for p in ns if p)
            return None
        return path

    def projects(self) -> list[ProjectInfo]:
        """Every project as the UI lists it: ``name`` is ``entity/project`` (the project alone
        for runs without an entity), so two entities' projects of one name stay apart."""
        return self.backend.projects()

    def runs(
        self,
        path: str | None = None,
        filters: Mapping[str, Any] | None = None,
        order: str | None = None,
        per_page: int = 50,
        include_sweeps: bool = True,
    ) -> list[ApiRun]:
        """Runs of a project (``"entity/project"``, or ``"project"`` for runs logged without an
        entity; None: every run), matching `filters`, in `order` (default newest first).

        Filters are W&B's MongoDB-like forms: ``{"state": "finished"}``,
        ``{"config.lr": {"$lt": 1e-3}}``, ``{"summary_metrics.val/acc": {"$gte": 0.9}}``,
        ``{"tags": {"$in": ["best"]}}``, ``{"created_at": {"$gte": "2024-05-01"}}``,
        ``{"$or": [...]}``, ``{"$and": [...]}``; operators ``$eq $ne $gt $gte $lt $lte $in
        $nin $regex $exists``. `order` is a field with ``-`` (descending) or ``+``:
        ``"-summary_metrics.val/acc"``. A bad filter or order is a UsageError naming the part.
        `per_page` and `include_sweeps` are accepted for W&B compatibility.
        """
        compile_filter(filters)  # refuse a bad filter before any request
        if order:
            parse_order(order)
        infos = self.backend.runs(self._namespace(path), filters, order)
        return [ApiRun(self.backend, i) for i in infos]

    def run(self, path: str) -> ApiRun:
        """A run by id (or a unique id prefix, locally), or by W&B-style path:
        ``"entity/project/id"``, ``"project/id"`` (``…/runs/id`` also works). A path whose
        namespace is not the run's raises RunNotFoundError."""
        namespace, _, run_id = path.rpartition("/")
        if namespace.endswith("/runs"):
            namespace = namespace[: -len("/runs")]
        elif namespace == "runs":
            namespace = ""
        info = self.backend.run(run_id)
        if namespace and info.namespace != namespace:
            raise RunNotFoundError(
                f"run {info.id} is in {info.namespace!r}, not {namespace!r}; "
                "`localtrack runs` lists runs with their projects"
            )
        return ApiRun(self.backend, info)

    def artifact(self, name: str, type: str | None = None) -> Any:
        """An artifact version: ``"project/name:alias"`` (or ``"entity/project/name:v3"``)."""
        return self.backend.artifacts().artifact(name, type)

    def artifacts(
        self,
        type_name: str | None = None,
        name: str | None = None,
        project: str | None = None,
        *,
        type: str | None = None,
    ) -> list[Any]:
        """As W&B's ``artifacts(type_name, "project/name")``: every version of that collection,
        newest first. Without `name`: the latest version of each collection (of `type_name`,
        in `project`). ``type=`` is the earlier name of `type_name`, still accepted."""
        return self.backend.artifacts().artifacts(type_name or type, name, project)

    def artifact_versions(
        self, type_name: str, name: str | None = None, *, type: str | None = None
    ) -> list[Any]:
        """Every live version of a collection, oldest first: ``artifact_versions("project/name")``
        (``type=`` filters), or, as W&B, ``artifact_versions(type_name, "project/name")``."""
        if name is None:
            return self.backend.artifacts().artifact_versions(type_name, type)
        return self.backend.artifacts().artifact_versions(name, type_name)
