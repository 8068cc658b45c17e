"""Parameter importance of a sweep: Optuna's fANOVA over the finished trials, cached per state.

The study is rebuilt from the trials' recorded values, with distributions taken from what was
tried (a numeric parameter spans its observed range, anything else is categorical), so grid,
random and bayes sweeps are all scored the same way. fANOVA fits a random forest
(scikit-learn), so a result is kept per sweep state: the same finished trials, the same answer,
computed once.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)
MIN_TRIALS = 3
_CACHE: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_CACHE_SIZE = 64
_LOCK = threading.Lock()


def _distributions(optuna: Any, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    names = sorted({k for row in rows for k in row})
    out: dict[str, Any] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if len({repr(v) for v in values}) < 2:
            continue  # a constant explains nothing
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric:
            out[name] = optuna.distributions.FloatDistribution(
                float(min(values)), float(max(values))
            )
        else:
            choices = sorted({str(v) for v in values})
            out[name] = optuna.distributions.CategoricalDistribution(choices)
    return out


def param_importances(
    sweep_id: str, goal: str, trials: Sequence[tuple[dict[str, Any], float]]
) -> dict[str, Any]:
    """{"method", "values": {param: share}, "reason"} for (params, value) of finished trials."""
    key = (sweep_id, goal, tuple((repr(sorted(p.items())), v) for p, v in trials))
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    result = _compute(goal, trials)
    with _LOCK:
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def _compute(goal: str, trials: Sequence[tuple[dict[str, Any], float]]) -> dict[str, Any]:
    out: dict[str, Any] = {"method": "fanova", "values": {}, "reason": None}
    if len(trials) < MIN_TRIALS:
        out["reason"] = f"needs {MIN_TRIALS} finished trials with a value"
        return out
    try:
        import optuna
        import sklearn  # noqa: F401  (fANOVA's random forest)
    except ImportError:
        out["reason"] = "needs Optuna and scikit-learn: pip install localtrack[sweeps]"
        return out
    distributions = _distributions(optuna, [p for p, _ in trials])
    if not distributions:
        out["reason"] = "no parameter varied across the finished trials"
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            study = optuna.create_study(direction="maximize" if goal == "maximize" else "minimize")
            for params, value in trials:
                values = {
                    k: (v if isinstance(distributions[k], optuna.distributions.FloatDistribution)
                        else str(v))
                    for k, v in params.items()
                    if k in distributions
                }  # fmt: skip
                study.add_trial(
                    optuna.trial.create_trial(
                        params=values, distributions=distributions, value=float(value)
                    )
                )
            scores = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)
            )
        except (ValueError, RuntimeError) as exc:
            log.warning("parameter importance failed: %s", exc)
            out["reason"] = f"fANOVA failed: {exc}"
            return out
        finally:
            optuna.logging.set_verbosity(verbosity)
    out["values"] = {k: float(v) for k, v in scores.items()}
    return out
