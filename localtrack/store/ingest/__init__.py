"""The receiving side of sync and import: verify blobs, stage them, apply a run's manifest.

The server's ingest API and ``localtrack import`` (bundles) both go through ``Ingest``, so a blob
is verified the same way whichever door it came in by.

::

    importer.py        Ingest: receive blobs, check documents and limits, commit under the run lock
    manifest_types.py  the value types of an import (FileRef, RunManifest, ...) and allowed names
    staging.py         blobs streamed to a temp file, hashed, kept only if the hash matches
    runorigin.py       whose run an incoming run.json is, and whether it may replace the one here
    commits.py         plan → journal → apply, and rolling an interrupted commit forward
    commitundo.py      what a commit is about to change, kept aside so a failure is undone
    blobscope.py       which staged blobs a project-scoped key may count as present
"""
