"""CLI commands for bundles: ``export`` runs into one file, ``import`` one into a store.

Registered with the sync commands (``cli_sync.COMMANDS``); the work is ``localtrack/sync/bundle.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..humanize import plural
from ..settings import resolve
from .options import (
    EXIT_FAILED_RUNS,
    blobs_option,
    blobs_url,
    clean_errors,
    dir_option,
    json_option,
    selected_runs,
    selection_options,
)
from .progress import fmt_bytes, progress
from .storedir import create_option, existing_store


@click.command("export")
@selection_options
@dir_option
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="Bundle file to write."
)
@json_option
@clean_errors
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
    from ..sync.bundle import export_bundle

    folder = Path(output).absolute().parent
    if not folder.is_dir():
        raise click.BadParameter(
            f"the folder {folder} does not exist: create it first, or pick another path",
            param_hint="'-o' / '--output'",
        )
    root, run_ids = selected_runs(dir_, runs, project, all_runs)
    with progress(f"exporting {plural(len(run_ids), 'run')}") as tick:
        report = export_bundle(root, run_ids, output, progress=tick)
    _finish(
        as_json,
        {
            "path": str(report.path),
            "runs": report.runs,
            "failed": report.failed,
            "blobs": report.blobs,
            "bytes": report.bytes,
        },
        report.failed,
        "left out",
        f"exported {plural(len(report.runs), 'run')} ({plural(report.blobs, 'blob')}, "
        f"{fmt_bytes(report.bytes)}) "
        f"to {report.path} in {report.seconds:.1f} s",
    )


@click.command("import")
@click.argument("bundle", type=click.Path(dir_okay=False, exists=True))
@dir_option
@create_option
@blobs_option
@json_option
@clean_errors
def import_cmd(
    bundle: str, dir_: str | None, create: bool, blobs: str | None, as_json: bool
) -> None:
    """Import a bundle into a store (a running server's too): verified first, nothing half-done.

    The store directory must exist unless --create is given.

    Example: localtrack import mnist.ltbundle --dir /srv/localtrack
    """
    from ..apikeys import SERVER_DIR
    from ..sync.bundle import import_bundle
    from .server import record_cli_event

    root = existing_store(dir_, create)
    report = import_bundle(bundle, root, blobs_url=blobs_url(blobs))
    # a server's store (keys in server/, or a PostgreSQL index): its audit log says who imported
    if (Path(root) / SERVER_DIR).is_dir() or resolve("index_url"):
        record_cli_event(
            root,
            "bundle.import",
            str(Path(bundle).absolute()),
            runs=len(report.runs),
            changed=report.changed[:100],
            failed=len(report.failed),
        )
    _finish(
        as_json,
        {
            "runs": report.runs,
            "changed": report.changed,
            "failed": report.failed,
            "blobs": report.blobs,
            "bytes": report.bytes,
        },
        report.failed,
        "FAILED",
        f"imported {len(report.runs) - len(report.failed)} of {plural(len(report.runs), 'run')} "
        f"({len(report.changed)} changed, {fmt_bytes(report.bytes)} new) in {report.seconds:.1f} s",
    )


def _finish(as_json: bool, data: dict, failed: dict[str, str], label: str, summary: str) -> None:
    """Print a bundle report (JSON, or one line per failed run and a summary); exit 1 on failures."""
    if as_json:
        click.echo(json.dumps(data, indent=1))
    else:
        for run_id, why in failed.items():
            click.echo(f"{run_id}: {label}: {why}", err=True)
        click.echo(summary)
    if failed:
        sys.exit(EXIT_FAILED_RUNS)
