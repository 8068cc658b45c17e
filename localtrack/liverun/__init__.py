"""A live run in the training process: init(), Run, log(), config and summary.

::

    init.py       localtrack.init(): create or resume a run, take its lock, start the writer
    live.py       Run: log() validates and packs rows into the mapped tail; a writer thread seals
    ending.py     Run's flush(), finish() and with-block: waiting for the writer, the final state
    surface.py    the rest of W&B's run surface: metadata, files, artifacts, define_metric
    values.py     what log() and config accept, turned into what the store keeps
    config.py     run.config and run.summary: dict-like, every change persisted at once
    edits.py      changes to a live run's run.json from the training thread
    lifecycle.py  the module-level run, atexit, uncaught exceptions and SIGTERM (exit_reason)
    callsite.py   the stacklevel that points a warning at the user's line
    disabled.py   the same API doing nothing (mode="disabled", DDP ranks other than 0)

Background helpers of a run (console, system metrics, environment) are in ``capture/``.
"""
