"""The run returned for mode="disabled" (and non-zero DDP ranks): the same API, doing nothing."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .config import Config


class DisabledRun:
    """Accepts every call a Run accepts and stores nothing."""

    disabled = True

    def __init__(
        self, project: str | None = None, name: str | None = None, config: Any = None
    ) -> None:
        self.id = "disabled"
        self.name = name or "disabled"
        self.project = project or "disabled"
        self.dir = None
        self.step = 0
        self.tags: tuple[str, ...] = ()
        self.notes: str | None = None
        self.entity: str | None = None
        self.group: str | None = None
        self.job_type: str | None = None
        self.path = f"{self.project}/{self.id}"
        self.url = ""
        self.start_time = time.time()
        self.resumed = False
        self.offline = True
        self.finished = False
        self.config = Config({}, lambda _data: None)
        if isinstance(config, Mapping):
            self.config.update(config)
        self._summary: dict[str, Any] = {}
        self.exit_reason: dict[str, Any] | None = None
        from . import lifecycle

        lifecycle.remember_disabled(self)  # localtrack.log(), .config, .run work as no-ops

    @property
    def summary(self) -> dict[str, Any]:
        return self._summary

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: bool = True) -> None:
        if step is None and commit:
            self.step += 1

    def define_metric(
        self, name: str, step_metric: str | None = None, summary: str | None = None, **_: Any
    ) -> None:
        return None

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def save(self, glob_str: Any = None, base_path: Any = None, policy: str = "live") -> list[str]:
        return []

    def log_code(self, *args: Any, **kwargs: Any) -> list[str]:
        return []

    def mark_preempting(self) -> None:
        return None

    def watch(self, *args: Any, **kwargs: Any) -> None:
        return None

    def unwatch(self, *args: Any, **kwargs: Any) -> None:
        return None

    def alert(self, *args: Any, **kwargs: Any) -> None:
        return None

    def log_artifact(self, artifact_or_path: Any, *args: Any, **kwargs: Any) -> Any:
        return artifact_or_path

    def log_model(self, path: Any, *args: Any, **kwargs: Any) -> Any:
        return path

    @property
    def display_name(self) -> str:
        return self.name

    def project_name(self) -> str:
        return self.project

    def get_url(self) -> str:
        return ""

    def get_project_url(self) -> str:
        return ""

    def finish(self, exit_code: int = 0, quiet: bool | None = None) -> None:
        self.finished = True
        from . import lifecycle

        lifecycle.forget_disabled(self)

    def __repr__(self) -> str:
        return f"<localtrack.DisabledRun {self.name!r} project={self.project!r}>"

    def __enter__(self) -> DisabledRun:
        return self

    def __exit__(self, *exc: object) -> bool:
        self.finish()
        return False
