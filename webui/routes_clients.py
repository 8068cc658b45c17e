"""The route registry's entries for the Python clients: ``localtrack.Api(base_url=…)`` reads
and edits runs through ``CLIENT_API`` (webui/runapi.py, webui/server/runedits.py), and
``localtrack sync`` and online mode push through ``SYNC_INGEST`` (webui/server/ingest.py);
webui/routes.py joins them to the core table."""

from __future__ import annotations

from .route_model import (
    API_PREFIX,
    PROJECT,
    READ,
    RUN,
    WRITE,
    WRITE_OWN,
    Policy,
    Route,
    ingest_route,
)

CLIENT_API: tuple[Route, ...] = (
    Route(
        "runapi.run_query",
        "/projects/<path:project>/run-query",
        "api",
        PROJECT,
        "A page of a project's runs with every field, filtered and ordered as Api().runs asks.",
        prefix=API_PREFIX,
        query="?filters=JSON&order&offset&limit",
    ),
    Route(
        "runapi.run_record",
        "/runs/<run_id>/record",
        "api",
        RUN,
        "One run with every field, config and summary.",
        prefix=API_PREFIX,
    ),
    Route(
        "runapi.history_page",
        "/runs/<run_id>/history-page",
        "api",
        RUN,
        "A page of steps of a run's history as Parquet (X-Localtrack-Next-Step: the next page).",
        prefix=API_PREFIX,
        query="?key=K&key=K&min_step&max_step&limit",
    ),
    Route(
        "runapi.series_data",
        "/runs/<run_id>/series-data",
        "api",
        RUN,
        "A key's per-bucket min/max/last as Parquet (what ApiRun.series returns).",
        prefix=API_PREFIX,
        query="?key=K&x&x0&x1&buckets",
    ),
    Route(
        "runapi.run_files",
        "/runs/<run_id>/files",
        "api",
        RUN,
        "The files of a run's files/ folder.",
        prefix=API_PREFIX,
    ),
    Route(
        "runedits.update_run",
        "/runs/<run_id>",
        "api",
        Policy("write", ("run",)),
        "Change a run's name, notes, tags, group, job_type, config or summary (server).",
        ("PATCH",),
        API_PREFIX,
        key="update_run",
    ),
    Route(
        "runedits.delete_run_view",
        "/runs/<run_id>",
        "api",
        Policy("admin", ("run",)),
        "Delete a run (server, admin key).",
        ("DELETE",),
        API_PREFIX,
        key="delete_run",
    ),
)

SYNC_INGEST: tuple[Route, ...] = (
    ingest_route("info", "/sync/info", "GET", READ, "What this server accepts (limits, version)."),
    ingest_route(
        "negotiate", "/sync/negotiate", "POST", WRITE_OWN, "Which blobs of a run the server lacks."
    ),
    ingest_route("put_blob", "/blobs/<sha256>", "PUT", WRITE, "Upload one blob."),
    ingest_route("commit", "/sync/commit", "POST", WRITE_OWN, "Publish a run's uploaded files."),
    ingest_route(
        "negotiate_artifacts",
        "/artifacts/negotiate",
        "POST",
        WRITE_OWN,
        "Which blobs of an artifact collection the server lacks.",
    ),
    ingest_route(
        "commit_artifacts",
        "/artifacts/commit",
        "POST",
        WRITE_OWN,
        "Publish an artifact collection's versions, alias moves and uses.",
    ),
)
