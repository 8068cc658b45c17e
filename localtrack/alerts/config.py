"""A project's alert rules and destinations: one plain JSON file in the store, plus secrets apart.

::

    <root>/alerts/<project, percent-encoded>/rules.json     rules and destinations (no secrets)
    <root>/alerts/<project, percent-encoded>/secrets.json   webhook URLs, SMTP passwords (mode 0600)
    <root>/alerts/<project, percent-encoded>/events.jsonl   what fired and how delivery went

``rules.json`` can be written by hand or by the UI; both go through ``check_rules``, which names
the field that is wrong. A destination's secret comes from the environment variable it names
(``url_env`` / ``password_env``), else from ``secrets.json``, which no route of the UI serves and
which is never synced or exported. The format is in docs/format.md ("Alerts").
"""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DocumentError
from ..store import jsondoc as jd
from ..store.atomic import read_json, write_json_atomic
from ..store.layout import project_folder_name
from .levels import LEVELS

DIR = "alerts"
RULES = "rules.json"
SECRETS = "secrets.json"
EVENTS = "events.jsonl"
VERSION = 1
MAX_BYTES = 256 * 1024
RULE_TYPES = ("crashed", "stalled", "nan", "threshold", "finished", "script")
DEST_TYPES = ("slack", "discord", "teams", "json", "email")
SECURITY = ("starttls", "ssl", "none")
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
IMPLICIT_SCRIPT_RULE = "run-alert"
ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

_ID = jd.text(64, min_chars=1)
_ENV = jd.text(128, nullable=True)
_DESTINATION = {
    "id": _ID,
    "type": jd.one_of(DEST_TYPES),
    "name": jd.text(200),
    "url_env": _ENV,
    "smtp_host": jd.text(253, nullable=True),
    "smtp_port": jd.integer(nullable=True, minimum=1),
    "security": jd.one_of(SECURITY),
    "username": jd.text(256, nullable=True),
    "password_env": _ENV,
    "sender": jd.text(256, nullable=True),
    "to": jd.text_list(50, jd.text(256, min_chars=3)),
    "ca_file": jd.text(4096, nullable=True),
    "timeout_s": jd.number(),
    "created_at": jd.number(),
}
_RULE = {
    "id": _ID,
    "type": jd.one_of(RULE_TYPES),
    "name": jd.text(200),
    "metric": jd.text(512, nullable=True),
    "direction": jd.one_of(("above", "below")),
    "value": jd.number(nullable=True),
    "min_step": jd.integer(nullable=True, minimum=0),
    "minutes": jd.number(nullable=True),
    "level": jd.one_of((*LEVELS, None)),
    "min_level": jd.one_of(LEVELS),
    "destinations": jd.text_list(50, _ID),
    "enabled": jd.one_of((True, False)),
    "created_at": jd.number(),
}


@dataclass(frozen=True)
class Destination:
    """Where alerts go. Secrets are not here: ``secret_for`` finds them."""

    id: str
    type: str
    name: str
    url_env: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    security: str = "starttls"
    username: str | None = None
    password_env: str | None = None
    sender: str | None = None
    to: tuple[str, ...] = ()
    ca_file: str | None = None
    timeout_s: float = 10.0
    created_at: float = 0.0


@dataclass(frozen=True)
class Rule:
    """One condition the evaluator checks on every run of the project."""

    id: str
    type: str
    name: str
    created_at: float
    metric: str | None = None
    direction: str = "above"
    value: float | None = None
    min_step: int | None = None
    minutes: float | None = None
    level: str | None = None
    min_level: str = "INFO"
    destinations: tuple[str, ...] = ()  # empty: every destination
    enabled: bool = True


@dataclass(frozen=True)
class ProjectAlerts:
    project: str
    rules: tuple[Rule, ...]
    destinations: tuple[Destination, ...]

    @property
    def active_rules(self) -> tuple[Rule, ...]:
        """The enabled rules, plus, when no rule is of type ``script``, an implicit one that
        sends every ``run.alert()`` to every destination (as W&B does), for alerts raised after
        the first destination was added."""
        rules = tuple(r for r in self.rules if r.enabled)
        if self.destinations and not any(r.type == "script" for r in self.rules):
            since = min(d.created_at for d in self.destinations)
            rules += (Rule(IMPLICIT_SCRIPT_RULE, "script", "run.alert()", since),)
        return rules

    def targets(self, rule: Rule | None) -> tuple[Destination, ...]:
        """The destinations a rule's alerts go to (all when it names none)."""
        if rule is None or not rule.destinations:
            return self.destinations
        return tuple(d for d in self.destinations if d.id in rule.destinations)


