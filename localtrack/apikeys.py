"""Users and API keys of a server, kept in its directory: ``<root>/server/keys.json``.

A key looks like ``lt_<id>_<secret>``. It is shown once, when created; the file keeps only the
sha256 of the secret (the secret is 256 random bits, so a fast hash is enough) and compares it
with ``hmac.compare_digest``. Roles are ordered: ``read`` < ``write`` < ``admin``.

A read or write key may be scoped to one namespace, compared whole: ``--project team-a/mnist``
covers project ``mnist`` of entity ``team-a`` only; ``--project mnist`` covers the project
``mnist`` logged without an entity only (never ``mnist`` of some entity). Admin keys are never
scoped. Revoking rewrites the file, and a running server re-reads it when it changes (one stat
per request), so a revoked key fails at once. The file remembers that keys have existed
(``keys_existed``) even when every key is revoked: a server opens to loopback clients only
before its first key, never again after.

With a PostgreSQL index (``--index postgresql://…`` / ``LOCALTRACK_INDEX_URL``) the same
document, and the session secret, are rows of that database instead (``store/pgdocs.py``), so a
key created on one machine works at once on every replica; each request compares the document's
version instead of the file's stat.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError
from .settings import resolve
from .store.atomic import publishing, read_json, write_json_atomic

ROLES = ("read", "write", "admin")
SERVER_DIR = "server"
KEYS_FILE = "keys.json"
SECRET_FILE = "session-secret"
KEYS_DOCUMENT = "keys"  # the names of the two documents in PostgreSQL (store/pgdocs.py)
SECRET_DOCUMENT = "session-secret"
_KEY_RE = re.compile(r"lt_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})")
_SCOPE_RE = re.compile(r"\S(?:[^\x00-\x1f\x7f]{0,126}\S)?")
_USER_RE = re.compile(r"[^\s/]{1,64}")
_DUMMY_HASH = hashlib.sha256(b"localtrack-no-such-key").hexdigest()


def parse_scope(scope: str) -> tuple[str | None, str]:
    """(entity, project) a key scope names: "team-a/mnist" → ("team-a", "mnist"), "mnist" →
    (None, "mnist"). Neither part may contain '/' (nor may a run's project or entity)."""
    entity, sep, project = scope.partition("/")
    return (entity, project) if sep else (None, scope)


def check_scope(scope: str) -> str:
    """`scope` if it is a valid key scope (``project`` or ``entity/project``); UsageError if not."""
    entity, project = parse_scope(scope)
    if not _SCOPE_RE.fullmatch(scope) or entity == "" or not project.strip() or "/" in project:
        raise UsageError(
            f"project {scope!r} must be PROJECT or ENTITY/PROJECT: 1-128 printable characters, "
            "no leading or trailing space"
        )
    return scope


def key_id_of(token: str) -> str | None:
    """The key id a token (``lt_<id>_<secret>``) names, whether or not the key exists."""
    match = _KEY_RE.fullmatch(token)
    return match.group(1) if match else None


@dataclass(frozen=True)
class ApiKey:
    """One key as stored (never with its secret)."""

    id: str
    user: str
    role: str
    project: str | None
    created_at: float
    revoked_at: float | None = None
    secret_sha256: str = ""

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def has_role(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def covers(self, entity: str | None, project: str | None) -> bool:
        """Whether this key may touch runs of `project` of `entity` (None or "": no entity):
        the whole namespace must be the key's, so "mnist" never covers "team-a/mnist"."""
        if self.project is None:
            return True
        return project is not None and parse_scope(self.project) == (entity or None, project)

    def can_access(self, namespace: str | None) -> bool:
        """Whether this key covers the namespace named by one string (a project page's
        ``entity/project``, or ``project`` for runs without an entity): equal, or nothing."""
        return self.project is None or namespace == self.project

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("secret_sha256")
        data["active"] = self.active
        return data


@dataclass(frozen=True)
class NewKey:
    """A key just created: `token` is the only time the secret is visible."""

    key: ApiKey
    token: str


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """The keys of one server: its directory's keys file, or its PostgreSQL index database's
    ``keys`` document (`index_url`, default ``LOCALTRACK_INDEX_URL``). Thread-safe; reloads
    when the keys change."""

    def __init__(self, root: Path | str, index_url: str | None = None) -> None:
        from .store.root import check_index_url

        self.dir = Path(root).expanduser().absolute() / SERVER_DIR
        self.path = self.dir / KEYS_FILE
        self._lock = threading.Lock()
        self._signature: tuple[int, ...] | None = None
        self._keys: dict[str, ApiKey] = {}
        self._existed = False
        url = check_index_url(resolve("index_url") if index_url is None else index_url)
        self._docs: Any = None
        if url:
            from .store.pgdocs import PgDocuments

            self._docs = PgDocuments(url)

    @property
    def index_url(self) -> str | None:
        """The PostgreSQL database the keys are in (None: the directory's keys file)."""
        return None if self._docs is None else str(self._docs.url)

    @property
    def location(self) -> str:
        """Where the keys are, in words."""
        if self._docs is None:
            return str(self.path)
        from .store.indexbackend import redacted

        return f"{redacted(self._docs.url)} (table server_documents)"

    # -- reading --------------------------------------------------------------------------------

    def _stat_signature(self) -> tuple[int, ...] | None:
        if self._docs is not None:
            found = self._docs.read(KEYS_DOCUMENT)
            return None if found is None else (found[0],)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read_document(self) -> dict[str, Any]:
        if self._docs is None:
            return read_json(self.path)
        found = self._docs.read(KEYS_DOCUMENT)
        return json.loads(found[1]) if found else {}

    def _load(self) -> dict[str, ApiKey]:
        with self._lock:
            signature = self._stat_signature()
            if signature == self._signature and (signature is not None or not self._keys):
                return self._keys
            keys: dict[str, ApiKey] = {}
            existed = False
            if signature is not None:
                data = self._read_document()
                for item in data.get("keys", []):
                    key = ApiKey(**item)
                    keys[key.id] = key
                existed = bool(data.get("keys_existed")) or bool(keys)
            self._keys, self._signature, self._existed = keys, signature, existed
            return keys

    def list(self) -> list[ApiKey]:
        return sorted(self._load().values(), key=lambda k: (k.created_at, k.id))

    def active_count(self) -> int:
        return sum(1 for k in self._load().values() if k.active)

    def ever_had_keys(self) -> bool:
        """Whether a key was ever created here (still true when every key is revoked)."""
        self._load()
        return self._existed

    def authenticate(self, token: str | None) -> ApiKey | None:
        """The active key `token` names, or None; the comparison takes the same time either way."""
        match = _KEY_RE.fullmatch(token or "")
        key_id, secret = (match.group(1), match.group(2)) if match else ("", "")
        key = self._load().get(key_id)
        stored = key.secret_sha256 if key is not None else _DUMMY_HASH
        ok = hmac.compare_digest(stored.encode(), _hash_secret(secret).encode())
        if not ok or key is None or not match or not key.active:
            return None
        return key

    def get(self, key_id: str) -> ApiKey | None:
        return self._load().get(key_id)

    # -- changing (the CLI, or tests) -------------------------------------------------------------

    def _document(self, keys: dict[str, ApiKey]) -> dict[str, Any]:
        return {
            "version": 1,
            "keys_existed": self._existed or bool(keys),
            "keys": [asdict(k) for k in keys.values()],
        }

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[dict[str, ApiKey]]:
        if self._docs is not None:
            with self._docs.update(KEYS_DOCUMENT) as edit:  # one change at a time
                data = json.loads(edit.body) if edit.body else {}
                keys = {item["id"]: ApiKey(**item) for item in data.get("keys", [])}
                self._existed = bool(data.get("keys_existed")) or bool(keys)
                yield keys
                edit.body = json.dumps(self._document(keys))
            return
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.dir / "keys.lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                keys = dict(self._load())
                yield keys
                write_json_atomic(self.path, self._document(keys), mode=0o600)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def create(self, user: str, role: str, project: str | None = None) -> NewKey:
        """A new key for `user`; the returned token is shown once and never stored."""
        if role not in ROLES:
            raise UsageError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if not _USER_RE.fullmatch(user or ""):
            raise UsageError(f"user name {user!r} must be 1-64 characters without spaces or '/'")
        if project is not None:
            if role == "admin":
                raise UsageError("admin keys cover every project; leave out --project")
            check_scope(project)
        secret = secrets.token_urlsafe(32)
        with self._exclusive() as keys:
            key_id = secrets.token_hex(6)
            while key_id in keys:
                key_id = secrets.token_hex(6)
            key = ApiKey(key_id, user, role, project, time.time(), None, _hash_secret(secret))
            keys[key_id] = key
        return NewKey(key, f"lt_{key_id}_{secret}")

    def revoke(self, key_id: str, force: bool = False) -> ApiKey:
        """Revoke a key by its id (or the whole token); it fails on the next request.

        Revoking the last active admin key raises UsageError unless `force`: the server then
        has no admin until one is created on its machine (it never reopens to loopback)."""
        match = _KEY_RE.fullmatch(key_id)
        if match:
            key_id = match.group(1)
        with self._exclusive() as keys:
            key = keys.get(key_id)
            if key is None:
                raise UsageError(f"no key with id {key_id!r}; `localtrack keys list` shows them")
            if key.active and not force and _is_last_admin(key, keys.values()):
                raise UsageError(
                    f"key {key.id} is the last active admin key: revoking it leaves this server "
                    "without an admin. Create another admin key first (localtrack keys create "
                    "--user NAME --role admin), or pass --force"
                )
            if key.active:
                key = ApiKey(**dict(asdict(key), revoked_at=time.time()))
                keys[key_id] = key
        return key

    def active_admins(self) -> int:
        """How many active admin keys there are."""
        return sum(1 for k in self._load().values() if k.active and k.role == "admin")

    def merge_from(self, source: KeyStore) -> int:
        """Copy `source`'s keys here (moving a server between backends; safe to repeat): a key
        missing here is added, and a key revoked there is revoked here. Returns how many
        changed; secrets stay hashed, so every token keeps working."""
        incoming, existed = source.list(), source.ever_had_keys()
        changed = 0
        with self._exclusive() as keys:
            for key in incoming:
                mine = keys.get(key.id)
                if mine is None or (mine.active and not key.active):
                    keys[key.id] = key
                    changed += 1
            self._existed = self._existed or existed
        return changed

    def session_secret(self, first: bytes | None = None) -> bytes:
        """The server's secret for signing session cookies (created on first use, mode 0600;
        with PostgreSQL, made once by the first replica and shared by all). `first`: the
        secret to create when there is none yet (a migration keeps sessions valid)."""
        if self._docs is not None:
            stored = self._docs.create_once(
                SECRET_DOCUMENT, (first or secrets.token_bytes(32)).hex()
            )
            return bytes.fromhex(stored)
        path = self.dir / SECRET_FILE
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # exclusive: a secret another process made first is kept, never replaced
        with (
            contextlib.suppress(FileExistsError),
            publishing(path, mode=0o600, exclusive=True) as f,
        ):
            f.write(first or secrets.token_bytes(32))
        return path.read_bytes()


def _is_last_admin(key: ApiKey, keys: Iterable[ApiKey]) -> bool:
    if key.role != "admin":
        return False
    return not any(k.active and k.role == "admin" and k.id != key.id for k in keys)
