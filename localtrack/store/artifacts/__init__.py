"""Artifact storage: content-addressed blobs, immutable version manifests, alias events.

Layout and format: docs/format.md, "Artifacts". Same rules as the rest of the store: only the
standard library, pyarrow, numpy, sqlite-utils, localtrack.errors and localtrack.settings.

::

    layout.py       pure path and name rules: where blobs, manifests, events and uses live
    manifest.py     Entry / Manifest: the manifest document, its schema and its digest
    blobs.py        the blob area: add files (packed or single), read blobs, the gc lock's use
    fileio.py       hashing files in bounded chunks, one syncfs for every new blob
    packs.py        tar packs of small blobs: writing members, sealing, reading headers
    packindex.py    the pack index (SQLite): which pack holds a blob, and where
    packing.py      one writer's packs: chunks of files read, hashed, appended; sealed, indexed
    extracted.py    the extraction cache: packed blobs as plain files, for hard-linked downloads
    download.py     materialising a version: hard links (single blobs, the cache), copies
    gc.py           removing unreferenced blobs, dropping or repacking packs
    locks.py        gc.lock: shared by writers, exclusive for gc
    collection.py   one collection: publish a version (gapless numbering), events, replayed state
    catalog.py      filling the artifact index tables (their SQL is in store/index.py)
    doctor.py       orphans (partial blobs and packs), unindexed packs, missing blobs
"""
