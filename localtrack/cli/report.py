"""``localtrack report list|show|export``: reports from the command line (docs/reports.md).

``export`` writes one self-contained HTML file (``localtrack/reports/export.py``) from the panel
data the UI draws (``webui/report_data.py``), as of now or at the report's pinned steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .options import clean_errors, dir_option, json_option
from .storedir import existing_store


def _project(root: Path, project: str | None) -> str:
    """The project named, or the only project with reports."""
    if project:
        return project
    from ..reports.files import projects_with_reports

    found = projects_with_reports(root)
    if len(found) == 1:
        return found[0]
    raise click.UsageError(
        "say which project with --project"
        + (f" (reports in: {', '.join(found)})" if found else " (no project has reports yet)")
    )


project_option = click.option("--project", "-p", default=None, help="The report's project.")


@click.group("report")
def report() -> None:
    """Reports: markdown documents with live panels, stored in the store's reports/ folder.

    Example: localtrack report export findings -p mnist -o findings.html
    """


@report.command("list")
@project_option
@dir_option
@json_option
@clean_errors
def list_cmd(project: str | None, dir_: str | None, as_json: bool) -> None:
    """List a project's reports.  Example: localtrack report list -p mnist"""
    from ..reports.files import list_reports

    root = existing_store(dir_)
    project = _project(root, project)
    rows = [{"name": r.name, "updated_at": r.updated_at} for r in list_reports(root, project)]
    if as_json:
        click.echo(json.dumps({"project": project, "reports": rows}))
    elif not rows:
        click.echo(f"project {project!r} has no reports; write one in the UI or in {root}/reports/")
    else:
        for row in rows:
            click.echo(row["name"])


@report.command("show")
@click.argument("name")
@project_option
@dir_option
@clean_errors
def show_cmd(name: str, project: str | None, dir_: str | None) -> None:
    """Print a report's text (after checking it parses).  Example: localtrack report show findings"""
    from ..reports.files import read_report

    root = existing_store(dir_)
    rf = read_report(root, _project(root, project), name)
    rf.report  # noqa: B018  (parses it: a broken panel is an error naming its line)
    click.echo(rf.text, nl=not rf.text.endswith("\n"))


@report.command("export")
@click.argument("name")
@project_option
@dir_option
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="HTML file to write."
)
@clean_errors
def export_cmd(name: str, project: str | None, dir_: str | None, output: str) -> None:
    """Write a report as ONE self-contained HTML file: text, every panel's data, uPlot and styles
    inlined; it opens from disk with no network and no localtrack.

    Example: localtrack report export findings -p mnist -o findings.html
    """
    import webui
    from webui.report_data import report_data

    from ..reports.export import export_html, load_assets
    from ..reports.files import read_report
    from ..store.reader import StoreReader

    out = Path(output).absolute()
    if not out.parent.is_dir():
        raise click.BadParameter(
            f"the folder {out.parent} does not exist", param_hint="'-o' / '--output'"
        )
    root = existing_store(dir_)
    project = _project(root, project)
    rf = read_report(root, project, name)
    data = report_data(StoreReader(root), project, rf.report, name, embed=True)
    page = export_html(data, load_assets(Path(webui.__file__).parent / "static"))
    out.write_text(page, encoding="utf-8")
    panels = sum(1 for b in data["blocks"] if b["kind"] == "panel")
    click.echo(f"wrote {out} ({len(page.encode()) // 1024} KiB, {panels} panels)")


COMMANDS = [report]
