"""Every error localtrack raises on purpose.

::

    LocaltrackError                 base class: catch this to catch everything below
    ├── UsageError                  the caller passed something wrong (bad value, bad argument)
    │   └── UnsupportedValueError   run.log() got a value it cannot store (raised only with strict=True)
    ├── RunNotFoundError            no run with that id (or id prefix) in the store
    ├── RunExistsError              init(id=...) names a run that exists and resume does not allow it
    ├── StoreError                  the store on disk is unusable
    │   ├── FormatVersionError      the store was written by a newer, incompatible localtrack
    │   └── CorruptDataError        a file failed its checksum or could not be parsed
    └── IndexUnavailableError       the SQLite index cannot be used here (e.g. network filesystem)

Every message says what was wrong and what to do about it.
"""

from __future__ import annotations


class LocaltrackError(Exception):
    """Base class of every error localtrack raises on purpose."""


class UsageError(LocaltrackError, ValueError):
    """The caller passed something localtrack cannot accept."""


class UnsupportedValueError(UsageError, TypeError):
    """run.log() received a value of a type it cannot store (strict mode)."""


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


class IndexUnavailableError(LocaltrackError):
    """The SQLite index cannot be used (network filesystem, read-only directory, ...)."""
