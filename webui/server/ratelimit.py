"""Rate limits: token buckets per key (requests) and per address (failed logins).

The per-key rate and burst are the settings LOCALTRACK_RATE_LIMIT and LOCALTRACK_RATE_BURST
(localtrack/settings_table.py), read by ``auth.install``. A server on a directory keeps its buckets in
its memory (``RateLimiter``); with a PostgreSQL index they are rows every replica shares
(``SharedRateLimiter``, ``localtrack/store/pgratelimit.py``), so a limit hit through one replica
holds on all. PostgreSQL down: requests go through unlimited (fail open) and a warning is logged,
because a rate limit must never lock every user out.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from localtrack.errors import IndexUnavailableError

log = logging.getLogger(__name__)


class Limiter(Protocol):
    def take(self, who: str) -> float:
        """0 if allowed now, else the seconds to wait."""
        ...


class RateLimiter:
    """Token buckets per key: `rate` requests per second, bursts up to `burst`. rate 0 = off."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0 if allowed now, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            return (1.0 - tokens) / self.rate


class SharedRateLimiter:
    """Token buckets in the PostgreSQL database at `url`, named `kind`:who (one table for all)."""

    RETRY_S = 2.0  # after PostgreSQL failed, this long without asking it (requests stay fast)
    WARN_EVERY_S = 60.0

    def __init__(self, url: str, kind: str, rate: float, burst: float) -> None:
        from localtrack.store.pgratelimit import PgRateBuckets

        self.kind = kind
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._buckets = PgRateBuckets(url)
        self._down_until = 0.0
        self._warned_at = -self.WARN_EVERY_S

    def take(self, who: str) -> float:
        if self.rate <= 0 or time.monotonic() < self._down_until:
            return 0.0
        try:
            return self._buckets.take(f"{self.kind}:{who}", self.rate, self.burst)
        except IndexUnavailableError as exc:
            now = time.monotonic()
            self._down_until = now + self.RETRY_S
            if now - self._warned_at >= self.WARN_EVERY_S:
                self._warned_at = now
                log.warning("%s rate limits are off until PostgreSQL answers: %s", self.kind, exc)
            return 0.0
