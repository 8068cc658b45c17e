"""The run returned for mode="disabled" (and non-zero DDP ranks): the same API, doing nothing."""

from __future__ import annotations

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
        self.tags: list[str] = []
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
