"""CLI commands for sync and login (thin, over the library), and ``COMMANDS``: these plus the
bundle commands (``cli_bundle``) and the server's (``cli_server``).

Registered on the main group by ``localtrack/cli.py``; also runnable alone for tests and for
scripts that need them before that: ``python -m localtrack.cli.sync sync --all --dir D``.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from ..humanize import plural
from .bundle import export_cmd, import_cmd
from .options import (
    CONTEXT_SETTINGS,
    EXIT_FAILED_RUNS,
    clean_errors,
    dir_option,
    json_option,
    selected_runs,
    selection_options,
)
from .progress import fmt_bytes, progress
from .server import keys_group, server_cmd

# -- sync ----------------------------------------------------------------------------------------


@click.command("sync")
@selection_options
@dir_option
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
    help="Show per run: synced, partial or never synced (no network; no server needed).",
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
    help="Push the runs and artifacts of this bundle file instead of a store.",
)
@click.option("--workers", default=4, show_default=True, help="Parallel uploads.")
@json_option
@clean_errors
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
    from ..errors import UsageError
    from ..sync.config import resolve_target

    if show_status:
        try:
            url: str | None = resolve_target(to_url).url
        except UsageError:  # no server configured: the local sync state still answers
            url = None
        _status(dir_, runs, project, all_runs, url, as_json)
        return
    target = resolve_target(to_url)
    from ..sync.client import SyncClient
    from ..sync.remote import RetryPolicy, connect

    remote = connect(target.url, target.api_key, retry=RetryPolicy(fail_fast_unreachable=True))
    if bundle is not None:
        from ..sync.bundle import BundleSource

        source = BundleSource(bundle)
        client = SyncClient(source, remote, workers=workers)
        run_ids = source.run_ids
    else:
        root, run_ids = selected_runs(dir_, runs, project, all_runs, default_all=watch_)
        client = SyncClient.for_store(root, remote, workers=workers)
    try:
        if watch_ and bundle is None:
            _watch(client, root, dir_, runs, project, all_runs, interval, as_json)
        else:
            _run_sync(client, run_ids, dry_run, as_json)
    finally:
        client.close()


def _run_sync(client: Any, run_ids: list[str], dry_run: bool, as_json: bool) -> None:
    with progress(f"syncing {plural(len(run_ids), 'run')}") as tick:
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
            "artifacts": [a.to_json() for a in getattr(report, "artifacts", [])],
            "blobs_sent": report.blobs_sent,
            "bytes_sent": report.bytes_sent,
            "seconds": round(report.seconds, 3),
        }
        click.echo(json.dumps(data, indent=1))
        return
    for r in report.runs:
        if r.outcome == "would-send":
            click.echo(f"{r.run_id}: would send {plural(r.blobs, 'blob')} ({fmt_bytes(r.bytes)})")
        elif r.outcome == "failed":
            click.echo(f"{r.run_id}: FAILED: {r.message}", err=True)
        elif r.live and r.unsealed_bytes:
            click.echo(
                f"{r.run_id}: {r.outcome}; still running, {fmt_bytes(r.unsealed_bytes)} "
                "not sealed yet will follow on a later sync"
            )
    click.echo(report.summary())
    if report.failed:
        click.echo(
            f"{plural(len(report.failed), 'run')} failed: "
            + ", ".join(r.run_id for r in report.failed),
            err=True,
        )


def _status(
    dir_: str | None,
    runs: tuple[str, ...],
    project: str | None,
    all_runs: bool,
    url: str | None,
    as_json: bool,
) -> None:
    """Per run, how far it is synced to `url`; with no server configured (`url` None), to the
    server each run was last synced to."""
    from ..sync.client import sync_status

    root, run_ids = selected_runs(dir_, runs, project, all_runs, default_all=True)
    lines = sync_status(root, url, run_ids)
    if as_json:
        click.echo(json.dumps({"target": url, "runs": [s.to_json() for s in lines]}, indent=1))
        return
    if url:
        click.echo(f"sync status against {url}")
    else:
        click.echo("sync status (no server configured: against the server each run last synced to)")
    click.echo(f"{'RUN':<14} {'PROJECT':<16} {'STATE':<9} {'SYNC':<10} PENDING")
    for s in lines:
        pending = "-"
        if s.status in ("partial", "never"):
            pending = f"{plural(s.pending_files, 'file')}, {fmt_bytes(s.pending_bytes)}"
            if s.unsealed_bytes:
                pending += f" + {fmt_bytes(s.unsealed_bytes)} unsealed"
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
    from ..sync.watch import watch

    def select() -> list[str]:
        return selected_runs(dir_, runs, project, all_runs, default_all=True)[1]

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


# -- login ---------------------------------------------------------------------------


@click.command("login")
@click.argument("url")
@click.option("--key", "api_key", default=None, help="The API key (default: asked for, hidden).")
@clean_errors
def login_cmd(url: str, api_key: str | None) -> None:
    """Check an API key against a server and remember both (config file, mode 0600).

    Example: localtrack login http://tracker:8080
    """
    from ..sync.config import save_login
    from ..sync.remote import RetryPolicy, connect

    if api_key is None:
        api_key = click.prompt("API key", hide_input=True).strip()
    remote = connect(
        url, api_key, timeout=15, retry=RetryPolicy(attempts=2, fail_fast_unreachable=True)
    )
    try:
        info = remote.info()
    finally:
        remote.transport.close()
    path = save_login(url, api_key)
    scope = f", project {info.get('project')}" if info.get("project") else ""
    click.echo(
        f"logged in to {url} as {info.get('user')} ({info.get('role')}{scope}); key saved in {path}"
    )


COMMANDS = (sync_cmd, export_cmd, import_cmd, login_cmd, server_cmd, keys_group)


@click.group(context_settings=CONTEXT_SETTINGS)
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
