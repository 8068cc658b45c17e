"""Token buckets in the PostgreSQL index database, shared by every replica of a server.

One row per bucket in ``rate_buckets`` (pgschema.py, migration 5): its tokens, when they were
counted and whether the last request was refused. ``take`` refills and spends a token in one
``INSERT … ON CONFLICT DO UPDATE`` statement, so two replicas spending from one bucket at once
are serialised by PostgreSQL's row lock and each sees the other's spend. Time is PostgreSQL's
clock, so replicas whose clocks disagree still agree on a bucket. A bucket that would be full
again is the same as none: such rows are deleted now and then.
"""

from __future__ import annotations

import threading
import time

import psycopg
import psycopg_pool

from ..errors import IndexUnavailableError
from .indexbackend import redacted
from .pgindex import pool_for

PRUNE_EVERY_S = 60.0
CONNECTION_WAIT_S = 1.0  # a request waits this long for a connection, then goes on without

_NOW = "extract(epoch FROM clock_timestamp())::double precision"
_REFILLED = "least(%(burst)s, b.tokens + greatest(excluded.at - b.at, 0) * %(rate)s)"
TAKE_SQL = f"""
INSERT INTO rate_buckets AS b (name, tokens, at, full_at, refused)
VALUES (%(name)s, %(burst)s - 1, {_NOW}, {_NOW} + 1 / %(rate)s, false)
ON CONFLICT (name) DO UPDATE SET
    tokens = CASE WHEN {_REFILLED} >= 1 THEN {_REFILLED} - 1 ELSE {_REFILLED} END,
    refused = {_REFILLED} < 1,
    at = excluded.at,
    full_at = excluded.at + (%(burst)s - {_REFILLED} + 1) / %(rate)s
RETURNING refused, tokens
"""
PRUNE_SQL = f"DELETE FROM rate_buckets WHERE full_at < {_NOW}"


class PgRateBuckets:
    """The ``rate_buckets`` table of the PostgreSQL database at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pruned_at = time.monotonic()
        self._prune_lock = threading.Lock()

    def take(self, name: str, rate: float, burst: float) -> float:
        """Spend one token of bucket `name` (refilled at `rate` a second, up to `burst`): 0 when
        allowed, else the seconds until a token is there. IndexUnavailableError when PostgreSQL
        cannot answer within ``CONNECTION_WAIT_S``."""
        args = {"name": name, "rate": float(rate), "burst": max(float(burst), 1.0)}
        try:
            with pool_for(self.url).connection(timeout=CONNECTION_WAIT_S) as conn:
                row = conn.execute(TAKE_SQL, args).fetchone()
                if self._prune_due():
                    conn.execute(PRUNE_SQL)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise IndexUnavailableError(
                f"the rate limits in the PostgreSQL database {redacted(self.url)} could not "
                f"be read: {exc}"
            ) from exc
        assert row is not None  # RETURNING gives the bucket's row
        refused, tokens = bool(row[0]), float(row[1])
        return (1.0 - tokens) / rate if refused else 0.0

    def _prune_due(self) -> bool:
        with self._prune_lock:
            now = time.monotonic()
            if now - self._pruned_at < PRUNE_EVERY_S:
                return False
            self._pruned_at = now
            return True
