"""The index's schema, as sqlite-utils migrations. Never edit a migration: add a new one, and
add its name to ``index.MIGRATION_NAMES`` (the plain-SQL check that spares a writer from importing
sqlite-utils when nothing is pending). Imported only when a migration must run.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .index import MIGRATION_SET

migrations = Migrations(MIGRATION_SET)


@migrations()
def m001_initial(db: Database) -> None:
    db.table("projects").create(
        {"name": str, "created_at": float, "updated_at": float}, pk="name", if_not_exists=True
    )
    db.table("runs").create(
        {
            "id": str,
            "project": str,
            "entity": str,
            "name": str,
            "state": str,
            "created_at": float,
            "updated_at": float,
            "heartbeat_at": float,
            "ended_at": float,
            "exit_code": int,
            "tags": str,
            "run_group": str,
            "job_type": str,
            "notes": str,
            "host": str,
            "pid": int,
            "config": str,
            "summary": str,
            "meta": str,
            "max_step": int,
            "warnings": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("runs").create_index(["project", "created_at"], if_not_exists=True)
    db.table("metric_keys").create(
        {
            "run_id": str,
            "key": str,
            "dtype": str,
            "count": int,
            "min": float,
            "max": float,
            "sum": float,
            "finite_count": int,
            "last": float,
            "last_step": int,
            "max_step": int,
            "last_wall": float,
        },
        pk=("run_id", "key"),
        if_not_exists=True,
    )
    db.table("shards").create(
        {
            "run_id": str,
            "name": str,
            "segment": int,
            "first_batch": int,
            "last_batch": int,
            "rows": int,
            "bytes": int,
            "sha256": str,
            "min_step": int,
            "max_step": int,
        },
        pk=("run_id", "name"),
        if_not_exists=True,
    )
    db.table("store_state").create({"name": str, "value": int}, pk="name", if_not_exists=True)
    db.table("store_state").insert({"name": "changes", "value": 0}, ignore=True)


@migrations()
def m002_artifacts(db: Database) -> None:
    """Artifact versions, aliases, alias moves and uses (a cache of artifacts/, see format.md)."""
    db.table("artifact_versions").create(
        {
            "project": str,
            "name": str,
            "version": int,
            "type": str,
            "digest": str,
            "size": int,
            "file_count": int,
            "created_at": float,
            "run_id": str,
            "description": str,
            "metadata": str,
            "linked_from": str,
            "deleted_at": float,
        },
        pk=("project", "name", "version"),
        if_not_exists=True,
    )
    db.table("artifact_versions").create_index(["type", "project", "name"], if_not_exists=True)
    db.table("artifact_versions").create_index(["run_id"], if_not_exists=True)
    db.table("artifact_aliases").create(
        {"project": str, "name": str, "alias": str, "version": int},
        pk=("project", "name", "alias"),
        if_not_exists=True,
    )
    db.table("artifact_alias_moves").create(
        {
            "project": str,
            "name": str,
            "seq": int,
            "alias": str,
            "from_version": int,
            "to_version": int,
            "who": str,
            "at": float,
            "run_id": str,
        },
        pk=("project", "name", "seq"),
        if_not_exists=True,
    )
    db.table("artifact_uses").create(
        {"project": str, "name": str, "version": int, "run_id": str, "at": float},
        pk=("project", "name", "version", "run_id"),
        if_not_exists=True,
    )
    db.table("artifact_uses").create_index(["run_id"], if_not_exists=True)
