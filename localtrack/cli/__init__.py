"""The `localtrack` command: thin click commands over the library. Nothing imports this package.

::

    main.py      the click group, the `ui` and `demo` commands, and main()
    runs.py      runs, show, reindex, doctor: reading and repairing a local store
    sync.py      sync and login; COMMANDS gathers these with the bundle and server commands
    bundle.py    export and import of one-file bundles
    server.py    server (the central server) and keys (its API keys)
    importing.py import-from: runs from other trackers (localtrack/importers)
    options.py   options, run selection and error handling shared by the commands
    progress.py  byte counts and progress bars
    demo.py      the demo project, written through the real logging API
    alerts.py    alerts watch (evaluate rules with no UI running) and alerts test

``python -m localtrack.cli`` is the same command as ``localtrack``.
"""

from __future__ import annotations

from .main import cli, main

__all__ = ["cli", "main"]
