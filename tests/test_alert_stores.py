"""A store's alert state in its files and in PostgreSQL, held to the same expectations: rules
stamped once, secrets kept apart, an event recorded once by its identity, one evaluator's turn at
a time; and `server migrate` carrying all of it there and back (real PostgreSQL,
tests/pg_fixtures.py). Replicas sharing this state are tested in test_server_alert_replicas.py.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import localtrack
from localtrack.alerts.dispatch import Dispatcher
from localtrack.alerts.evaluator import Evaluator
from localtrack.alerts.events import feed
from localtrack.alerts.stores import AlertStore, DirAlertStore, PgAlertStore
from localtrack.errors import DocumentError, IndexUnavailableError
from localtrack.servermigrate import migrate_server
from localtrack.store.root import StoreRoot

from .alert_fixtures import WebhookReceiver

PROJECT = "team/p"
RULES = {
    "destinations": [{"id": "hook", "type": "slack"}, {"id": "env", "type": "json", "url_env": "LT_TEST_HOOK"}],
    "rules": [{"id": "done", "type": "finished"}],
}  # fmt: skip


QUIET = localtrack.Settings(system_metrics=False, capture_git=False, console=False)


def _finished_rule(alert_store: AlertStore, webhook: WebhookReceiver) -> None:
    """Project "p": a "run finished" rule sending to a JSON webhook at /hook/p."""
    rules = {"destinations": [{"id": "j", "type": "json"}], "rules": [{"id": "d", "type": "finished"}]}  # fmt: skip
    alert_store.save_rules("p", rules)
    alert_store.set_secret("p", "j", "url", webhook.url("/hook/p"))


@pytest.fixture(params=["files", "postgresql"])
def alert_store(request: pytest.FixtureRequest, root: Path) -> Iterator[AlertStore]:
    store: AlertStore
    if request.param == "files":
        store = DirAlertStore(root)
    else:
        store = PgAlertStore(request.getfixturevalue("pg_url"))
    yield store
    store.close()


def _twin(store: AlertStore) -> AlertStore:
    """The same state as another process sees it (its own object, connection, file handle)."""
    if isinstance(store, DirAlertStore):
        return DirAlertStore(store.root)
    assert isinstance(store, PgAlertStore)
    return PgAlertStore(store.tables.url)


def _fired(event_id: str, run_id: str = "r1", condition: str = "finished") -> dict[str, Any]:
    return {"kind": "fired", "id": event_id, "project": PROJECT, "run_id": run_id,
            "run_name": "one", "rule": "done", "rule_name": "done", "condition": condition,
            "level": "INFO", "title": "done: run finished", "text": "", "source": "rule",
            "destinations": ["hook"]}  # fmt: skip


def _delivery(event_id: str, ok: bool, attempts: int) -> dict[str, Any]:
    detail = "delivered (HTTP 200)" if ok else "the webhook answered HTTP 500"
    return {"kind": "delivery", "event": event_id, "destination": "hook", "ok": ok,
            "attempts": attempts, "detail": detail}  # fmt: skip


def test_rules_are_checked_stamped_once_and_seen_by_another_process(
    alert_store: AlertStore,
) -> None:
    stored = alert_store.save_rules(PROJECT, RULES)
    created = stored["rules"][0]["created_at"]
    assert created > 0 and stored["destinations"][0]["created_at"] > 0
    other = _twin(alert_store)
    assert other.projects() == [PROJECT]
    assert other.rules_doc(PROJECT) == stored
    assert [r.id for r in other.setup(PROJECT).rules] == ["done"]
    first_saved = other.rules_saved_at(PROJECT)

    again = other.save_rules(PROJECT, {**RULES, "rules": [{"id": "done", "type": "finished", "name": "Done"}]})  # fmt: skip
    assert again["rules"][0]["created_at"] == created  # it fires for what happened since then
    assert alert_store.rules_doc(PROJECT)["rules"][0]["name"] == "Done"
    assert (alert_store.rules_saved_at(PROJECT) or 0) >= (first_saved or 0)
    with pytest.raises(DocumentError, match=r"rules\[0\]\.value"):
        alert_store.save_rules(PROJECT, {"rules": [{"id": "t", "type": "threshold", "metric": "loss"}]})  # fmt: skip
    assert alert_store.rules_doc(PROJECT) == again  # the bad document changed nothing
    assert alert_store.rules_doc("nobody")["rules"] == []
    other.close()


def test_secrets_are_kept_apart_from_the_rules_and_the_environment_wins(
    alert_store: AlertStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    alert_store.save_rules(PROJECT, RULES)
    url = "https://hooks.example.org/services/secret-token"
    alert_store.set_secret(PROJECT, "hook", "url", url)
    other = _twin(alert_store)
    hook, env = other.setup(PROJECT).destinations
    assert "secret-token" not in json.dumps(other.rules_doc(PROJECT))
    assert other.secret_for(PROJECT, hook, "url") == url and other.secret_set(PROJECT, hook, "url")
    assert not other.secret_set(PROJECT, env, "url")
    monkeypatch.setenv("LT_TEST_HOOK", "https://elsewhere.example.org/h")
    assert other.secret_for(PROJECT, env, "url") == "https://elsewhere.example.org/h"
    alert_store.set_secret(PROJECT, "hook", "url", None)
    assert not other.secret_set(PROJECT, hook, "url")
    with pytest.raises(DocumentError, match="'url' or 'password'"):
        alert_store.set_secret(PROJECT, "hook", "token", "x")
    other.close()


def test_an_event_is_recorded_once_by_its_identity_and_a_delivery_keeps_its_latest_outcome(
    alert_store: AlertStore,
) -> None:
    other = _twin(alert_store)
    first = alert_store.record(PROJECT, _fired("a1"))
    assert first is not None and first["time"] > 0
    # another evaluator seeing the same rule, run and condition (with its own random id)
    assert other.record(PROJECT, _fired("a2")) is None
    assert alert_store.record(PROJECT, _fired("a3", condition="failed")) is not None
    tests = [alert_store.record(PROJECT, {**_fired(i), "rule": None, "source": "test"}) for i in ("t1", "t2")]  # fmt: skip
    assert all(t is not None for t in tests)  # test alerts are told apart by their ids
    assert other.record(PROJECT, _delivery("a1", False, 4)) is not None
    assert alert_store.record(PROJECT, _delivery("a1", True, 1)) is not None
    again = alert_store.events(PROJECT)[-1]
    assert alert_store.record(PROJECT, again) is None  # the same outcome again: nothing new

    items = feed(other.events(PROJECT))
    assert [i["id"] for i in items] == ["t2", "t1", "a3", "a1"]
    assert [(d["destination"], d["ok"]) for d in items[-1]["deliveries"]] == [("hook", True)]
    assert items[1]["deliveries"] == [
        {"destination": "hook", "ok": None, "attempts": 0, "detail": "pending", "time": None}
    ]
    other.close()


def test_one_process_holds_the_evaluator_turn_until_it_lets_go(alert_store: AlertStore) -> None:
    other = _twin(alert_store)
    assert alert_store.holds_turn()
    assert not other.holds_turn()
    assert alert_store.holds_turn()  # kept, not taken twice
    alert_store.release_turn()
    assert other.holds_turn()
    assert not alert_store.holds_turn()
    other.close()  # closing lets go too
    assert alert_store.holds_turn()


def test_two_evaluators_take_turns_and_fire_each_alert_once(
    alert_store: AlertStore, root: Path, webhook: WebhookReceiver
) -> None:
    """Two evaluating processes of one store (here: two evaluators with their own connections
    or file handles): one evaluates; when it stops, the other takes over, firing what is new
    and nothing the first one fired."""
    _finished_rule(alert_store, webhook)
    first = Evaluator(root, Dispatcher(alert_store))
    second = Evaluator(root, Dispatcher(_twin(alert_store)))
    try:
        localtrack.init(dir=root, project="p", name="one", settings=QUIET).finish()
        assert [e["run_name"] for e in first.evaluate_once()] == ["one"]
        assert second.evaluate_once() == []  # not its turn
        first.close()
        localtrack.init(dir=root, project="p", name="two", settings=QUIET).finish()
        assert [e["run_name"] for e in second.evaluate_once()] == ["two"]
        bodies = webhook.wait_for("/hook/p", 2)
        assert second.dispatcher.idle(60) and first.dispatcher.idle(60)
    finally:
        for evaluator in (first, second):
            evaluator.close()
            evaluator.dispatcher.close()
        second.alert_store.close()
    assert sorted(b["run_name"] for b in bodies) == ["one", "two"]
    assert len(webhook.bodies["/hook/p"]) == 2


def test_an_alert_recorded_but_never_sent_is_sent_by_the_next_evaluator_once(
    alert_store: AlertStore, root: Path, webhook: WebhookReceiver
) -> None:
    """A process that dies between recording an alert and delivering it (its dispatcher here
    never runs): the next process to take the turn sends it, once."""
    _finished_rule(alert_store, webhook)
    dead = Dispatcher(alert_store)
    dead.close()  # what it is handed is never sent
    first = Evaluator(root, dead)
    localtrack.init(dir=root, project="p", name="one", settings=QUIET).finish()
    assert [e["run_name"] for e in first.evaluate_once()] == ["one"]
    first.close()
    later = [Evaluator(root, Dispatcher(_twin(alert_store))) for _ in range(2)]
    try:
        for evaluator in later:  # one after the other: only the first sends it
            assert evaluator.evaluate_once() == []  # nothing new fires
            assert evaluator.dispatcher.idle(60)
            evaluator.close()
    finally:
        for evaluator in later:
            evaluator.close()
            evaluator.dispatcher.close()
            evaluator.alert_store.close()
    (body,) = webhook.wait_for("/hook/p", 1)
    assert body["run_name"] == "one" and len(webhook.bodies["/hook/p"]) == 1
    (item,) = feed(alert_store.events("p"))
    assert [(d["destination"], d["ok"]) for d in item["deliveries"]] == [("j", True)]


def test_alert_state_is_unavailable_not_empty_while_postgresql_is_down() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"postgresql://u:secret@127.0.0.1:{s.getsockname()[1]}/x"
    store = PgAlertStore(down)
    for call in (store.projects, lambda: store.events(PROJECT), lambda: store.rules_doc(PROJECT)):
        with pytest.raises(IndexUnavailableError, match="PostgreSQL") as exc:
            call()
        assert "secret" not in str(exc.value)
    assert not store.holds_turn()  # nobody evaluates against a database that is not there


def test_server_migrate_carries_rules_secrets_and_events_there_and_back(
    root: Path, pg_url: str
) -> None:
    StoreRoot(root, create=True)
    files = DirAlertStore(root)
    files.save_rules(PROJECT, RULES)
    files.set_secret(PROJECT, "hook", "url", "https://hooks.example.org/one")
    files.record(PROJECT, _fired("a1"))
    files.record(PROJECT, _delivery("a1", True, 1))

    there = migrate_server(root, None, pg_url)
    assert (there.alert_projects, there.alert_events, there.problems) == (1, 2, [])
    database = PgAlertStore(pg_url)
    assert database.rules_doc(PROJECT) == files.rules_doc(PROJECT)
    hook = database.setup(PROJECT).destinations[0]
    assert database.secret_for(PROJECT, hook, "url") == "https://hooks.example.org/one"
    assert feed(database.events(PROJECT)) == feed(files.events(PROJECT))
    assert database.record(PROJECT, _fired("a9")) is None  # what fired before never fires again
    again = migrate_server(root, None, pg_url)
    assert (again.alert_projects, again.alert_events, again.problems) == (0, 0, [])

    # changed on the server, then moved back: the newer rules and the new events come home
    database.save_rules(PROJECT, {**RULES, "rules": [{"id": "crash", "type": "crashed"}]})
    database.set_secret(PROJECT, "hook", "url", "https://hooks.example.org/two")
    database.record(PROJECT, _fired("b1", run_id="r2"))
    back = migrate_server(root, pg_url, None)
    assert (back.alert_projects, back.alert_events, back.problems) == (1, 1, [])
    home = DirAlertStore(root)
    assert [r["id"] for r in home.rules_doc(PROJECT)["rules"]] == ["crash"]
    assert home.secret_for(PROJECT, hook, "url") == "https://hooks.example.org/two"
    assert [i["id"] for i in feed(home.events(PROJECT))] == ["b1", "a1"]
    database.close()
