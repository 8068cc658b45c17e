"""`localtrack alerts watch` and `localtrack alerts test`: thin commands over ``localtrack.alerts``.

``watch`` evaluates a store's alert rules for stores with no `localtrack ui` or `localtrack
server` running (those evaluate by themselves); ``test`` sends a test alert and prints how each
destination took it.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import click

from .options import CONTEXT_SETTINGS, clean_errors, dir_option
from .storedir import existing_store

DELIVERY_WAIT_S = 120.0


@click.group("alerts", context_settings=CONTEXT_SETTINGS)
def alerts_group() -> None:
    """Alert rules and destinations of a store (rules: <store>/alerts/<project>/rules.json).

    Example: localtrack alerts watch --dir /data/localtrack-runs
    """


def _describe(event: dict[str, Any]) -> str:
    run = f" run {event.get('run_name') or event.get('run_id')}" if event.get("run_id") else ""
    kind = "problem" if event.get("kind") == "problem" else "fired"
    return f"{kind}: [{event.get('level')}] {event.get('title')} ({event.get('project')}{run})"


@alerts_group.command("watch")
@dir_option
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds between evaluations.",
)
@click.option("--once", is_flag=True, help="Evaluate once, wait for the deliveries, and exit.")
@clean_errors
def watch_cmd(dir_: str | None, interval: float, once: bool) -> None:
    """Evaluate the store's alert rules and deliver alerts until stopped (Ctrl+C or SIGTERM).

    For stores with no `localtrack ui` or `localtrack server` running; one process per store
    evaluates at a time (another one waits its turn). Each rule fires once per run and condition,
    across restarts.

    Example: localtrack alerts watch --dir /data/localtrack-runs --interval 10
    """
    from ..alerts.dispatch import Dispatcher
    from ..alerts.evaluator import Evaluator

    root = existing_store(dir_)
    dispatcher = Dispatcher(root)
    evaluator = Evaluator(root, dispatcher, interval)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    projects = dispatcher.alert_store.projects()
    click.echo(
        f"watching alert rules of {len(projects)} project(s) in {root} every {interval:g}s"
        + ("" if once else " (Ctrl+C to stop)"),
        err=True,
    )
    waiting_said = False
    try:
        while not stop.is_set():
            for event in evaluator.evaluate_once():
                click.echo(_describe(event))
            if not evaluator.holds_lock() and not waiting_said:
                waiting_said = True
                click.echo("another process evaluates this store's alerts; waiting", err=True)
            if once:
                break
            stop.wait(interval)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        dispatcher.idle(DELIVERY_WAIT_S if once else 10.0)  # let queued deliveries finish
        dispatcher.close()
        evaluator.close()  # then let go of the turn
        dispatcher.alert_store.close()


@alerts_group.command("test")
@dir_option
@click.argument("project")
@click.option("--destination", "-d", default=None, help="Only this destination (its id).")
@clean_errors
def test_cmd(dir_: str | None, project: str, destination: str | None) -> None:
    """Send a test alert to a project's destinations and print how each one took it.

    Exits 1 when a destination did not take it.

    Example: localtrack alerts test mnist --destination team-chat
    """
    from ..alerts import events
    from ..alerts.dispatch import Dispatcher
    from ..alerts.evaluator import send_test_alert

    root: Path = existing_store(dir_)
    dispatcher = Dispatcher(root)
    started = time.monotonic()
    try:
        record = send_test_alert(dispatcher.alert_store, project, dispatcher, destination)
        if not dispatcher.idle(DELIVERY_WAIT_S):
            raise click.ClickException(
                f"deliveries still running after {DELIVERY_WAIT_S:g}s; see the UI's alert feed"
            )
    finally:
        dispatcher.close()
    recorded = events.feed(dispatcher.alert_store.events(project))
    dispatcher.alert_store.close()
    (item,) = [e for e in recorded if e["id"] == record["id"]]
    failed = 0
    for outcome in item["deliveries"]:
        ok = outcome["ok"]
        failed += not ok
        mark = "ok  " if ok else "FAIL"
        click.echo(f"{mark} {outcome['destination']}: {outcome['detail']}")
    click.echo(f"({time.monotonic() - started:.1f}s)", err=True)
    if failed:
        raise SystemExit(1)


COMMANDS = (alerts_group,)
