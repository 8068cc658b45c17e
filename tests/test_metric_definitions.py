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


@pytest.mark.parametrize("mapped_tail", [True, False], ids=["mapped-tail", "queue"])
def test_summary_reads_answer_from_memory_without_flushing(
    root: Path, monkeypatch: pytest.MonkeyPatch, mapped_tail: bool
) -> None:
    import localtrack.store.writer as writer_module

    if not mapped_tail:  # as on a network filesystem: rows go through the writer's queue
        monkeypatch.setattr(writer_module, "is_network_filesystem", lambda _path: True)
    run = localtrack.init(project="p", dir=root)
    assert (run._writer.segments is not None) is mapped_tail
    run.define_metric("loss", summary="min")
    run.define_metric("acc", summary="mean")
    run.log({"loss": 3.0, "acc": 0.5})
    run.flush()  # some rows written, some only queued when the summary is read
    flushes: list[object] = []
    monkeypatch.setattr(run._writer, "flush", lambda *a, **k: flushes.append(a) or True)
    for i, loss in enumerate([2.0, 5.0, 4.0]):
        run.log({"loss": loss, "acc": 0.25 * i, "flag": i % 2 == 0, "n": i})
        assert run.summary["loss"] == 2.0
    assert run.summary["acc"] == pytest.approx((0.5 + 0 + 0.25 + 0.5) / 4)
    assert dict(run.summary.items())["flag"] is True and run.summary["n"] == 2
    assert flushes == [], "a summary read flushed the writer"
    monkeypatch.undo()
    in_memory = run.summary.as_dict()
    run.finish()
    assert localtrack.Api(root).run(run.id).summary == in_memory


@pytest.fixture
def epoch_run(root: Path) -> str:
    run = localtrack.init(project="p", dir=root)
    run.define_metric("val/*", step_metric="epoch")
    run.define_metric("val/loss", summary="min")
    run.define_metric("val/acc", summary="max")
    for step in range(6):
        run.log({"train/loss": 1.0 / (step + 1), "epoch": step // 2})
        if step % 2 == 1:
            run.log({"val/loss": 2.0 - step / 10, "val/acc": step / 10}, step=step)
    run.finish()
    return run.id


def test_series_uses_the_step_metric_by_default(root: Path, epoch_run: str) -> None:
    run = localtrack.Api(root).run(epoch_run)
    val = run.series("val/loss")
    assert val.x_axis == "epoch" and list(val.x) == [0, 1, 2]
    assert list(run.series("val/loss", x="step").x) == [1, 3, 5]  # still switchable
    assert run.series("train/loss").x_axis == "step"
    assert [s.x_axis for s in run._reader.series_many([epoch_run], "val/acc")] == ["epoch"]


def test_chart_json_defaults_to_the_step_metric(root: Path, epoch_run: str) -> None:
    from webui import create_app

    client = create_app(root, watch=False).test_client()
    body = client.get(f"/api/v1/series?runs={epoch_run}&key=val/loss&x=default").json
    assert body["x_axis"] == "epoch" and body["x"] == [0, 1, 2] and body["x_default"]
    body = client.get(f"/api/v1/series?runs={epoch_run}&key=val/loss&x=step").json
    assert body["x_axis"] == "step" and body["x"] == [1, 3, 5]


def test_runs_json_says_each_columns_summary_mode(root: Path, epoch_run: str) -> None:
    from webui import create_app

    client = create_app(root, watch=False).test_client()
    body = client.get("/api/v1/projects/p/runs").json
    assert body["summary_modes"] == {"val/acc": "max", "val/loss": "min"}
    row = localtrack.Api(root).run(epoch_run).summary
    assert row["val/loss"] == pytest.approx(1.5) and row["val/acc"] == pytest.approx(0.5)
