"""The storage core: run directories, tail logs, Parquet shards and the SQLite index.

Rule: this package imports only the standard library, pyarrow, numpy and sqlite-utils (and
psycopg, in pgindex.py and pgdocs.py only, loaded only for a PostgreSQL index). It knows
nothing of HTTP, Flask, sync or the CLI (tests/test_layering.py checks it).

::

    layout.py          pure path rules: where each file of a run lives, how names parse
    root.py            opening a store: the format marker, whether the shared index is usable
    atomic.py          crash-safe publication: partial file → fsync → rename → fsync(dir)
    fsdetect.py        network filesystems, where SQLite's WAL is unsafe

  the write path (one live run)
    writer.py          the background writer: tail segments (or queue → tail log) → shards → index
    writerhealth.py    trouble the writer can wait out (disk full) vs trouble it cannot
    badrows.py         queued rows → one metrics table, a bad row never costing the others
    segformat.py       mapped tail segments: the record format log() writes (no numpy/pyarrow)
    segments.py        mapped tail segments: vectorised reads, recovery's cut
    segwriter.py       the training thread's side: pre-allocated, mapped chunks and row packers
    segseal.py         the writer's side: count, fsync, seal finished chunks into shards
    classicrounds.py   the writer's side of the classic path: queue → tail log → shard
    taillog.py         the classic CRC-framed tail log (network filesystems), the crash-safety net
    shards.py          sealed Parquet shards, written atomically, read with filters
    compaction.py      tiered merging of a run's shards
    metrics.py         the long-format metrics table and its operations
    keystats.py        per-key running statistics and value kinds (no numpy/pyarrow: init's path)
    runpublish.py      a live run's index row and heartbeat
    runlock.py         the run locks (committing a run; writing a live run)
    media.py           media blobs and the media log beside a run's metrics

  documents and their limits
    runmeta.py         run.json: metadata, and what derives from it (state, summary, index row)
    runschema.py       run.json's schema: every field's type and limits
    mediaschema.py     a media log line's schema
    jsondoc.py         reading JSON that crosses a trust boundary, within limits
    limits.py          limits on what a client sends, checked before anything is decoded

  the index
    indexbackend.py    what every index backend offers (IndexBackend), and which errors mean "cannot answer"
    index.py, schema.py  the SQLite index, <root>/index.db (sqlite-utils; migrations): the default
    pgindex.py, pgschema.py  the same index in PostgreSQL (psycopg; numbered migrations), for a server
    pgdocs.py          a server's small documents (its API keys) in that PostgreSQL database

  the read path
    reader.py          StoreReader: the one read API (UI, CLI, sync, localtrack.Api)
    runrows.py         run rows: the index's, else a scan of run directories
    runinfo.py         RunInfo, ProjectInfo, MetricKey: what readers return
    runjson.py         a run as strict JSON (CLI --json, UI API): NaN/±Inf as strings
    runfiles.py        a run's metric rows straight from its files (shards + live tail)
    runstats.py        per-key statistics in bounded batches
    series.py          bucketing a series for charts on shared edges
    wide.py            long rows → the wide table history() returns
    media_reader.py    media items, table pages, histograms
    console_reader.py  files/output.log page by page
    lru.py             a size-bounded LRU cache

  repair
    recovery.py        repair, adopt, quarantine, reindex
    doctor.py          `localtrack doctor`: check (and repair) every run, then the index

  ingest/              the receiving side of sync and import (its own map)
"""
