"""Sweep benchmarks (issue 14). Run: python benchmarks/bench_sweeps.py [--seeds 10] [--quick]

1. Suggestion latency: ``Sweep.next_trial`` (claim included) with 200 finished bayes trials, and
   on a grid of 10,000 points (empty, and with 5,000 claimed).
2. Search quality on Branin (a standard benchmark function, minimum 0.397887): the best value
   after 50 trials, bayes (Optuna through the controller) against random, median of N seeds.
3. Hyperband on a synthetic learning-curve task: 27 trials of up to 27 steps each, run one after
   another through the controller's own hyperband decision (``Sweep.report_progress``); does it
   keep the trial that is best without early termination, and with what share of the steps?

Trials here are not real runs: the controller's claim → suggest → record path is what is timed
and compared, so the numbers do not include a training process's start.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from localtrack.sweeps.controller import AgentInfo, Sweep, create_sweep  # noqa: E402
from localtrack.sweeps.hyperband import best_at_rungs, rung_values  # noqa: E402

AGENT = AgentInfo.here("bench")


def _finish(sweep: Sweep, key: str, value: float) -> None:
    sweep.record_result(key, {"state": "finished", "value": value, "ended_at": time.time()})


def branin(x1: float, x2: float) -> float:
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def _new(config: dict[str, Any]) -> Sweep:
    root = Path(tempfile.mkdtemp(prefix="lt-bench-sweep-"))
    sweep = Sweep(root, create_sweep(root, config, "bench", None))
    sweep.heartbeat(AGENT)  # this process is the agent: its claims are not a dead agent's
    return sweep


def _time_next(sweep: Sweep, n: int, value: Any = None) -> list[float]:
    times = []
    for _ in range(n):
        sweep.heartbeat(AGENT)  # under load a suggestion can outlast LOCALTRACK_STALE_AFTER
        t0 = time.perf_counter()
        attempt = sweep.next_trial(AGENT)
        times.append((time.perf_counter() - t0) * 1000)
        assert attempt is not None
        if value is not None:
            _finish(sweep, attempt.key, value(attempt.params))
    return times


def latency(quick: bool) -> dict[str, str]:
    out = {}
    config = {
        "method": "bayes",
        "seed": 1,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "x1": {"min": -5.0, "max": 10.0},
            "x2": {"min": 0.0, "max": 15.0},
            "opt": {"values": ["adam", "sgd"]},
        },
    }
    sweep = _new(config)
    f = lambda p: branin(p["x1"], p["x2"]) + (p["opt"] == "sgd")  # noqa: E731
    _time_next(sweep, 50 if quick else 200, f)
    times = _time_next(sweep, 10, f)
    out["bayes (TPE), 200 finished trials"] = f"{statistics.median(times):.0f} ms median"
    grid = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": list(range(100))}, "b": {"values": list(range(100))}},
    }
    sweep = _new(grid)
    zero = lambda p: 0.0  # noqa: E731
    times = _time_next(sweep, 20, zero)
    out["grid of 10,000 points, none done"] = f"{statistics.median(times):.1f} ms median"
    _time_next(sweep, 500 if quick else 4980, zero)
    times = _time_next(sweep, 20, zero)
    out["grid of 10,000 points, 5,000 done"] = f"{statistics.median(times):.1f} ms median"
    return out


def search_quality(seeds: int, trials: int = 50) -> dict[str, list[float]]:
    best: dict[str, list[float]] = {"random": [], "bayes": []}
    for method in best:
        for seed in range(seeds):
            config = {
                "method": method,
                "seed": seed,
                "metric": {"name": "loss", "goal": "minimize"},
                "parameters": {"x1": {"min": -5.0, "max": 10.0}, "x2": {"min": 0.0, "max": 15.0}},
            }
            sweep = _new(config)
            values = []
            for _ in range(trials):
                sweep.heartbeat(AGENT)
                attempt = sweep.next_trial(AGENT)
                assert attempt is not None
                values.append(branin(attempt.params["x1"], attempt.params["x2"]))
                _finish(sweep, attempt.key, values[-1])
            best[method].append(min(values))
    return best


def curve(params: dict[str, Any], step: int) -> float:
    """A learning curve: decays towards a final loss set by lr and width (curves may cross)."""
    lr, width = params["lr"], params["width"]
    final = (math.log10(lr) + 2.2) ** 2 + 8 / width
    speed = 0.15 + 0.6 * min(1.0, lr * 30)
    return final + 1.5 * math.exp(-speed * step)


def hyperband(seeds: int, trials: int = 27, steps: int = 27) -> list[dict[str, Any]]:
    """Per seed: the best final loss with hyperband and without, and the share of steps used.

    Each trial is judged after every step from its first rung on, as an agent judges a running
    trial (at each rung, and again while its best value improves); with the trials run one
    after another, what each is compared with is every earlier trial.
    """
    rows = []
    for seed in range(seeds):
        base = {
            "method": "random",
            "seed": seed,
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {
                "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
                "width": {"values": [16, 32, 64, 128, 256]},
            },
        }
        full_best = min(curve(p, steps) for p in _params(base, trials))
        config = {**base, "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3}}
        sweep = _new(config)
        hb = sweep.config.hyperband
        assert hb is not None
        used, kept, stopped_at = 0, [], []
        for _ in range(trials):
            sweep.heartbeat(AGENT)
            attempt = sweep.next_trial(AGENT)
            assert attempt is not None
            values: list[float] = []
            stop = None
            for step in range(1, steps + 1):
                values.append(curve(attempt.params, step))
                used += 1
                rungs = rung_values(hb, values)
                best = best_at_rungs("minimize", hb, values)
                if rungs and (stop := sweep.report_progress(attempt.key, rungs, best)):
                    stopped_at.append(step)
                    break
            if stop is None:
                kept.append(values[-1])
            state = "stopped" if stop else "finished"
            sweep.record_result(attempt.key, {"state": state, "value": values[-1]})
        rows.append(
            {
                "same_best": math.isclose(min(kept), full_best),
                "share": used / (trials * steps),
                "best": min(kept),
                "full_best": full_best,
                "stopped_at": stopped_at,
            }
        )
    return rows


def _params(config: dict[str, Any], trials: int) -> list[dict[str, Any]]:
    """The values random search draws for trials 0..n-1 (the same with or without hyperband)."""
    from localtrack.sweeps import space
    from localtrack.sweeps.config import check_config

    params = check_config(config).params
    return [space.random_point(params, config["seed"], n) for n in range(trials)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="fewer trials, for a smoke test")
    args = parser.parse_args()
    seeds = 2 if args.quick else args.seeds
    print(f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, Python {platform.python_version()}")
    print("\n| suggestion latency (next_trial, claim included) | measured |\n|---|---|")
    for what, value in latency(args.quick).items():
        print(f"| {what} | {value} |")
    best = search_quality(seeds)
    med = {k: statistics.median(v) for k, v in best.items()}
    print(f"\nBranin, best after 50 trials, median of {seeds} seeds (optimum 0.397887):")
    print(f"  bayes {med['bayes']:.4f}   random {med['random']:.4f}   "
          f"bayes better: {med['bayes'] < med['random']}  "
          f"(bayes won {sum(b < r for b, r in zip(best['bayes'], best['random'], strict=True))} "
          f"of {seeds} seeds)")  # fmt: skip
    rows = hyperband(seeds)
    same = sum(r["same_best"] for r in rows)
    shares = [r["share"] for r in rows]
    bests, full = [r["best"] for r in rows], [r["full_best"] for r in rows]
    print(f"\nHyperband (min_iter 3, eta 3) on 27 learning curves × 27 steps, {seeds} seeds:")
    print(
        "| seed | best, hyperband | best, no early termination | same | steps used | stopped at rung 3 / 9 |"
    )
    print("|---|---|---|---|---|---|")
    for i, r in enumerate(rows):
        at = r["stopped_at"]
        print(
            f"| {i} | {r['best']:.4f} | {r['full_best']:.4f} | {'yes' if r['same_best'] else 'no'} "
            f"| {r['share']:.0%} | {at.count(3)} / {at.count(9)} |"
        )
    print(
        f"same best in {same} of {seeds} seeds; median best {statistics.median(bests):.4f} "
        f"vs {statistics.median(full):.4f} without; steps used median "
        f"{statistics.median(shares):.0%} (min {min(shares):.0%}, max {max(shares):.0%})"
    )


if __name__ == "__main__":
    main()
