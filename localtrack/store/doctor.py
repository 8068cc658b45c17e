"""`localtrack doctor`: check (and with repair, fix) every run of a store, then the index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .recovery import RepairReport, check_run, index_run, repair_run, scan_run
from .root import StoreRoot


def run_doctor(root: Path, repair: bool = False) -> dict[str, Any]:
    """Check or repair every run; returns {"lines": [...], "problems": n, "actions": n, "runs": {...}}."""
    store = StoreRoot(root)
    reports: list[RepairReport] = []
    for run_id in store.run_ids():
        paths = store.run(run_id)
        reports.append(repair_run(paths) if repair else check_run(paths))
    lines: list[str] = []
    for r in reports:
        for p in r.problems:
            lines.append(f"{r.run_id}: problem: {p}")
        for a in r.actions:
            lines.append(f"{r.run_id}: {a}")
    index = store.open_index()
    if index is not None:
        try:
            verdict = index.integrity_check()
            if verdict != "ok":
                lines.append(
                    f"index.db: integrity check failed: {verdict} (run `localtrack reindex`)"
                )
            elif repair:
                for r in reports:
                    if r.actions:
                        index_run(index, scan_run(store.run(r.run_id)))
        finally:
            index.close()
    problems = sum(len(r.problems) for r in reports)
    actions = sum(len(r.actions) for r in reports)
    lines.append(
        f"checked {len(reports)} runs: {problems} problems"
        + (f", {actions} repairs" if repair else ("; run with --repair to fix" if problems else ""))
    )
    return {
        "lines": lines,
        "problems": problems,
        "actions": actions,
        "runs": {r.run_id: {"problems": r.problems, "actions": r.actions} for r in reports},
    }
