"""`localtrack artifact ls|show|get|put|rm|gc`: thin commands over localtrack.artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..humanize import plural
from ..settings import resolve_dir
from .options import clean_errors, dir_option, json_option


def _root(dir_: str | None) -> Path:
    return Path(resolve_dir(dir_))


def _summary(a: Any) -> dict[str, Any]:
    return {
        "name": f"{a.namespace}/{a.name}",
        "type": a.type,
        "version": a.version,
        "aliases": a.aliases,
        "digest": a.digest,
        "size": a.size,
        "files": a.file_count,
        "created_at": a.created_at,
        "description": a.description,
        "metadata": a.metadata,
        "linked_from": a.linked_from,
    }


@click.group()
def artifact() -> None:
    """Versioned datasets and models: list, show, download, add, delete, collect garbage.

    Example: localtrack artifact ls --type dataset
    """


@artifact.command("ls")
@dir_option
@click.option("--type", "type_", help="Only artifacts of this type.")
@click.option("--project", help="Only this project (or registry).")
@json_option
@clean_errors
def ls(dir_: str | None, type_: str | None, project: str | None, as_json: bool) -> None:
    """List artifact collections with their latest version.

    Example: localtrack artifact ls --project mnist
    """
    from ..artifacts.query import artifacts

    found = [_summary(a) for a in artifacts(_root(dir_), type_, None, project)]
    if as_json:
        click.echo(json.dumps(found, indent=1))
        return
    for a in found:
        click.echo(
            f"{a['name']:<40} {a['type']:<12} {a['version']:<6} {a['size']:>12} B  "
            f"{','.join(a['aliases'])}"
        )


@artifact.command()
@dir_option
@click.argument("name")
@json_option
@clean_errors
def show(dir_: str | None, name: str, as_json: bool) -> None:
    """Show one version and its files ("project/name:alias").

    Example: localtrack artifact show mnist/mnist-data:latest
    """
    from ..artifacts.query import artifact as find

    a = find(_root(dir_), name)
    doc = _summary(a)
    doc["entries"] = {p: e.as_json() for p, e in sorted(a.entries().items())}
    if as_json:
        click.echo(json.dumps(doc, indent=1))
        return
    for key in ("name", "type", "version", "aliases", "digest", "size", "files", "description"):
        click.echo(f"{key:<12} {doc[key]}")
    for path, e in doc["entries"].items():
        click.echo(
            f"  {path}  {e['size']} B  {e['sha256'][:12]}" + (f"  → {e['ref']}" if e["ref"] else "")
        )


@artifact.command()
@dir_option
@click.argument("name")
@click.option("--root", type=click.Path(file_okay=False), help="Folder to download into.")
@clean_errors
def get(dir_: str | None, name: str, root: str | None) -> None:
    """Download a version (every hash verified; hard links where possible).

    Example: localtrack artifact get mnist/mnist-data:v3 --root ./data
    """
    from ..artifacts.query import artifact as find

    click.echo(find(_root(dir_), name).download(root))


@artifact.command()
@dir_option
@click.argument("path", type=click.Path(exists=True))
@click.option(
    "--name", "name", required=True, help="project/name (or entity/project/name) of the collection."
)
@click.option("--type", "type_", default="dataset", show_default=True)
@click.option("--alias", "aliases", multiple=True, help="Alias to set (repeatable).")
@clean_errors
def put(dir_: str | None, path: str, name: str, type_: str, aliases: tuple[str, ...]) -> None:
    """Log a file or folder as a new version (no run records it).

    Example: localtrack artifact put ./data --name mnist/mnist-data --alias raw
    """
    from ..artifacts.artifact import Artifact
    from ..artifacts.spec import parse_spec
    from ..store.artifacts.repository import ArtifactRepository

    spec = parse_spec(name)
    if spec.project is None:
        raise click.UsageError("--name must be project/name")
    art = Artifact(spec.name, type_)
    art.add_dir(path) if Path(path).is_dir() else art.add_file(path)
    repo = ArtifactRepository(_root(dir_), create=True)
    manifest, created, report = repo.log(
        spec.project, spec.name, type_, list(art._sources.values()), aliases=aliases
    )
    what = "logged" if created else "unchanged:"
    click.echo(
        f"{what} {spec.project}/{spec.name}:v{manifest.version} "
        f"({plural(report.new_blobs, 'new blob')}, {plural(report.new_bytes, 'byte')} stored)"
    )


@artifact.command()
@dir_option
@click.argument("name")
@click.option("--delete-aliases", is_flag=True, help="Also remove the version's aliases.")
@clean_errors
def rm(dir_: str | None, name: str, delete_aliases: bool) -> None:
    """Delete a version; its blobs are freed by the next gc.

    Example: localtrack artifact rm mnist/mnist-data:v0
    """
    from ..artifacts.query import artifact as find

    a = find(_root(dir_), name)
    a.delete(delete_aliases=delete_aliases)
    click.echo(f"deleted {a.qualified_name}")


@artifact.command()
@dir_option
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option(
    "--grace",
    default=3600.0,
    show_default=True,
    help="Keep unreferenced blobs younger than this many seconds.",
)
@clean_errors
def gc(dir_: str | None, dry_run: bool, grace: float) -> None:
    """Remove blobs no live version references (safe while others log).

    Example: localtrack artifact gc --dry-run
    """
    from ..store.artifacts.repository import ArtifactRepository

    report = ArtifactRepository(_root(dir_)).gc(grace, dry_run)
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {plural(len(report.removed), 'blob')} ({plural(report.removed_bytes, 'byte')}) "
        f"and {plural(len(report.partials), 'partial file')}; kept {report.kept_referenced} "
        "referenced, "
        f"{report.kept_young} younger than {grace:g} s"
        + (
            f"; {'would repack' if dry_run else 'repacked'} "
            f"{plural(len(report.repacked), 'pack')} without them"
            if report.repacked
            else ""
        )
        + (
            f"; {'would drop' if dry_run else 'dropped'} "
            f"{plural(len(report.extracted.dropped), 'extraction-cache file')} no version needs"
            if report.extracted.dropped
            else ""
        )
    )


COMMANDS = [artifact]
