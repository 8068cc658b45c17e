"""Why a run ended other than by finishing, read from its run.json (tolerant of junk).

``exit_reason`` (set by the client: an uncaught exception or a signal) comes first; ``failure``
(set by ``finish()`` when logged data could not all be written) second. One line of text for the
run page, the runs table's hover and ``localtrack show``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def exit_reason(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """run.json's ``exit_reason`` object, or None (absent or not an object)."""
    reason = meta.get("exit_reason")
    return dict(reason) if isinstance(reason, Mapping) else None


def reason_text(meta: Mapping[str, Any]) -> str | None:
    """One line: "ValueError: loss is NaN (at train.py:42)", "killed by SIGTERM", or the
    write failure; None for a run with nothing to explain."""
    reason = exit_reason(meta)
    if reason is not None:
        if reason.get("kind") == "signal" and isinstance(reason.get("signal"), str):
            return f"killed by {reason['signal']}"
        kind = reason.get("type") if isinstance(reason.get("type"), str) else "error"
        message = reason.get("message") if isinstance(reason.get("message"), str) else ""
        where = reason.get("where") if isinstance(reason.get("where"), str) else ""
        text = f"{kind}: {message}" if message else str(kind)
        return f"{text} (at {where})" if where else text
    failure = meta.get("failure")
    return failure if isinstance(failure, str) and failure else None
