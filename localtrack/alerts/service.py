"""The alert machinery a long-running process owns: one dispatcher, optionally an evaluator.

``localtrack ui`` and ``localtrack server`` start it with ``evaluate=True`` next to the web app
(which also uses its dispatcher for the "send test alert" button); ``localtrack alerts watch``
runs an ``Evaluator`` and a ``Dispatcher`` of its own, with no web app.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..store.reader import StoreReader
from .dispatch import Dispatcher
from .evaluator import DEFAULT_INTERVAL_S, Evaluator
from .stores import AlertStore, open_alert_store

log = logging.getLogger(__name__)


class AlertService:
    """A store's alert state, its dispatcher and (once ``start_evaluating`` is called) its
    evaluator. `reader`: the app's reader (a shared-nothing server's reads runs from the object
    store through it); its index URL says where the alert state is."""

    def __init__(
        self,
        root: str | Path,
        reader: StoreReader | None = None,
        backoff_s: float = 1.0,
        attempts: int = 4,
    ) -> None:
        self.root = Path(root)
        self.reader = reader
        index_url = None if reader is None else (reader.store.index_url or "")
        self.alert_store: AlertStore = open_alert_store(root, index_url)
        self.dispatcher = Dispatcher(self.alert_store, attempts=attempts, backoff_s=backoff_s)
        self.evaluator: Evaluator | None = None

    def start_evaluating(self, interval_s: float = DEFAULT_INTERVAL_S) -> Evaluator:
        if self.evaluator is None:
            evaluator = Evaluator(self.root, self.dispatcher, interval_s, self.reader)
            self.evaluator = evaluator.start()
        return self.evaluator

    def close(self, timeout: float = 5.0) -> None:
        """Stop evaluating, give queued deliveries up to `timeout` seconds to finish, then let
        go of the evaluator's turn."""
        if self.evaluator is not None:
            self.evaluator.stop(timeout)
        self.dispatcher.idle(timeout)
        self.dispatcher.close(timeout)
        if self.evaluator is not None:
            self.evaluator.close(timeout)
        self.alert_store.close()
