"""How the background writer tells trouble it can wait out from trouble it cannot.

Transient trouble — an ``OSError`` (disk full, I/O error, a vanished NFS server) or a
``sqlite3.Error`` (a locked index) — is waited out: the data stays in memory, one warning per kind
is logged, the writer retries every round, and "recovered" is logged once it works again.

Anything else is a deterministic error: retrying the same data gives the same failure. When one
stage of the writer fails that way ``REPEATS`` rounds in a row (or once in the final round at
``finish()``), the writer is declared failed: ``failure`` says why, an error is logged, and the
run's ``notify`` hook makes the training thread raise ``RunWriteError`` at its next ``log()``,
``flush()`` or ``finish()``. Values dropped one by one (see badrows.py) are logged here and also
queued as ``notices`` for the training thread, which turns them into warnings.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class DroppedValue:
    """One logged value the writer could not store (badrows.py finds them)."""

    key: object
    step: object
    reason: str


log = logging.getLogger(__name__)
REPEATS = 3
MAX_REASON_CHARS = 1000  # run.json's 'failure' holds it
TRANSIENT = (OSError, sqlite3.Error)


class WriterHealth:
    """Warnings, consecutive failures and the final verdict of one run's writer."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.failure: str | None = None
        self.notices: deque[str] = deque()
        self.notify: Callable[[], None] = lambda: None
        self._warned: set[str] = set()
        self._failing: dict[str, int] = {}
        self._dropped_keys: set[object] = set()

    def warn(self, kind: str, message: str) -> None:
        """Log `message` once until `kind` recovers."""
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning("run %s: %s", self.run_id, message)

    def recovered(self, kind: str) -> None:
        if kind in self._warned:
            self._warned.discard(kind)
            log.warning("run %s: %s recovered; logging continues", self.run_id, kind)

    def run_stage(self, stage: str, action: Callable[[], object], final: bool) -> None:
        """Run one stage of a writer round, sorting any error it raises into transient or not."""
        try:
            action()
        except TRANSIENT as exc:
            self.warn(stage, f"{stage} failed ({exc}); kept in memory, will retry")
        except Exception as exc:  # deterministic: counted, then fatal (module docstring)
            self._fault(stage, exc, final)
        else:
            self._failing.pop(stage, None)
            self.recovered(stage)

    def _fault(self, stage: str, exc: Exception, final: bool) -> None:
        count = self._failing[stage] = self._failing.get(stage, 0) + 1
        if count <= REPEATS:
            log.warning("run %s: %s failed (%r), attempt %d", self.run_id, stage, exc, count)
        if self.failure is None and (final or count >= REPEATS):
            self.fail(f"{stage} failed {count} time(s) in a row: {type(exc).__name__}: {exc}")

    def fail(self, reason: str) -> None:
        """Declare the writer failed (the first reason wins) and tell the training thread."""
        if self.failure is None:
            self.failure = reason[:MAX_REASON_CHARS]
            log.error("run %s: the writer cannot write this run's data: %s", self.run_id, reason)
        self.notify()

    def dropped(self, values: list[DroppedValue]) -> None:
        """Report values the writer could not store: logged, and passed to the training thread."""
        for value in values:
            message = (
                f"run {self.run_id}: key {value.key!r} at step {value.step!r} could not be "
                f"stored and was dropped ({value.reason}); the rest of its batch was written"
            )
            if value.key not in self._dropped_keys:  # once per key: a bad key may be in every row
                self._dropped_keys.add(value.key)
                log.warning("%s", message)
                self.notices.append(message)
        if values:
            self.notify()

    def take_notices(self) -> list[str]:
        """Messages for the training thread since the last call."""
        out = []
        while self.notices:
            out.append(self.notices.popleft())
        return out
