"""Whether a rule's condition holds for a run: pure checks over what the store reports.

Each check gets a run (``RunInfo``), its per-key statistics (``KeyStats``: count, finite count,
last value and step, last wall time), the time now and a way to read one key's points, and
returns the ``Firing``s it finds. The condition string says what fired; with the rule id and run
id it is what the evaluator remembers, so each fires once:

=========== ============================================== ===================
rule type    condition                                      condition string
=========== ============================================== ===================
crashed      the run's state is crashed or failed           ``crashed``/``failed``
stalled      running, and no heartbeat or no new step for   ``stalled``
             ``minutes``
nan          a metric (``metric``, or any) holds NaN or Inf ``nan:<key>``
threshold    ``metric`` above/below ``value`` at a step     ``threshold``
             >= ``min_step`` (every point is checked)
finished     the run finished                               ``finished``
=========== ============================================== ===================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..humanize import format_duration as duration
from ..store.metrics import KeyStats
from ..store.runinfo import RunInfo
from .config import Rule

Points = Callable[[str], tuple[np.ndarray, np.ndarray]]
DEFAULT_LEVELS = {
    "crashed": "ERROR",
    "stalled": "WARN",
    "nan": "ERROR",
    "threshold": "WARN",
    "finished": "INFO",
    "script": "INFO",
}


@dataclass(frozen=True)
class Firing:
    """One condition found true: what to record and send."""

    condition: str
    level: str
    title: str
    text: str
    problem: bool = False  # a rule that cannot be checked (recorded, never sent)


def _label(run: RunInfo) -> str:
    return f"run {run.name} ({run.id})" if run.name and run.name != run.id else f"run {run.id}"


def _level(rule: Rule) -> str:
    return rule.level or DEFAULT_LEVELS[rule.type]


def check(
    rule: Rule, run: RunInfo, stats: Mapping[str, KeyStats], now: float, points: Points
) -> list[Firing]:
    """The firings of `rule` on `run` now (empty when its condition does not hold)."""
    checker = _CHECKS.get(rule.type)
    return [] if checker is None else checker(rule, run, stats, now, points)


def _crashed(rule: Rule, run: RunInfo, stats: Mapping[str, KeyStats], now: float,
             points: Points) -> list[Firing]:  # fmt: skip
    if run.state not in ("crashed", "failed"):
        return []
    reason = (run.meta.get("exit_reason") or {}) if isinstance(run.meta, dict) else {}
    why = reason.get("message") if isinstance(reason, dict) else None
    code = f" with exit code {run.exit_code}" if run.exit_code not in (None, 0) else ""
    text = f"{_label(run)} in project {run.namespace} {run.state}{code}"
    if run.max_step is not None:
        text += f" at step {run.max_step}"
    if isinstance(why, str) and why:
        text += f": {why[:500]}"
    return [Firing(run.state, _level(rule), f"{rule.name}: run {run.state}", text)]


def _stalled(rule: Rule, run: RunInfo, stats: Mapping[str, KeyStats], now: float,
             points: Points) -> list[Firing]:  # fmt: skip
    if run.state != "running" or not rule.minutes:
        return []
    limit = float(rule.minutes) * 60
    started = run.created_at or now
    beat = run.heartbeat_at or run.updated_at or started
    walls = [s.last_wall for s in stats.values() if s.last_wall is not None]
    last_step_at = max(walls) if walls else started
    if now - beat > limit:
        what = f"no heartbeat for {duration(now - beat)}"
    elif now - last_step_at > limit:
        what = f"no new step for {duration(now - last_step_at)}"
        if run.max_step is not None:
            what += f" (last step {run.max_step})"
    else:
        return []
    text = f"{_label(run)} in project {run.namespace} looks stalled: {what}"
    return [Firing("stalled", _level(rule), f"{rule.name}: run stalled", text)]


def _nan(rule: Rule, run: RunInfo, stats: Mapping[str, KeyStats], now: float,
         points: Points) -> list[Firing]:  # fmt: skip
    keys = [rule.metric] if rule.metric else sorted(stats)
    found = []
    for key in keys:
        s = stats.get(key)
        if s is None or s.count <= s.finite_count:
            continue
        step = _first_bad_step(points, key)
        at = f" at step {step}" if step is not None else ""
        text = f"{_label(run)} in project {run.namespace}: {key} became NaN or Inf{at}"
        found.append(Firing(f"nan:{key}", _level(rule), f"{rule.name}: {key} is NaN/Inf", text))
    return found


def _first_bad_step(points: Points, key: str) -> int | None:
    try:
        xs, ys = points(key)
    except (ValueError, KeyError, OSError):
        return None
    bad = np.flatnonzero(~np.isfinite(np.asarray(ys, dtype=float)))
    return int(xs[bad[0]]) if bad.size else None


def _threshold(rule: Rule, run: RunInfo, stats: Mapping[str, KeyStats], now: float,
               points: Points) -> list[Firing]:  # fmt: skip
    s = stats.get(rule.metric or "")
    if s is None or rule.value is None or not s.finite_count:
        return []
    above = rule.direction == "above"
    extreme = s.max if above else s.min
    if extreme is None or (extreme <= rule.value if above else extreme >= rule.value):
        return []  # no point crossed, whatever its step: no need to read the points
    xs, ys = points(rule.metric or "")
    ys = np.asarray(ys, dtype=float)
    crossed = (ys > rule.value) if above else (ys < rule.value)
    if rule.min_step:
        crossed &= np.asarray(xs) >= rule.min_step
    hits = np.flatnonzero(crossed)
    if not hits.size:
        return []
    step, value = int(xs[hits[0]]), float(ys[hits[0]])
    word = "above" if above else "below"
    text = (
        f"{_label(run)} in project {run.namespace}: {rule.metric} = {value:.6g} at step {step}, "
        f"{word} {rule.value:g}"
    )
    title = f"{rule.name}: {rule.metric} {word} {rule.value:g}"
    return [Firing("threshold", _level(rule), title, text)]


def _finished(rule: Rule, run: RunInfo, stats: Mapping[str, KeyStats], now: float,
              points: Points) -> list[Firing]:  # fmt: skip
    if run.state != "finished":
        return []
    took = f" after {duration(run.duration)}" if run.duration is not None else ""
    steps = f", {run.max_step + 1} steps" if run.max_step is not None else ""
    text = f"{_label(run)} in project {run.namespace} finished{took}{steps}"
    return [Firing("finished", _level(rule), f"{rule.name}: run finished", text)]


_CHECKS = {
    "crashed": _crashed,
    "stalled": _stalled,
    "nan": _nan,
    "threshold": _threshold,
    "finished": _finished,
}


def missing_metric(rule: Rule, keys_seen: set[str]) -> Firing | None:
    """A problem firing for a nan/threshold rule whose metric no run of the project logged."""
    if rule.type not in ("nan", "threshold") or not rule.metric or rule.metric in keys_seen:
        return None
    some = ", ".join(sorted(keys_seen)[:10]) or "none yet"
    text = (
        f"rule {rule.id!r} watches metric {rule.metric!r}, which no run of this project has "
        f"logged (metrics seen: {some}); check its spelling in the rules"
    )
    return Firing(
        f"missing-metric:{rule.metric}", "WARN", f"{rule.name}: no such metric", text, True
    )
