"""Process-wide bookkeeping of live runs: the module-level run, atexit, uncaught exceptions, SIGTERM.

A script that forgets ``finish()`` still gets its run finished at exit. An uncaught exception
prints its traceback first (so the console capture saves it in ``files/output.log``), then marks
the run ``failed`` with run.json's ``exit_reason``: the exception's type, message and the user's
frame. SIGTERM (a scheduler's preemption, ``kill``) is trapped when nobody else handles it: the
process exits as it would have (status 128 + 15), but only after the run's data is flushed and the
run is marked ``crashed`` with the signal in ``exit_reason`` — the state W&B shows for a killed run.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import traceback
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .live import Run

log = logging.getLogger(__name__)
_live: list[Run] = []
_lock = threading.Lock()
_installed = False
_uncaught = False
_signalled: int | None = None
_disabled: Any = None  # a DisabledRun: localtrack.run when no live run exists
TRAPPED_SIGNALS = ("SIGTERM",)
MAX_MESSAGE_CHARS = 500
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def module_run() -> Any:
    """What ``localtrack.run`` is: the newest live run, else the disabled one init() returned
    (mode="disabled", DDP ranks other than 0), so ``localtrack.log`` etc. work there as no-ops."""
    return current() or _disabled


def remember_disabled(run: Any) -> None:
    global _disabled
    _disabled = run


def forget_disabled(run: Any) -> None:
    global _disabled
    if _disabled is run:
        _disabled = None


def exception_reason(exc: BaseException) -> dict[str, Any]:
    """run.json's ``exit_reason`` for an exception: its type, message and the user's frame."""
    exc_type = type(exc)
    name = exc_type.__qualname__
    if exc_type.__module__ not in ("builtins", "__main__"):
        name = f"{exc_type.__module__}.{name}"
    return {
        "kind": "exception",
        "type": name[:MAX_MESSAGE_CHARS],
        "message": _short(str(exc)),
        "where": user_frame(exc.__traceback__),
        "signal": None,
    }


def signal_reason(signum: int) -> dict[str, Any]:
    """run.json's ``exit_reason`` for a signal the process received."""
    name = signal.Signals(signum).name
    return {
        "kind": "signal",
        "type": name,
        "message": f"the process received {name} (killed or preempted)",
        "where": None,
        "signal": name,
    }


def user_frame(tb: TracebackType | None) -> str | None:
    """``file:line`` of the innermost frame of the user's code in `tb` (not localtrack's, not
    the standard library's or an installed package's); the innermost frame if none is."""
    frames = traceback.extract_tb(tb) if tb is not None else []
    library = {os.path.normcase(p) for p in _library_dirs()}
    for frame in reversed(frames):
        path = os.path.normcase(os.path.abspath(frame.filename))
        if not any(path.startswith(prefix + os.sep) for prefix in library):
            return f"{frame.filename}:{frame.lineno}"
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None


def _library_dirs() -> list[str]:
    import sysconfig

    dirs = {_PACKAGE_DIR}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(os.path.abspath(path))
    return sorted(dirs)


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def end_of_block(run: Run, exc: BaseException | None) -> int:
    """The exit code a ``with run:`` block ending by `exc` gives the run, with its reason set."""
    if exc is None:
        return 0
    if _signalled is not None:
        run.exit_reason = signal_reason(_signalled)
        return 128 + _signalled
    if isinstance(exc, SystemExit) and exc.code in (None, 0):
        return 0
    run.exit_reason = exception_reason(exc)
    if isinstance(exc, SystemExit) and isinstance(exc.code, int):
        return exc.code
    _keep_traceback(run, exc)
    return 1


def _keep_traceback(run: Run, exc: BaseException) -> None:
    """Have the console capture save the traceback: Python prints it only once the exception
    is uncaught, after finish() has stopped the capture."""
    from ..capture.console import ConsoleCapture

    for worker in getattr(run, "_background", ()):
        if isinstance(worker, ConsoleCapture):
            worker.epilogue = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _finish_all(exit_code: int, reason: dict[str, Any] | None = None) -> None:
    with _lock:
        runs = list(_live)
    from ..errors import RunWriteError

    for run in reversed(runs):
        if reason is not None and run.exit_reason is None:
            run.exit_reason = reason
        try:
            run.finish(exit_code=exit_code)
        except RunWriteError as exc:  # already explained in full: no traceback at exit
            log.error("%s", exc)
        except Exception:
            log.exception("could not finish run %s at exit", run.id)


def _at_exit() -> None:
    if _signalled is not None:
        name = signal.Signals(_signalled).name
        log.warning("received %s: finishing the run (marked crashed) before exiting", name)
        _finish_all(128 + _signalled, signal_reason(_signalled))
    else:
        _finish_all(1 if _uncaught else 0)


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    global _uncaught
    _uncaught = True
    # The traceback first, while the console is still captured: it belongs in output.log.
    _previous_excepthook(exc_type, exc, tb)
    if exc.__traceback__ is None:
        exc.__traceback__ = tb
    _finish_all(1, exception_reason(exc))


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Unwind the main thread like an exit (finally blocks run), then atexit finishes the runs."""
    global _signalled
    if _signalled is None:
        _signalled = signum
        raise SystemExit(128 + signum)


_previous_excepthook = sys.excepthook


def _install_hooks() -> None:
    global _installed, _previous_excepthook
    if _installed:
        return
    _installed = True
    atexit.register(_at_exit)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    for name in TRAPPED_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _on_signal)  # never replaces the program's own handler
