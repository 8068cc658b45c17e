"""CLI commands for sync, export/import, login, the server and its keys (thin, over the library).

Registered on the main group by ``localtrack/cli.py``; also runnable alone for tests and for
scripts that need them before that: ``python -m localtrack.cli_sync sync --all --dir D``.
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .errors import LocaltrackError
from .settings import resolve_dir

EXIT_FAILED_RUNS = 1


def _dir_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--dir",
        "dir_",
        type=click.Path(file_okay=False),
        default=None,
        help="Store directory (default: $LOCALTRACK_DIR, else ./localtrack-runs).",
    )(fn)


def _json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(fn)


def _selection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--all", "all_runs", is_flag=True, help="Every run in the store.")(fn)
    fn = click.option("--project", "-p", default=None, help="Every run of this project.")(fn)
    return click.argument("runs", nargs=-1)(fn)


def _clean_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LocaltrackError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(
                f"{exc.strerror or exc}: {exc.filename or ''}".strip(": ")
            ) from None

    return wrapper


def _select(
    dir_: str | None,
    runs: tuple[str, ...],
    project: str | None,
    all_runs: bool,
    default_all: bool = False,
) -> tuple[Path, list[str]]:
    from .sync.manifest import select_runs, store_for_sync

    store = store_for_sync(resolve_dir(dir_))
    if not runs and project is None and not all_runs:
        if not default_all:
            raise click.UsageError("name the runs (RUN ...), or pass --project P or --all")
        all_runs = True
    return store.root, select_runs(store, runs, project, all_runs)


def _fmt_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


class _Bar:
    """A progress bar over bytes, opened when the client first says how many it will send
    (shown on a terminal only)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.lock = threading.Lock()

    def __call__(self, what: str, amount: int) -> None:
        with self.lock:
            if what == "total" and amount > 0:
                if self.bar is None:
                    self.bar = click.progressbar(length=amount, label=self.label, file=sys.stderr)
                    self.bar.__enter__()
                else:
                    self.bar.length += amount
            elif what == "bytes" and self.bar is not None:
                self.bar.update(amount)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@contextmanager
def _progress(label: str) -> Iterator[_Bar]:
    bar = _Bar(label)
    try:
        yield bar
    finally:
        bar.close()


# -- sync ----------------------------------------------------------------------------------------


@click.command("sync")
@_selection_options
@_dir_option
@click.option(
    "--to",
    "to_url",
    default=None,
    help="Server URL (default: $LOCALTRACK_BASE_URL, else the last `localtrack login`).",
)
@click.option(
    "--status",
    "show_status",
    is_flag=True,
    help="Show per run: synced, partial or never synced (no network).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be sent, send nothing.")
@click.option(
    "--watch", "watch_", is_flag=True, help="Keep syncing as runs progress (Ctrl+C stops)."
)
@click.option("--interval", default=5.0, show_default=True, help="Seconds between --watch rescans.")
@click.option(
    "--bundle",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Push the runs of this bundle file instead of a store.",
)
@click.option("--workers", default=4, show_default=True, help="Parallel uploads.")
@_json_option
@_clean_errors
def sync_cmd(
    runs: tuple[str, ...],
    project: str | None,
    all_runs: bool,
    dir_: str | None,
    to_url: str | None,
    show_status: bool,
    dry_run: bool,
    watch_: bool,
    interval: float,
    bundle: str | None,
    workers: int,
    as_json: bool,
) -> None:
    """Push runs to a server: only what it lacks, resumably; a second sync sends nothing.

    Example: localtrack sync --all --to http://tracker:8080
    """
    from .sync.config import resolve_target

    target = resolve_target(to_url)
    if show_status:
        _status(dir_, runs, project, all_runs, target.url, as_json)
        return
    from .sync.client import SyncClient
    from .sync.remote import connect

    remote = connect(target.url, target.api_key)
    if bundle is not None:
        from .sync.bundle import BundleSource

        source = BundleSource(bundle)
        client = SyncClient(source, remote, workers=workers)
        run_ids = source.run_ids
    else:
        root, run_ids = _select(dir_, runs, project, all_runs, default_all=watch_)
        client = SyncClient.for_store(root, remote, workers=workers)
    try:
        if watch_ and bundle is None:
            _watch(client, root, dir_, runs, project, all_runs, interval, as_json)
        else:
            _run_sync(client, run_ids, dry_run, as_json)
    finally:
        client.close()


def _run_sync(client: Any, run_ids: list[str], dry_run: bool, as_json: bool) -> None:
    with _progress(f"syncing {len(run_ids)} runs") as tick:
        client.progress = tick
        report = client.sync(run_ids, dry_run=dry_run)
    _print_report(report, as_json, dry_run)
    if report.failed:
        sys.exit(EXIT_FAILED_RUNS)


