"""How the artifact index tables (a rebuildable cache of ``artifacts/``) are filled.

The SQL itself is in ``store/index.py`` (``Index.replace_artifact_rows`` and friends), like all of
the index's SQL; this module turns a replayed collection into rows. Every change rewrites one
collection's rows in one ``BEGIN IMMEDIATE`` transaction, from the replayed files, so the tables
never hold a state the files do not.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from ...errors import IndexUnavailableError
from ..indexbackend import IndexBackend
from .collection import CollectionState, load_state
from .layout import CollectionPaths
from .namespace import Namespaces

log = logging.getLogger(__name__)


def _write(index: IndexBackend, state: CollectionState) -> None:
    index.replace_artifact_rows(
        state.project,
        state.name,
        versions=[
            (
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
        aliases=list(state.all_aliases().items()),
        moves=[
            (m.seq, m.alias, m.from_version, m.to_version, m.who, m.at, m.run_id)
            for m in state.moves
        ],
        uses=[(u.version, u.run_id, u.at) for u in state.uses],
    )


def write_state_rows(index: IndexBackend, state: CollectionState) -> None:
    """Make one collection's index rows those of `state` (inside the caller's transaction;
    a shared-nothing server's collections are replayed from PostgreSQL, ``pgcatalog.py``)."""
    _write(index, state)


def index_collection(
    index: IndexBackend | None, paths: CollectionPaths, project: str, name: str
) -> None:
    """Refresh one collection's rows from its files (best effort: the files are the truth);
    `project` is its namespace ("project" or "entity/project")."""
    if index is None:
        return
    try:
        state = load_state(paths, project, name)
        with index.transaction():
            _write(index, state)
            index.bump_changes()
    except (sqlite3.Error, IndexUnavailableError) as exc:
        log.warning("artifact index not updated for %s/%s: %s", project, name, exc)


def reindex_artifacts(index: IndexBackend, namespaces: Namespaces) -> tuple[int, list[str]]:
    """Rebuild every artifact table from the files; returns (collections, problems)."""
    problems: list[str] = []
    count = 0
    with index.transaction():
        index.delete_artifact_rows()
    for project, name in namespaces.names():
        try:
            state = load_state(namespaces.collection(project, name), project, name)
        except (OSError, ValueError) as exc:
            problems.append(f"artifact {project}/{name}: {exc}")
            continue
        with index.transaction():
            _write(index, state)
        count += 1
    return count, problems


def version_rows(index: IndexBackend, type_: str | None = None) -> list[dict[str, Any]]:
    """Every live version row (for listings), newest first."""
    return index.artifact_version_rows(type_)
