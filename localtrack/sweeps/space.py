"""The search space: grid points, seeded random draws, Optuna distributions, nested configs.

Grid and random need nothing beyond the standard library; only ``optuna_distributions`` (for
bayes) imports Optuna.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .config import Param


def grid_values(param: Param) -> list[Any]:
    """Every value a parameter takes in a grid, in order."""
    spec = param.spec
    if param.distribution == "constant":
        return [spec["value"]]
    if param.distribution == "categorical":
        return list(spec["values"])
    if param.distribution == "int_uniform":
        return list(range(int(spec["min"]), int(spec["max"]) + 1))
    lo, hi, q = float(spec["min"]), float(spec["max"]), float(spec["q"])  # q_uniform
    count = math.floor((hi - lo) / q + 1e-9) + 1
    return [round(lo + i * q, 12) for i in range(count)]


def grid_size(params: Sequence[Param]) -> int:
    return math.prod(len(grid_values(p)) for p in params)


def grid_point(params: Sequence[Param], number: int) -> dict[str, Any]:
    """The `number`-th combination (row-major over the parameters in config order)."""
    values = [grid_values(p) for p in params]
    out: dict[str, Any] = {}
    for param, options in zip(reversed(params), reversed(values), strict=True):
        number, i = divmod(number, len(options))
        out[param.name] = options[i]
    return {p.name: out[p.name] for p in params}


def all_grid_points(params: Sequence[Param]) -> Iterable[dict[str, Any]]:
    for combo in itertools.product(*(grid_values(p) for p in params)):
        yield {p.name: v for p, v in zip(params, combo, strict=True)}


def _quantize(value: float, q: Any) -> float:
    step = float(q if q is not None else 1.0)
    return round(round(value / step) * step, 12)


def sample(param: Param, rng: random.Random) -> Any:
    """One draw of a parameter, as W&B defines its distribution."""
    s, d = param.spec, param.distribution
    lo: Any = s.get("min")
    hi: Any = s.get("max")
    mu, sigma = float(s.get("mu", 0.0)), float(s.get("sigma", 1.0))
    if d == "constant":
        return s["value"]
    if d == "categorical":
        weights = s.get("probabilities")
        return rng.choices(list(s["values"]), weights=weights)[0]
    if d == "int_uniform":
        return rng.randint(int(lo), int(hi))
    if d in ("uniform", "q_uniform"):
        value = rng.uniform(float(lo), float(hi))
        return _quantize(value, s.get("q")) if d == "q_uniform" else value
    if d in ("log_uniform", "q_log_uniform"):
        value = math.exp(rng.uniform(float(lo), float(hi)))
        return _quantize(value, s.get("q")) if d.startswith("q_") else value
    if d in ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values"):
        value = math.exp(rng.uniform(math.log(float(lo)), math.log(float(hi))))
        return _quantize(value, s.get("q")) if d.startswith("q_") else value
    if d == "inv_log_uniform":
        return math.exp(-rng.uniform(float(lo), float(hi)))
    if d in ("normal", "q_normal"):
        value = rng.gauss(mu, sigma)
        return _quantize(value, s.get("q")) if d.startswith("q_") else value
    if d in ("log_normal", "q_log_normal"):
        value = rng.lognormvariate(mu, sigma)
        return _quantize(value, s.get("q")) if d.startswith("q_") else value
    value = rng.betavariate(float(s.get("a", 1.0)), float(s.get("b", 1.0)))  # beta, q_beta
    return _quantize(value, s.get("q")) if d.startswith("q_") else value


def random_point(params: Sequence[Param], seed: int, number: int) -> dict[str, Any]:
    """Trial `number`'s draw: the same seed and number give the same values on any machine."""
    rng = random.Random(f"localtrack-sweep:{seed}:{number}")
    return {p.name: sample(p, rng) for p in params}


def optuna_distributions(params: Sequence[Param]) -> dict[str, Any]:
    """Optuna distributions for every non-constant parameter (for bayes)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for p in params:
        s, d = p.spec, p.distribution
        lo: Any = s.get("min")
        hi: Any = s.get("max")
        mu, sigma = float(s.get("mu", 0.0)), float(s.get("sigma", 1.0))
        if d == "constant":
            continue
        if d == "categorical":
            out[p.name] = CategoricalDistribution(list(s["values"]))
        elif d == "int_uniform":
            out[p.name] = IntDistribution(int(lo), int(hi))
        elif d in ("uniform", "q_uniform"):
            out[p.name] = FloatDistribution(float(lo), float(hi))
        elif d in ("log_uniform", "q_log_uniform", "inv_log_uniform"):
            out[p.name] = FloatDistribution(math.exp(float(lo)), math.exp(float(hi)), log=True)
        elif d in ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values"):
            out[p.name] = FloatDistribution(float(lo), float(hi), log=True)
        elif d in ("normal", "q_normal"):
            out[p.name] = FloatDistribution(mu - 4 * sigma, mu + 4 * sigma)
        elif d in ("log_normal", "q_log_normal"):
            out[p.name] = FloatDistribution(
                math.exp(mu - 4 * sigma), math.exp(mu + 4 * sigma), log=True
            )
        else:
            out[p.name] = FloatDistribution(0.0, 1.0)
    return out


def finish_point(params: Sequence[Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """Constants added and q_ values rounded to their step: the flat point a trial runs."""
    out: dict[str, Any] = {}
    for p in params:
        if p.distribution == "constant":
            out[p.name] = p.spec["value"]
            continue
        value = values[p.name]
        if p.distribution.startswith("q_") and isinstance(value, float):
            value = _quantize(value, p.spec.get("q"))
        out[p.name] = value
    return out


def nested(params: Sequence[Param], flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"optimizer.lr": 0.1} -> {"optimizer": {"lr": 0.1}} following the config's nesting."""
    out: dict[str, Any] = {}
    for p in params:
        node = out
        for part in p.path[:-1]:
            node = node.setdefault(part, {})
        node[p.path[-1]] = flat[p.name]
    return out


def is_small_continuous(params: Sequence[Param]) -> bool:
    """A space the GP sampler suits: a few parameters, all numeric ranges."""
    moving = [p for p in params if p.distribution != "constant"]
    return 0 < len(moving) <= 4 and all(
        p.distribution not in ("categorical", "int_uniform") for p in moving
    )
