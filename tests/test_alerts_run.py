"""run.alert(): printed, recorded in the run's alerts.jsonl, rate-limited per title, and carried
by export, import and sync with its schema checked on receipt."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

import localtrack
from localtrack.errors import BundleError, UsageError
from localtrack.store.reader import StoreReader
from localtrack.sync.bundle import BundleSource, export_bundle, import_bundle
from localtrack.sync.client import SyncClient
from localtrack.sync.remote import Remote
from webui.server.app import create_server_app

from .sync_fixtures import AppTransport, fast_retry

QUIET = localtrack.Settings(
    system_metrics=False, capture_git=False, capture_packages=False, console=False
)


def _run(root: Path) -> localtrack.Run:
    return localtrack.init(dir=root, project="p", settings=QUIET)


def test_alert_is_printed_and_recorded_with_level_and_step(
    root: Path, capsys: pytest.CaptureFixture
) -> None:
    run = _run(root)
    for step in range(3):
        run.log({"loss": 1.0 / (step + 1)})
    run.alert("loss diverged", "loss is nan\nat step 2", level=localtrack.AlertLevel.ERROR)
    localtrack.alert(title="half way", text="50%", level="warn", wait_duration=0)
    run.finish()
    err = capsys.readouterr().err
    assert "localtrack: ALERT [ERROR] loss diverged: loss is nan" in err
    alerts = StoreReader(root).alerts(run.id)
    assert [(a["title"], a["level"], a["step"]) for a in alerts] == [
        ("loss diverged", "ERROR", 2),
        ("half way", "WARN", 2),
    ]
    assert alerts[0]["text"] == "loss is nan\nat step 2"


def test_same_title_within_wait_duration_is_dropped(root: Path) -> None:
    run = _run(root)
    run.alert("slow", "first")  # W&B's default wait: one per title per minute
    run.alert("slow", "second, dropped")
    run.alert("other", "a different title is not held back")
    run.alert("quick", "a", wait_duration=datetime.timedelta(seconds=0))
    run.alert("quick", "b", wait_duration=0.0)
    run.finish()
    texts = [a["text"] for a in StoreReader(root).alerts(run.id)]
    assert texts == ["first", "a different title is not held back", "a", "b"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "LOUD"}, "INFO, WARN, ERROR"),
        ({"wait_duration": "5m"}, "timedelta"),
        ({"wait_duration": -1}, "zero or more"),
    ],
)
def test_bad_level_or_wait_is_a_clear_usage_error(
    root: Path, kwargs: dict[str, object], message: str
) -> None:
    run = _run(root)
    with pytest.raises(UsageError, match=message):
        run.alert("t", "x", **kwargs)  # type: ignore[arg-type]
    run.log({"still": 1})  # the run goes on
    run.finish()
    assert StoreReader(root).alerts(run.id) == []


def test_a_torn_or_bad_line_does_not_hide_the_others(root: Path) -> None:
    run = _run(root)
    run.alert("one", "1")
    run.finish()
    path = root / "runs" / run.id / "alerts.jsonl"
    with open(path, "a") as f:
        f.write('{"id": "x", "title": 5}\n{"id": "y", "ti')  # a bad line, then a torn one
    assert [a["title"] for a in StoreReader(root).alerts(run.id)] == ["one"]


def _alerted_run(root: Path) -> str:
    run = _run(root)
    run.log({"loss": 0.5})
    run.alert("from the cluster", "it travels", level="ERROR")
    run.finish()
    return run.id


def test_alerts_travel_in_a_bundle_and_through_sync(tmp_path: Path) -> None:
    source = tmp_path / "cluster"
    run_id = _alerted_run(source)
    bundle = tmp_path / "runs.ltbundle"
    export_bundle(source, [run_id], bundle)
    imported = tmp_path / "imported"
    report = import_bundle(bundle, imported)
    assert report.changed == [run_id] and not report.failed
    original = (source / "runs" / run_id / "alerts.jsonl").read_bytes()
    assert (imported / "runs" / run_id / "alerts.jsonl").read_bytes() == original

    server = tmp_path / "server"
    app = create_server_app(server, watch=False)
    try:
        client = SyncClient(BundleSource(bundle), Remote(AppTransport(app), retry=fast_retry(3)))
        assert [r.outcome for r in client.sync([run_id]).runs] == ["sent"]
    finally:
        app.extensions["localtrack"].close()
    titles = [a["title"] for a in StoreReader(server).alerts(run_id)]
    assert titles == ["from the cluster"]


def test_a_bad_alerts_log_is_refused_on_receipt_naming_line_and_field(tmp_path: Path) -> None:
    source = tmp_path / "cluster"
    run_id = _alerted_run(source)
    bad = {"id": "z", "time": 1.0, "title": "t", "text": "x", "level": "LOUD"}
    with open(source / "runs" / run_id / "alerts.jsonl", "a") as f:
        f.write(json.dumps(bad) + "\n")
    bundle = tmp_path / "runs.ltbundle"
    export_bundle(source, [run_id], bundle)
    target = tmp_path / "imported"
    with pytest.raises(BundleError) as refused:
        import_bundle(bundle, target)
    problem = str(refused.value)
    assert "alerts.jsonl" in problem and "line 2" in problem and "'level'" in problem
    assert not (target / "runs" / run_id).exists()


def test_an_alert_that_cannot_be_recorded_never_fails_training(
    root: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    run = _run(root)
    (root / "runs" / run.id / "alerts.jsonl").mkdir()  # the log cannot be opened for appending
    run.alert("disk trouble", "still printed")
    run.log({"loss": 0.1})
    run.finish()
    assert "ALERT [INFO] disk trouble: still printed" in capsys.readouterr().err
    assert "could not be recorded" in caplog.text
