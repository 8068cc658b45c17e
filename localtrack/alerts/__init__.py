"""Alerts: ``run.alert()`` from a training script, and rules evaluated with no code in it.

::

    levels.py        AlertLevel (INFO, WARN, ERROR) and wait_duration, as W&B takes them
    emit.py          the training process's side of run.alert(): rate-limit, print, record
                     (the run's alerts.jsonl; its schema is store/alertlog.py)
    config.py        a project's rules.json (rules + destinations) and secrets.json (0600)
    stores.py        where a store's alert state lives: its files, or a server's PostgreSQL
                     (rules, secrets, events, the one evaluator's turn); both answer alike
    conditions.py    pure checks: crashed/failed, stalled, NaN/Inf, threshold, finished
    events.py        the project's events.jsonl: what fired, delivery outcomes, the feed
    evaluator.py     the loop that checks rules and fires each condition once per run
    destinations.py  Slack-compatible, Discord, Teams and JSON webhooks; e-mail over SMTP
    dispatch.py      background delivery with retries and backoff; outcomes recorded
    service.py       what `localtrack ui` and `localtrack server` own: dispatcher + evaluator

Nothing here imports Flask or click; the UI (``webui/alert_api.py``) and the CLI
(``cli/alerts.py``) are thin layers over it. The whole story is in docs/alerts.md.
"""

from __future__ import annotations

from .levels import AlertLevel

__all__ = ["AlertLevel"]
