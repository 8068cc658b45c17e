"""localtrack: a local-first experiment tracker.

W&B-shaped, so ``import localtrack as wandb`` runs typical scripts::

    import localtrack
    run = localtrack.init(project="demo", config={"lr": 1e-3})
    run.log({"train/loss": 0.5})
    run.finish()

Importing localtrack is cheap: pyarrow and the writer load when the first run starts, Flask only
for the UI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    DataDamageWarning,
    LocaltrackError,
    RunExistsError,
    RunNotFoundError,
    RunWriteError,
    TrialStopped,
    UnsupportedValueError,
    UsageError,
)
from .settings import Settings

if TYPE_CHECKING:
    from .alerts.levels import AlertLevel
    from .api import Api
    from .artifacts import Artifact
    from .liverun.live import Run
    from .media import plot
    from .media.audio import Audio
    from .media.html import Html
    from .media.object3d import Object3D
    from .media.plotly import Plotly
    from .media.types import Histogram, Image, Table
    from .media.video import Video

__version__ = "0.1.0"
__all__ = [
    "AlertLevel",
    "Api",
    "Artifact",
    "Audio",
    "DataDamageWarning",
    "Error",
    "Histogram",
    "Html",
    "Image",
    "LocaltrackError",
    "Object3D",
    "Plotly",
    "Run",
    "RunExistsError",
    "RunNotFoundError",
    "RunWriteError",
    "Settings",
    "Table",
    "TrialStopped",
    "UnsupportedValueError",
    "UsageError",
    "Video",
    "agent",
    "alert",
    "config",
    "define_metric",
    "finish",
    "init",
    "log",
    "log_artifact",
    "log_code",
    "login",
    "mark_preempting",
    "plot",
    "require",
    "restore",
    "run",
    "save",
    "setup",
    "summary",
    "sweep",
    "teardown",
    "termerror",
    "termlog",
    "termwarn",
    "unwatch",
    "use_artifact",
    "util",
    "watch",
]
Error = LocaltrackError  # W&B's name for its base exception


def init(*args: Any, **kwargs: Any) -> Any:
    """Start or resume a run; see ``localtrack.init_run.init`` for every argument."""
    from .liverun.init import init as _init

    return _init(*args, **kwargs)


def _current() -> Any:
    from .liverun import lifecycle

    return lifecycle.module_run()


def _require_run(what: str) -> Any:
    current = _current()
    if current is None:
        raise UsageError(f"localtrack.{what}() needs a run: call localtrack.init() first")
    return current


def log(data: dict[str, Any], step: int | None = None, commit: bool = True) -> None:
    """Log to the current run (see Run.log)."""
    _require_run("log").log(data, step=step, commit=commit)


def finish(exit_code: int = 0, quiet: bool | None = None) -> None:
    """Finish the current run, if any (see Run.finish)."""
    current = _current()
    if current is not None:
        current.finish(exit_code=exit_code, quiet=quiet)


def define_metric(
    name: str, step_metric: str | None = None, summary: str | None = None, **kw: Any
) -> None:
    """Define a metric on the current run (see Run.define_metric)."""
    _require_run("define_metric").define_metric(
        name, step_metric=step_metric, summary=summary, **kw
    )


def watch(
    models: Any,
    criterion: Any = None,
    log: str | None = "gradients",
    log_freq: int = 100,
    **kw: Any,
) -> None:
    """Log gradient/parameter histograms of PyTorch models (see localtrack.capture.torch_watch)."""
    from .capture.torch_watch import watch as _watch

    _watch(models, criterion, log=log, log_freq=log_freq, **kw)


def unwatch(models: Any = None) -> None:
    """Remove the hooks watch() added."""
    from .capture.torch_watch import unwatch as _unwatch

    _unwatch(models)


def sweep(sweep: Any, entity: str | None = None, project: str | None = None, **kw: Any) -> str:
    """Create a sweep from a W&B-shaped config; returns its id (see localtrack.sweeps)."""
    from .sweeps import sweep as _sweep

    return _sweep(sweep, entity=entity, project=project, **kw)


def agent(
    sweep_id: str,
    function: Any = None,
    entity: str | None = None,
    project: str | None = None,
    count: int | None = None,
    **kw: Any,
) -> Any:
    """Run a sweep's trials in this process (see localtrack.sweeps.agent)."""
    from .sweeps.agent import agent as _agent

    return _agent(sweep_id, function=function, count=count, project=project, entity=entity, **kw)


