"""What the framework integrations share: the missing-framework message, the run they log to,
the scalars among a framework's logs, and checkpoints logged as artifacts."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)


def require(module: str, extra: str, package: str | None = None) -> ModuleType:
    """Import `module`; when it is not installed, one ImportError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise  # the framework is there but something it needs is not: its own message
        raise ModuleNotFoundError(
            f"localtrack.integrations.{extra} needs {package or top}, which is not installed: "
            f"pip install 'localtrack[{extra}]'",
            name=exc.name,
        ) from None


def resolve_run(run: Any, init_kwargs: Mapping[str, Any]) -> tuple[Any, bool]:
    """(the run to log to, whether we started it): `run`, else the current run, else a new one."""
    import localtrack

    if run is not None:
        return run, False
    current = localtrack.run
    if current is not None:
        return current, False
    return localtrack.init(**dict(init_kwargs)), True


def scalar(value: Any) -> int | float | bool | None:
    """`value` as a Python scalar when it is one (numpy and 0-d tensors included), else None."""
    if isinstance(value, (bool, int, float)):
        return value
    item = getattr(value, "item", None)
    if callable(item) and tuple(getattr(value, "shape", (1,))) == ():
        result = item()
        if isinstance(result, (bool, int, float)):
            return result
    return None


def scalars(logs: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """The scalar entries of a framework's logs (strings and arrays left out), keys prefixed."""
    out: dict[str, Any] = {}
    for key, value in (logs or {}).items():
        number = scalar(value)
        if number is not None:
            out[f"{prefix}{key}"] = number
    return out


def log_checkpoint(
    run: Any,
    path: str | os.PathLike[str],
    name: str,
    aliases: Iterable[str] = (),
    metadata: Mapping[str, Any] | None = None,
    file_name: str | None = None,
) -> Any:
    """Log a checkpoint file or folder as a version of the "model" artifact `name`.

    Its newest version is always `name:latest`; `aliases` adds others (e.g. "best").

    Returns the logged artifact; None for a run that stores nothing (mode="disabled")."""
    if getattr(run, "disabled", False) or not hasattr(run, "log_artifact"):
        return None
    import localtrack

    artifact = localtrack.Artifact(name, type="model", metadata=dict(metadata or {}))
    if os.path.isdir(path):
        artifact.add_dir(path)
    else:
        artifact.add_file(path, name=file_name)
    logged = run.log_artifact(artifact, aliases=list(dict.fromkeys(aliases)))
    log.debug("logged checkpoint %s as %s", path, name)
    return logged
