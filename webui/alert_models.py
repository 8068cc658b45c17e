"""View models of the alerts page and the run page's alert badge (``alert_pages.py``,
``alert_api.py``): the project's feed, its rules and destinations without their secrets.

The feed joins two sources: the project's events log (what rules fired, test alerts, and every
delivery outcome; ``localtrack.alerts.events``) and the alerts runs raised with ``run.alert()``
(each run's alerts.jsonl, read through ``StoreReader.alerts``), so a script's alert shows even
where no evaluator has delivered it (yet).
"""

from __future__ import annotations

from typing import Any

from localtrack.alerts import config, events
from localtrack.alerts.stores import AlertStore
from localtrack.errors import DocumentError, RunNotFoundError
from localtrack.store.runjson import json_safe

from .state import UIState

FEED_LIMIT = 200
SECRET_FIELDS = {"url": "url_env", "password": "password_env"}


def _script_items(state: UIState, project: str, run_id: str | None) -> list[dict[str, Any]]:
    items = []
    for record in state.records(project):
        run = record.run
        if run_id is not None and run.id != run_id:
            continue
        for alert in state.reader.alerts(run.id):
            items.append(
                {
                    "kind": "fired",
                    "id": alert["id"],
                    "time": alert["time"],
                    "project": project,
                    "run_id": run.id,
                    "run_name": run.name,
                    "rule": None,
                    "condition": "script",
                    "level": alert["level"],
                    "title": alert["title"],
                    "text": alert["text"],
                    "step": alert.get("step"),
                    "source": "script",
                    "deliveries": [],
                }
            )
    return items


def feed(state: UIState, project: str, run_id: str | None = None) -> list[dict[str, Any]]:
    """The project's alerts, newest first (at most ``FEED_LIMIT``)."""
    records = state.alerts().alert_store.events(project)
    logged = events.feed(records, run_id, limit=FEED_LIMIT)
    known = {str(r.get("id")) for r in records if r.get("kind") in ("fired", "problem")}
    extra = [i for i in _script_items(state, project, run_id) if i["id"] not in known]
    merged = sorted(logged + extra, key=lambda i: float(i.get("time") or 0), reverse=True)
    return json_safe(merged[:FEED_LIMIT])


def rules_view(alert_store: AlertStore, project: str) -> dict[str, Any]:
    """The rules as the UI edits them: each destination says whether its secret is set (from
    the environment variable it names, or the store's secrets), never what it is."""
    try:
        doc = alert_store.rules_doc(project)
        setup = config.setup_of(project, doc)
    except DocumentError as exc:
        return {"rules": [], "destinations": [], "error": str(exc)}
    dests = []
    for raw, dest in zip(doc.get("destinations") or [], setup.destinations, strict=True):
        field = "password" if dest.type == "email" else "url"
        dests.append({**raw, "secret_field": field, "secret_set": alert_store.secret_set(project, dest, field)})  # fmt: skip
    return {"rules": doc.get("rules") or [], "destinations": dests, "error": None}


def alerts_view(state: UIState, project: str, run_id: str | None = None) -> dict[str, Any]:
    """Everything the alerts page shows; RunNotFoundError for a project with neither runs nor
    rules."""
    root, alert_store = state.reader.root, state.alerts().alert_store
    if not state.records(project) and project not in alert_store.projects():
        raise RunNotFoundError(f"there is no project named {project!r} in {root}")
    items = feed(state, project, run_id)
    levels: dict[str, int] = {}
    for item in items:
        if item.get("kind") == "fired" and item.get("source") != "test":
            levels[item["level"]] = levels.get(item["level"], 0) + 1
    return {
        "project": project,
        "run": run_id,
        "feed": items,
        "levels": levels,
        **rules_view(alert_store, project),
        "rule_types": list(config.RULE_TYPES),
        "destination_types": list(config.DEST_TYPES),
    }


def run_badge(state: UIState, project: str, run_id: str) -> dict[str, Any]:
    """How many alerts one run has (script alerts and rule firings), by level (read from the
    run's own alerts and the project's events only: no listing of the project's runs)."""
    fired = [
        r
        for r in state.alerts().alert_store.events(project)
        if r.get("kind") == "fired" and r.get("run_id") == run_id
    ]
    known = {r.get("id") for r in fired}
    items = fired + [a for a in state.reader.alerts(run_id) if a["id"] not in known]
    levels: dict[str, int] = {}
    for item in items:
        level = str(item.get("level") or "INFO")
        levels[level] = levels.get(level, 0) + 1
    worst = next((lv for lv in ("ERROR", "WARN", "INFO") if levels.get(lv)), None)
    return {"count": len(items), "levels": levels, "worst": worst}
