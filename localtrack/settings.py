"""Settings: resolved and parsed one way; the table of them is localtrack/settings_table.py.

Resolution: explicit argument > ``LOCALTRACK_*`` environment variable > default, looked up when
it is needed (a run starting, a server starting, a check running), never at import. Every
variable is parsed one way (``_parse``): an empty value means unset, and a bad one is a
``UsageError`` naming the variable, the value and what is allowed. A W&B variable that sets the
same thing is read when its ``LOCALTRACK_*`` twin is unset. ``Settings`` is the per-run
dataclass ``init(settings=)`` takes.

This module imports only the standard library, ``localtrack.errors`` and the settings table, so
any layer (the store included) may use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

from .errors import UsageError
from .settings_table import OFF_WORDS, ON_WORDS, SPECS, SettingSpec, WandbEnv

_BY_NAME = {s.name: s for s in SPECS}


def spec(name: str) -> SettingSpec:
    """The declaration of setting `name`."""
    return _BY_NAME[name]


def default(name: str) -> Any:
    """The default of setting `name`."""
    return _BY_NAME[name].default


def _show(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def _bad(spec: SettingSpec, raw: str, what: str, allowed: str, env: str = "") -> UsageError:
    return UsageError(f"{env or spec.env}={raw!r} {what}; set it to {allowed}")


def _parse(spec: SettingSpec, raw: str, env: str = "") -> Any:
    """`raw` (not empty) as the setting's type; UsageError naming variable, value and rule."""
    bad = partial(_bad, env=env)  # a W&B variable is named as itself
    text = raw.strip()
    unit = f" of {spec.unit}" if spec.unit else ""
    if spec.kind is bool:
        low = text.lower()
        if low in ON_WORDS or low in OFF_WORDS:
            return low in ON_WORDS
        raise bad(spec, raw, "is not a boolean", "1/0, true/false, yes/no or on/off")
    if spec.kind is str:
        if spec.choices and text not in spec.choices:
            raise bad(spec, raw, "is not allowed", " or ".join(spec.choices))
        return text
    if spec.kind is int:
        try:
            value: float = int(text)
        except ValueError:
            example = f"a whole number such as {spec.default}"
            raise bad(spec, raw, f"is not a whole number{unit}", example) from None
    else:
        try:
            value = float(text)
        except ValueError:
            example = f"a number such as {_show(spec.default)}"
            raise bad(spec, raw, f"is not a number{unit}", example) from None
    if spec.minimum is not None and value < spec.minimum:
        what = f"is below {_show(spec.minimum)}"
        raise bad(spec, raw, what, f"{_show(spec.minimum)} or more (default {spec.default})")
    if spec.maximum is not None and value > spec.maximum:
        what = f"is above {_show(spec.maximum)}"
        raise bad(spec, raw, what, f"{_show(spec.maximum)} or less (default {spec.default})")
    return value


def from_env(name: str) -> Any:
    """Setting `name` as its environment variable sets it, parsed; None when unset or empty."""
    spec = _BY_NAME[name]
    raw = os.environ.get(spec.env)
    if raw is not None and raw.strip():
        return _parse(spec, raw)
    for alias in spec.wandb:  # W&B's twins, when the LOCALTRACK_* variable is not set
        value = _from_wandb(spec, alias)
        if value is not None:
            return value
    return None


def _from_wandb(spec: SettingSpec, alias: WandbEnv) -> Any:
    raw = os.environ.get(alias.env)
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if alias.values:
        table = dict(alias.values)
        if text.lower() not in table:
            allowed = " or ".join(dict.fromkeys(table))
            raise UsageError(f"{alias.env}={raw!r} is not allowed; set it to {allowed}")
        text = table[text.lower()]
        if not text:
            return None
    if alias.subdir:
        text = os.path.join(text, alias.subdir)
    return _parse(spec, text, env=alias.env)


def wandb_variables() -> dict[str, str]:
    """Each W&B variable localtrack honours → the setting it sets."""
    return {alias.env: spec.name for spec in SPECS for alias in spec.wandb}


def resolve(name: str, explicit: Any = None) -> Any:
    """The value of setting `name`: explicit argument > environment variable > default."""
    if explicit is not None:
        return explicit
    value = from_env(name)
    return _BY_NAME[name].default if value is None else value


def export(name: str, value: str) -> None:
    """Put a setting into this process's environment, and so its children's: for a command's
    option that every part of the process must see alike (``server --index`` reaches the reader,
    ingest, artifacts and keys through ``LOCALTRACK_INDEX_URL``)."""
    os.environ[_BY_NAME[name].env] = value


def resolve_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The store root: dir= > LOCALTRACK_DIR > ./localtrack-runs (relative to the cwd now)."""
    return Path(resolve("dir", None if explicit is None else os.fspath(explicit))).expanduser()


_W_MODES = ("dryrun", "run")  # W&B's mode names that Settings(mode=) translates


@dataclass(frozen=True, init=False)
class Settings:
    """Per-run settings; any field left as None is resolved from the environment or default.

    Example: ``localtrack.init(settings=localtrack.Settings(strict=True, flush_interval=0.5))``.
    W&B's settings are accepted by their W&B names (``Settings(silent=True, disable_git=True)``):
    honoured or ignored as docs/wandb.md lists; a name neither knows is a UsageError naming the
    closest one. W&B values localtrack keeps as init() arguments (``project``, ``run_name``,
    ``root_dir``...) land in ``extra``.
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
    silent: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        own = {f.name for f in fields(self)}
        foreign = {k: v for k, v in values.items() if k not in own}
        values = {k: v for k, v in values.items() if k in own}
        extra = dict(values.pop("extra", None) or {})
        if foreign or isinstance(values.get("console"), str) or values.get("mode") in _W_MODES:
            from .liverun.wandb_names import translate_settings

            translate_settings(foreign, values, extra)
        for name in own - {"extra"}:
            object.__setattr__(self, name, values.get(name))
        object.__setattr__(self, "extra", extra)

    def resolved(self) -> dict[str, Any]:
        """Every setting's effective value."""
        out = {}
        for f in fields(self):
            if f.name in _BY_NAME:
                out[f.name] = resolve(f.name, getattr(self, f.name))
        return out