def save(glob_str: Any, base_path: Any = None, policy: str = "live") -> list[str]:
    """Copy files into the current run's files/ (see Run.save)."""
    return list(_require_run("save").save(glob_str, base_path=base_path, policy=policy))


def log_code(root: Any = ".", name: str | None = None, include_fn: Any = None,
             exclude_fn: Any = None) -> list[str]:  # fmt: skip
    """Copy source files into the current run's files/code/ (see Run.log_code)."""
    return list(_require_run("log_code").log_code(root, name, include_fn, exclude_fn))


def mark_preempting() -> None:
    """Mark the current run as about to be preempted (see Run.mark_preempting)."""
    _require_run("mark_preempting").mark_preempting()


def log_artifact(artifact_or_path: Any, name: str | None = None, type: str | None = None,
                 aliases: list[str] | None = None, tags: list[str] | None = None) -> Any:  # fmt: skip
    """Log an artifact as the current run's output (see Run.log_artifact)."""
    return _require_run("log_artifact").log_artifact(artifact_or_path, name, type, aliases, tags)


def use_artifact(artifact_or_name: Any, type: str | None = None, **kw: Any) -> Any:
    """Mark an artifact version as the current run's input (see Run.use_artifact)."""
    return _require_run("use_artifact").use_artifact(artifact_or_name, type, **kw)


def alert(title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
    """Raise an alert on the current run (see Run.alert; docs/alerts.md)."""
    _require_run("alert").alert(title, text, level, wait_duration)


def login(key: str | None = None, host: str | None = None, relogin: bool | None = None,
          **kw: Any) -> bool:  # fmt: skip
    """The Python form of `localtrack login` (offline: a no-op that says so)."""
    from .liverun.module_api import login as _login

    return _login(key, host, relogin, **kw)


def restore(name: str, run_path: str | None = None, replace: bool = False,
            root: Any = None) -> Any:  # fmt: skip
    """A run's saved file, open for reading (see liverun.module_api.restore)."""
    from .liverun.module_api import restore as _restore

    return _restore(name, run_path, replace, root)


def teardown(exit_code: int | None = None) -> None:
    """Finish every run this process left open."""
    from .liverun.module_api import teardown as _teardown

    _teardown(exit_code)


def termlog(
    string: str = "", newline: bool = True, repeat: bool = True, prefix: bool = True
) -> None:
    """Print ``localtrack: <string>`` to stderr unless the silent setting is on."""
    from .liverun.module_api import termlog as _termlog

    _termlog(string, newline, repeat, prefix)


def termwarn(string: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    termlog(f"WARNING {string}", newline, repeat, prefix)


def termerror(string: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    termlog(f"ERROR {string}", newline, repeat, prefix)


def setup(settings: Any = None) -> None:
    """W&B starts its service process here; localtrack has none, so this does nothing."""


def require(requirement: str | None = None, experiment: str | None = None) -> None:
    """W&B's feature switches (``wandb.require("core")``); localtrack has none to switch."""


_MEDIA_MODULES = {
    "Audio": "audio",
    "Video": "video",
    "Html": "html",
    "Plotly": "plotly",
    "Object3D": "object3d",
    "plot": "plot",
}


def __getattr__(name: str) -> Any:
    if name == "run":
        return _current()
    if name in ("config", "summary"):
        current = _current()
        return None if current is None else getattr(current, name)
    if name in ("util", "AlertLevel"):
        from .liverun import module_api

        return getattr(module_api, name)
    if name == "Api":
        from .api import Api

        return Api
    if name == "AlertLevel":
        from .alerts.levels import AlertLevel

        return AlertLevel
    if name == "Artifact":
        from .artifacts import Artifact

        return Artifact
    if name == "Run":
        from .liverun.live import Run

        return Run
    if name in ("Image", "Table", "Histogram"):
        from .media import types as media

        return getattr(media, name)
    if name in _MEDIA_MODULES:
        import importlib

        module = importlib.import_module(f".media.{_MEDIA_MODULES[name]}", __name__)
        return module if name == "plot" else getattr(module, name)
    raise AttributeError(f"module 'localtrack' has no attribute {name!r}")
