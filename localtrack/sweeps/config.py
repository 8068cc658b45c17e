"""A W&B-shaped sweep config (YAML text, a file or a dict), checked once, at ``sweep()`` time.

Every problem is collected with its path in the config (``parameters.lr.distribution``) and a
close match for a misspelt name, and raised together as one SweepConfigError.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SweepConfigError

METHODS = ("grid", "random", "bayes")
GOALS = ("minimize", "maximize")
TOP_KEYS = (
    "method",
    "metric",
    "parameters",
    "early_terminate",
    "run_cap",
    "program",
    "command",
    "name",
    "description",
    "project",
    "entity",
    "seed",
)
IGNORED_TOP_KEYS = ("controller", "job", "image_uri", "launch", "settings")
PARAM_KEYS: tuple[str, ...] = (
    "values",
    "value",
    "distribution",
    "min",
    "max",
    "mu",
    "sigma",
    "q",
    "a",
    "b",
    "probabilities",
    "parameters",
)
# distribution -> the keys it needs
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "categorical": ("values",),
    "int_uniform": ("min", "max"),
    "uniform": ("min", "max"),
    "q_uniform": ("min", "max"),
    "log_uniform": ("min", "max"),
    "log_uniform_values": ("min", "max"),
    "q_log_uniform": ("min", "max"),
    "q_log_uniform_values": ("min", "max"),
    "inv_log_uniform": ("min", "max"),
    "inv_log_uniform_values": ("min", "max"),
    "normal": (),
    "q_normal": (),
    "log_normal": (),
    "q_log_normal": (),
    "beta": (),
    "q_beta": (),
}
EARLY_TERMINATE_KEYS = ("type", "min_iter", "max_iter", "eta", "s", "strict")
MAX_RUNGS = 64
"""Rungs a hyperband sweep judges at (W&B: 100 bands; every practical run ends long before)."""


@dataclass(frozen=True)
class Param:
    """One leaf parameter: its dotted path (nested parameters) and its distribution."""

    path: tuple[str, ...]
    distribution: str
    spec: Mapping[str, Any]

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Hyperband:
    """early_terminate, as W&B reads it: rungs (W&B's "bands") at min_iter·eta^k, or at
    max_iter/eta^k for k = 1..s; `strict` judges a trial by its value at the rung instead of
    its best value so far."""

    rungs: tuple[int, ...]
    eta: float
    strict: bool = False


@dataclass(frozen=True)
class SweepConfig:
    """A checked sweep config; `raw` is the config as given (what sweep.json keeps)."""

    raw: Mapping[str, Any]
    method: str
    metric_name: str | None
    goal: str
    params: tuple[Param, ...]
    hyperband: Hyperband | None
    run_cap: int | None
    program: str | None
    command: tuple[str, ...] | None


def load_config(source: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """The config as a dict: a dict as is, a path to a YAML/JSON file, or YAML text."""
    if isinstance(source, Mapping):
        return dict(source)
    text = str(source)
    path = Path(text)
    if "\n" not in text and path.suffix.lower() in (".yaml", ".yml", ".json"):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SweepConfigError(f"cannot read the sweep config {path}: {exc}") from None
    try:
        import yaml
    except ImportError:
        raise SweepConfigError(
            "reading a YAML sweep config needs PyYAML: pip install localtrack[sweeps] "
            "(or pass the config as a dict)"
        ) from None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SweepConfigError(f"the sweep config is not valid YAML: {exc}") from None
    if not isinstance(value, dict):
        raise SweepConfigError("the sweep config must be a mapping (method:, parameters:, ...)")
    return value


def _close(word: object, choices: tuple[str, ...] | list[str]) -> str:
    match = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def bad(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def unknown_keys(self, where: str, value: Mapping[str, Any], known: tuple[str, ...]) -> None:
        for key in value:
            if key not in known:
                self.bad(
                    f"{where}.{key}" if where else str(key), f"unknown key{_close(key, known)}"
                )


def check_config(raw: Mapping[str, Any]) -> SweepConfig:
    """The checked config, or SweepConfigError listing every problem by its path."""
    c = _Checker()
    if not isinstance(raw, Mapping):
        raise SweepConfigError("the sweep config must be a mapping")
    c.unknown_keys("", raw, TOP_KEYS + IGNORED_TOP_KEYS)
    method = raw.get("method")
    if method not in METHODS:
        c.bad(
            "method",
            f"must be one of {', '.join(METHODS)}, not {method!r}{_close(method, METHODS)}",
        )
    metric_name, goal = _check_metric(c, raw.get("metric"), method)
    params: list[Param] = []
    parameters = raw.get("parameters")
    if not isinstance(parameters, Mapping) or not parameters:
        c.bad("parameters", "must be a mapping of at least one parameter")
    else:
        _check_params(c, parameters, (), params, method)
    hyperband = _check_early_terminate(c, raw.get("early_terminate"), metric_name)
    run_cap = raw.get("run_cap")
    if run_cap is not None and (
        not isinstance(run_cap, int) or isinstance(run_cap, bool) or run_cap < 1
    ):
        c.bad("run_cap", f"must be a whole number of 1 or more, not {run_cap!r}")
    program = raw.get("program")
    if program is not None and not isinstance(program, str):
        c.bad("program", "must be a string (the script each trial runs)")
    command = raw.get("command")
    if command is not None and (
        not isinstance(command, list) or not all(isinstance(x, str) for x in command)
    ):
        c.bad("command", "must be a list of strings (macros like ${program} allowed)")
    seed = raw.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        c.bad("seed", f"must be a whole number, not {seed!r}")
    if c.problems:
        listed = "\n  ".join(c.problems)
        raise SweepConfigError(f"the sweep config has {len(c.problems)} problem(s):\n  {listed}")
    return SweepConfig(
        raw=raw,
        method=str(method),
        metric_name=metric_name,
        goal=goal,
        params=tuple(params),
        hyperband=hyperband,
        run_cap=run_cap,
        program=program,
        command=tuple(command) if command else None,
    )


def _check_metric(c: _Checker, metric: Any, method: Any) -> tuple[str | None, str]:
    if metric is None:
        if method == "bayes":
            c.bad("metric", "bayes needs a metric: {name: ..., goal: minimize|maximize}")
        return None, "minimize"
    if not isinstance(metric, Mapping):
        c.bad("metric", "must be a mapping {name: ..., goal: ...}")
        return None, "minimize"
    c.unknown_keys("metric", metric, ("name", "goal", "target"))
    name = metric.get("name")
    if not isinstance(name, str) or not name:
        c.bad("metric.name", "must be the name of a logged metric")
        name = None
    goal = metric.get("goal", "minimize")
    if goal not in GOALS:
        c.bad("metric.goal", f"must be minimize or maximize, not {goal!r}{_close(goal, GOALS)}")
        goal = "minimize"
    return name, str(goal)


def infer_distribution(spec: Mapping[str, Any]) -> str | None:
    """W&B's rule for a parameter without `distribution`."""
    if "values" in spec:
        return "categorical"
    if "value" in spec:
        return "constant"
    if "min" in spec and "max" in spec:
        ints = all(
            isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in ("min", "max")
        )
        return "int_uniform" if ints else "uniform"
    if "mu" in spec or "sigma" in spec:
        return "normal"
    return None


def _check_params(
    c: _Checker,
    parameters: Mapping[str, Any],
    prefix: tuple[str, ...],
    out: list[Param],
    method: Any,
) -> None:
    for name, spec in parameters.items():
        path = (*prefix, str(name))
        where = "parameters." + ".".join(path)
        if not isinstance(spec, Mapping):
            c.bad(where, "must be a mapping (values:, value:, distribution:, min:, max:, ...)")
            continue
        c.unknown_keys(where, spec, PARAM_KEYS)
        if "parameters" in spec:
            nested = spec["parameters"]
            if not isinstance(nested, Mapping) or not nested:
                c.bad(f"{where}.parameters", "must be a mapping of at least one parameter")
            else:
                _check_params(c, nested, path, out, method)
            continue
        dist = spec.get("distribution") or infer_distribution(spec)
        if dist is None:
            c.bad(where, "needs values, value, min/max or a distribution")
            continue
        if dist not in DISTRIBUTIONS:
            c.bad(
                f"{where}.distribution",
                f"unknown distribution {dist!r}{_close(dist, list(DISTRIBUTIONS))}",
            )
            continue
        _check_param_values(c, where, dist, spec, method)
        out.append(Param(path, str(dist), dict(spec)))


def _check_param_values(
    c: _Checker, where: str, dist: str, spec: Mapping[str, Any], method: Any
) -> None:
    for key in DISTRIBUTIONS[dist]:
        if key not in spec:
            c.bad(where, f"distribution {dist} needs {key}")
    if "values" in spec and (not isinstance(spec["values"], list) or not spec["values"]):
        c.bad(f"{where}.values", "must be a non-empty list")
    for key in ("min", "max", "mu", "sigma", "q", "a", "b"):
        if key in spec and not _is_number(spec[key]):
            c.bad(f"{where}.{key}", f"must be a finite number, not {spec[key]!r}")
    lo: Any = spec.get("min")
    hi: Any = spec.get("max")
    if _is_number(lo) and _is_number(hi) and lo > hi:
        c.bad(where, f"min ({lo}) is above max ({hi})")
    if dist in ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values") and (
        _is_number(lo) and lo <= 0
    ):
        c.bad(f"{where}.min", f"{dist} needs min > 0")
    if dist == "int_uniform" and not all(isinstance(spec.get(k), int) for k in ("min", "max")):
        c.bad(where, "int_uniform needs whole-number min and max")
    if "sigma" in spec and _is_number(spec["sigma"]) and spec["sigma"] <= 0:
        c.bad(f"{where}.sigma", "must be above 0")
    if "q" in spec and _is_number(spec["q"]) and spec["q"] <= 0:
        c.bad(f"{where}.q", "must be above 0")
    if method == "grid" and dist not in ("categorical", "constant", "int_uniform", "q_uniform"):
        c.bad(
            where,
            f"grid search needs discrete values (values:, value:, int_uniform, q_uniform), not {dist}",
        )
    if dist == "q_uniform" and method == "grid" and "q" not in spec:
        c.bad(where, "q_uniform in a grid needs q")


