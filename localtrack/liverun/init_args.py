"""init()'s arguments as a job sets them: explicit > ``Settings`` > ``LOCALTRACK_*`` > ``WANDB_*``.

A cluster's job script that exports ``WANDB_PROJECT``, ``WANDB_RUN_ID`` and ``WANDB_RESUME``
must just work, so every identity argument of init() falls back to its setting
(localtrack/settings_table.py, which also knows the W&B twin of each variable).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import DocumentError, UsageError
from ..settings import Settings, from_env
from ..store.jsondoc import Invalid, check_depth
from ..store.runschema import check_field
from .values import jsonable

# init() argument → its setting in settings_table.py
_SETTING_OF = {
    "project": "project",
    "entity": "entity",
    "name": "name",
    "notes": "notes",
    "tags": "tags",
    "group": "group",
    "job_type": "job_type",
    "id": "run_id",
    "resume": "resume",
}


def as_settings(settings: Settings | Mapping[str, Any] | None) -> Settings:
    """init(settings=...) as a Settings: W&B scripts pass a dict or ``wandb.Settings``."""
    if settings is None:
        return Settings()
    if isinstance(settings, Settings):
        return settings
    if isinstance(settings, Mapping):
        return Settings(**{str(k): v for k, v in settings.items()})
    raise UsageError(
        f"init(settings=...) takes a Settings or a dict, not {type(settings).__name__}"
    )


def fill_from_environment(given: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """`given` with each argument left as None taken from Settings' extra, then the environment."""
    out = dict(given)
    for argument, setting in _SETTING_OF.items():
        if out.get(argument) is not None:
            continue
        value = settings.extra.get(argument)
        if value is None:
            value = from_env(setting)
            if argument == "tags" and value is not None:
                value = [t.strip() for t in value.split(",") if t.strip()]
        out[argument] = value
    if out.get("dir") is None and settings.extra.get("dir") is not None:
        out["dir"] = settings.extra["dir"]
    return out


def filter_config(config: Any, include: Sequence[str] | None, exclude: Sequence[str] | None) -> Any:
    """W&B's config_include_keys / config_exclude_keys applied to a dict-like config."""
    if not include and not exclude:
        return config
    if config is not None and not isinstance(config, Mapping) and hasattr(config, "__dict__"):
        config = vars(config)
    if config is None:
        return None
    if include and exclude:
        raise UsageError("init(): pass config_include_keys or config_exclude_keys, not both")
    if include:
        return {k: v for k, v in config.items() if k in include}
    return {k: v for k, v in config.items() if k not in (exclude or ())}


def config_dict(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        if hasattr(config, "__dict__"):
            config = vars(config)
        else:
            raise UsageError(
                f"config must be a dict (or argparse.Namespace), not {type(config).__name__}"
            )
    try:
        cfg = {str(k): jsonable(v) for k, v in config.items()}
        check_depth(cfg, "init(config=...)")
    except RecursionError:
        raise UsageError("init(config=...) contains itself or is nested too deep") from None
    except DocumentError as exc:
        raise UsageError(str(exc)) from None
    return cfg


def check_arguments(fields: Mapping[str, Any]) -> None:
    """UsageError naming the init() argument that run.json's schema (runschema.py) refuses."""
    for name, value in fields.items():
        if value is None or (value == "" and name in ("project", "name", "entity")):
            continue  # left out: a default takes its place
        if name == "tags" and isinstance(value, tuple | set | frozenset):
            value = list(value)
        try:
            check_field(name, value)
        except Invalid as exc:
            where = f": {name}{exc.at}" if exc.at else ""
            raise UsageError(f"init({name}=...){where} {exc}") from None
