"""CLI commands of the central server: ``server`` runs it, ``keys`` manages its API keys.

Registered with the sync commands (``cli_sync.COMMANDS``) on the main group by
``localtrack/cli.py``. Flask and waitress load only when ``server`` runs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import StoreError, UsageError
from ..settings import resolve, resolve_dir
from .options import (
    blobs_option,
    blobs_url,
    clean_errors,
    dir_option,
    index_option,
    json_option,
    port_option,
    use_index_url,
)
from .storedir import create_option, existing_store

if TYPE_CHECKING:
    from ..store.auditlog import AuditLog, AuditQuery, AuditRow


def record_cli_event(
    root: str | Path, action: str, target: str | None, key_id: str | None = None, **detail: Any
) -> None:
    """Append what a command on the server's machine did to the store's audit log (source
    "cli", the OS user); a log that cannot be written is a warning, the change stands."""
    from ..store.auditlog import cli_event, open_audit_log

    try:
        open_audit_log(root).append(cli_event(action, target, key_id, **detail))
    except StoreError as exc:
        click.echo(f"warning: not recorded in the audit log: {exc}", err=True)


@click.group("server", invoke_without_command=True)
@dir_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@port_option
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    help="Another Host name to answer to (repeatable; adds to LOCALTRACK_ALLOWED_HOSTS).",
)
@create_option
@blobs_option
@index_option
@click.pass_context
@clean_errors
def server_cmd(
    ctx: click.Context,
    dir_: str | None,
    host: str,
    port: int,
    allow_hosts: tuple[str, ...],
    create: bool,
    blobs: str | None,
    index_url: str | None,
) -> None:
    """Serve the UI plus the authenticated ingest API for a store, under waitress.

    The directory must exist (`localtrack keys create` makes it) unless --create is given.
    `localtrack server check` verifies the blobs of every committed run.

    With --index postgresql://…, the run index and the API keys live in that PostgreSQL
    database, so several servers (replicas) on one store share them (docs/deploy.md).

    Example: localtrack server --dir /srv/localtrack --port 8080 --allow-host tracker.example.org
    """
    if ctx.invoked_subcommand is not None:
        return
    from webui.server.app import serve_server

    use_index_url(index_url)
    root = existing_store(dir_, create)
    extra = ",".join([*allow_hosts, resolve("allowed_hosts") or ""])
    try:
        serve_server(root, host=host, port=port, allowed_hosts=extra, blobs=blobs_url(blobs))
    except UsageError as exc:  # e.g. a public address before any key exists: exit 2
        raise click.UsageError(str(exc)) from None


@server_cmd.command("check")
@dir_option
@blobs_option
@index_option
@click.option(
    "--repair",
    is_flag=True,
    help="Put blobs missing from the object store back, from the server's own copy of the run.",
)
@json_option
@clean_errors
def server_check(
    dir_: str | None, blobs: str | None, index_url: str | None, repair: bool, as_json: bool
) -> None:
    """Verify that every blob a committed run names exists and hashes to its name (and, on
    a shared-nothing server, every stored file of every artifact version).

    Prints each damaged run (and artifact version) with the files that are missing or changed;
    exits 1 if any is.
    Reads of a damaged run (its page, its JSON, `localtrack show`) list what was found.

    Example: localtrack server check --dir /srv/lt --blobs s3://tracker/prod [--repair]
    """
    from ..store.ingest.blobcheck import check_committed_blobs, repair_missing
    from ..store.ingest.importer import Ingest

    use_index_url(index_url)
    ingest = Ingest(existing_store(dir_), blobs_url=blobs_url(blobs))
    report = check_committed_blobs(ingest)
    repaired = repair_missing(ingest, report) if repair else []
    if as_json:
        body = dataclasses.asdict(report) | {"ok": report.ok, "repaired": repaired}
        click.echo(json.dumps(body, indent=1))
    else:
        for name in repaired:
            click.echo(f"repaired {name}: put back from the server's copy")
        for damage in report.damaged:
            for name, problem in damage.files.items():
                click.echo(f"run {damage.run_id}: {name}: {problem}")
        for art in report.damaged_artifacts:
            for path, problem in art.files.items():
                click.echo(f"artifact {art.version}: {path}: {problem}")
        for line in report.unreadable:
            click.echo(f"unreadable commit record {line}")
        verdict = "OK" if report.ok else f"{len(report.damaged)} damaged runs"
        if report.damaged_artifacts:
            verdict = f"{len(report.damaged_artifacts)} damaged artifact versions"
            verdict = (
                f"{len(report.damaged)} damaged runs, {verdict}" if report.damaged else verdict
            )
        versions = f" and {report.artifact_versions} artifact versions"
        click.echo(
            f"{verdict}: checked {report.blobs} blobs of {report.runs} runs"
            f"{versions if report.artifact_versions else ''} in {report.location}"
        )
    if not report.ok:
        raise SystemExit(1)


@server_cmd.command("audit")
@dir_option
@index_option
@click.option("--user", default=None, help="Only what this user did.")
@click.option(
    "--action", default=None, help="Only this action (login = login.ok and login.failed)."
)
@click.option("--since", default=None, help="From this time on (ISO 8601 UTC, e.g. 2026-11-30).")
@click.option("--until", default=None, help="Before this time (ISO 8601 UTC).")
@click.option("--limit", default=100, show_default=True, help="At most this many entries (0: all).")
@json_option
@clean_errors
def server_audit(
    dir_: str | None,
    index_url: str | None,
    user: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Print the server's audit log, newest first: key changes, syncs, imports, run edits and
    deletions, alias moves, logins; with who, key, time (UTC) and source address.

    With --index postgresql://… (as the server was started with) it reads the log there.

    Example: localtrack server audit --dir /srv/lt --action login --since 2026-11-30
    """
    from ..store.auditlog import AuditQuery, open_audit_log, parse_time

    query = AuditQuery(
        user=user,
        action=action,
        since=None if since is None else parse_time(since, "--since"),
        until=None if until is None else parse_time(until, "--until"),
    )
    log = open_audit_log(existing_store(dir_), use_index_url(index_url) or "")
    rows = _audit_rows(log, query, limit)
    if as_json:
        click.echo(json.dumps([row.to_json() for row in rows], indent=1))
        return
    if not rows:
        click.echo("no audit entries" + (" match" if user or action or since or until else ""))
    for row in rows:
        e = row.to_json()
        detail = " ".join(f"{k}={v}" for k, v in e["detail"].items())
        click.echo(
            f"{e['time']}  {e['action']:<14} {e['user'] or '-':<16} key={e['key_id'] or '-':<12} "
            f"{e['source']:<15} {e['target'] or '-'}  {detail}".rstrip()
        )