def _bad(message: str, field: str) -> DocumentError:
    return DocumentError(f"{RULES} {message}", RULES, field)


def _check_rule(i: int, rule: dict[str, Any], dest_ids: set[str]) -> None:
    where = f"rules[{i}]"
    kind = rule["type"]
    if kind == "threshold" and not rule.get("metric"):
        raise _bad(f"field '{where}.metric' is needed by a threshold rule", f"{where}.metric")
    if kind == "threshold" and rule.get("value") is None:
        raise _bad(f"field '{where}.value' is needed by a threshold rule", f"{where}.value")
    if kind == "stalled" and not (
        isinstance(rule.get("minutes"), int | float) and rule["minutes"] > 0
    ):
        raise _bad(
            f"field '{where}.minutes' must be above 0 for a stalled rule", f"{where}.minutes"
        )
    for name in rule.get("destinations") or ():
        if name not in dest_ids:
            raise _bad(
                f"field '{where}.destinations' names {name!r}, which is not a destination",
                f"{where}.destinations",
            )


def _check_destination(i: int, dest: dict[str, Any]) -> None:
    where = f"destinations[{i}]"
    for env in ("url_env", "password_env"):
        value = dest.get(env)
        if value is not None and not ENV_RE.fullmatch(value):
            raise _bad(
                f"field '{where}.{env}' must be an environment variable name", f"{where}.{env}"
            )
    if dest["type"] == "email":
        for name in ("smtp_host", "to"):
            if not dest.get(name):
                raise _bad(
                    f"field '{where}.{name}' is needed by an email destination", f"{where}.{name}"
                )


def check_rules(doc: Any) -> dict[str, Any]:
    """`doc` as a valid rules document (DocumentError naming the field otherwise)."""
    jd.check_depth(doc, RULES)
    jd.check_fields(
        RULES,
        doc,
        {
            "version": jd.one_of((VERSION,)),
            "rules": jd.records(200, _RULE),
            "destinations": jd.records(50, _DESTINATION),
        },
        required=("version",),
    )
    ids: set[str] = set()
    for key, required in (("destinations", ("id", "type")), ("rules", ("id", "type"))):
        seen: set[str] = set()
        for i, entry in enumerate(doc.get(key) or []):
            for name in required:
                if name not in entry:
                    raise _bad(f"'{key}[{i}]' has no field {name!r}", f"{key}[{i}].{name}")
            if not ID_RE.fullmatch(entry["id"]):
                raise _bad(
                    f"field '{key}[{i}].id' must be letters, digits and _.- (up to 64)",
                    f"{key}[{i}].id",
                )
            known = _DESTINATION if key == "destinations" else _RULE
            unknown = sorted(set(entry) - set(known))
            if unknown:
                raise _bad(
                    f"field '{key}[{i}].{unknown[0]}' is not known (known: {', '.join(known)})",
                    f"{key}[{i}].{unknown[0]}",
                )
            if entry["id"] in seen:
                raise _bad(f"'{key}' has two entries with id {entry['id']!r}", f"{key}[{i}].id")
            seen.add(entry["id"])
        if key == "destinations":
            ids = seen
    for i, dest in enumerate(doc.get("destinations") or []):
        _check_destination(i, dest)
    for i, rule in enumerate(doc.get("rules") or []):
        _check_rule(i, rule, ids)
    return dict(doc)


def project_dir(root: str | Path, project: str) -> Path:
    folder = project_folder_name(project)
    if folder is None:  # "." and ".." would name the store itself
        raise DocumentError(f"alerts need a project name, not {project!r}", RULES, "project")
    return Path(root) / DIR / folder


def projects_with_rules(root: str | Path) -> list[str]:
    """Every project that has a rules file."""
    folder = Path(root) / DIR
    if not folder.is_dir():
        return []
    return sorted(urllib.parse.unquote(p.name) for p in folder.iterdir() if (p / RULES).is_file())


def read_rules_doc(root: str | Path, project: str) -> dict[str, Any]:
    """The project's rules document (an empty one when it has none)."""
    path = project_dir(root, project) / RULES
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {"version": VERSION, "rules": [], "destinations": []}
    return check_rules(jd.loads(data, f"{RULES} of {project!r}", MAX_BYTES))


def load(root: str | Path, project: str) -> ProjectAlerts:
    """The project's rules and destinations as values (DocumentError for a bad file)."""
    return setup_of(project, read_rules_doc(root, project))


