"""View models of the sweep page and its JSON twin, and a project's sweeps (one dict each).

Everything is read through ``localtrack.sweeps`` (the sweep's files: claims, results, rungs);
parameter importance is Optuna's fANOVA (``localtrack.sweeps.importance``), computed here on the
server and cached per sweep state, so a poll that finds nothing new costs no refit.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from flask import url_for

from localtrack.errors import SweepError
from localtrack.sweeps.controller import Sweep
from localtrack.sweeps.pgstate import all_sweep_ids

from .server.access import can_see
from .state import UIState


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def find_sweep(state: UIState, sweep_id: str) -> Sweep | None:
    """The sweep, if it is in the store and the request may see its project."""
    try:
        sweep = Sweep(Path(state.reader.root), sweep_id, state.reader.store.index_url)
    except (SweepError, KeyError, OSError):
        return None
    return sweep if can_see(sweep.project) else None


def project_sweeps(state: UIState, project: str) -> list[dict[str, Any]]:
    """The sweeps of `project`: id, state, method, trial counts, best so far, page URL."""
    out = []
    root, url = Path(state.reader.root), state.reader.store.index_url
    for sweep_id in all_sweep_ids(root, url):
        try:
            sweep = Sweep(root, sweep_id, url)
        except (SweepError, KeyError, OSError):
            continue
        if sweep.project == project and can_see(project):
            row = sweep.status()
            row["url"] = url_for("pages.sweep", sweep_id=sweep_id)
            row["name"] = (sweep.document.get("config") or {}).get("name") or sweep.id
            out.append(row)
    return out


def _trials(sweep: Sweep) -> list[dict[str, Any]]:
    rows = []
    for number, items in sorted(sweep.files.attempts().items()):
        last = items[-1]
        result = last.result or {}
        rungs = last.progress.get("rungs") or result.get("rungs") or {}
        rows.append(
            {
                "number": number,
                "attempts": len(items),
                "run_id": last.run_id,
                "run_url": url_for("pages.run", run_id=last.run_id),
                "state": result.get("state", "running"),
                "value": _finite(result.get("value")),
                "params": last.params,
                "rungs": {str(k): _finite(v) for k, v in rungs.items()},
                "stop_reason": result.get("stop_reason"),
                "agent": (last.claim.get("agent") or {}).get("id"),
                "claimed_at": last.claim.get("claimed_at"),
                "ended_at": result.get("ended_at"),
            }
        )
    return rows


def _rungs(sweep: Sweep, trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each hyperband rung: how many trials reached it, were stopped at it, and its best value."""
    hyperband = sweep.config.hyperband
    if hyperband is None:
        return []
    better = max if sweep.config.goal == "maximize" else min
    out = []
    for rung in hyperband.rungs:
        values = [t["rungs"][str(rung)] for t in trials if t["rungs"].get(str(rung)) is not None]
        if not values and out and not out[-1]["reached"]:
            break  # the rungs go on (min_iter·eta^k); show those reached and the next one
        stopped = sum(
            1
            for t in trials
            if t["state"] == "stopped" and f"at iteration {rung} " in (t["stop_reason"] or "")
        )
        out.append(
            {
                "iteration": rung,
                "reached": len(values),
                "stopped": stopped,
                "best": better(values) if values else None,
            }
        )
    return out


def sweep_view(state: UIState, sweep: Sweep) -> dict[str, Any]:
    """Everything the sweep page shows: state, best, trials, parameters, importance, rungs."""
    from localtrack.sweeps.importance import param_importances

    status = sweep.status()
    trials = _trials(sweep)
    names = [p.name for p in sweep.config.params]
    finished = [
        (t["params"], t["value"])
        for t in trials
        if t["state"] == "finished" and t["value"] is not None
    ]
    best = status.get("best")
    if best is not None:
        best = {
            **best,
            "value": _finite(best.get("value")),
            "run_url": url_for("pages.run", run_id=best["run_id"]),
        }
    return {
        "sweep": {
            **status,
            "best": best,
            "name": (sweep.document.get("config") or {}).get("name") or sweep.id,
            "created_at": sweep.document.get("created_at"),
            "config": sweep.document.get("config"),
            "project_url": url_for("pages.runs", project=sweep.project),
        },
        "params": names,
        "trials": trials,
        "importance": param_importances(sweep.id, sweep.config.goal, finished),
        "rungs": _rungs(sweep, trials),
    }