def _audit_rows(log: AuditLog, query: AuditQuery, limit: int) -> list[AuditRow]:
    """Up to `limit` rows (0: all), a page at a time."""
    from ..store.auditlog import MAX_PAGE

    rows: list[AuditRow] = []
    while True:
        want = MAX_PAGE if limit <= 0 else min(MAX_PAGE, limit - len(rows))
        page = log.rows(dataclasses.replace(query, limit=want))
        rows += page
        if len(page) < want or (limit > 0 and len(rows) >= limit):
            return rows
        query = dataclasses.replace(query, before=page[-1].id)


@server_cmd.command("migrate")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="DIR|postgresql://…",
    help="Where the server's index and keys are now.",
)
@click.option(
    "--to", "target", required=True, metavar="postgresql://…|DIR", help="Where they should be."
)
@blobs_option
@json_option
@clean_errors
def server_migrate(source: str, target: str, blobs: str | None, as_json: bool) -> None:
    """Move a server's index, API keys, sweeps, saved views and alerts between its directory
    and PostgreSQL (and, with --blobs, copy its committed blobs into the object store).

    The store directory is the one given as --from or --to; its runs stay there. Safe to run
    again: an interrupted migration resumes, a finished one changes nothing. Stop the servers
    first, then start them with --index (or without it, after moving back).

    Example: localtrack server migrate --from /srv/lt --to postgresql://lt@db/lt --blobs s3://tracker/prod
    """
    from ..servermigrate import migrate_server
    from ..store.indexbackend import is_postgres_url

    if is_postgres_url(source) == is_postgres_url(target):
        raise click.UsageError(
            "one of --from and --to must be a postgresql:// URL, the other the store directory"
        )
    to_pg = is_postgres_url(target)
    root = existing_store(source if to_pg else target)
    report = migrate_server(
        root, None if to_pg else source, target if to_pg else None, blobs_url(blobs)
    )
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), indent=1))
    else:
        for problem in report.problems:
            click.echo(f"problem: {problem}", err=True)
        click.echo(
            f"index {report.index}: {report.runs_indexed} runs indexed, {report.runs_current} "
            f"already there, {report.collections} artifact collections; {report.keys_changed} "
            f"keys copied; {report.blobs_copied} blobs copied, {report.blobs_present} already stored; "
            f"{report.runs_recorded} commit records and {report.artifacts_moved} artifact "
            "collections moved; "
            f"{report.sweeps} sweeps and {report.views} saved views merged; alert rules of "
            f"{report.alert_projects} projects and {report.alert_events} alert events copied"
        )
    if report.problems:
        raise SystemExit(1)


