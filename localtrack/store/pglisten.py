"""Live-update notifications between server replicas through PostgreSQL (``LISTEN``/``NOTIFY``).

Every change to a PostgreSQL index bumps its change counter (``PgIndex.bump_changes``) and sends
``NOTIFY localtrack_changes`` in the same transaction, so the notification leaves when the commit
does. Each server process runs one ``ChangeListener``: a daemon thread on its own connection that
``LISTEN``s and calls back on every notification, so a page polling any replica sees a run synced
through another one at its next poll, whatever filesystem the replicas share (or not).

A lost connection is retried every few seconds; after each (re)connect the callback runs once,
since changes made meanwhile sent notifications nobody heard. The UI's periodic rescan of the
change counter stays as the backstop (``webui/live.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from .indexbackend import redacted

log = logging.getLogger(__name__)

CHANNEL = "localtrack_changes"
NOTIFY_SQL = f"NOTIFY {CHANNEL}"
RETRY_S = 2.0
WAIT_S = 1.0  # how long one wait for notifications lasts before the stop flag is looked at


class ChangeListener:
    """``LISTEN localtrack_changes`` on the database at `url`; `on_change()` per notification."""

    def __init__(self, url: str, on_change: Callable[[], None]) -> None:
        self.url = url
        self.on_change = on_change
        self.notifications = 0
        self.connected = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ChangeListener:
        self._thread = threading.Thread(target=self._run, name="localtrack-listen", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=WAIT_S + 5)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._listen()
                failures = 0
            except psycopg.Error as exc:
                if failures == 0:  # once per outage, not every retry
                    log.warning(
                        "not hearing change notifications from %s (%s); retrying every %.0f s",
                        redacted(self.url),
                        str(exc).strip(),
                        RETRY_S,
                    )
                failures += 1
            finally:
                self.connected = False
            self._stop.wait(RETRY_S)

    def _listen(self) -> None:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.connected = True
            self.on_change()  # whatever changed while this process was not listening
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=WAIT_S):
                    self.notifications += 1
                    self.on_change()
