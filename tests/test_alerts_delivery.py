"""Alerts arrive end to end: a training script's run.alert() and every rule type reach a loopback
webhook receiver (Slack-compatible, Discord, Teams, JSON) and a loopback SMTP server (STARTTLS and
a login); each fires once, also across a restart; faults are clear recorded outcomes."""

from __future__ import annotations

import math
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

import localtrack
from localtrack.alerts import config, events
from localtrack.alerts.dispatch import Dispatcher
from localtrack.alerts.evaluator import Evaluator, send_test_alert
from localtrack.errors import DocumentError

from .alert_fixtures import SMTP_PASSWORD, SMTP_USER, SmtpServer, WebhookReceiver

QUIET = localtrack.Settings(
    system_metrics=False, capture_git=False, capture_packages=False, console=False
)
PROJECT = "alerts-demo"
WAIT_S = 60.0


def _email(smtp: SmtpServer, dest_id: str = "mail") -> dict[str, Any]:
    return {
        "id": dest_id,
        "type": "email",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "security": "starttls",
        "username": SMTP_USER,
        "sender": "tracker@example.org",
        "to": ["team@example.org"],
        "ca_file": str(smtp.ca_file),
        "timeout_s": 20,
    }


def _configure(root: Path, hook: WebhookReceiver, smtp: SmtpServer) -> None:
    destinations = [
        {"id": kind, "type": kind} for kind in ("slack", "discord", "teams", "json")
    ] + [_email(smtp)]
    rules = [
        {"id": "script", "type": "script"},
        {"id": "crash", "type": "crashed"},
        {"id": "stall", "type": "stalled", "minutes": 1},
        {"id": "nan", "type": "nan", "metric": "loss"},
        {
            "id": "acc",
            "type": "threshold",
            "metric": "acc",
            "direction": "above",
            "value": 0.5,
            "min_step": 5,
        },
        {"id": "done", "type": "finished"},
    ]
    config.save_rules(root, PROJECT, {"destinations": destinations, "rules": rules})
    for kind in ("slack", "discord", "teams", "json"):
        config.set_secret(root, PROJECT, kind, "url", hook.url(f"/hook/{kind}"))
    config.set_secret(root, PROJECT, "mail", "password", SMTP_PASSWORD)


def _run(root: Path, name: str) -> localtrack.Run:
    return localtrack.init(dir=root, project=PROJECT, name=name, settings=QUIET)


def _train(root: Path) -> localtrack.Run:
    """One run per rule type; returns the one left running (it stalls)."""
    run = _run(root, "scripted")
    run.log({"loss": 1.0})
    run.alert("loss spiked", "loss jumped at step 0", level=localtrack.AlertLevel.WARN)
    run.finish()
    run = _run(root, "broken")
    run.log({"loss": 1.0})
    run.finish(exit_code=3)
    run = _run(root, "diverged")
    for value in (1.0, 0.5, math.nan):
        run.log({"loss": value})
    run.finish()
    run = _run(root, "learner")
    for step in range(10):
        run.log({"acc": 0.9 if step == 1 else step / 10})  # step 1 is under min_step
    run.finish()
    stalled = _run(root, "stuck")
    stalled.log({"loss": 2.0})
    stalled.flush()
    return stalled


def _titles(bodies: list[Any], field: str) -> list[str]:
    return sorted(str(b[field]) for b in bodies)


def test_script_alert_and_every_rule_type_arrive_at_webhooks_and_smtp(
    root: Path, webhook: WebhookReceiver, smtp_server: SmtpServer
) -> None:
    _configure(root, webhook, smtp_server)
    stuck = _train(root)
    evaluator = Evaluator(root, Dispatcher(root, backoff_s=0.05), interval_s=1)
    try:
        fired = evaluator.evaluate_once(now=time.time() + 120)  # two minutes on: "stuck" stalls
        conditions = sorted((e["run_name"], e["condition"].split(":")[0]) for e in fired)
        assert conditions == [
            ("broken", "failed"), ("diverged", "finished"), ("diverged", "nan"),
            ("learner", "finished"), ("learner", "threshold"), ("scripted", "finished"),
            ("scripted", "script"), ("stuck", "stalled"),
        ]  # fmt: skip
        n = len(fired)
        slack = webhook.wait_for("/hook/slack", n, WAIT_S)
        discord = webhook.wait_for("/hook/discord", n, WAIT_S)
        teams = webhook.wait_for("/hook/teams", n, WAIT_S)
        plain = webhook.wait_for("/hook/json", n, WAIT_S)
        mails = smtp_server.wait_for(n, WAIT_S)
        assert evaluator.dispatcher.idle(WAIT_S)
        assert evaluator.evaluate_once(now=time.time() + 240) == []  # each fires once
    finally:
        evaluator.close()
        evaluator.dispatcher.close()
        stuck.finish()
    assert any("[WARN] loss spiked" in t and "loss jumped" in t for t in _titles(slack, "text"))
    assert any("loss became NaN or Inf at step 2" in t for t in _titles(discord, "content"))
    card_texts = [b["attachments"][0]["content"]["body"][1]["text"] for b in teams]
    assert any("acc = 0.6 at step 6, above 0.5" in t for t in card_texts)
    assert any("failed with exit code 3" in b["text"] and b["level"] == "ERROR" for b in plain)
    assert any("no heartbeat" in b["text"] or "no new step" in b["text"] for b in plain)
    subjects = sorted(str(m["Subject"]) for m in mails)
    assert "[localtrack WARN] loss spiked" in subjects
    assert all(m["To"] == "team@example.org" for m in mails)
    feed = events.feed(events.read(root, PROJECT))
    outcomes = {(d["destination"], d["ok"]) for item in feed for d in item["deliveries"]}
    assert outcomes == {(d, True) for d in ("slack", "discord", "teams", "json", "mail")}

    # a restarted evaluator reads what fired from the events log: only what is new fires
    again = Evaluator(root, Dispatcher(root), interval_s=1)
    try:
        news = again.evaluate_once(now=time.time() + 360)
        assert [(e["run_name"], e["condition"]) for e in news] == [("stuck", "finished")]
    finally:
        again.close()
        again.dispatcher.close()


