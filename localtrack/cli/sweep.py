"""`localtrack sweep`, `localtrack sweeps` and `localtrack agent`: thin commands over
``localtrack.sweeps``. No server: the sweep lives in the store, so agents on any machine that sees
the store's directory can work on it.
"""

from __future__ import annotations

import json
import logging

import click

from .options import clean_errors, dir_option, json_option
from .storedir import existing_store

to_option = click.option(
    "--to",
    default=None,
    metavar="URL",
    help="A `localtrack server` that hosts the sweep (key: LOCALTRACK_API_KEY or `localtrack login`).",
)
CONTROL = {"pause": "paused", "resume": "running", "stop": "stopped", "cancel": "cancelled"}


@click.command("sweep")
@dir_option
@click.option("--project", "-p", default=None, help="Project the trials log to.")
@click.option("--entity", "-e", default=None, help="Entity (kept for W&B compatibility).")
@click.option(
    "--pause", "action", flag_value="pause", help="Pause sweep ID: agents claim no new trials."
)
@click.option(
    "--resume", "action", flag_value="resume", help="Resume a paused or stopped sweep ID."
)
@click.option(
    "--stop", "action", flag_value="stop", help="Stop sweep ID: running trials finish, no new ones."
)
@click.option(
    "--cancel",
    "action",
    flag_value="cancel",
    help="Cancel sweep ID: running trials are stopped too.",
)
@to_option
@click.argument("target")
@clean_errors
def sweep_cmd(
    dir_: str | None,
    project: str | None,
    entity: str | None,
    action: str | None,
    to: str | None,
    target: str,
) -> None:
    """Create a sweep from a config file (prints its id), or control sweep ID.

    Example: localtrack sweep sweep.yaml && localtrack agent ID --count 10
    """
    from ..sweeps import sweep
    from ..sweeps.controller import Sweep

    if action is None:
        sweep_id = sweep(target, entity=entity, project=project, dir=dir_, base_url=to)
        where = "" if to is None else f" --to {to}"
        click.echo(
            f"created sweep {sweep_id}; run trials with: localtrack agent {sweep_id}{where}",
            err=True,
        )
        click.echo(sweep_id)
        return
    if to is not None:
        from ..sweeps.remote import set_remote_control

        set_remote_control(to, target.rsplit("/", 1)[-1], CONTROL[action], None)
        click.echo(f"sweep {target}: {CONTROL[action]} (on {to})")
        return
    found = Sweep(existing_store(dir_), target.rsplit("/", 1)[-1])
    found.files.set_control(CONTROL[action])
    click.echo(f"sweep {found.id}: {CONTROL[action]}")


@click.command("sweeps")
@dir_option
@json_option
@clean_errors
def sweeps_cmd(dir_: str | None, as_json: bool) -> None:
    """List the store's sweeps with their state, trials and best value so far.

    Example: localtrack sweeps --json
    """
    from ..sweeps.controller import Sweep
    from ..sweeps.state import sweep_ids

    root = existing_store(dir_)
    rows = [Sweep(root, sweep_id).status() for sweep_id in sweep_ids(root)]
    if as_json:
        click.echo(json.dumps(rows, indent=1, sort_keys=True))
        return
    if not rows:
        click.echo(f"no sweeps in {root}")
        return
    for row in rows:
        trials = ", ".join(f"{n} {s}" for s, n in sorted(row["trials"].items())) or "no trials"
        best = row["best"]
        shown = "—" if best is None else f"{row['metric']}={best['value']:.6g} ({best['run_id']})"
        click.echo(
            f"{row['id']}  {row['state']:<9}  {row['method']:<6}  {row['project']}  "
            f"[{trials}]  best {shown}"
        )


@click.command("agent")
@dir_option
@click.option("--count", type=click.IntRange(min=1), default=None, help="Run at most N trials.")
@click.option(
    "--max-failures",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Stop after this many failed trials in a row.",
)
@click.option("--project", "-p", default=None, hidden=True)
@click.option("--entity", "-e", default=None, hidden=True)
@to_option
@click.argument("sweep_id")
@clean_errors
def agent_cmd(
    dir_: str | None,
    count: int | None,
    max_failures: int,
    project: str | None,
    entity: str | None,
    to: str | None,
    sweep_id: str,
) -> None:
    """Run the sweep's program for trial after trial (one subprocess each) until it is done.

    SLURM array jobs: each task runs `localtrack agent ID --count 1`. With --to URL the
    server hosts the sweep: trials are claimed there and their runs stream to it.

    Example: localtrack agent k3v9x2qa --count 5
    """
    from ..sweeps.agent import agent

    logging.getLogger("localtrack.sweeps").setLevel(logging.INFO)
    if to is None:
        root = existing_store(dir_)
    else:  # the trials' runs are written here (created if need be) and stream to the server
        from ..settings import resolve_dir

        root = resolve_dir(dir_)
    report = agent(sweep_id, count=count, dir=root, max_failures=max_failures, base_url=to)
    done = ", ".join(f"{n} {s}" for s, n in sorted(report.trials.items())) or "no trials"
    click.echo(f"agent done: {done}; {report.reason}", err=True)
    if report.failed_out:
        raise SystemExit(1)


COMMANDS = [sweep_cmd, sweeps_cmd, agent_cmd]
