"""A report's panel data: what ``static/js/report.js`` draws, in the UI and in an exported file.

One function, ``report_data``, turns a parsed report (``localtrack.reports.format``) into JSON:
the markdown blocks as sanitised HTML and, per panel, its runs and data — line charts from the
same bucketed ``charts.chart_data`` the workspace draws, preset charts from the media tab's
``chart_view``, images (as blob names, or as ``data:`` URIs for an exported file). A run that is
gone or a metric no run logged becomes a note on that panel; the rest still renders. No Flask
here: the report pages, the JSON API and ``localtrack report export`` all call it.
"""

from __future__ import annotations

import base64
import mimetypes
import time
from collections.abc import Mapping, Sequence
from typing import Any

from localtrack.errors import LocaltrackError, RunNotFoundError
from localtrack.reports.format import Block, Report
from localtrack.reports.sanitize import markdown_html
from localtrack.store.reader import RunInfo, StoreReader
from localtrack.store.runjson import json_safe

from . import catalog, charts
from .media_views import blob_name, chart_view
from .views import config_diff

DEFAULT_RUNS = 20  # a panel naming no runs shows the project's newest runs
BUCKETS = 500
MAX_MEDIA_BYTES = 8 * 1024 * 1024  # images a panel embeds in an exported file


def report_data(
    reader: StoreReader, project: str, report: Report, name: str = "", embed: bool = False
) -> dict[str, Any]:
    """Everything a report page (or an exported file, `embed` = media inlined) draws."""
    blocks: list[dict[str, Any]] = []
    for block in report.blocks:
        if block.kind == "markdown":
            blocks.append({"kind": "html", "html": markdown_html(block.text)})
        else:
            blocks.append(panel_data(reader, project, report, block, embed))
    return {
        "project": project,
        "name": name,
        "title": report.title or name,
        "mode": report.mode,
        "steps": report.steps,
        "generated_at": time.time(),
        "blocks": blocks,
    }


def current_steps(reader: StoreReader, project: str, report: Report) -> dict[str, int]:
    """Each run a report shows, with its last step now: what pinning records."""
    steps: dict[str, int] = {}
    for block in report.panels:
        runs, _ = _runs(reader, project, block.panel)
        for run in runs:
            if run.max_step is not None:
                steps[run.id] = int(run.max_step)
    return steps


def _runs(
    reader: StoreReader, project: str, panel: Mapping[str, Any]
) -> tuple[list[RunInfo], list[str]]:
    """(the panel's runs that exist, the names it gives that match no run)."""
    wanted = panel.get("runs") or []
    if not wanted:
        runs = sorted(reader.runs(project), key=lambda r: r.created_at or 0, reverse=True)
        return runs[:DEFAULT_RUNS], []
    found, missing = [], []
    by_name = {r.name: r for r in reader.runs(project)}
    for ref in wanted:
        try:
            found.append(reader.run(reader.resolve_run_id(ref)))
        except (RunNotFoundError, LocaltrackError):
            if ref in by_name:
                found.append(by_name[ref])
            else:
                missing.append(ref)
    return list({r.id: r for r in found}.values()), missing


def _run_json(run: RunInfo) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "state": run.state,
        "group": run.group,
        "tags": list(run.tags),
        "max_step": run.max_step,
        "config": json_safe(catalog.flatten(run.config)),
        "summary": json_safe(run.summary),
    }


def panel_data(
    reader: StoreReader, project: str, report: Report, block: Block, embed: bool
) -> dict[str, Any]:
    """One panel: its spec, runs, notes (missing runs or metrics) and drawn data."""
    spec = block.panel
    runs, missing = _runs(reader, project, spec)
    notes = [
        f"Run {ref!r} is not in this store (deleted?); the panel shows the rest." for ref in missing
    ]
    caps = report.steps if report.mode == "pinned" else {}
    out: dict[str, Any] = {
        "kind": "panel",
        "type": spec["type"],
        "title": spec.get("title") or "",
        "line": block.line,
        "spec": spec,
        "runs": [_run_json(r) for r in runs],
        "fields": _fields(runs),
        "notes": notes,
    }
    if not runs:
        out["notes"].append("None of this panel's runs are in this store.")
        return out
    fill = _FILLERS.get(spec["type"])
    if fill is not None:
        fill(reader, out, runs, caps, embed)
    return out


def _fields(runs: Sequence[RunInfo]) -> list[str]:
    keys: set[str] = set()
    for run in runs:
        keys.update(f"config.{k}" for k in catalog.flatten(run.config))
        keys.update(f"summary.{k}" for k in run.summary if not k.startswith("_"))
    return sorted(keys)


def _logged_keys(reader: StoreReader, runs: Sequence[RunInfo]) -> set[str]:
    return {k.key for run in runs for k in reader.metric_keys(run.id)}


