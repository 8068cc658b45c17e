"""Bayesian search through Optuna's samplers (TPE; the GP sampler for small continuous spaces).

The search state is the store's: every suggestion brings an in-memory study up to date with the
trials the sweep's files record (finished ones with their value, stopped ones as pruned with
their rung values, failed ones as failed, running ones as running) and asks the sampler once,
so any agent on any node can suggest the next trial. An agent keeps its study between
suggestions and adds only what changed (a new trial, a running one that ended), instead of
building 200 trials anew for the 201st suggestion.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
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


@dataclass
class StudyCache:
    """An agent's study of one sweep, kept between suggestions (Sweep.bayes_cache)."""

    study: Any
    storage: Any  # the study's InMemoryStorage
    study_id: int
    distributions: dict[str, Any]
    trials: dict[str, tuple[int, tuple[Any, ...]]] = field(default_factory=dict)
    """attempt key → (Optuna trial id, what it recorded: state, value, rungs)."""


def _recorded(attempt: Attempt) -> tuple[Any, ...]:
    result = attempt.result or {}
    rungs = tuple(sorted((attempt.progress.get("rungs") or {}).items()))
    return (attempt.result is not None, result.get("state"), result.get("value"), rungs)


def _past_trial(optuna: Any, distributions: dict[str, Any], attempt: Attempt) -> Any | None:
    TrialState = optuna.trial.TrialState
    suggested = attempt.claim.get("suggested") or {}
    params = {k: v for k, v in suggested.items() if k in distributions}
    if set(params) != set(distributions):
        return None
    try:
        return optuna.trial.create_trial(
            params=params, distributions=distributions, **_outcome(TrialState, attempt)
        )
    except ValueError as exc:  # a value outside today's distribution: leave that trial out
        log.debug("bayes: trial %s left out (%s)", attempt.key, exc)
        return None


def _outcome(TrialState: Any, attempt: Attempt) -> dict[str, Any]:
    result = attempt.result or {}
    state = result.get("state")
    value = result.get("value")
    rungs = {int(k): float(v) for k, v in (attempt.progress.get("rungs") or {}).items()}
    if attempt.result is None:
        return {"state": TrialState.RUNNING}
    if state == "finished" and value is not None:
        return {"state": TrialState.COMPLETE, "value": float(value)}
    if state == "stopped":
        return {"state": TrialState.PRUNED, "intermediate_values": rungs}
    return {"state": TrialState.FAIL}


def suggest(sweep: Sweep, number: int, attempts: dict[int, list[Attempt]]) -> dict[str, Any]:
    """Optuna's suggestion for trial `number`, given every trial so far (flat parameter names)."""
    optuna = require_optuna()
    distributions = space.optuna_distributions(sweep.config.params)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line per trial
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            cache = _up_to_date(optuna, sweep, attempts, distributions)
            cache.study.sampler = _sampler(optuna, sweep, number)
            trial = cache.study.ask(distributions)
            # the claim brings this trial back under its own key: the asked one is left out
            trial_id = cache.storage.get_trial_id_from_study_id_trial_number(
                cache.study_id, trial.number
            )
            cache.storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
        return dict(trial.params)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _up_to_date(
    optuna: Any, sweep: Sweep, attempts: dict[int, list[Attempt]], distributions: dict[str, Any]
) -> StudyCache:
    """The agent's study with every attempt's latest state in it."""
    cache = sweep.bayes_cache
    if not isinstance(cache, StudyCache) or cache.distributions != distributions:
        direction = "maximize" if sweep.config.goal == "maximize" else "minimize"
        storage = optuna.storages.InMemoryStorage()
        study = optuna.create_study(storage=storage, direction=direction)
        study_id = storage.get_study_id_from_name(study.study_name)
        cache = sweep.bayes_cache = StudyCache(study, storage, study_id, distributions)
    storage, TrialState = cache.storage, optuna.trial.TrialState
    latest = {items[-1].key: items[-1] for items in attempts.values()}
    for key, (trial_id, recorded) in list(cache.trials.items()):
        if key not in latest and not recorded[0]:  # re-run under a new key: out of the search
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            cache.trials[key] = (trial_id, (True, "crashed", None, ()))
    for key, attempt in latest.items():
        recorded = _recorded(attempt)
        known = cache.trials.get(key)
        if known is None:
            frozen = _past_trial(optuna, distributions, attempt)
            if frozen is not None:
                trial_id = storage.create_new_trial(cache.study_id, template_trial=frozen)
                cache.trials[key] = (trial_id, recorded)
        elif known[1] != recorded and not known[1][0]:  # it was running: how it ended
            _end(storage, TrialState, known[0], attempt)
            cache.trials[key] = (known[0], recorded)
    return cache


def _end(storage: Any, TrialState: Any, trial_id: int, attempt: Attempt) -> None:
    outcome = _outcome(TrialState, attempt)
    for step, value in (outcome.get("intermediate_values") or {}).items():
        storage.set_trial_intermediate_value(trial_id, step, value)
    if outcome["state"] == TrialState.RUNNING:
        return
    values = [outcome["value"]] if "value" in outcome else None
    storage.set_trial_state_values(trial_id, outcome["state"], values)