@click.group("keys")
def keys_group() -> None:
    """Manage the API keys of a server directory (or, with --index, of its PostgreSQL index,
    which every replica reads).

    Example: localtrack keys create --user alice --role write --project mnist --dir /srv/lt
    """


@keys_group.command("create")
@click.option("--user", required=True, help="Who the key is for.")
@click.option(
    "--role", required=True, type=click.Choice(["read", "write", "admin"]), help="What it may do."
)
@click.option("--project", default=None, help="Limit the key to one project.")
@dir_option
@index_option
@json_option
@clean_errors
def keys_create(
    user: str,
    role: str,
    project: str | None,
    dir_: str | None,
    index_url: str | None,
    as_json: bool,
) -> None:
    """Create a key; it is shown once, only its hash is kept.

    Example: localtrack keys create --user admin --role admin --dir /srv/lt
    """
    from ..apikeys import KeyStore

    root = resolve_dir(dir_)
    new = KeyStore(root, use_index_url(index_url)).create(user, role, project)
    record_cli_event(
        root, "key.create", new.key.id, new.key.id, for_user=user, role=role, project=project
    )
    if as_json:
        click.echo(json.dumps(dict(new.key.public(), token=new.token), indent=1))
        return
    click.echo(new.token)
    click.echo(
        f"key {new.key.id} for {user} ({role}{', project ' + project if project else ''}). "
        "Copy it now: it is not shown again.",
        err=True,
    )


@keys_group.command("list")
@dir_option
@index_option
@json_option
@clean_errors
def keys_list(dir_: str | None, index_url: str | None, as_json: bool) -> None:
    """List keys (ids, users, roles, scope; never secrets).

    Example: localtrack keys list --dir /srv/lt
    """
    from ..apikeys import KeyStore

    keys = KeyStore(resolve_dir(dir_), use_index_url(index_url)).list()
    if as_json:
        click.echo(json.dumps([k.public() for k in keys], indent=1))
        return
    if not keys:
        click.echo("no keys yet: localtrack keys create --user NAME --role admin")
        return
    click.echo(f"{'ID':<13} {'USER':<16} {'ROLE':<6} {'PROJECT':<16} {'CREATED':<17} STATE")
    for k in keys:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(k.created_at))
        state = "active" if k.active else "revoked"
        click.echo(
            f"{k.id:<13} {k.user[:16]:<16} {k.role:<6} {(k.project or '*')[:16]:<16} {created:<17} {state}"
        )


@keys_group.command("revoke")
@click.argument("key_id")
@click.option(
    "--force", is_flag=True, help="Revoke even the last active admin key (leaves no admin)."
)
@dir_option
@index_option
@clean_errors
def keys_revoke(key_id: str, force: bool, dir_: str | None, index_url: str | None) -> None:
    """Revoke a key by id; a running server refuses it from the next request.

    The last active admin key is kept unless --force: revoking it leaves nobody with admin
    rights (the server does not fall back to trusting loopback).

    Example: localtrack keys revoke 3f9a0c1b2d4e --dir /srv/lt
    """
    from ..apikeys import KeyStore

    root = resolve_dir(dir_)
    store = KeyStore(root, use_index_url(index_url))
    key = store.revoke(key_id, force=force)
    record_cli_event(root, "key.revoke", key.id, key.id, for_user=key.user, role=key.role)
    click.echo(f"revoked key {key.id} of {key.user}")
    if key.role == "admin" and store.active_admins() == 0:
        click.echo(
            "WARNING: this server has NO active admin key now"
            + (" and no active key at all" if store.active_count() == 0 else "")
            + ". It stays closed (loopback gets no special access); create a new admin key "
            "with: localtrack keys create --user NAME --role admin",
            err=True,
        )
