"""W&B's names for ``init()`` arguments and ``Settings`` fields: honoured, ignored, or a typo.

A script written for W&B passes arguments localtrack has no use for (``reinit``, ``magic``,
``monitor_gym``...) and W&B settings by W&B's names (``Settings(disable_git=True)``). Those
localtrack knows are honoured or ignored as docs/wandb.md lists; a name neither knows is a
UsageError naming the closest one, so ``init(projcet=...)`` fails at once instead of logging
into the wrong project. This module imports only the standard library.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import UsageError

log = logging.getLogger(__name__)

# init() arguments of W&B that localtrack accepts and ignores (docs/wandb.md says why).
IGNORED_INIT_ARGUMENTS = frozenset(
    {
        "anonymous",
        "magic",
        "monitor_gym",
        "tensorboard",
        "force",
        "resume_from",
        "fork_from",
    }
)
# W&B settings that set a localtrack setting: name → (field, invert the boolean).
_SETTING_TWINS: dict[str, tuple[str, bool]] = {
    "quiet": ("silent", False),
    "disable_git": ("capture_git", True),
    "disable_code": ("save_code", True),
    "x_disable_stats": ("system_metrics", True),
    "_disable_stats": ("system_metrics", True),
    "x_stats_sampling_interval": ("system_metrics_interval", False),
    "_stats_sample_rate_seconds": ("system_metrics_interval", False),
}
# W&B settings that are init() arguments here: they land in Settings.extra, init() reads them.
_INIT_TWINS = {
    "project": "project",
    "entity": "entity",
    "run_name": "name",
    "run_id": "id",
    "run_group": "group",
    "run_job_type": "job_type",
    "run_notes": "notes",
    "run_tags": "tags",
    "resume": "resume",
    "root_dir": "dir",
}
# W&B settings localtrack accepts and ignores.
IGNORED_SETTINGS = frozenset(
    {
        "allow_val_change",
        "anonymous",
        "start_method",
        "init_timeout",
        "login_timeout",
        "show_info",
        "show_warnings",
        "show_errors",
        "show_emoji",
        "show_colors",
        "program",
        "program_relpath",
        "program_abspath",
        "notebook_name",
        "host",
        "username",
        "email",
        "heartbeat_seconds",
        "force",
        "reinit",
        "resume_from",
        "fork_from",
        "ignore_globs",
        "code_dir",
        "job_name",
        "job_source",
        "disable_job_creation",
        "sync_tensorboard",
        "table_raise_on_max_row_limit_exceeded",
        "sweep_id",
        "launch",
        "http_proxy",
        "https_proxy",
        "save_requirements",
        "log_internal",
        "files_dir",
        "sync_dir",
        "label_disable",
        "max_end_of_run_history_metrics",
        "max_end_of_run_summary_metrics",
        "strict",
        "api_key",
    }
)
_WANDB_MODES = {"dryrun": "offline", "run": "online"}


def _suggestion(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_init_arguments(unknown: Mapping[str, Any], known: Iterable[str]) -> None:
    """Log the W&B arguments ignored; UsageError (with the closest name) for any other."""
    for name in unknown:
        if name not in IGNORED_INIT_ARGUMENTS:
            raise UsageError(
                f"init() got an unexpected argument {name!r}"
                + _suggestion(name, set(known) | IGNORED_INIT_ARGUMENTS)
            )
    given = sorted(k for k, v in unknown.items() if v not in (None, False))
    if given:
        log.info("init(): W&B arguments %s have no effect in localtrack (docs/wandb.md)", given)
    if unknown.get("fork_from") or unknown.get("resume_from"):
        log.warning("init(): fork_from/resume_from are not supported; starting a new run")


def translate_settings(
    foreign: Mapping[str, Any], values: dict[str, Any], extra: dict[str, Any]
) -> None:
    """Fold W&B's settings (`foreign`) into localtrack's `values` and `extra`, in place."""
    for name, value in foreign.items():
        if name in _SETTING_TWINS:
            field, invert = _SETTING_TWINS[name]
            if value is not None and values.get(field) is None:
                values[field] = (not value) if invert else value
        elif name in _INIT_TWINS:
            if value is not None:
                extra.setdefault(_INIT_TWINS[name], value)
        elif name in IGNORED_SETTINGS or name.startswith(("x_", "_")):
            log.debug("Settings(%s=...): a W&B setting localtrack ignores", name)
        else:
            from ..settings import Settings

            known = {f for f in Settings.__dataclass_fields__ if f != "extra"}
            known |= set(_SETTING_TWINS) | set(_INIT_TWINS) | IGNORED_SETTINGS
            raise UsageError(f"Settings() has no setting {name!r}" + _suggestion(name, known))
    mode = values.get("mode")
    if isinstance(mode, str):
        values["mode"] = _WANDB_MODES.get(mode, mode)
    console = values.get("console")
    if isinstance(console, str):  # W&B's "off", "auto", "wrap", "redirect"...
        values["console"] = console.lower() not in ("off", "0", "false", "no")
