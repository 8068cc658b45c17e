"""Every error localtrack raises on purpose.

::

    LocaltrackError                 base class: catch this to catch everything below
    ├── UsageError                  the caller passed something wrong (bad value, bad argument)
    │   ├── UnsupportedValueError   run.log() got a value it cannot store (raised only with strict=True)
    │   ├── BlobTooLargeError       an imported blob is bigger than the store accepts
    │   ├── LimitExceededError      a file a client sent decodes to more than the receiver takes
    │                               (``setting`` names the LOCALTRACK_MAX_* variable that raises it)
    │   ├── ImportSourceError       ``import-from`` cannot read its source: no such path, not a
    │   │                           source of that kind, or the reader's extra is not installed
    │   └── ManifestError           a manifest names a file it may not name, or is malformed
    │       └── DocumentError       a document a client sent has a field of the wrong type
    │                               or over a limit (``document``, ``field`` name it)
    ├── SweepError                  a sweep cannot be created, found or continued
    │   └── SweepConfigError        a sweep config has problems (all listed, each by its path);
    │                               also a UsageError
    ├── TrialStopped                the sweep controller stopped this trial (early termination
    │                               or a cancelled sweep): raised by run.log(); finish the run
    ├── RunNotFoundError            no run with that id (or id prefix) in the store
    ├── RunExistsError              init(id=...) names a run that exists and resume does not allow it
    ├── StoreError                  the store on disk is unusable
    │   ├── FormatVersionError      the store was written by a newer, incompatible localtrack
    │   ├── CorruptDataError        a file failed its checksum or could not be parsed
    │   │   └── DigestMismatchError received bytes do not hash to the sha256 they were sent under
    │   ├── MissingBlobsError       a commit needs blobs that were never uploaded (``missing``)
    │   ├── RunConflictError        the run id already belongs to another run here
    │   ├── ArtifactConflictError   an artifact version or alias event received differs from the
    │                               one held here, or the collection belongs to another
    │                               entity/project namespace (409 ``artifact_conflict``)
    │   └── RunWriteError           a live run's data could not all be written (the writer
    │                               failed, or finish() ran out of time); the run is ``failed``
    ├── IndexUnavailableError       the SQLite index cannot be used here (e.g. network filesystem)
    └── SyncError                   sync, export or import could not finish
        ├── TransientSyncError      worth retrying: connection reset or refused, timeout,
        │                           5xx, 429 (``retry_after`` says how long to wait)
        ├── AuthError               401/403: no key, a wrong or revoked key, too small a role
        │                           or another project's scope; retrying will not help
        ├── ProtocolError           the other side speaks another protocol version, or sent
        │                           something that is not the protocol
        ├── RemoteError             the server refused a request for a reason of its own
        │                           (4xx with the API's error envelope): ``status``, ``code``
        └── BundleError             a bundle file is truncated, tampered with or not a bundle

Every message says what was wrong and what to do about it.

One warning class, for reads that go on past damage::

    DataDamageWarning (UserWarning)  data read from a run is partial: a shard or tail log is damaged
                                     (``run_id``, ``problems``); `localtrack doctor --repair` fixes it
"""

from __future__ import annotations


class LocaltrackError(Exception):
    """Base class of every error localtrack raises on purpose."""


class UsageError(LocaltrackError, ValueError):
    """The caller passed something localtrack cannot accept."""


class UnsupportedValueError(UsageError, TypeError):
    """run.log() received a value of a type it cannot store (strict mode)."""


class BlobTooLargeError(UsageError):
    """A blob is bigger than the store accepts."""


class LimitExceededError(UsageError):
    """A file a client sent would decode to more rows or bytes than the receiver accepts."""

    def __init__(self, message: str, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


class ImportSourceError(UsageError):
    """A source to import from (``import-from``) is missing, of another kind, or needs an extra."""


class ManifestError(UsageError):
    """A manifest names a file it may not name, or is otherwise malformed."""


class DocumentError(ManifestError):
    """A document a client sent (run.json, a manifest, a media log, a bundle header) is not
    valid JSON, is nested too deep, or has a field of the wrong type or over a limit."""

    def __init__(self, message: str, document: str = "", field: str = "") -> None:
        super().__init__(message)
        self.document = document
        self.field = field


class RunNotFoundError(LocaltrackError, LookupError):
    """No run with the given id exists in the store."""


class RunExistsError(LocaltrackError):
    """A run with the requested id already exists and resume does not allow reusing it."""


class StoreError(LocaltrackError):
    """The store on disk cannot be used as it is."""


class FormatVersionError(StoreError):
    """The store's format version is newer than this localtrack understands."""


class CorruptDataError(StoreError):
    """A file in the store failed its checksum or could not be parsed."""


class DigestMismatchError(CorruptDataError):
    """Received bytes do not hash to the sha256 they were sent under."""


class MissingBlobsError(StoreError):
    """A commit needs blobs that were never uploaded (``missing`` lists their sha256)."""

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


class RunConflictError(StoreError):
    """The run id already belongs to another run here (another origin, or a live local writer)."""


class ArtifactConflictError(StoreError):
    """An artifact version or alias event received (sync, import) differs from the one held here,
    or names the collection for another namespace; what is held is never overwritten."""


class RunWriteError(StoreError):
    """A live run's logged data could not all be written; the run is (or will be) marked failed."""


class IndexUnavailableError(LocaltrackError):
    """The SQLite index cannot be used (network filesystem, read-only directory, ...)."""


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


class DataDamageWarning(UserWarning):
    """Data read from a run is partial: some of its files are damaged and were left out."""

    def __init__(self, run_id: str, problems: list[str]) -> None:
        self.run_id = run_id
        self.problems = list(problems)
        super().__init__(
            f"run {run_id}: some of its data is damaged and was left out of what you read: "
            + "; ".join(self.problems)
            + ". `localtrack doctor --repair` quarantines the damaged files."
        )


class SweepError(LocaltrackError):
    """A sweep cannot be created, found or continued."""


class SweepConfigError(SweepError, UsageError):
    """A sweep config has problems; the message lists every one by its path in the config."""


class TrialStopped(LocaltrackError):
    """The sweep controller stopped this trial; run.log() raises it, the run ends ``stopped``."""
