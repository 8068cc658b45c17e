"""Bayesian search through Optuna's samplers (TPE; the GP sampler for small continuous spaces).

Stateless on purpose: every suggestion builds an in-memory study from the trials the sweep's files
record (finished ones with their value, stopped ones as pruned with their rung values, failed
ones as failed, running ones as running) and asks the sampler once. So the search state is the
store's, and any agent on any node can suggest the next trial.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

from ..errors import SweepError
from . import space

if TYPE_CHECKING:
    from .controller import Sweep
    from .state import Attempt

log = logging.getLogger(__name__)
INSTALL_HINT = "pip install localtrack[sweeps]"


def require_optuna() -> Any:
    """The optuna module, or a SweepError naming the extra that installs it."""
    try:
        import optuna
    except ImportError:
        raise SweepError(
            f"method: bayes needs Optuna, which is not installed: {INSTALL_HINT} "
            "(grid and random need nothing extra)"
        ) from None
    return optuna


def _sampler(optuna: Any, sweep: Sweep, number: int) -> Any:
    seed = (sweep.seed * 1_000_003 + number) % 2**32
    if space.is_small_continuous(sweep.config.params):
        try:
            import torch  # noqa: F401  (the GP sampler needs it)
        except ImportError:
            pass
        else:
            return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _past_trial(optuna: Any, distributions: dict[str, Any], attempt: Attempt) -> Any | None:
    TrialState = optuna.trial.TrialState
    suggested = attempt.claim.get("suggested") or {}
    params = {k: v for k, v in suggested.items() if k in distributions}
    if set(params) != set(distributions):
        return None
    result = attempt.result or {}
    state = result.get("state")
    value = result.get("value")
    rungs = {int(k): float(v) for k, v in (attempt.progress.get("rungs") or {}).items()}
    if attempt.result is None:
        kw: dict[str, Any] = {"state": TrialState.RUNNING}
    elif state == "finished" and value is not None:
        kw = {"state": TrialState.COMPLETE, "value": float(value)}
    elif state == "stopped":
        kw = {"state": TrialState.PRUNED, "intermediate_values": rungs}
    else:
        kw = {"state": TrialState.FAIL}
    try:
        return optuna.trial.create_trial(params=params, distributions=distributions, **kw)
    except ValueError as exc:  # a value outside today's distribution: leave that trial out
        log.debug("bayes: trial %s left out (%s)", attempt.key, exc)
        return None


def suggest(sweep: Sweep, number: int, attempts: dict[int, list[Attempt]]) -> dict[str, Any]:
    """Optuna's suggestion for trial `number`, given every trial so far (flat parameter names)."""
    optuna = require_optuna()
    distributions = space.optuna_distributions(sweep.config.params)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line per trial
    try:
        return _ask(optuna, sweep, number, attempts, distributions)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _ask(
    optuna: Any,
    sweep: Sweep,
    number: int,
    attempts: dict[int, list[Attempt]],
    distributions: dict[str, Any],
) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        direction = "maximize" if sweep.config.goal == "maximize" else "minimize"
        study = optuna.create_study(direction=direction, sampler=_sampler(optuna, sweep, number))
        past = [_past_trial(optuna, distributions, items[-1]) for items in attempts.values()]
        study.add_trials([t for t in past if t is not None])
        trial = study.ask(distributions)
    return dict(trial.params)
