"""The alert machinery a long-running process owns: one dispatcher, optionally an evaluator.

``localtrack ui`` and ``localtrack server`` start it with ``evaluate=True`` next to the web app
(which also uses its dispatcher for the "send test alert" button); ``localtrack alerts watch``
runs an ``Evaluator`` and a ``Dispatcher`` of its own, with no web app.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .dispatch import Dispatcher
from .evaluator import DEFAULT_INTERVAL_S, Evaluator

log = logging.getLogger(__name__)


class AlertService:
    """A store's dispatcher and (once ``start_evaluating`` is called) its evaluator."""

    def __init__(self, root: str | Path, backoff_s: float = 1.0, attempts: int = 4) -> None:
        self.root = Path(root)
        self.dispatcher = Dispatcher(root, attempts=attempts, backoff_s=backoff_s)
        self.evaluator: Evaluator | None = None

    def start_evaluating(self, interval_s: float = DEFAULT_INTERVAL_S) -> Evaluator:
        if self.evaluator is None:
            self.evaluator = Evaluator(self.root, self.dispatcher, interval_s).start()
        return self.evaluator

    def close(self, timeout: float = 5.0) -> None:
        """Stop evaluating, then give queued deliveries up to `timeout` seconds to finish."""
        if self.evaluator is not None:
            self.evaluator.close(timeout)
        self.dispatcher.idle(timeout)
        self.dispatcher.close(timeout)
