"""The central server: the UI app plus the ingest API and the auth gate, under waitress.

::

    from webui.server import serve_server
    serve_server("/srv/localtrack", host="127.0.0.1", port=8080)

    python -m webui.server --dir /srv/localtrack --port 8080     # the same, from a shell

It binds 127.0.0.1 unless told otherwise and refuses a non-loopback address while no API key
exists. At start it finishes commits a crash interrupted and clears stale uploads.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
from typing import Any

from flask import Flask
from waitress.server import create_server

from localtrack.apikeys import KeyStore
from localtrack.errors import UsageError
from localtrack.settings import resolve
from localtrack.store.artifacts.pgcatalog import SharedArtifacts
from localtrack.store.auditlog import open_audit_log
from localtrack.store.ingest.blobscope import open_namespace_blobs
from localtrack.store.ingest.importer import Ingest

from .. import hosts
from ..app import create_app
from ..artifact_models import SHARED_ARTIFACTS
from ..standalone import stopped_by_signals, url_for_server
from . import audit_pages, auth
from .audit import EXTENSION as AUDIT_EXTENSION
from .ingest import ingest
from .runedits import runedits
from .sweepctl import sweepctl

log = logging.getLogger(__name__)
THREADS = 8


def max_blob_bytes_from_env() -> int:
    """$LOCALTRACK_MAX_BLOB_BYTES, else 512 MiB (a bad value is a UsageError)."""
    return int(resolve("max_blob_bytes"))


def create_server_app(
    root: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    allowed_hosts: str | None = None,
    max_blob_bytes: int | None = None,
    blobs: str | None = None,
    **ui_options: Any,
) -> Flask:
    """The UI app for the store at `root` (created if missing) with ingest and auth added.

    allowed_hosts: extra Host header names, comma-separated (default $LOCALTRACK_ALLOWED_HOSTS;
    given, it replaces the variable).
    max_blob_bytes: the largest blob a PUT may carry (default $LOCALTRACK_MAX_BLOB_BYTES, 512 MiB).
    blobs: where blobs go, ``s3://bucket/prefix`` (default $LOCALTRACK_BLOBS; unset: the store
    directory; docs/deploy.md).
    ui_options go to ``webui.app.create_app`` (watch, rescan_interval, poll_interval_ms, ...).
    """
    area = Ingest(root, blobs_url=blobs or resolve("blobs")).create()
    finished = area.recover()
    if finished:
        log.warning("finished %d commits interrupted by a crash: %s", len(finished), finished)
    area.gc()
    if allowed_hosts is None:
        allowed = hosts.from_env(host)
    else:
        allowed = hosts.allowed_hosts_for(host, allowed_hosts)
    app = create_app(root, allowed_hosts=allowed, **ui_options)
    if area.shared is not None:  # runs live in the object store: read them through the cache
        app.extensions["localtrack"].reader.store.remote = area.shared.remote
        app.extensions[SHARED_ARTIFACTS] = SharedArtifacts.open(area)  # artifacts too
    app.config["LOCALTRACK_MAX_BLOB_BYTES"] = max_blob_bytes or max_blob_bytes_from_env()
    app.config["LOCALTRACK_SERVER"] = True
    app.extensions["localtrack_ingest"] = area
    app.extensions["localtrack_blob_scopes"] = open_namespace_blobs(area.dir, resolve("index_url"))
    app.register_blueprint(ingest, url_prefix="/api/v1")
    app.register_blueprint(runedits, url_prefix="/api/v1")
    app.register_blueprint(sweepctl, url_prefix="/api/v1")
    app.extensions[AUDIT_EXTENSION] = open_audit_log(root)
    audit_pages.install(app)
    auth.install(app, KeyStore(root), allowed)
    return app


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(root: str | os.PathLike[str], host: str) -> int:
    """The number of active keys; UsageError if `host` is not loopback and no key was ever made
    (after that, a server without active keys answers nobody, wherever it listens)."""
    keys = KeyStore(root)
    active = keys.active_count()
    if not is_loopback_host(host) and not keys.ever_had_keys():
        raise UsageError(
            f"refusing to serve on {host} without API keys: anyone who can reach it could read "
            f"and write. Create an admin key first: localtrack keys create --user admin "
            f"--role admin --dir {os.fspath(root)}"
        )
    return active


def make_server(app: Flask, host: str, port: int, threads: int = THREADS) -> Any:
    """A bound waitress server whose request-size limit fits the largest blob."""
    limit = int(app.config["LOCALTRACK_MAX_BLOB_BYTES"]) + (1 << 20)
    try:
        return create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="localtrack",
            max_request_body_size=limit,
        )
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise UsageError(
                f"cannot serve on {host}:{port}: {exc.strerror}. Pick another --port "
                "(or --port 0 for any free one)."
            ) from exc
        raise UsageError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc


def _index_location(root: str | os.PathLike[str]) -> str:
    url = resolve("index_url")
    if not url:
        return os.path.join(os.fspath(root), "index.db")
    from localtrack.store.indexbackend import redacted

    return redacted(url)


def _mode(root: str | os.PathLike[str], active: int) -> str:
    if active:
        return f"{active} API keys; sign in with one"
    create = f"localtrack keys create --user admin --role admin --dir {os.fspath(root)}"
    if KeyStore(root).ever_had_keys():
        return f"every API key is revoked: nobody can sign in until you run `{create}`"
    return f"no API keys: loopback clients only. Create one with `{create}`"


def serve_server(
    root: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8080,
    allowed_hosts: str | None = None,
    blobs: str | None = None,
) -> None:
    """Serve until interrupted (Ctrl+C or SIGTERM); prints the URL, the auth mode and the Host
    names it answers to first. allowed_hosts, blobs: as in ``create_server_app``."""
    active = check_bind(root, host)
    app = create_server_app(root, host=host, allowed_hosts=allowed_hosts, blobs=blobs)
    try:
        server = make_server(app, host, port)
    except UsageError:
        app.extensions["localtrack"].close()
        raise
    url = url_for_server(host, int(server.effective_port))
    names = hosts.describe(app.config["LOCALTRACK_ALLOWED_HOSTS"])
    app.extensions["localtrack"].alerts().start_evaluating()  # rules over every synced run
    print(
        f"localtrack server for {os.fspath(root)} listening on {url}  ({_mode(root, active)}; "
        f"answers Host: {names}; blobs in {app.extensions['localtrack_ingest'].blob_store.location}; "
        f"index in {_index_location(root)})",
        flush=True,
    )
    try:
        with stopped_by_signals():
            server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        app.extensions["localtrack"].close()
        app.extensions["localtrack_ingest"].close()
