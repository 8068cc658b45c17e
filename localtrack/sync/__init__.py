"""Sync, export and import: moving runs from a local store to a central server.

::

    protocol.py       the wire types and their versioning (pure data)
    transport.py      HTTP with a seam: HTTPTransport (http.client) or MockTransport (a function)
    remote.py         the server's API as calls, with retries (429 Retry-After, backoff with jitter)
    manifest.py       a run's manifest built from the store (hashes cached in state.py)
    state.py          what was sent where, per run, in <root>/sync/
    client.py         SyncClient: negotiate → upload missing blobs → commit; sync --status
    bundle.py         export/import of one-file bundles; BundleSource for sync --bundle
    bundle_format.py  the bundle file's frames, limits and whole-file checksum
    watch.py          sync --watch
    online.py         init(mode="online"): the background pusher
    config.py         which server and key: arguments, environment, settings, `localtrack login`

Its errors (``SyncError`` and its subclasses) are in ``localtrack/errors.py`` with all the others.

The receiving side lives in the store (``localtrack/store/importer.py``), so the server and
``localtrack import`` verify and apply runs with the same code. This package never imports Flask.
See docs/sync.md.
"""

from __future__ import annotations

__all__: list[str] = []
