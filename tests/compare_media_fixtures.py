"""Runs for the compare page's media tests: the same image key logged at different steps by two
runs, a key only one of them has, a run without that key, and the other kinds under shared keys.

Imported by ``tests/test_compare_media*.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .media_fixtures import QUIET, colour, digit

PROJECT = "cmp-media"
A_STEPS = (0, 10, 20)
B_STEPS = (5, 15)


def _log(root: Path, name: str, steps: tuple[int, ...], extra: bool, only: bool) -> str:
    import localtrack

    run = localtrack.init(
        project=PROJECT, name=name, dir=str(root), settings=localtrack.Settings(**QUIET)
    )
    for step in range(0, 21):
        row: dict[str, object] = {"loss": 1.0 / (step + 1)}
        if step in steps:
            row["samples"] = localtrack.Image(digit(step // 5), caption=f"{name} at {step}")
            if extra:
                row["gallery"] = [localtrack.Image(colour(step + i)) for i in range(2)]
                row["preds"] = localtrack.Table(
                    columns=["id", "p"], data=[[i, i / 10 + step] for i in range(5)]
                )
                row["clip"] = localtrack.Audio(
                    np.sin(np.linspace(0, 200, 8000)).astype(np.float32), sample_rate=8000
                )
                row["page"] = localtrack.Html(f"<p>{name} at {step}</p>")
                curve = localtrack.Table(
                    columns=["x", "y"], data=[[i, i * (step + 1)] for i in range(8)]
                )
                row["curve"] = localtrack.plot.line(curve, "x", "y", title=f"{name} curve")
        if only and step == steps[-1]:
            row["only_here"] = localtrack.Image(colour(1))
        run.log(row, step=step)
    run.finish()
    return str(run.id)


def compare_runs(root: Path) -> dict[str, str]:
    """Run a: `samples` at 0, 10, 20 and `only_here`; run b: `samples` at 5, 15; run c: scalars
    only. With ``extra`` kinds (a gallery, a table, audio, HTML, a preset line chart) under shared keys in a and b."""
    return {
        "a": _log(root, "alpha", A_STEPS, extra=True, only=True),
        "b": _log(root, "beta", B_STEPS, extra=True, only=False),
        "c": _log(root, "gamma", (), extra=False, only=False),
    }
