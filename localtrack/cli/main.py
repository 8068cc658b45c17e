"""The `localtrack` command: thin click commands over the library.

Errors print one clear line (no traceback) and exit non-zero.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..settings import resolve_dir
from .options import clean_errors, dir_option


@click.group()
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
@clean_errors
def demo(dir_: str | None) -> None:
    """Write a demo project (a small sweep: finished, failed and crashed runs).

    Example: localtrack demo && localtrack ui
    """
    from .demo import PROJECT, write_demo

    root = resolve_dir(dir_)
    with click.progressbar(length=1, label=f"writing demo project {PROJECT!r} to {root}") as bar:
        ids = write_demo(Path(root))
        bar.update(1)
    click.echo(f"wrote {len(ids)} runs. See them with `localtrack runs` or `localtrack ui`.")


@cli.command()
@dir_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
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

    root = resolve_dir(dir_)
    serve(root, host=host, port=port, open_browser=open_browser, allowed_hosts=allow_hosts)


def _add_commands() -> None:
    from . import artifact, runs, sweep, sync

    for command in (*runs.COMMANDS, *sync.COMMANDS, *artifact.COMMANDS, *sweep.COMMANDS):
        cli.add_command(command)


_add_commands()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="localtrack")


if __name__ == "__main__":
    main()
