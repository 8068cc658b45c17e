"""Errors of sync, export/import and the server's ingest API, under ``LocaltrackError``.

::

    LocaltrackError                      (localtrack.errors)
    └── SyncError                        sync, export or import could not finish
        ├── TransientSyncError           worth retrying: connection reset or refused, timeout,
        │                                5xx, 429 (``retry_after`` says how long to wait)
        ├── AuthError                    401/403: no key, a wrong or revoked key, too small a role
        │                                or another project's scope; retrying will not help
        ├── ProtocolError                the other side speaks another protocol version, or sent
        │                                something that is not the protocol
        ├── RemoteError                  the server refused a request for a reason of its own
        │                                (4xx with the API's error envelope): ``status``, ``code``
        └── BundleError                  a bundle file is truncated, tampered with or not a bundle

The store's own import errors (``DigestMismatchError``, ``MissingBlobsError``, ...) live next to
the code that raises them in ``localtrack.store.importer`` and derive from ``StoreError`` or
``UsageError``.
"""

from __future__ import annotations

from ..errors import LocaltrackError


class SyncError(LocaltrackError):
    """Sync, export or import could not finish."""


class TransientSyncError(SyncError):
    """A failure worth retrying (network trouble, 5xx, 429); ``retry_after`` is a hint in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(SyncError):
    """The server refused the API key (missing, wrong, revoked, too small a role or scope)."""


class ProtocolError(SyncError):
    """The other side does not speak this protocol version, or answered something malformed."""


class RemoteError(SyncError):
    """The server refused a request (a 4xx with the API's error envelope)."""

    def __init__(
        self, message: str, status: int, code: str, details: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details or {}


class BundleError(SyncError):
    """A bundle file is truncated, tampered with, or not a localtrack bundle."""
