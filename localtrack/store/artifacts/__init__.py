"""Artifact storage: content-addressed blobs, immutable version manifests, alias events.

Layout and format: docs/format.md, "Artifacts". Same rules as the rest of the store: only the
standard library, pyarrow, numpy, sqlite-utils, localtrack.errors and localtrack.settings.

::

    layout.py       pure path and name rules: where blobs, manifests, events and uses live
    manifest.py     Entry / Manifest: the manifest document, its schema and its digest
    blobs.py        the blob area: stream a file in (hash while copying), gc.lock, gc
    collection.py   one collection: publish a version (gapless numbering), events, replayed state
    catalog.py      filling the artifact index tables (their SQL is in store/index.py)
    doctor.py       orphans (partials, incoming blobs) and missing blobs, found and cleaned
"""
