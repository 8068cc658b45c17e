"""Sweeps: W&B-shaped hyperparameter search with no server (grid, random, bayes + hyperband).

::

    config.py      the sweep config (YAML or dict), checked once, every problem by its path
    space.py       grid points, seeded random draws, Optuna distributions, nested configs
    state.py       the sweep's files in the store (<root>/sweeps/<id>/): claims, results, control
    controller.py  the next trial: exclusive-create claims (inside BEGIN IMMEDIATE where the index
                   is usable), dead agents' trials settled and re-queued, status and best so far
    bayes.py       suggestions from Optuna's samplers (TPE; GP for small continuous spaces)
    hyperband.py   asynchronous hyperband (ASHA) from the metric the trials log
    agent.py       claim → run (a function, or the program as a subprocess) → watch → record
    command.py     a subprocess trial's argv from `command` and W&B's macros
    trial.py       inside a trial: init() joins the sweep; the stop watcher
    runmark.py     marking a trial's run `stopped` after its process was signalled
    remote.py      an agent's side of a sweep a `localtrack server` hosts (--to URL)
    wire.py        a sweep's state as it syncs to a server, and the checks on receipt

Grid and random need only the standard library; bayes needs Optuna and YAML configs PyYAML
(``pip install localtrack[sweeps]``). This package may import Optuna; the store never does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..settings import resolve_dir

__all__ = ["sweep"]


def sweep(
    sweep: Mapping[str, Any] | str | os.PathLike[str],
    entity: str | None = None,
    project: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
) -> str:
    """Create a sweep from a config (dict, YAML text or a .yaml/.json path); returns its id.

    Example::

        sweep_id = localtrack.sweep(
            {"method": "random", "metric": {"name": "loss", "goal": "minimize"},
             "parameters": {"lr": {"min": 1e-4, "max": 1e-1}}},
            project="demo",
        )

    base_url: create it on a `localtrack server` instead, which then hosts the controller
    (agents: ``localtrack.agent(sweep_id, base_url=...)`` / ``localtrack agent ID --to URL``).
    """
    from .config import load_config
    from .controller import create_sweep

    raw = load_config(sweep)
    if base_url is not None:
        from .remote import create_remote_sweep

        return create_remote_sweep(base_url, raw, project, entity, api_key)
    return create_sweep(resolve_dir(dir), raw, project, entity)
