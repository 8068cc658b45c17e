"""CLI commands that bring runs in from other trackers and take them out: ``import-from``,
``export-to``.

The work is ``localtrack/importers/`` and ``localtrack/exporters/``; this module parses options
and prints the reports.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..humanize import plural
from .options import (
    EXIT_FAILED_RUNS,
    clean_errors,
    dir_option,
    json_option,
    selected_runs,
    selection_options,
)

_SOURCES = ("csv", "parquet", "tensorboard", "mlflow", "wandb", "trackio", "aim")


@click.command("import-from")
@click.argument("source", type=click.Choice(_SOURCES))
@click.argument("path")
@dir_option
@click.option("--project", "-p", default=None, help="Put every imported run in this project.")
@click.option("--dry-run", is_flag=True, help="Read the source and say what would be added.")
@json_option
@clean_errors
def import_from_cmd(
    source: str, path: str, dir_: str | None, project: str | None, dry_run: bool, as_json: bool
) -> None:
    """Import runs other tools wrote on disk (TensorBoard, MLflow, W&B, Trackio, Aim, CSV/Parquet).

    PATH: a TensorBoard log folder, an mlruns/ folder or MLflow database (or sqlite:/// URI),
    a wandb/ folder of offline runs, a Trackio folder of <project>.db files, the folder holding
    an Aim repository (.aim), a CSV or Parquet file or a folder of them.

    Importing the same source again adds only what is new. One line per run, then one line
    per kind of thing that could not be mapped and per damaged part that was skipped.

    Example: localtrack import-from tensorboard ./runs --project resnet
    """
    from ..importers import import_from

    report = import_from(
        source,
        path,
        dir=dir_,
        project=project,
        dry_run=dry_run,
        on_run=None if as_json else lambda run: _print_run(run, dry_run),
    )
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=1))
    else:
        _print_report(report)
    if report.failed:
        sys.exit(EXIT_FAILED_RUNS)


def _print_run(run: Any, dry_run: bool) -> None:
    """One line per run, printed as soon as it is imported."""
    label = f"{run.project}/{run.run_id} ({run.name or run.source_id})"
    if run.status == "failed":
        click.echo(f"{label}: FAILED: {run.error}", err=True)
    elif run.status == "unchanged":
        click.echo(f"{label}: up to date ({plural(run.points, 'point')})")
    else:
        verb = "would add" if dry_run else "added"
        media = f", {plural(run.new_media, 'media item')}" if run.new_media else ""
        artifacts = (
            f", {plural(run.new_artifacts, 'artifact version')}" if run.new_artifacts else ""
        )
        click.echo(
            f"{label}: {run.status}, {verb} {plural(run.new_points, 'point')}"
            f" of {run.points}{media}{artifacts}"
        )


def _print_report(report: Any) -> None:
    """What could not be mapped, what was damaged, and a summary line."""
    for kind, count in sorted(report.unmapped.items()):
        click.echo(f"not mapped: {kind} ({count})", err=True)
    for problem in report.damage:
        click.echo(f"damaged, skipped: {problem}", err=True)
    done = len(report.runs) - len(report.failed)
    click.echo(
        f"{'dry run: ' if report.dry_run else ''}{done} of {plural(len(report.runs), 'run')} "
        f"from {report.source} {report.path}, {plural(report.new_points, 'new point')}"
    )


@click.command("export-to")
@click.argument("target", type=click.Choice(["tensorboard", "mlflow", "wandb"]))
@selection_options
@dir_option
@click.option(
    "--to", "out", required=True, type=click.Path(file_okay=False), help="Folder to write."
)
@clean_errors
def export_to_cmd(
    target: str,
    runs: tuple[str, ...],
    project: str | None,
    all_runs: bool,
    dir_: str | None,
    out: str,
) -> None:
    """Write runs out for another tool: TensorBoard event files, MLflow, W&B offline runs.

    Example: localtrack export-to tensorboard --project mnist --to tb-logs && tensorboard --logdir tb-logs
    """
    root, run_ids = selected_runs(dir_, runs, project, all_runs)
    if target == "mlflow":
        from ..exporters.mlflow import export_runs as to_mlflow

        done = to_mlflow(root, run_ids, out)
        click.echo(
            f"wrote {plural(len(done.written), 'run')} ({plural(done.points, 'point')}, "
            f"{plural(done.media, 'media item')}, {plural(done.files, 'file')}, "
            f"{plural(done.artifacts, 'artifact version')}) to MLflow at {out}; "
            f"{len(done.already)} were there already"
        )
        return
    if target == "wandb":
        from ..exporters.wandb import export_runs as to_wandb

        replayed = to_wandb(root, run_ids, out)
        for kind, count in sorted(replayed.skipped.items()):
            click.echo(f"not exported: {kind} ({count})", err=True)
        click.echo(
            f"wrote {plural(len(replayed.written), 'W&B offline run')} "
            f"({plural(replayed.points, 'point')}, {plural(replayed.media, 'media item')}, "
            f"{plural(replayed.files, 'file')}, "
            f"{plural(replayed.artifacts, 'artifact version')}) below {out}; "
            f"{len(replayed.already)} were there already. Upload: wandb sync {out}/wandb/offline-run-*"
        )
        return
    from ..exporters.tensorboard import export_runs

    report = export_runs(root, run_ids, out)
    for kind, count in sorted(report.skipped.items()):
        click.echo(f"not exported: {kind} ({count})", err=True)
    click.echo(
        f"wrote {plural(len(report.folders), 'run')} ({plural(report.points, 'point')}, "
        f"{plural(report.media, 'media item')}) as {target} event files below {out}"
    )


COMMANDS = [import_from_cmd, export_to_cmd]