def _print_report(report: Any, as_json: bool, dry_run: bool) -> None:
    if as_json:
        data = {
            "target": report.target,
            "dry_run": dry_run,
            "runs": [r.to_json() for r in report.runs],
            "blobs_sent": report.blobs_sent,
            "bytes_sent": report.bytes_sent,
            "seconds": round(report.seconds, 3),
        }
        click.echo(json.dumps(data, indent=1))
        return
    for r in report.runs:
        if r.outcome == "would-send":
            click.echo(f"{r.run_id}: would send {r.blobs} blobs ({_fmt_bytes(r.bytes)})")
        elif r.outcome == "failed":
            click.echo(f"{r.run_id}: FAILED: {r.message}", err=True)
        elif r.live and r.unsealed_bytes:
            click.echo(
                f"{r.run_id}: {r.outcome}; still running, {_fmt_bytes(r.unsealed_bytes)} "
                "not sealed yet will follow on a later sync"
            )
    click.echo(report.summary())
    if report.failed:
        click.echo(
            f"{len(report.failed)} runs failed: {', '.join(r.run_id for r in report.failed)}",
            err=True,
        )


def _status(
    dir_: str | None,
    runs: tuple[str, ...],
    project: str | None,
    all_runs: bool,
    url: str,
    as_json: bool,
) -> None:
    from .sync.client import sync_status

    root, run_ids = _select(dir_, runs, project, all_runs, default_all=True)
    lines = sync_status(root, url, run_ids)
    if as_json:
        click.echo(json.dumps({"target": url, "runs": [s.to_json() for s in lines]}, indent=1))
        return
    click.echo(f"sync status against {url}")
    click.echo(f"{'RUN':<14} {'PROJECT':<16} {'STATE':<9} {'SYNC':<10} PENDING")
    for s in lines:
        pending = "-"
        if s.status in ("partial", "never"):
            pending = f"{s.pending_files} files, {_fmt_bytes(s.pending_bytes)}"
            if s.unsealed_bytes:
                pending += f" + {_fmt_bytes(s.unsealed_bytes)} unsealed"
        elif s.status == "unreadable":
            pending = s.message
        click.echo(
            f"{s.run_id:<14} {(s.project or '-')[:16]:<16} {(s.run_state or '-'):<9} "
            f"{s.status:<10} {pending}"
        )


def _watch(
    client: Any,
    root: Path,
    dir_: str | None,
    runs: tuple[str, ...],
    project: str | None,
    all_runs: bool,
    interval: float,
    as_json: bool,
) -> None:
    from .sync.watch import watch

    def select() -> list[str]:
        return _select(dir_, runs, project, all_runs, default_all=True)[1]

    def on_report(report: Any) -> None:
        if as_json:
            click.echo(
                json.dumps({"time": time.time(), "runs": [r.to_json() for r in report.runs]})
            )
        else:
            click.echo(f"{time.strftime('%H:%M:%S')} {report.summary()}")
            for r in report.failed:
                click.echo(f"  {r.run_id}: FAILED: {r.message}", err=True)

    click.echo(
        f"watching {root} → {client.remote.url} every {interval:g} s (Ctrl+C stops)", err=True
    )
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        watch(client, root, select, interval=interval, stop=stop, on_report=on_report)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo("stopped", err=True)


# -- export / import -------------------------------------------------------------------------------


@click.command("export")
@_selection_options
@_dir_option
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="Bundle file to write."
)
@_json_option
@_clean_errors
def export_cmd(
    runs: tuple[str, ...],
    project: str | None,
    all_runs: bool,
    dir_: str | None,
    output: str,
    as_json: bool,
) -> None:
    """Write runs into one bundle file (manifests + blobs + a whole-file checksum).

    Example: localtrack export --project mnist -o mnist.ltbundle
    """
    from .sync.bundle import export_bundle

    root, run_ids = _select(dir_, runs, project, all_runs)
    with _progress(f"exporting {len(run_ids)} runs") as tick:
        report = export_bundle(root, run_ids, output, progress=tick)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "path": str(report.path),
                    "runs": report.runs,
                    "failed": report.failed,
                    "blobs": report.blobs,
                    "bytes": report.bytes,
                },
                indent=1,
            )
        )
    else:
        for run_id, why in report.failed.items():
            click.echo(f"{run_id}: left out: {why}", err=True)
        click.echo(
            f"exported {len(report.runs)} runs ({report.blobs} blobs, {_fmt_bytes(report.bytes)}) "
            f"to {report.path} in {report.seconds:.1f} s"
        )
    if report.failed:
        sys.exit(EXIT_FAILED_RUNS)