def test_rules_created_later_do_not_fire_for_what_happened_before(
    root: Path, webhook: WebhookReceiver
) -> None:
    run = _run(root, "old")
    run.log({"loss": math.nan})
    run.finish()
    time.sleep(0.01)  # the rule is stamped after the run ended
    config.save_rules(
        root,
        PROJECT,
        {"destinations": [{"id": "j", "type": "json"}], "rules": [{"id": "d", "type": "finished"}]},
    )
    config.set_secret(root, PROJECT, "j", "url", webhook.url("/hook/json"))
    evaluator = Evaluator(root, Dispatcher(root))
    try:
        assert evaluator.evaluate_once() == []
        new = _run(root, "new")
        new.finish()
        assert [e["run_name"] for e in evaluator.evaluate_once()] == ["new"]
        webhook.wait_for("/hook/json", 1, WAIT_S)
    finally:
        evaluator.close()
        evaluator.dispatcher.close()


def _deliver_test(root: Path, destinations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    config.save_rules(root, PROJECT, {"destinations": destinations, "rules": []})
    dispatcher = Dispatcher(root, attempts=3, backoff_s=0.05)
    try:
        send_test_alert(root, PROJECT, dispatcher)
        assert dispatcher.idle(WAIT_S)
    finally:
        dispatcher.close()
    (item,) = events.feed(events.read(root, PROJECT))
    return {d["destination"]: d for d in item["deliveries"]}


def test_faults_are_clear_recorded_outcomes(
    root: Path, webhook: WebhookReceiver, smtp_server: SmtpServer
) -> None:
    names = ("fail", "flaky", "redirect", "slow", "ok")
    dests: list[dict[str, Any]] = [
        {"id": n, "type": "slack", "timeout_s": 1 if n == "slow" else 20} for n in names
    ]
    dests += [{"id": "unset", "type": "discord", "url_env": "LT_TEST_NO_SUCH_HOOK"}]
    dests += [dict(_email(smtp_server, "badmail"))]
    for n in names:
        config.set_secret(
            root, PROJECT, n, "url", webhook.url(f"/{n}" if n != "ok" else "/hook/ok")
        )
    config.set_secret(root, PROJECT, "badmail", "password", "wrong")
    out = _deliver_test(root, dests)
    assert (out["fail"]["ok"], out["fail"]["attempts"]) == (False, 3)
    assert "HTTP 500" in out["fail"]["detail"]
    assert (out["flaky"]["ok"], out["flaky"]["attempts"]) == (True, 2)
    assert (out["redirect"]["ok"], out["redirect"]["attempts"]) == (False, 1)
    assert "redirect (HTTP 302)" in out["redirect"]["detail"]
    assert "did not answer within 1s" in out["slow"]["detail"] and not out["slow"]["ok"]
    assert out["ok"]["ok"] is True
    assert "$LT_TEST_NO_SUCH_HOOK is not set" in out["unset"]["detail"]
    assert "refused the login of 'alerts'" in out["badmail"]["detail"]
    assert (out["badmail"]["ok"], out["badmail"]["attempts"]) == (False, 1)
    assert len(webhook.bodies["/fail"]) == 3 and len(webhook.bodies["/redirect"]) == 1
    assert "/hook/elsewhere" not in webhook.bodies  # the redirect was not followed
    recorded = (root / "alerts" / PROJECT / "events.jsonl").read_text()
    assert "127.0.0.1" not in recorded  # outcomes never carry the secret URL


def test_secrets_stay_out_of_the_rules_file(root: Path, webhook: WebhookReceiver) -> None:
    config.save_rules(root, PROJECT, {"destinations": [{"id": "s", "type": "slack"}]})
    config.set_secret(root, PROJECT, "s", "url", webhook.url("/hook/secret-token"))
    assert "secret-token" not in (root / "alerts" / PROJECT / "rules.json").read_text()
    secrets = root / "alerts" / PROJECT / "secrets.json"
    assert stat.S_IMODE(os.stat(secrets).st_mode) == 0o600
    dest = config.load(root, PROJECT).destinations[0]
    assert config.secret_for(root, PROJECT, dest, "url") == webhook.url("/hook/secret-token")


def test_a_rule_naming_a_missing_metric_is_recorded_once_and_sends_nothing(
    root: Path, webhook: WebhookReceiver
) -> None:
    config.save_rules(
        root,
        PROJECT,
        {
            "destinations": [{"id": "j", "type": "json"}],
            "rules": [{"id": "typo", "type": "threshold", "metric": "lsos", "value": 1.0}],
        },
    )
    config.set_secret(root, PROJECT, "j", "url", webhook.url("/hook/json"))
    run = _run(root, "r")
    run.log({"loss": 3.0})
    run.finish()
    evaluator = Evaluator(root, Dispatcher(root))
    try:
        (problem,) = evaluator.evaluate_once()
        assert problem["kind"] == "problem" and "'lsos'" in problem["text"]
        assert "metrics seen: loss" in problem["text"]
        assert evaluator.evaluate_once() == []
        assert evaluator.dispatcher.idle(WAIT_S)
    finally:
        evaluator.close()
        evaluator.dispatcher.close()
    assert "/hook/json" not in webhook.bodies


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"rules": [{"id": "t", "type": "threshold", "metric": "loss"}]}, "rules[0].value"),
        ({"rules": [{"id": "s", "type": "stalled"}]}, "rules[0].minutes"),
        ({"rules": [{"id": "x", "type": "explode"}]}, "rules[0].type"),
        ({"rules": [{"id": "a", "type": "finished", "destinations": ["nope"]}]}, "destinations"),
        ({"destinations": [{"id": "m", "type": "email"}]}, "destinations[0].smtp_host"),
        ({"destinations": [{"id": "w", "type": "slack", "url_env": "a b"}]}, "url_env"),
        ({"rules": [{"id": "n", "type": "nan", "mertic": "loss"}]}, "rules[0].mertic"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    root: Path, doc: dict[str, Any], field: str
) -> None:
    with pytest.raises(DocumentError) as refused:
        config.save_rules(root, PROJECT, doc)
    assert field in str(refused.value)
    assert not (root / "alerts" / PROJECT / "rules.json").exists()


