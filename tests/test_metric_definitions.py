"""define_metric(): how calls combine, and what readers, summaries and charts make of them."""

from __future__ import annotations

from pathlib import Path

import pytest

import localtrack
from localtrack.store.runmeta import metric_definition


@pytest.mark.parametrize(
    ("calls", "key", "expected"),
    [
        # an exact name beats a glob whatever the order of the calls
        ([("val/loss", None, "min"), ("val/*", None, "max")], "val/loss", (None, "min")),
        ([("val/*", None, "max"), ("val/loss", None, "min")], "val/loss", (None, "min")),
        # among globs the most recent wins
        ([("val/*", None, "max"), ("*", None, "min")], "val/acc", (None, "min")),
        ([("*", None, "min"), ("val/*", None, "max")], "val/acc", (None, "max")),
        # a field the winner leaves unset falls through
        ([("val/*", "epoch", "max"), ("val/loss", None, "min")], "val/loss", ("epoch", "min")),
        # a glob never matches as an exact name, and a plain name never as a glob
        ([("val/a", None, "max")], "val/ab", (None, None)),
    ],
)
def test_metric_definition_combines_as_wandb(calls, key, expected) -> None:
    definitions = [{"name": n, "step_metric": x, "summary": s} for n, x, s in calls]
    found = metric_definition(key, definitions)
    assert (found["step_metric"], found["summary"]) == expected


def test_define_metric_exact_summary_survives_a_later_glob(root: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    run.define_metric("val/acc", summary="max")
    run.define_metric("val/*", step_metric="epoch")
    run.define_metric("val/*", summary="last")  # same name again: adds to the first call
    for epoch, acc in enumerate([0.5, 0.9, 0.7]):
        run.log({"val/acc": acc, "val/loss": 1.0 - acc, "epoch": epoch})
    assert run.summary["val/acc"] == 0.9
    assert run.step_metric_for("val/loss") == "epoch"
    run.finish()
    info = localtrack.Api(root).run(run.id)
    assert info.summary["val/acc"] == 0.9
    assert info.summary["val/loss"] == pytest.approx(0.3)
