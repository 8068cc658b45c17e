"""Module-level W&B names that need more than a one-line forward: login() and termlog().

``localtrack.login()`` is the Python form of ``localtrack login URL``: it checks the key against
a server and remembers both. Offline (the default mode) there is nothing to log in to, so it
says so and returns False. ``termlog()``/``termwarn()``/``termerror()`` print to stderr with a
``localtrack:`` prefix, as W&B's do, unless the ``silent`` setting (``WANDB_SILENT``) is on.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from ..errors import UsageError
from ..settings import resolve

log = logging.getLogger(__name__)


def login(
    key: str | None = None,
    host: str | None = None,
    relogin: bool | None = None,
    anonymous: str | None = None,
    timeout: float | None = None,
    verify: bool = False,
    **_ignored: Any,
) -> bool:
    """Remember a server and key for ``mode="online"`` and ``localtrack sync``; True when saved.

    With no `host` and mode not ``online`` it does nothing (runs are written locally, offline)
    and says so. A saved login for `host` is kept unless `relogin` or a new `key` is given.
    """
    from ..sync.config import load_config, save_login, target_key

    host = host or resolve("base_url")
    if not host and resolve("mode") != "online":
        log.warning(
            "localtrack.login(): offline mode, nothing to log in to: runs are written to the "
            "local store (`localtrack sync` or mode='online' push them to a server you name)"
        )
        return False
    config = load_config()
    host = host or config.get("default")
    if not host:
        raise UsageError(
            "localtrack.login(): no server: pass host=URL (or set LOCALTRACK_BASE_URL / "
            "WANDB_BASE_URL)"
        )
    key = key or resolve("api_key")
    saved = (config.get("keys") or {}).get(target_key(host))
    if saved and not relogin and key in (None, saved):
        return True
    if not key:
        raise UsageError(f"localtrack.login(): no API key for {host}: pass key=...")
    from ..sync.remote import RetryPolicy, connect

    remote = connect(
        host, key, timeout=timeout or 15, retry=RetryPolicy(attempts=2, fail_fast_unreachable=True)
    )
    try:
        info = remote.info()
    finally:
        remote.transport.close()
    path = save_login(host, key)
    log.info("logged in to %s as %s; key saved in %s", host, info.get("user"), path)
    return True


def termlog(
    string: str = "", newline: bool = True, repeat: bool = True, prefix: bool = True
) -> None:
    """Print `string` to stderr as ``localtrack: ...`` (nothing when ``silent`` is set)."""
    if resolve("silent"):
        return
    lead = "localtrack: " if prefix else ""
    text = "\n".join(lead + line for line in str(string).split("\n"))
    sys.stderr.write(text + ("\n" if newline else ""))
    sys.stderr.flush()
