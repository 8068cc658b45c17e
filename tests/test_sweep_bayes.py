"""Bayesian search: Optuna's GP sampler for a few continuous parameters, TPE otherwise; an agent
keeps its study between suggestions and brings it up to date with what the store records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import localtrack
from localtrack.sweeps import bayes
from localtrack.sweeps.controller import AgentInfo, Sweep

optuna = pytest.importorskip("optuna")


def _sweep(root: Path, parameters: dict[str, Any]) -> Sweep:
    config = {
        "method": "bayes",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": parameters,
    }
    return Sweep(root, localtrack.sweep(config, project="bayes", dir=root))


def test_gp_for_a_few_continuous_parameters_tpe_otherwise(root: Path) -> None:
    pytest.importorskip("torch")
    small = _sweep(root, {"x": {"min": 0.0, "max": 1.0}, "y": {"min": 0.0, "max": 1.0}})
    assert isinstance(bayes._sampler(optuna, small, 0), optuna.samplers.GPSampler)
    mixed = _sweep(root, {"x": {"min": 0.0, "max": 1.0}, "opt": {"values": ["a", "b"]}})
    assert isinstance(bayes._sampler(optuna, mixed, 0), optuna.samplers.TPESampler)


def _states(study: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        out[trial.state.name] = out.get(trial.state.name, 0) + 1
    return out


def test_the_kept_study_follows_the_store(root: Path) -> None:
    sweep = _sweep(root, {"x": {"min": 0.0, "max": 1.0}, "opt": {"values": ["a", "b"]}})
    agent = AgentInfo.here("test")
    sweep.heartbeat(agent)
    first = sweep.next_trial(agent)
    second = sweep.next_trial(agent)  # the first is running when the second is suggested
    assert first is not None and second is not None
    sweep.record_result(first.key, {"state": "finished", "value": 1.5})
    sweep.files.record_progress(second.key, {"rungs": {"3": 0.5}})
    sweep.record_result(second.key, {"state": "stopped", "value": 0.5})
    third = sweep.next_trial(agent)
    assert third is not None and third.claim["suggested"]
    cache = sweep.bayes_cache
    assert isinstance(cache, bayes.StudyCache)
    trials = {key: cache.storage.get_trial(tid) for key, (tid, _) in cache.trials.items()}
    assert trials[first.key].state.name == "COMPLETE" and trials[first.key].value == 1.5
    assert trials[second.key].state.name == "PRUNED"
    assert trials[second.key].intermediate_values == {3: 0.5}
    assert trials[first.key].params == first.claim["suggested"]
    # what each suggestion asked is out of the search: the claims bring the trials back
    assert _states(cache.study) == {"COMPLETE": 1, "PRUNED": 1, "FAIL": 3}
    fresh = Sweep(root, sweep.id)
    fresh.heartbeat(agent)
    assert fresh.next_trial(agent) is not None
    assert _states(fresh.bayes_cache.study) == {"COMPLETE": 1, "PRUNED": 1, "RUNNING": 1, "FAIL": 1}
