"""The artifact index tables (a rebuildable cache of ``artifacts/``) and how they are filled.

This is the only SQL outside ``store/index.py`` and ``store/schema.py``: it is kept with the
artifact code it serves so that index.py stays one idea. Every change rewrites one collection's
rows in one ``BEGIN IMMEDIATE`` transaction, from the replayed files, so the tables never hold
a state the files do not.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from ...errors import IndexUnavailableError
from ..index import Index
from .collection import CollectionState, load_state
from .layout import ArtifactPaths

log = logging.getLogger(__name__)
TABLES = ("artifact_versions", "artifact_aliases", "artifact_alias_moves", "artifact_uses")


def _write(index: Index, state: CollectionState) -> None:
    key = [state.project, state.name]
    conn = index.conn
    for table in TABLES:
        conn.execute(f"DELETE FROM {table} WHERE project=? AND name=?", key)
    conn.executemany(
        "INSERT INTO artifact_versions (project, name, version, type, digest, size, file_count,"
        " created_at, run_id, description, metadata, linked_from, deleted_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                *key,
                m.version,
                m.type,
                m.digest,
                m.size,
                m.file_count,
                m.created_at,
                m.run_id,
                m.description,
                json.dumps(dict(m.metadata), sort_keys=True),
                json.dumps(dict(m.linked_from)) if m.linked_from else None,
                m.deleted_at,
            )
            for m in state.versions.values()
        ],
    )
    conn.executemany(
        "INSERT INTO artifact_aliases (project, name, alias, version) VALUES (?,?,?,?)",
        [(*key, a, v) for a, v in state.all_aliases().items()],
    )
    conn.executemany(
        "INSERT INTO artifact_alias_moves (project, name, seq, alias, from_version, to_version,"
        " who, at, run_id) VALUES (?,?,?,?,?,?,?,?,?)",
        [
            (*key, m.seq, m.alias, m.from_version, m.to_version, m.who, m.at, m.run_id)
            for m in state.moves
        ],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO artifact_uses (project, name, version, run_id, at)"
        " VALUES (?,?,?,?,?)",
        [(*key, u.version, u.run_id, u.at) for u in state.uses],
    )


def index_collection(index: Index | None, paths: ArtifactPaths, project: str, name: str) -> None:
    """Refresh one collection's rows from its files (best effort: the files are the truth)."""
    if index is None:
        return
    try:
        state = load_state(paths.collection(project, name), project, name)
        with index.transaction():
            _write(index, state)
            index.bump_changes()
    except (sqlite3.Error, IndexUnavailableError) as exc:
        log.warning("artifact index not updated for %s/%s: %s", project, name, exc)


def reindex_artifacts(index: Index, paths: ArtifactPaths) -> tuple[int, list[str]]:
    """Rebuild every artifact table from the files; returns (collections, problems)."""
    problems: list[str] = []
    count = 0
    with index.transaction():
        for table in TABLES:
            index.conn.execute(f"DELETE FROM {table}")
    for project, name in paths.collection_names():
        try:
            state = load_state(paths.collection(project, name), project, name)
        except (OSError, ValueError) as exc:
            problems.append(f"artifact {project}/{name}: {exc}")
            continue
        with index.transaction():
            _write(index, state)
        count += 1
    return count, problems


def version_rows(index: Index, type_: str | None = None) -> list[dict[str, Any]]:
    """Every live version row (for listings), newest first."""
    sql = "SELECT * FROM artifact_versions WHERE deleted_at IS NULL"
    args: list[Any] = []
    if type_ is not None:
        sql += " AND type=?"
        args.append(type_)
    cur = index.conn.execute(sql + " ORDER BY project, name, version DESC", args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=False)) for r in cur]