def setup_of(project: str, doc: Mapping[str, Any]) -> ProjectAlerts:
    """A checked rules document as values (what every alert store's ``setup`` answers)."""
    dests = tuple(
        Destination(
            **{
                **d,
                "name": d.get("name") or d["id"],
                "to": tuple(d.get("to") or ()),
                "created_at": float(d.get("created_at") or 0.0),
            }
        )
        for d in doc.get("destinations") or []
    )
    rules = tuple(
        Rule(
            **{
                **r,
                "name": r.get("name") or r["id"],
                "created_at": float(r.get("created_at") or 0.0),
                "destinations": tuple(r.get("destinations") or ()),
            }
        )
        for r in doc.get("rules") or []
    )
    return ProjectAlerts(project, rules, dests)


def save_rules(root: str | Path, project: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Check and write the project's rules; a rule or destination without ``created_at`` is
    stamped now (it fires only for what happens from then on). Returns the stored document."""
    folder = project_dir(root, project)
    try:
        old = read_rules_doc(root, project)
    except DocumentError:
        old = {}
    stored = stamped_rules(doc, old)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / RULES, stored)
    return stored


def stamped_rules(doc: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """`doc` checked, each rule and destination with its ``created_at`` (as given, else as in
    `old`, the document stored before, else now): the document an alert store keeps."""
    now = time.time()
    doc = check_rules(dict(doc, version=VERSION))
    before = {r["id"]: r for r in old.get("rules") or []}
    before_dests = {d["id"]: d for d in old.get("destinations") or []}
    stored = check_rules(
        dict(
            doc,
            rules=_stamped(doc.get("rules") or [], before, now),
            destinations=_stamped(doc.get("destinations") or [], before_dests, now),
        )
    )
    if len(repr(stored)) > MAX_BYTES:
        raise DocumentError(f"{RULES} must be under {MAX_BYTES} bytes", RULES)
    return stored


def _stamped(
    entries: list[dict[str, Any]], before: dict[str, Any], now: float
) -> list[dict[str, Any]]:
    """Each entry with its ``created_at``: as given, else as stored before, else now."""
    return [
        dict(
            e,
            created_at=e.get("created_at") or (before.get(e["id"]) or {}).get("created_at") or now,
        )
        for e in entries
    ]


# -- secrets ------------------------------------------------------------------------------------


def _secrets_path(root: str | Path, project: str) -> Path:
    return project_dir(root, project) / SECRETS


def _read_secrets(root: str | Path, project: str) -> dict[str, dict[str, str]]:
    try:
        data = read_json(_secrets_path(root, project))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def check_secret_field(field: str) -> str:
    if field not in ("url", "password"):
        raise DocumentError(f"a secret is 'url' or 'password', not {field!r}", SECRETS, field)
    return field


def set_secret(root: str | Path, project: str, dest_id: str, field: str, value: str | None) -> None:
    """Keep (or, with None, forget) a destination's secret in ``secrets.json`` (mode 0600)."""
    check_secret_field(field)
    secrets = _read_secrets(root, project)
    entry = dict(secrets.get(dest_id) or {})
    if value:
        entry[field] = value
    else:
        entry.pop(field, None)
    secrets[dest_id] = entry
    folder = project_dir(root, project)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(_secrets_path(root, project), secrets, mode=0o600)


def read_secrets(root: str | Path, project: str) -> dict[str, dict[str, str]]:
    """{destination id: {field: secret}} of ``secrets.json`` (what ``server migrate`` moves)."""
    return {
        str(dest): {str(k): v for k, v in entry.items() if isinstance(v, str) and v}
        for dest, entry in _read_secrets(root, project).items()
        if isinstance(entry, dict)
    }


def env_name(dest: Destination, field: str) -> str | None:
    """The environment variable that holds a destination's URL or password, if it names one."""
    return dest.url_env if field == "url" else dest.password_env


def secret_for(root: str | Path, project: str, dest: Destination, field: str) -> str | None:
    """A destination's URL or password: from the environment variable it names, else from
    ``secrets.json``; None when neither has it."""
    env = env_name(dest, field)
    if env:
        return os.environ.get(env) or None
    value = (_read_secrets(root, project).get(dest.id) or {}).get(field)
    return value if isinstance(value, str) and value else None


def secret_set(root: str | Path, project: str, dest: Destination, field: str) -> bool:
    """Whether the secret is there (what the UI shows instead of the secret itself)."""
    return secret_for(root, project, dest, field) is not None
