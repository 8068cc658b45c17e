"""Settings: declared once, as data, with help text. Resolution: explicit argument >
``LOCALTRACK_*`` environment variable > default, looked up when a run starts (never at import).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import UsageError

DEFAULT_DIR = "./localtrack-runs"


@dataclass(frozen=True)
class SettingSpec:
    name: str
    env: str
    kind: type
    default: Any
    help: str


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "base_url",
        "LOCALTRACK_BASE_URL",
        str,
        None,
        "Server that `localtrack sync` and mode='online' push to (else the last `localtrack login`).",
    ),
    SettingSpec(
        "api_key",
        "LOCALTRACK_API_KEY",
        str,
        None,
        "API key for that server (else the one `localtrack login` saved).",
    ),
    SettingSpec("dir", "LOCALTRACK_DIR", str, DEFAULT_DIR, "Root directory of the store."),
    SettingSpec(
        "mode",
        "LOCALTRACK_MODE",
        str,
        "offline",
        "offline (write locally), online (also push to a server in the background) or disabled.",
    ),
    SettingSpec(
        "strict",
        "LOCALTRACK_STRICT",
        bool,
        False,
        "Raise on values run.log() cannot store, instead of warning once per key and dropping them.",
    ),
    SettingSpec(
        "flush_interval",
        "LOCALTRACK_FLUSH_INTERVAL",
        float,
        0.5,
        "Seconds between background flushes to the tail log (bounds crash loss).",
    ),
    SettingSpec(
        "seal_interval",
        "LOCALTRACK_SEAL_INTERVAL",
        float,
        300.0,
        "Seconds after which flushed rows are sealed into a Parquet shard.",
    ),
    SettingSpec(
        "seal_scalars",
        "LOCALTRACK_SEAL_SCALARS",
        int,
        500_000,
        "Logged scalars after which flushed rows are sealed into a Parquet shard.",
    ),
    SettingSpec(
        "finish_timeout",
        "LOCALTRACK_FINISH_TIMEOUT",
        float,
        120.0,
        "Hard deadline in seconds for finish(); it never waits longer.",
    ),
    SettingSpec(
        "index",
        "LOCALTRACK_INDEX",
        str,
        "auto",
        "Use the shared SQLite index: auto (not on network filesystems), on, or off.",
    ),
    SettingSpec(
        "per_rank",
        "LOCALTRACK_PER_RANK",
        bool,
        False,
        "Under DDP (RANK set), log one run per rank instead of rank 0 only.",
    ),
    SettingSpec(
        "capture_git",
        "LOCALTRACK_CAPTURE_GIT",
        bool,
        True,
        "Record git commit, branch and dirty flag at init when inside a repository.",
    ),
    SettingSpec(
        "system_metrics",
        "LOCALTRACK_SYSTEM_METRICS",
        bool,
        True,
        "Sample CPU, memory, disk, network and GPU use in the background (system/* keys).",
    ),
    SettingSpec(
        "system_metrics_interval",
        "LOCALTRACK_SYSTEM_METRICS_INTERVAL",
        float,
        5.0,
        "Seconds between system metric samples.",
    ),
    SettingSpec(
        "console",
        "LOCALTRACK_CONSOLE",
        bool,
        True,
        "Copy stdout and stderr to the run's files/output.log (they still reach the terminal).",
    ),
    SettingSpec(
        "save_code",
        "LOCALTRACK_SAVE_CODE",
        bool,
        True,
        "Save uncommitted changes (git diff HEAD) as the run's files/diff.patch.",
    ),
    SettingSpec(
        "capture_packages",
        "LOCALTRACK_CAPTURE_PACKAGES",
        bool,
        True,
        "Save the installed packages (like pip freeze) as the run's files/requirements.txt.",
    ),
    SettingSpec(
        "stale_after",
        "LOCALTRACK_STALE_AFTER",
        float,
        60.0,
        "Seconds without a heartbeat after which readers report a running run as crashed.",
    ),
)
_BY_NAME = {s.name: s for s in SPECS}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse(spec: SettingSpec, raw: str) -> Any:
    if spec.kind is bool:
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise UsageError(f"{spec.env}={raw!r} is not a boolean; use 1/0, true/false or yes/no")
    try:
        return spec.kind(raw)
    except ValueError:
        raise UsageError(
            f"{spec.env}={raw!r} is not a valid {spec.kind.__name__}: {spec.help}"
        ) from None


def resolve(name: str, explicit: Any = None) -> Any:
    """The value of setting `name`: explicit argument > environment variable > default."""
    spec = _BY_NAME[name]
    if explicit is not None:
        return explicit
    raw = os.environ.get(spec.env)
    if raw is not None:
        return _parse(spec, raw)
    return spec.default


def resolve_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The store root: dir= > LOCALTRACK_DIR > ./localtrack-runs (relative to the cwd now)."""
    return Path(resolve("dir", None if explicit is None else os.fspath(explicit))).expanduser()


@dataclass(frozen=True)
class Settings:
    """Per-run settings; any field left as None is resolved from the environment or default.

    Example: ``localtrack.init(settings=localtrack.Settings(strict=True, flush_interval=0.5))``.
    """

    mode: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    strict: bool | None = None
    flush_interval: float | None = None
    seal_interval: float | None = None
    seal_scalars: int | None = None
    finish_timeout: float | None = None
    index: str | None = None
    per_rank: bool | None = None
    capture_git: bool | None = None
    system_metrics: bool | None = None
    system_metrics_interval: float | None = None
    console: bool | None = None
    save_code: bool | None = None
    capture_packages: bool | None = None
    stale_after: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> dict[str, Any]:
        """Every setting's effective value."""
        out = {}
        for f in fields(self):
            if f.name in _BY_NAME:
                out[f.name] = resolve(f.name, getattr(self, f.name))
        return out
