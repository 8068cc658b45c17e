"""`localtrack alerts watch` as a real process: a training script's run.alert() and its kill -9
reach a loopback webhook; a restarted watcher fires nothing twice; `alerts test` prints outcomes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import localtrack
from localtrack.alerts import config
from localtrack.sync.bundle import export_bundle, import_bundle

from .alert_fixtures import WebhookReceiver
from .store_fixtures import Child, child_env, write_script
from .sync_fixtures import ServerProcess, wait_until

QUIET = localtrack.Settings(
    system_metrics=False, capture_git=False, capture_packages=False, console=False
)

TRAIN = """
    import sys, localtrack
    run = localtrack.init(dir=sys.argv[1], project="p", name="doomed",
                          settings=localtrack.Settings(system_metrics=False, console=False))
    run.log({"loss": 1.0})
    run.alert("warming up", "lr schedule starts", level="INFO")
    run.flush()
    print("ready", flush=True)
    sys.stdin.readline()  # until killed
"""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "localtrack.cli", *args]


def _configure(root: Path, webhook: WebhookReceiver) -> None:
    config.save_rules(
        root,
        "p",
        {
            "destinations": [{"id": "hook", "type": "json"}],
            "rules": [{"id": "crash", "type": "crashed"}],
        },
    )
    config.set_secret(root, "p", "hook", "url", webhook.url("/hook/p"))


def _lines(root: Path) -> list[dict]:
    path = root / "alerts" / "p" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.crash
def test_watch_delivers_a_script_alert_and_a_kill_9_once(
    root: Path, tmp_path: Path, webhook: WebhookReceiver
) -> None:
    root.mkdir()
    _configure(root, webhook)
    child = Child(write_script(tmp_path, "train.py", TRAIN), root)
    child.expect("ready")
    watch = subprocess.Popen(
        _cli("alerts", "watch", "--dir", str(root), "--interval", "0.3"),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        (first,) = webhook.wait_for("/hook/p", 1, 60)
        assert (first["title"], first["source"]) == ("warming up", "script")
        child.kill9()
        bodies = webhook.wait_for("/hook/p", 2, 60)
        assert bodies[1]["condition"] == "crashed" and bodies[1]["run_name"] == "doomed"
        assert wait_until(lambda: sum(e["kind"] == "delivery" for e in _lines(root)) == 2, 60)
    finally:
        watch.send_signal(signal.SIGTERM)
        out, err = watch.communicate(timeout=60)
    assert watch.returncode == 0, err
    assert "fired: [INFO] warming up (p run doomed)" in out
    assert "fired: [ERROR] crash: run crashed (p run doomed)" in out

    again = subprocess.run(
        _cli("alerts", "watch", "--dir", str(root), "--once"),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert "fired" not in again.stdout  # a restart remembers what fired
    assert len(webhook.bodies["/hook/p"]) == 2


def test_alerts_test_prints_each_outcome_and_fails_when_one_fails(
    root: Path, webhook: WebhookReceiver
) -> None:
    root.mkdir()
    config.save_rules(
        root,
        "p",
        {"destinations": [{"id": "good", "type": "slack"}, {"id": "bad", "type": "discord"}]},
    )
    config.set_secret(root, "p", "good", "url", webhook.url("/hook/good"))
    config.set_secret(root, "p", "bad", "url", webhook.url("/redirect"))
    done = subprocess.run(
        _cli("alerts", "test", "p", "--dir", str(root)),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "ok   good: delivered (HTTP 200)" in done.stdout
    assert "FAIL bad: the webhook answered a redirect (HTTP 302)" in done.stdout
    missing = subprocess.run(
        _cli("alerts", "test", "nope", "--dir", str(root)),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and "project 'nope' has no destinations" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.server
def test_the_central_server_evaluates_runs_that_arrive_by_import(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    cluster = tmp_path / "cluster"
    run = localtrack.init(dir=cluster, project="p", name="far-away", settings=QUIET)
    run.log({"loss": 0.1})
    run.alert("from the cluster", "raised before the server had any rule", level="WARN")
    run.finish()  # ran and finished before the server's rules existed
    bundle = tmp_path / "runs.ltbundle"
    export_bundle(cluster, [run.id], bundle)
    central = tmp_path / "central"
    central.mkdir()
    config.save_rules(
        central,
        "p",
        {
            "destinations": [{"id": "hook", "type": "json"}],
            "rules": [{"id": "done", "type": "finished"}],
        },
    )
    config.set_secret(central, "p", "hook", "url", webhook.url("/hook/central"))
    server = ServerProcess(central).start()
    try:
        import_bundle(bundle, central)  # into the running server's store
        bodies = webhook.wait_for("/hook/central", 2, 60)
    finally:
        server.stop()
    assert sorted((b["source"], b["run_name"]) for b in bodies) == [
        ("rule", "far-away"),
        ("script", "far-away"),
    ]
    assert {b["title"] for b in bodies} == {"done: run finished", "from the cluster"}
