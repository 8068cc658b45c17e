"""Sweep benchmarks (issue 14). Run: python benchmarks/bench_sweeps.py [--seeds 10] [--quick]

1. Suggestion latency: ``Sweep.next_trial`` (claim included), medians of 10-20: with 200
   finished bayes trials (TPE, and the GP sampler on a small continuous space), in one agent
   and in a new agent each time, against Optuna's own ask; on a grid of 10,000 points (none,
   5,000 and 9,900 claimed), against publishing one claim file.
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
from localtrack.sweeps.state import trial_key  # noqa: E402

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


def _bayes(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": "bayes",
        "seed": 1,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": params,
    }


BRANIN_SPACE = {"x1": {"min": -5.0, "max": 10.0}, "x2": {"min": 0.0, "max": 15.0}}


def _loss(p: dict[str, Any]) -> float:
    return branin(p["x1"], p["x2"]) + (p.get("opt") == "sgd")


def _bayes_latency(params: dict[str, Any], done: int, what: str) -> dict[str, str]:
    """One agent (its study kept), a fresh agent per suggestion (SLURM --count 1), and the
    floor: Optuna alone asking a study that already holds the same trials."""
    import optuna

    from localtrack.sweeps import bayes, space

    sweep = _new(_bayes(params))
    _fill(sweep, done)
    kept = _time_next(sweep, 10, _loss)
    fresh = []
    for _ in range(10):
        again = Sweep(sweep.store_root, sweep.id)
        fresh += _time_next(again, 1, _loss)
    distributions = space.optuna_distributions(sweep.config.params)
    cache = bayes._up_to_date(optuna, sweep, sweep.files.attempts(), distributions)
    floor = []
    for n in range(10):
        cache.study.sampler = bayes._sampler(optuna, sweep, n)
        t0 = time.perf_counter()
        trial = cache.study.ask(distributions)
        floor.append((time.perf_counter() - t0) * 1000)
        cache.study.tell(trial, state=optuna.trial.TrialState.FAIL)
    n = done
    return {
        f"bayes ({what}), {n} finished trials, one agent": f"{statistics.median(kept):.0f} ms",
        f"bayes ({what}), {n} finished trials, a new agent each": f"{statistics.median(fresh):.0f} ms",
        f"floor: Optuna's {what} ask alone, same trials in memory": f"{statistics.median(floor):.0f} ms",
    }  # fmt: skip


def _fill(sweep: Sweep, done: int) -> None:
    """`done` finished trials at random points, written as an agent writes them (the latency
    with 200 trials does not depend on which sampler chose them, and GP would take minutes)."""
    from localtrack.sweeps import space

    for number in range(done):
        point = space.random_point(sweep.config.params, 99, number)
        record = {
            "number": number,
            "attempt": 0,
            "run_id": sweep.run_id(number, 0),
            "params": point,
            "config": space.nested(sweep.config.params, point),
            "suggested": point,
            "agent": AGENT.record(),
            "claimed_at": time.time(),
        }
        assert sweep.files.claim(number, 0, record)
        _finish(sweep, trial_key(number, 0), _loss(point))


def _publish_floor(n: int = 20) -> float:
    """One claim-sized file published exclusively (write, fsync, link, fsync dir)."""
    from localtrack.sweeps.state import SweepFiles

    files = SweepFiles(Path(tempfile.mkdtemp(prefix="lt-bench-floor-")), "floor000")
    files.dir.mkdir(parents=True)
    (files.dir / "claims").mkdir()
    record = {"params": {"a": 1, "b": 2}, "agent": AGENT.record(), "run_id": "x" * 24}
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        files._publish_once(files.dir / "claims" / f"{i:06d}-0.json", record)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def latency(quick: bool) -> dict[str, str]:
    done = 50 if quick else 200
    out = _bayes_latency({**BRANIN_SPACE, "opt": {"values": ["adam", "sgd"]}}, done, "TPE")
    out.update(_bayes_latency(BRANIN_SPACE, done, "GP"))
    grid = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": list(range(100))}, "b": {"values": list(range(100))}},
    }
    sweep = _new(grid)
    zero = lambda p: 0.0  # noqa: E731
    times = _time_next(sweep, 20, zero)
    out["grid of 10,000 points, none done"] = f"{statistics.median(times):.1f} ms"
    for upto in (500, 5000) if quick else (5000, 9900):
        _time_next(sweep, upto - len(sweep.files.attempts()), zero)
        times = _time_next(sweep, 20, zero)
        out[f"grid of 10,000 points, {upto:,} done"] = f"{statistics.median(times):.1f} ms"
    out["floor: publishing one claim file (fsync, link)"] = f"{_publish_floor():.1f} ms"
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
    print("\n| suggestion latency (next_trial, claim included), median | measured |\n|---|---|")
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