@click.command("import")
@click.argument("bundle", type=click.Path(dir_okay=False, exists=True))
@_dir_option
@_json_option
@_clean_errors
def import_cmd(bundle: str, dir_: str | None, as_json: bool) -> None:
    """Import a bundle into a store (a running server's too): verified first, nothing half-done.

    Example: localtrack import mnist.ltbundle --dir /srv/localtrack
    """
    from .sync.bundle import import_bundle

    report = import_bundle(bundle, resolve_dir(dir_))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "runs": report.runs,
                    "changed": report.changed,
                    "failed": report.failed,
                    "blobs": report.blobs,
                    "bytes": report.bytes,
                },
                indent=1,
            )
        )
    else:
        for run_id, why in report.failed.items():
            click.echo(f"{run_id}: FAILED: {why}", err=True)
        click.echo(
            f"imported {len(report.runs) - len(report.failed)} of {len(report.runs)} runs "
            f"({len(report.changed)} changed, {_fmt_bytes(report.bytes)} new) in {report.seconds:.1f} s"
        )
    if report.failed:
        sys.exit(EXIT_FAILED_RUNS)


# -- login, server, keys ---------------------------------------------------------------------------


@click.command("login")
@click.argument("url")
@click.option("--key", "api_key", default=None, help="The API key (default: asked for, hidden).")
@_clean_errors
def login_cmd(url: str, api_key: str | None) -> None:
    """Check an API key against a server and remember both (config file, mode 0600).

    Example: localtrack login http://tracker:8080
    """
    from .sync.config import save_login
    from .sync.remote import RetryPolicy, connect

    if api_key is None:
        api_key = click.prompt("API key", hide_input=True).strip()
    remote = connect(url, api_key, timeout=15, retry=RetryPolicy(attempts=2))
    try:
        info = remote.info()
    finally:
        remote.transport.close()
    path = save_login(url, api_key)
    scope = f", project {info.get('project')}" if info.get("project") else ""
    click.echo(
        f"logged in to {url} as {info.get('user')} ({info.get('role')}{scope}); key saved in {path}"
    )


@click.command("server")
@_dir_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@_clean_errors
def server_cmd(dir_: str | None, host: str, port: int) -> None:
    """Serve the UI plus the authenticated ingest API for a store, under waitress.

    Example: localtrack server --dir /srv/localtrack --port 8080
    """
    from webui.server import serve_server

    serve_server(resolve_dir(dir_), host=host, port=port)


@click.group("keys")
def keys_group() -> None:
    """Manage the API keys of a server directory.

    Example: localtrack keys create --user alice --role write --project mnist --dir /srv/lt
    """


@keys_group.command("create")
@click.option("--user", required=True, help="Who the key is for.")
@click.option(
    "--role", required=True, type=click.Choice(["read", "write", "admin"]), help="What it may do."
)
@click.option("--project", default=None, help="Limit the key to one project.")
@_dir_option
@_json_option
@_clean_errors
def keys_create(user: str, role: str, project: str | None, dir_: str | None, as_json: bool) -> None:
    """Create a key; it is shown once, only its hash is kept.

    Example: localtrack keys create --user admin --role admin --dir /srv/lt
    """
    from .keys import KeyStore

    new = KeyStore(resolve_dir(dir_)).create(user, role, project)
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
@_dir_option
@_json_option
@_clean_errors
def keys_list(dir_: str | None, as_json: bool) -> None:
    """List keys (ids, users, roles, scope; never secrets).

    Example: localtrack keys list --dir /srv/lt
    """
    from .keys import KeyStore

    keys = KeyStore(resolve_dir(dir_)).list()
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
@_dir_option
@_clean_errors
def keys_revoke(key_id: str, dir_: str | None) -> None:
    """Revoke a key by id; a running server refuses it from the next request.

    Example: localtrack keys revoke 3f9a0c1b2d4e --dir /srv/lt
    """
    from .keys import KeyStore

    key = KeyStore(resolve_dir(dir_)).revoke(key_id)
    click.echo(f"revoked key {key.id} of {key.user}")


COMMANDS = (sync_cmd, export_cmd, import_cmd, login_cmd, server_cmd, keys_group)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Show the library's log messages.")
def standalone(verbose: bool) -> None:
    """localtrack's sync commands on their own (the main `localtrack` command has them too)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


for _command in COMMANDS:
    standalone.add_command(_command)


if __name__ == "__main__":
    standalone(prog_name="localtrack")
