"""Process-wide bookkeeping of live runs: the module-level run, atexit and uncaught exceptions.

A script that forgets ``finish()`` still gets its run finished at exit; an uncaught exception
marks the run ``failed`` before the traceback prints.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .live import Run

log = logging.getLogger(__name__)
_live: list[Run] = []
_lock = threading.Lock()
_installed = False
_uncaught = False


def remember(run: Run) -> None:
    with _lock:
        _live.append(run)
    _install_hooks()


def forget(run: Run) -> None:
    with _lock:
        if run in _live:
            _live.remove(run)


def current() -> Run | None:
    with _lock:
        return _live[-1] if _live else None


def _finish_all(exit_code: int) -> None:
    with _lock:
        runs = list(_live)
    from ..errors import RunWriteError

    for run in reversed(runs):
        try:
            run.finish(exit_code=exit_code)
        except RunWriteError as exc:  # already explained in full: no traceback at exit
            log.error("%s", exc)
        except Exception:
            log.exception("could not finish run %s at exit", run.id)


def _at_exit() -> None:
    _finish_all(1 if _uncaught else 0)


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    global _uncaught
    _uncaught = True
    _finish_all(1)
    _previous_excepthook(exc_type, exc, tb)


_previous_excepthook = sys.excepthook


def _install_hooks() -> None:
    global _installed, _previous_excepthook
    if _installed:
        return
    _installed = True
    atexit.register(_at_exit)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
