"""Artifact collections' documents in PostgreSQL, for replicas that share no directory.

The twin of a collection's folder ``<root>/artifacts/collections/<namespace>/<name>/``
(docs/format.md, "Artifacts"), row for file (migration 10 in ``pgschema.py``)::

    v<N>.json                 artifact_manifests   (project, name, version) digest, deleted_at, body
    events/<seq>.json         artifact_events      (project, name, seq) body
    uses/<run>.v<N>.json      artifact_use_records (project, name, run_id, version) body

``project`` is the collection's namespace ("project" or "entity/project"), as in the index
tables of migration 2 (``artifact_versions`` & co), which ``artifacts/pgcatalog.py`` rebuilds
from these rows in the same transaction. A body is the JSON the file would hold. Rows are only
added (a manifest is replaced once, by its tombstone), so every replica reads the same
collection, and two replicas adding the same rows converge to one copy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .artifacts.manifest import Manifest, parse_manifest

if TYPE_CHECKING:
    from .pgindex import PgIndex  # psycopg loads only where an index URL is given

COLLECTION_LOCK_CLASS = 0x6C61  # "la": the advisory-lock class of per-collection commit locks


@dataclass
class CollectionRows:
    """One collection's documents as PostgreSQL holds them."""

    manifests: dict[int, Manifest] = field(default_factory=dict)
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    uses: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    def use_bodies(self) -> list[dict[str, Any]]:
        """The uses in the order their files sort in (``<run>.v<N>.json``)."""
        return [self.uses[k] for k in sorted(self.uses, key=lambda k: f"{k[0]}.v{k[1]}.json")]


def lock_collection(index: PgIndex, namespace: str, name: str) -> None:
    """Hold the collection's commit lock until the transaction ends (inside
    ``index.transaction()``): two replicas committing one collection take turns."""
    index.statement(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
        [COLLECTION_LOCK_CLASS, f"{namespace}/{name}"],
    )


def collection_names(index: PgIndex, namespace: str | None = None) -> list[tuple[str, str]]:
    """(namespace, name) of every collection with a manifest (of `namespace`), sorted."""
    sql = "SELECT DISTINCT project, name FROM artifact_manifests"
    args: list[Any] = []
    if namespace is not None:
        sql += " WHERE project=%s"
        args.append(namespace)
    rows = index.query(sql, args)
    return sorted((r["project"], r["name"]) for r in rows)


def _manifest(body: str) -> Manifest:
    return parse_manifest(json.loads(body))


def collection_rows(index: PgIndex, namespace: str, name: str) -> CollectionRows:
    """Every document of one collection."""
    key = [namespace, name]
    out = CollectionRows()
    for r in index.query(
        "SELECT version, body FROM artifact_manifests WHERE project=%s AND name=%s", key
    ):
        out.manifests[int(r["version"])] = _manifest(r["body"])
    for r in index.query("SELECT seq, body FROM artifact_events WHERE project=%s AND name=%s", key):
        out.events[int(r["seq"])] = json.loads(r["body"])
    for r in index.query(
        "SELECT run_id, version, body FROM artifact_use_records WHERE project=%s AND name=%s", key
    ):
        out.uses[(r["run_id"], int(r["version"]))] = json.loads(r["body"])
    return out


def all_collection_rows(index: PgIndex) -> dict[tuple[str, str], CollectionRows]:
    """Every collection's documents, in three queries (lineage, checks, moving a store)."""
    out: dict[tuple[str, str], CollectionRows] = {}
    for r in index.query("SELECT project, name, version, body FROM artifact_manifests"):
        rows = out.setdefault((r["project"], r["name"]), CollectionRows())
        rows.manifests[int(r["version"])] = _manifest(r["body"])
    for r in index.query("SELECT project, name, seq, body FROM artifact_events"):
        if (r["project"], r["name"]) in out:
            out[(r["project"], r["name"])].events[int(r["seq"])] = json.loads(r["body"])
    for r in index.query("SELECT project, name, run_id, version, body FROM artifact_use_records"):
        if (r["project"], r["name"]) in out:
            key = (r["run_id"], int(r["version"]))
            out[(r["project"], r["name"])].uses[key] = json.loads(r["body"])
    return out


def add_manifests(index: PgIndex, namespace: str, name: str, manifests: Iterable[Manifest]) -> None:
    """New versions, and tombstones replacing live versions (a version never comes back)."""
    index.statements(
        "INSERT INTO artifact_manifests (project, name, version, digest, deleted_at, body) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (project, name, version) DO UPDATE "
        "SET deleted_at=excluded.deleted_at, body=excluded.body "
        "WHERE excluded.deleted_at IS NOT NULL AND artifact_manifests.deleted_at IS NULL",
        [
            (namespace, name, m.version, m.digest, m.deleted_at, m.to_bytes().decode())
            for m in manifests
        ],
    )


def add_events(index: PgIndex, namespace: str, name: str, events: Iterable[dict[str, Any]]) -> None:
    index.statements(
        "INSERT INTO artifact_events (project, name, seq, body) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING",
        [(namespace, name, int(ev["seq"]), json.dumps(ev, sort_keys=True)) for ev in events],
    )


def add_uses(index: PgIndex, namespace: str, name: str, uses: Iterable[dict[str, Any]]) -> None:
    index.statements(
        "INSERT INTO artifact_use_records (project, name, run_id, version, body) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        [
            (namespace, name, u["run_id"], int(u["version"]), json.dumps(u, sort_keys=True))
            for u in uses
        ],
    )
