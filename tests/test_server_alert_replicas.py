"""Alerts on two `localtrack server` replicas that share only PostgreSQL and the bucket.

Real processes on 127.0.0.1 with different `--dir`s, a real throwaway PostgreSQL
(tests/pg_fixtures.py), moto's S3 server (a test double for MinIO/Ceph/AWS) and a real webhook
receiver on loopback: a rule saved through one replica fires once, at the webhook, when a run
synced through the other crosses it (not for a run that arrived before the rule), and both
replicas list it; the replica that evaluates is
killed with -9 and the other takes the turn, firing the next crossing once and nothing twice.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .alert_fixtures import WebhookReceiver
from .sync_fixtures import ServerProcess, env_without_home, log_runs, run_cli, wait_until
from .test_server_replicas import _key
from .test_server_shared_state import _call

pytestmark = pytest.mark.server
EVALUATOR = re.compile(r"localtrack alert evaluator \(pid (\d+) ")
RULES = "/api/v1/projects/proj/alerts/rules"
FEED = "/api/v1/projects/proj/alerts"
WAIT_S = 120.0


def _evaluator_pid(url: str) -> int | None:
    """The process id of the replica holding the alert evaluator's advisory lock, as its
    connection names itself in pg_stat_activity (what an operator would look at)."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted"
        ).fetchall()
    found = [m for (name,) in rows if (m := EVALUATOR.match(name or ""))]
    return int(found[0].group(1)) if len(found) == 1 else None


def _fired(replica: ServerProcess, token: str) -> list[dict[str, Any]]:
    code, answer = _call(f"{replica.url}{FEED}", token)
    assert code == 200, answer
    return [i for i in answer["feed"] if i["source"] == "rule"]


def _delivered(items: list[dict[str, Any]]) -> bool:
    return all(d["ok"] is True for i in items for d in i["deliveries"])


def _sync(client: Path, tmp_path: Path, token: str, url: str) -> str:
    [run_id] = log_runs(client, n=1, steps=40, shards=1)  # k0 = sin(step / 7) crosses 0.5
    env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=token)
    synced = run_cli("sync", "--all", "--dir", str(client), "--to", url, env=env)
    assert synced.returncode == 0 and "1 sent" in synced.stdout, synced.stderr
    return run_id


def test_a_rule_saved_on_one_replica_fires_once_for_a_run_synced_through_the_other(
    tmp_path: Path, pg_url: str, bucket_env: dict[str, str], webhook: WebhookReceiver
) -> None:
    admin, writer = _key(tmp_path / "a", pg_url, "root", "admin"), _key(tmp_path / "a", pg_url, "ci", "write")  # fmt: skip
    token = admin["token"]
    replicas = [
        ServerProcess(tmp_path / name, env=bucket_env, args=("--index", pg_url)) for name in "ab"
    ]
    a, b = replicas
    try:
        for replica in replicas:
            replica.start()
        # a server shows a project's pages once it has runs; this one was there before the rule
        before = _sync(tmp_path / "client0", tmp_path, writer["token"], b.url)
        hook = webhook.url("/hook/team")
        rules = {
            "destinations": [{"id": "team", "type": "json"}],
            "rules": [{"id": "high", "type": "threshold", "metric": "k0", "value": 0.5}],
            "secrets": {"team": hook},
        }
        code, saved = _call(f"{a.url}{RULES}", token, rules, method="PUT")
        assert code == 200, saved
        code, seen = _call(f"{b.url}{RULES}", token)  # the same rules on the other replica
        assert code == 200 and [r["id"] for r in seen["rules"]] == ["high"], seen
        assert seen["destinations"][0]["secret_set"] is True and hook not in json.dumps(seen)
        assert wait_until(lambda: _evaluator_pid(pg_url) is not None, WAIT_S)

        first = _sync(tmp_path / "client1", tmp_path, writer["token"], b.url)
        (body,) = webhook.wait_for("/hook/team", 1, WAIT_S)
        assert (body["run_id"], body["rule"], body["level"]) == (first, "high", "WARN"), body
        assert "k0" in body["text"] and "above 0.5" in body["text"]
        for replica in replicas:  # listed once on both, with its delivery
            assert wait_until(lambda r=replica: _delivered(_fired(r, token)), WAIT_S)
            assert [i["run_id"] for i in _fired(replica, token)] == [first]

        # the evaluating replica dies; the other takes the turn and fires the next crossing once
        evaluating = next(r for r in replicas if r.proc and r.proc.pid == _evaluator_pid(pg_url))
        survivor = b if evaluating is a else a
        evaluating.kill()
        assert wait_until(lambda: _evaluator_pid(pg_url) == survivor.proc.pid, WAIT_S)  # type: ignore[union-attr]
        second = _sync(tmp_path / "client2", tmp_path, writer["token"], survivor.url)
        webhook.wait_for("/hook/team", 2, WAIT_S)
        assert wait_until(lambda: _delivered(_fired(survivor, token)), WAIT_S)
        assert sorted(i["run_id"] for i in _fired(survivor, token)) == sorted([first, second])
        sent = webhook.bodies["/hook/team"]  # every firing recorded, each delivered: none twice
        assert sorted(body["run_id"] for body in sent) == sorted([first, second])
        assert before not in {body["run_id"] for body in sent}
    finally:
        for replica in replicas:
            replica.stop()
