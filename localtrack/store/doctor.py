"""`localtrack doctor`: check (and with repair, fix) every run of a store, then the index.

A damaged index.db (garbage bytes, a truncated file, a failed integrity check) is a problem
like any other: reported without --repair, and with it moved aside as
``index.db.corrupt-<time>`` and rebuilt from the run directories, which are the truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .artifacts.doctor import REPORT_ID as ARTIFACTS_REPORT_ID
from .artifacts.doctor import check_artifacts
from .recovery import RepairReport, check_run, index_run, reindex, repair_run, scan_run
from .root import StoreRoot

INDEX_REPORT_ID = "index.db"


def _count(n: int, noun: str) -> str:
    """ "1 run", "2 runs" (localtrack.humanize.plural's wording; the store may not import it)."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def run_doctor(root: Path, repair: bool = False, index_mode: str = "auto") -> dict[str, Any]:
    """Check or repair every run and the index (`index_mode` as for ``StoreRoot``).

    Returns {"lines": [...], "problems": n, "actions": n, "runs": {...}, "index": {...}}.
    """
    store = StoreRoot(root, index_mode=index_mode)
    reports: list[RepairReport] = []
    for run_id in store.run_ids():
        paths = store.run(run_id)
        reports.append(repair_run(paths) if repair else check_run(paths))
    index = _doctor_index(store, reports, repair)
    artifacts = RepairReport(ARTIFACTS_REPORT_ID)
    artifacts.problems, artifacts.actions = check_artifacts(store.root, repair)
    index.problems.extend(f"{ARTIFACTS_REPORT_ID}: {p}" for p in artifacts.problems)
    index.actions.extend(f"{ARTIFACTS_REPORT_ID}: {a}" for a in artifacts.actions)
    lines: list[str] = []
    for r in [*reports, index]:
        for p in r.problems:
            lines.append(f"{r.run_id}: problem: {p}")
        for a in r.actions:
            lines.append(f"{r.run_id}: {a}")
    problems = sum(len(r.problems) for r in reports) + len(index.problems)
    actions = sum(len(r.actions) for r in reports) + len(index.actions)
    lines.append(
        f"checked {_count(len(reports), 'run')} and the index: {_count(problems, 'problem')}"
        + (
            f", {_count(actions, 'repair')}"
            if repair
            else ("; run with --repair to fix" if problems else "")
        )
    )
    return {
        "lines": lines,
        "problems": problems,
        "actions": actions,
        "runs": {r.run_id: {"problems": r.problems, "actions": r.actions} for r in reports},
        "index": {"problems": index.problems, "actions": index.actions},
    }


def _doctor_index(store: StoreRoot, reports: list[RepairReport], repair: bool) -> RepairReport:
    """Check index.db; with `repair`, rebuild a damaged one, or re-index the repaired runs."""
    report = RepairReport(INDEX_REPORT_ID)
    damage = store.index_damage()
    if damage is not None:
        report.problems.append(
            f"damaged: {damage}; `localtrack doctor --repair` (or `localtrack reindex`) "
            "moves it aside and rebuilds it from the run directories"
        )
        if repair:
            moved = store.set_aside_index()
            count, problems = reindex(store)
            report.actions.append(
                f"moved the damaged index aside to {moved.name} and rebuilt it from "
                f"{count} run directories"
            )
            report.problems.extend(problems)
        return report
    if repair and any(r.actions for r in reports):
        index = store.open_index()
        if index is not None:
            try:
                for r in reports:
                    if r.actions:
                        index_run(index, scan_run(store.run(r.run_id)))
            finally:
                index.close()
    return report