def test_without_a_script_rule_run_alerts_go_to_every_destination(
    root: Path, webhook: WebhookReceiver
) -> None:
    old = _run(root, "before")
    old.alert("too early", "raised before any destination existed")
    old.finish()
    time.sleep(0.01)
    config.save_rules(root, PROJECT, {"destinations": [{"id": "a", "type": "json"},
                                                       {"id": "b", "type": "slack"}]})  # fmt: skip
    config.set_secret(root, PROJECT, "a", "url", webhook.url("/hook/a"))
    config.set_secret(root, PROJECT, "b", "url", webhook.url("/hook/b"))
    run = _run(root, "after")
    run.alert("loss diverged", "nan at step 7", level="ERROR")
    run.finish()
    evaluator = Evaluator(root, Dispatcher(root))
    try:
        fired = evaluator.evaluate_once()
        assert [(e["title"], e["source"]) for e in fired] == [("loss diverged", "script")]
        (body,) = webhook.wait_for("/hook/a", 1, WAIT_S)
        assert (body["title"], body["level"], body["run_name"]) == (
            "loss diverged",
            "ERROR",
            "after",
        )
        webhook.wait_for("/hook/b", 1, WAIT_S)
    finally:
        evaluator.close()
        evaluator.dispatcher.close()


def test_an_idle_unchanged_store_is_not_read_again(
    root: Path, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.save_rules(
        root,
        PROJECT,
        {"destinations": [{"id": "j", "type": "json"}], "rules": [{"id": "d", "type": "finished"}]},
    )
    config.set_secret(root, PROJECT, "j", "url", webhook.url("/hook/json"))
    evaluator = Evaluator(root, Dispatcher(root))
    listed: list[str] = []
    real = evaluator.reader.runs
    monkeypatch.setattr(evaluator.reader, "runs", lambda p=None: listed.append(p) or real(p))
    try:
        run = _run(root, "one")
        run.finish()
        assert len(evaluator.evaluate_once()) == 1
        assert evaluator.evaluate_once() == [] and len(listed) == 1  # nothing changed: skipped
        other = _run(root, "two")
        other.finish()
        assert [e["run_name"] for e in evaluator.evaluate_once()] == ["two"]
        assert evaluator.dispatcher.idle(WAIT_S)
    finally:
        evaluator.close()
        evaluator.dispatcher.close()
