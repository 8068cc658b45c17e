"""CLI commands over a local store: ``runs``, ``show``, ``reindex`` and ``doctor``.

Registered on the main group (``main.py``); the work is the store's (reader, recovery, doctor).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from ..humanize import format_duration, plural
from ..settings import resolve
from .options import clean_errors, dir_option, json_option
from .storedir import existing_store


def _reader(dir_: str | None):
    from ..store.reader import StoreReader

    return StoreReader(existing_store(dir_), index_mode=resolve("index"))


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def _run_json(info: Any) -> dict[str, Any]:
    from ..store.runjson import run_json

    return run_json(info)


def _dumps(data: Any) -> str:
    from ..store.runjson import dumps

    return dumps(data, indent=1)


def _no_such_project(project: str, known: list[str]) -> None:
    """Say that `project` does not exist, name the ones that do, and exit 1."""
    listed = ", ".join(known) if known else "none yet"
    click.echo(f"No runs: there is no project {project!r} in this store. Projects: {listed}")
    sys.exit(1)


@click.command()
@dir_option
@click.option(
    "--project",
    "-p",
    default=None,
    help="Only runs of this project: ENTITY/PROJECT, or PROJECT for runs without an entity.",
)
@json_option
@clean_errors
def runs(dir_: str | None, project: str | None, as_json: bool) -> None:
    """List runs, newest first.

    Example: localtrack runs --project demo-cifar
    """
    reader = _reader(dir_)
    infos = reader.runs(project)
    if project is not None and not infos:
        _no_such_project(project, [p.name for p in reader.projects()])
    if as_json:
        click.echo(_dumps([_run_json(i) for i in infos]))
        return
    if not infos:
        click.echo("No runs yet. Log one with localtrack.init(), or try `localtrack demo`.")
        return
    header = f"{'ID':<13} {'PROJECT':<16} {'NAME':<24} {'STATE':<9} {'STARTED':<16} {'TIME':>8} {'STEPS':>7}"
    click.echo(header)
    for i in infos:
        steps = "-" if i.max_step is None else str(i.max_step + 1)
        click.echo(
            f"{i.id:<13} {i.namespace[:16]:<16} {i.name[:24]:<24} {i.state:<9} "
            f"{_fmt_time(i.created_at):<16} {format_duration(i.duration):>8} {steps:>7}"
        )


@click.command()
@click.argument("run_id")
@dir_option
@json_option
@clean_errors
def show(run_id: str, dir_: str | None, as_json: bool) -> None:
    """Show one run: metadata, config, summary and metric keys.

    Example: localtrack show 3kf9a2
    """
    reader = _reader(dir_)
    info = reader.run(run_id)
    keys = reader.metric_keys(info.id)
    damage = reader.damage(info.id)
    if as_json:
        _echo_damage(damage)
        data = _run_json(info)
        data["warnings"] = damage
        data["damaged"] = bool(damage)
        data["system"] = info.system
        data["metrics"] = [k.__dict__ for k in keys]
        click.echo(_dumps(data))
        return
    click.echo(f"{info.name}  ({info.id})  project={info.project}  state={info.state}")
    from ..store.exitreason import reason_text

    reason = reason_text(info.meta)
    if reason:  # why it failed or crashed: the exception and the user's line, or the signal
        code = f" (exit code {info.exit_code})" if info.exit_code not in (None, 0) else ""
        click.echo(f"{info.state}{code}: {reason}")
    click.echo(
        f"started {_fmt_time(info.created_at)}, ran {format_duration(info.duration)} on {info.host}"
    )
    for label, value in (
        ("tags", ", ".join(info.tags)),
        ("group", info.group),
        ("notes", info.notes),
    ):
        if value:
            click.echo(f"{label}: {value}")
    git = info.system.get("git") or {}
    if git:
        click.echo(
            f"git: {git.get('commit', '')[:12]} on {git.get('branch')}{' (dirty)' if git.get('dirty') else ''}"
        )
    click.echo("config:")
    click.echo("  " + json.dumps(info.config, indent=1, sort_keys=True).replace("\n", "\n  "))
    if info.summary:
        click.echo("summary:")
        for key, value in sorted(info.summary.items()):
            click.echo(f"  {key:<32} {value!r}")
    click.echo(f"metrics ({len(keys)}):")
    for k in keys:
        click.echo(f"  {k.key:<32} last={k.last!r:<22} min={k.min!r} max={k.max!r} n={k.count}")
    _echo_damage(damage)


def _echo_damage(damage: list[str]) -> None:
    """One stderr line per damaged file, worded as the run page and DataDamageWarning word it."""
    for w in damage:
        click.echo(f"warning: damaged data left out: {w}", err=True)


@click.command()
@dir_option
@clean_errors
def reindex(dir_: str | None) -> None:
    """Rebuild index.db from the run directories (the index is only a cache).

    A damaged index.db (not a database, fails SQLite's integrity check) is moved aside as
    index.db.corrupt-<time> first.

    Example: localtrack reindex --dir ./localtrack-runs
    """
    from ..store.recovery import reindex as rebuild
    from ..store.root import StoreRoot

    store = StoreRoot(existing_store(dir_), index_mode=resolve("index"))
    artifacts = None
    if store.index_url and resolve("blobs"):  # a shared-nothing server: its runs are in the bucket
        from ..store.artifacts.pgcatalog import SharedArtifacts
        from ..store.blobstore import check_blobs_url
        from ..store.ingest.importer import Ingest

        ingest = Ingest(store.root, blobs_url=check_blobs_url(resolve("blobs")))
        store.remote = None if ingest.shared is None else ingest.shared.remote
        artifacts = SharedArtifacts.open(ingest)  # and its artifacts' documents in PostgreSQL
    damage = store.index_damage()
    if damage is not None:
        moved = store.set_aside_index()
        click.echo(f"index.db was damaged: {damage}. Moved it aside to {moved.name}.", err=True)
    count, problems = rebuild(store)
    if artifacts is not None:
        artifacts.reindex()
    for p in problems:
        click.echo(f"problem: {p}", err=True)
    click.echo(f"indexed {plural(count, 'run')}")
    if problems:
        sys.exit(1)


@click.command()
@dir_option
@click.option(
    "--repair", is_flag=True, help="Fix what is found (truncate, adopt, quarantine, mark crashed)."
)
@json_option
@clean_errors
def doctor(dir_: str | None, repair: bool, as_json: bool) -> None:
    """Check a store for damage left by crashes; --repair fixes it.

    Example: localtrack doctor --repair
    """
    from ..store.doctor import run_doctor

    report = run_doctor(existing_store(dir_), repair=repair, index_mode=resolve("index"))
    if as_json:
        click.echo(json.dumps(report, indent=1))
    else:
        for line in report["lines"]:
            click.echo(line)
    if report["problems"] and not repair:
        sys.exit(1)


COMMANDS = [runs, show, reindex, doctor]
