"""Where to sync to, and with which key: arguments, environment, settings, the login file.

Resolution, first found wins:

- server URL: ``--to URL`` > ``LOCALTRACK_BASE_URL`` > ``Settings(base_url=...)`` > the URL of the
  last ``localtrack login``;
- API key: ``LOCALTRACK_API_KEY`` > ``Settings(api_key=...)`` > the key ``localtrack login`` stored
  for that URL.

``localtrack login`` writes ``$XDG_CONFIG_HOME/localtrack/config.json`` (default
``~/.config/localtrack/config.json``, or ``$LOCALTRACK_CONFIG_DIR/config.json``) with mode 0600.

The ``LOCALTRACK_*`` variables are settings (localtrack/settings_table.py); ``XDG_CONFIG_HOME``
is an environment fact, read here directly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..settings import from_env, resolve
from ..store.atomic import write_bytes_atomic
from .state import target_key

CONFIG_NAME = "config.json"


@dataclass(frozen=True)
class Target:
    url: str
    api_key: str | None


def config_path() -> Path:
    explicit = resolve("config_dir")
    if explicit:
        return Path(explicit).expanduser() / CONFIG_NAME
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "localtrack" / CONFIG_NAME


def load_config() -> dict[str, Any]:
    try:
        with open(config_path(), encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"{config_path()} is unreadable ({exc}); fix or delete it") from exc
    return data if isinstance(data, dict) else {}


def save_login(url: str, api_key: str) -> Path:
    """Remember `api_key` for `url` and make `url` the default; the file is mode 0600."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = load_config()
    keys = dict(data.get("keys") or {})
    keys[target_key(url)] = api_key
    data.update(default=target_key(url), keys=keys)
    text = json.dumps(data, indent=1, sort_keys=True)
    write_bytes_atomic(path, text.encode("utf-8"), mode=0o600)
    return path


def _from_settings(settings: Any, name: str) -> str | None:
    if settings is None:
        return None
    value = getattr(settings, name, None)
    if value is None:
        value = (getattr(settings, "extra", None) or {}).get(name)
    return None if value is None else str(value)


def resolve_target(url: str | None = None, settings: Any = None) -> Target:
    """The server and key to use; UsageError with what to do when there is no server."""
    config: dict[str, Any] | None = None
    chosen = url or from_env("base_url") or _from_settings(settings, "base_url")
    if not chosen:
        config = load_config()
        chosen = config.get("default")
    if not chosen:
        raise UsageError(
            "no server to sync to: pass --to URL, set LOCALTRACK_BASE_URL, or run "
            "`localtrack login URL` once"
        )
    key = from_env("api_key") or _from_settings(settings, "api_key")
    if not key:
        config = load_config() if config is None else config
        key = (config.get("keys") or {}).get(target_key(chosen))
    return Target(target_key(chosen), key or None)
