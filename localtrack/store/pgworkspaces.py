"""Saved workspace views in the PostgreSQL index database, shared by every replica of a server.

The twin of ``workspaces.py``'s files: a row of ``workspaces`` per view (its checked document
as JSON text) and a row of ``workspace_defaults`` per project with a default view (pgschema.py,
migration 7). Every change moves the index's change counter and sends its ``NOTIFY`` in the
same transaction, so a page polling another replica sees it at its next poll.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import psycopg
import psycopg_pool

from ..errors import DocumentError, IndexUnavailableError
from .indexbackend import redacted
from .pgindex import pool_for
from .pglisten import NOTIFY_SQL
from .workspaces import (
    MAX_BYTES,
    VERSION,
    ViewInfo,
    ViewNotFoundError,
    check_name,
    check_view,
    project_dir,
)

_BUMP = "UPDATE store_state SET value = value + 1 WHERE name='changes'"
_SAVE_SQL = """
INSERT INTO workspaces (project, name, document, updated_at) VALUES (%s, %s, %s, %s)
ON CONFLICT (project, name) DO UPDATE SET document=excluded.document,
    updated_at=excluded.updated_at
"""


class PgViews:
    """The saved views of a server whose index is the PostgreSQL database at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _run(self, *statements: tuple[str, list[Any]]) -> list[tuple[Any, ...]]:
        """Statements in one transaction; the rows of the first."""
        try:
            with pool_for(self.url).connection() as conn, conn.transaction():
                first = conn.execute(*statements[0])
                rows = first.fetchall() if first.description else []
                for sql, args in statements[1:]:
                    conn.execute(sql, args)
                return rows
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise IndexUnavailableError(
                f"the saved views in the PostgreSQL database {redacted(self.url)} could not be "
                f"read or written: {exc}"
            ) from exc

    def _changed(self) -> list[tuple[str, list[Any]]]:
        return [(_BUMP, []), (NOTIFY_SQL, [])]

    def projects(self) -> list[str]:
        """The projects with saved views or a default view."""
        rows = self._run(
            ("SELECT project FROM workspaces UNION SELECT project FROM workspace_defaults", [])
        )
        return sorted(r[0] for r in rows)

    def list_views(self, project: str) -> list[ViewInfo]:
        project_dir("", project)  # the same check of the project name as the files'
        default = self.default_view(project)
        rows = self._run(
            ("SELECT name, updated_at FROM workspaces WHERE project=%s ORDER BY name", [project])
        )
        return [ViewInfo(name, float(at), name == default) for name, at in rows]

    def read_view(self, project: str, name: str) -> dict[str, Any]:
        sql = "SELECT document FROM workspaces WHERE project=%s AND name=%s"
        rows = self._run((sql, [project, check_name(name)]))
        if not rows:
            raise ViewNotFoundError(f"project {project!r} has no saved view named {name!r}")
        return check_view(json.loads(rows[0][0]))

    def save_view(
        self,
        project: str,
        name: str,
        state: Mapping[str, Any],
        updated_at: float | None = None,
    ) -> dict[str, Any]:
        """As ``workspaces.save_view``: with `updated_at`, a view here saved later is kept."""
        project_dir("", project)
        stamp = time.time() if updated_at is None else float(updated_at)
        doc = check_view(
            {"version": VERSION, "name": check_name(name), "updated_at": stamp, "state": state}
        )
        text = json.dumps(doc, sort_keys=True)
        if len(text) > MAX_BYTES:
            raise DocumentError(f"a view must be under {MAX_BYTES} bytes", "view", "state")
        newer = updated_at is not None
        where = " WHERE workspaces.updated_at <= excluded.updated_at" if newer else ""
        saved = self._run(
            (_SAVE_SQL + where + " RETURNING document", [project, name, text, stamp]),
            *self._changed(),
        )
        return doc if saved else self.read_view(project, name)

    def delete_view(self, project: str, name: str) -> None:
        deleted = self._run(
            (
                "DELETE FROM workspaces WHERE project=%s AND name=%s RETURNING name",
                [project, check_name(name)],
            ),
            ("DELETE FROM workspace_defaults WHERE project=%s AND name=%s", [project, name]),
            *self._changed(),
        )
        if not deleted:
            raise ViewNotFoundError(f"project {project!r} has no saved view named {name!r}")

    def default_view(self, project: str) -> str | None:
        rows = self._run(("SELECT name FROM workspace_defaults WHERE project=%s", [project]))
        return str(rows[0][0]) if rows else None

    def set_default(self, project: str, name: str | None) -> None:
        """Make `name` (a saved view) the project's default, or clear it with None."""
        if name is None:
            sql, args = "DELETE FROM workspace_defaults WHERE project=%s", [project]
        else:
            self.read_view(project, name)
            sql = (
                "INSERT INTO workspace_defaults (project, name) VALUES (%s, %s) "
                "ON CONFLICT (project) DO UPDATE SET name=excluded.name"
            )
            args = [project, name]
        self._run((sql, args), *self._changed())
