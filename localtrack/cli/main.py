"""The `localtrack` command: thin click commands over the library.

Errors print one clear line (no traceback) and exit non-zero.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from ..humanize import plural
from ..settings import resolve, resolve_dir
from .options import CONTEXT_SETTINGS, clean_errors, dir_option, port_option


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="localtrack")
@click.option("-v", "--verbose", is_flag=True, help="Show the library's log messages.")
def cli(verbose: bool) -> None:
    """localtrack: a local-first experiment tracker.

    Example: localtrack demo && localtrack runs
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@cli.command()
@dir_option
@click.option(
    "--again",
    is_flag=True,
    help="Write another set even if the store has the demo project (the names repeat).",
)
@clean_errors
def demo(dir_: str | None, again: bool) -> None:
    """Write a demo project (a small sweep: finished, failed and crashed runs).

    A second `demo` into the same store writes nothing (it would repeat every run name) and
    says so, exiting 0 so that `localtrack demo && localtrack ui` still opens the UI; --again
    adds another set anyway.

    Example: localtrack demo && localtrack ui
    """
    from .demo import PROJECT, write_demo

    root = resolve_dir(dir_)
    existing = _demo_runs(root, PROJECT)
    if existing and not again:
        click.echo(
            f"{root} already has the demo project {PROJECT!r} ({plural(existing, 'run')}); "
            "wrote nothing. Pass --again to add another set with the same names, or --dir for "
            "a new store."
        )
        return
    with click.progressbar(length=1, label=f"writing demo project {PROJECT!r} to {root}") as bar:
        ids = write_demo(Path(root))
        bar.update(1)
    click.echo(
        f"wrote {plural(len(ids), 'run')}. See them with `localtrack runs` or `localtrack ui`."
    )


def _demo_runs(root: Path, project: str) -> int:
    """How many runs of the demo project the store at `root` holds (0 if there is no store)."""
    if not (root / "runs").is_dir():
        return 0
    from ..store.reader import StoreReader

    return len(StoreReader(root, index_mode=resolve("index")).runs(project))


@cli.command()
@dir_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@port_option
@click.option("--open", "open_browser", is_flag=True, help="Open the UI in a web browser.")
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    help="Another Host name to answer to (repeatable; adds to LOCALTRACK_ALLOWED_HOSTS).",
)
@clean_errors
def ui(
    dir_: str | None, host: str, port: int, open_browser: bool, allow_hosts: tuple[str, ...]
) -> None:
    """Serve the web UI for a store (it answers loopback names and the bound address only).

    Example: localtrack ui --port 8080 --open
    """
    from webui.standalone import serve

    from .storedir import existing_store

    root = existing_store(dir_)
    why = _no_browser_here() if open_browser else None
    if why:
        click.echo(f"--open: {why}; open the URL below in a browser by hand.", err=True)
    serve(
        root, host=host, port=port, open_browser=open_browser and not why, allowed_hosts=allow_hosts
    )


def _no_browser_here() -> str | None:
    """Why no graphical browser can open here (Linux without a display), or None."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no display here (DISPLAY and WAYLAND_DISPLAY are unset)"
    return None


def _add_commands() -> None:
    from . import alerts, artifact, importing, report, runs, sweep, sync

    commands = (*runs.COMMANDS, *sync.COMMANDS, *artifact.COMMANDS, *sweep.COMMANDS)
    for command in (*commands, *alerts.COMMANDS, *report.COMMANDS, *importing.COMMANDS):
        cli.add_command(command)


_add_commands()


def main() -> None:
    """Console-script entry point; a reader that goes away (`localtrack show X | head`) ends the
    command quietly, with no "Broken pipe" message or traceback."""
    try:
        cli(prog_name="localtrack")
    except BrokenPipeError:  # click handles it inside commands; this is for anything outside
        _silence_stdout()
        sys.exit(1)
    finally:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush has nowhere to fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    main()