def _line(
    reader: StoreReader,
    out: dict[str, Any],
    runs: list[RunInfo],
    caps: Mapping[str, int],
    embed: bool,
) -> None:
    spec = out["spec"]
    logged = _logged_keys(reader, runs)
    names = {r.id: r.name for r in runs}
    groups = None
    if spec.get("group_by"):
        groups = {r.id: catalog.group_label(catalog.make_record(r), spec["group_by"]) for r in runs}
    x = spec.get("x") or "default"
    pinned = [r for r in runs if r.id in caps]
    if pinned and groups:
        out["notes"].append("A pinned report draws one line per run, not group means.")
    out["charts"] = []
    for key in spec.get("keys") or []:
        if key not in logged:
            out["notes"].append(f"No run of this panel logged the metric {key!r}.")
            continue
        if pinned:
            out["charts"].append(_pinned_chart(reader, runs, key, caps, names))
            continue
        req = charts.SeriesRequest(tuple(r.id for r in runs), key, x, buckets=BUCKETS)
        out["charts"].append(charts.chart_data(reader, req, names, groups))


def _pinned_chart(
    reader: StoreReader,
    runs: list[RunInfo],
    key: str,
    caps: Mapping[str, int],
    names: Mapping[str, str],
) -> dict[str, Any]:
    """A chart whose runs each stop at their pinned step (x is the step; one line per run, as
    a group's mean would mix runs cut at different steps)."""
    parts = []
    for run in runs:
        cap = caps.get(run.id)
        req = charts.SeriesRequest((run.id,), key, "step", None, cap, BUCKETS)
        parts.append(charts.chart_data(reader, req, names))
    xs = sorted({x for p in parts for x in p["x"] if x is not None})
    at = {x: i for i, x in enumerate(xs)}
    merged = dict(parts[0], x=xs, x_axis="step", x1=None, runs=[])
    for part in parts:
        for run in part["runs"]:
            line = dict(run)
            for name in ("last", "min", "max"):
                if run[name] is not None:
                    values: list[Any] = [None] * len(xs)
                    for x, v in zip(part["x"], run[name], strict=False):
                        values[at[x]] = v
                    line[name] = values
            merged["runs"].append(line)
    for count in ("total_points", "points_in_range", "shown_points"):
        merged[count] = sum(p[count] for p in parts)
    merged["bucketed"] = any(p["bucketed"] for p in parts)
    merged["label"] = charts.honest_label(
        merged["shown_points"], merged["points_in_range"], merged["bucketed"]
    )
    return merged


def _image_src(reader: StoreReader, run_id: str, file: str, budget: list[int]) -> str | None:
    path = reader.media_file(run_id, file)
    if path is None:
        return None
    data = path.read_bytes()
    if len(data) > budget[0]:
        return None
    budget[0] -= len(data)
    mime = mimetypes.guess_type(file)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _media(
    reader: StoreReader,
    out: dict[str, Any],
    runs: list[RunInfo],
    caps: Mapping[str, int],
    embed: bool,
) -> None:
    """The latest images of each key (at or before a pinned step), per run."""
    budget = [MAX_MEDIA_BYTES]
    out["images"] = []
    for key in out["spec"].get("keys") or []:
        seen = False
        for run in runs:
            items = [
                i
                for i in reader.media(run.id, key)
                if i.type == "image" and i.file and (run.id not in caps or i.step <= caps[run.id])
            ]
            if not items:
                continue
            seen = True
            step = max(i.step for i in items)
            for item in (i for i in items if i.step == step):
                entry = {"run": run.id, "key": key, "step": step, "caption": item.caption}
                entry["file"] = blob_name(item.file)
                if embed:
                    entry["src"] = _image_src(reader, run.id, entry["file"], budget)
                    if entry["src"] is None:
                        out["notes"].append(f"An image of {key!r} was too large to embed.")
                out["images"].append(entry)
        if not seen:
            out["notes"].append(f"No run of this panel logged images under {key!r}.")


def _preset(
    reader: StoreReader,
    out: dict[str, Any],
    runs: list[RunInfo],
    caps: Mapping[str, int],
    embed: bool,
) -> None:
    """Preset charts (localtrack.plot): the latest table of each key per run."""
    out["presets"] = []
    for key in out["spec"].get("keys") or []:
        for run in runs:
            try:
                data = chart_view(reader, run.id, {"key": key})
                cap = caps.get(run.id)
                if cap is not None and data["step"] > cap:
                    earlier = [s for s in data["steps"] if s <= cap]
                    if not earlier:
                        continue
                    data = chart_view(reader, run.id, {"key": key, "step": str(max(earlier))})
            except LocaltrackError:
                continue
            out["presets"].append({"run": run.id, "name": run.name, "data": data})
        if not any(p["data"]["key"] == key for p in out["presets"]):
            out["notes"].append(f"No run of this panel logged the preset chart {key!r}.")


def _compare(
    reader: StoreReader,
    out: dict[str, Any],
    runs: list[RunInfo],
    caps: Mapping[str, int],
    embed: bool,
) -> None:
    """The config keys that differ between the runs, then the summary fields asked for."""
    diff = config_diff([catalog.flatten(r.config) for r in runs])
    fields = (
        out["spec"].get("fields")
        or sorted(
            {
                k
                for r in runs
                for k, v in r.summary.items()
                if isinstance(v, int | float) and not k.startswith("_")
            }
        )[:20]
    )
    rows = [{"field": f"config.{d['key']}", "values": d["values"]} for d in diff]
    for field in fields:
        name = field.removeprefix("summary.")
        rows.append(
            {"field": f"summary.{name}", "values": [json_safe(r.summary.get(name)) for r in runs]}
        )
    out["compare"] = rows


_FILLERS = {"line": _line, "media": _media, "preset": _preset, "compare": _compare}
