"""Module-level W&B names that need more than a one-line forward: login(), termlog(),
restore(), teardown(), ``util.generate_id()`` and ``AlertLevel``.

``localtrack.login()`` is the Python form of ``localtrack login URL``: it checks the key against
a server and remembers both. Offline (the default mode) there is nothing to log in to, so it
says so and returns False. ``termlog()``/``termwarn()``/``termerror()`` print to stderr with a
``localtrack:`` prefix, as W&B's do, unless the ``silent`` setting (``WANDB_SILENT``) is on.
"""

from __future__ import annotations

import enum
import logging
import secrets
import string
import sys
import types
from pathlib import Path
from typing import IO, Any

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


class AlertLevel(str, enum.Enum):
    """W&B's alert levels; ``alert(level=...)`` accepts them (localtrack logs every alert)."""

    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


_ID_ALPHABET = string.ascii_lowercase + string.digits


def generate_id(length: int = 8) -> str:
    """A random run id (lower-case letters and digits), as W&B's ``util.generate_id``: for
    scripts that pick their run id up front to resume it after a preemption."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


util = types.SimpleNamespace(generate_id=generate_id)  # ``wandb.util.generate_id()``


def restore(
    name: str,
    run_path: str | None = None,
    replace: bool = False,
    root: str | Path | None = None,
) -> IO[str]:
    """A saved file of a run, open for reading (as W&B's ``restore``): of the current run
    (its ``files/<name>``), or with `run_path` (``"entity/project/id"``) of a run in the store,
    copied to `root` (default: the working directory; an existing copy is kept unless
    `replace`). Its ``.name`` is the file's path."""
    from . import lifecycle

    if run_path is None:
        current = lifecycle.module_run()
        if current is None:
            raise UsageError(
                "localtrack.restore(): no run: call localtrack.init() first or pass run_path="
            )
        return open(current.restore(name), encoding="utf-8")
    from ..api import Api

    file = Api().run(run_path).file(name)
    path = file.download(root if root is not None else ".", replace=replace, exist_ok=True)
    return open(path, encoding="utf-8")


def teardown(exit_code: int | None = None) -> None:
    """Finish every run this process left open (W&B also stops its service here)."""
    from . import lifecycle

    while (current := lifecycle.module_run()) is not None:
        current.finish(exit_code=exit_code or 0)