def _check_early_terminate(c: _Checker, et: Any, metric_name: str | None) -> Hyperband | None:
    if et is None:
        return None
    if not isinstance(et, Mapping):
        c.bad("early_terminate", "must be a mapping {type: hyperband, min_iter: ...}")
        return None
    c.unknown_keys("early_terminate", et, EARLY_TERMINATE_KEYS)
    if et.get("type") != "hyperband":
        c.bad(
            "early_terminate.type",
            f"must be hyperband, not {et.get('type')!r}{_close(et.get('type'), ['hyperband'])}",
        )
        return None
    if metric_name is None:
        c.bad("early_terminate", "needs metric.name: hyperband compares the metric the trials log")
    eta = et.get("eta", 3)
    if not _is_number(eta) or eta <= 1:
        c.bad("early_terminate.eta", f"must be a number above 1, not {eta!r}")
        return None
    s = et.get("s")
    min_iter, max_iter = et.get("min_iter"), et.get("max_iter")
    for key, value in (("min_iter", min_iter), ("max_iter", max_iter), ("s", s)):
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            c.bad(f"early_terminate.{key}", f"must be a whole number of 1 or more, not {value!r}")
            return None
    strict = et.get("strict", False)
    if not isinstance(strict, bool):
        c.bad("early_terminate.strict", f"must be true or false, not {strict!r}")
        return None
    rungs = _hyperband_rungs(c, min_iter, max_iter, s, eta)
    if rungs is None:
        return None
    return Hyperband(rungs=tuple(sorted(set(rungs))), eta=float(eta), strict=strict)


def _hyperband_rungs(
    c: _Checker, min_iter: int | None, max_iter: int | None, s: int | None, eta: float
) -> list[int] | None:
    if min_iter is not None:
        rungs = _rungs_from(min_iter, eta)
        return rungs if max_iter is None else [r for r in rungs if r < max_iter]
    if max_iter is None:
        c.bad("early_terminate", "hyperband needs min_iter, or max_iter with s")
        return None
    if s is None:
        c.bad("early_terminate.s", "max_iter needs s (the number of brackets)")
        return None
    rungs = [int(max_iter / eta**k) for k in range(1, s + 1) if max_iter / eta**k >= 1]
    if not rungs:
        c.bad("early_terminate", f"max_iter {max_iter} / eta {eta} leaves no rung of 1 or more")
    return rungs or None


def _rungs_from(min_iter: int, eta: float) -> list[int]:
    """min_iter·eta^k, whole iterations (W&B truncates), as many as a progress record holds."""
    rungs: list[int] = []
    band = float(min_iter)
    while len(rungs) < MAX_RUNGS and band < 2**31:
        if not rungs or int(band) != rungs[-1]:
            rungs.append(int(band))
        band *= eta
    return rungs
