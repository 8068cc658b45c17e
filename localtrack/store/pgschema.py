"""The PostgreSQL index's schema, as numbered migrations (the twin of ``schema.py`` for SQLite).

Never edit a migration: append a new one. ``pgindex.migrate`` applies the missing ones once, under
a PostgreSQL advisory lock, in whichever process opens the index first; each is recorded in the
``localtrack_schema`` table with its number and name. Columns and keys mirror the SQLite index, so
every query reads the same rows from either backend.
"""

from __future__ import annotations

VERSION_TABLE = "localtrack_schema"
ADVISORY_LOCK_KEY = 0x6C74_6964_7831  # "ltidx1": one lock id for localtrack's migrations

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "initial",
        """
        CREATE TABLE projects (
            name text PRIMARY KEY, created_at double precision, updated_at double precision
        );
        CREATE TABLE runs (
            id text PRIMARY KEY, project text, entity text, name text, state text,
            created_at double precision, updated_at double precision,
            heartbeat_at double precision, ended_at double precision, exit_code bigint,
            tags text, run_group text, job_type text, notes text, host text, pid bigint,
            config text, summary text, meta text, max_step bigint, warnings text
        );
        CREATE INDEX runs_project_created_at ON runs (project, created_at);
        CREATE TABLE metric_keys (
            run_id text NOT NULL, key text NOT NULL, dtype text, count bigint,
            min double precision, max double precision, sum double precision,
            finite_count bigint, last double precision, last_step bigint, max_step bigint,
            last_wall double precision, PRIMARY KEY (run_id, key)
        );
        CREATE TABLE shards (
            run_id text NOT NULL, name text NOT NULL, segment bigint, first_batch bigint,
            last_batch bigint, rows bigint, bytes bigint, sha256 text, min_step bigint,
            max_step bigint, PRIMARY KEY (run_id, name)
        );
        CREATE TABLE store_state (name text PRIMARY KEY, value bigint);
        INSERT INTO store_state (name, value) VALUES ('changes', 0);
        """,
    ),
    (
        2,
        "artifacts",
        """
        CREATE TABLE artifact_versions (
            project text NOT NULL, name text NOT NULL, version bigint NOT NULL, type text,
            digest text, size bigint, file_count bigint, created_at double precision,
            run_id text, description text, metadata text, linked_from text,
            deleted_at double precision, PRIMARY KEY (project, name, version)
        );
        CREATE INDEX artifact_versions_type ON artifact_versions (type, project, name);
        CREATE INDEX artifact_versions_run ON artifact_versions (run_id);
        CREATE TABLE artifact_aliases (
            project text NOT NULL, name text NOT NULL, alias text NOT NULL, version bigint,
            PRIMARY KEY (project, name, alias)
        );
        CREATE TABLE artifact_alias_moves (
            project text NOT NULL, name text NOT NULL, seq bigint NOT NULL, alias text,
            from_version bigint, to_version bigint, who text, at double precision, run_id text,
            PRIMARY KEY (project, name, seq)
        );
        CREATE TABLE artifact_uses (
            project text NOT NULL, name text NOT NULL, version bigint NOT NULL,
            run_id text NOT NULL, at double precision, PRIMARY KEY (project, name, version, run_id)
        );
        CREATE INDEX artifact_uses_run ON artifact_uses (run_id);
        """,
    ),
    (
        3,
        "server_documents",
        """
        CREATE TABLE server_documents (
            name text PRIMARY KEY, body text NOT NULL, version bigint NOT NULL
        );
        """,
    ),
    (
        4,
        "audit_log",
        """
        CREATE TABLE audit_log (
            id bigserial PRIMARY KEY, at double precision NOT NULL, action text NOT NULL,
            "user" text, key_id text, source text NOT NULL, target text,
            detail text NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_log_user ON audit_log ("user", id);
        CREATE INDEX audit_log_action ON audit_log (action, id);
        CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
        CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
        """,
    ),
    (
        5,
        "rate_buckets",
        """
        CREATE TABLE rate_buckets (
            name text PRIMARY KEY, tokens double precision NOT NULL,
            at double precision NOT NULL, full_at double precision NOT NULL,
            refused boolean NOT NULL DEFAULT false
        );
        CREATE INDEX rate_buckets_full_at ON rate_buckets (full_at);
        """,
    ),
    (
        6,
        "sweeps",
        """
        CREATE TABLE sweeps (
            id text PRIMARY KEY, project text NOT NULL, document text NOT NULL,
            control text NOT NULL, control_at double precision NOT NULL,
            next_trial bigint NOT NULL DEFAULT 0
        );
        CREATE INDEX sweeps_project ON sweeps (project);
        CREATE TABLE sweep_claims (
            sweep_id text NOT NULL REFERENCES sweeps (id), number bigint NOT NULL,
            attempt bigint NOT NULL, record text NOT NULL, stop text,
            PRIMARY KEY (sweep_id, number, attempt)
        );
        CREATE TABLE sweep_results (
            sweep_id text NOT NULL REFERENCES sweeps (id), number bigint NOT NULL,
            attempt bigint NOT NULL, record text NOT NULL,
            PRIMARY KEY (sweep_id, number, attempt)
        );
        CREATE TABLE sweep_progress (
            sweep_id text NOT NULL REFERENCES sweeps (id), number bigint NOT NULL,
            attempt bigint NOT NULL, record text NOT NULL,
            PRIMARY KEY (sweep_id, number, attempt)
        );
        CREATE TABLE sweep_agents (
            sweep_id text NOT NULL REFERENCES sweeps (id), agent_id text NOT NULL,
            record text NOT NULL, beat_at double precision NOT NULL,
            PRIMARY KEY (sweep_id, agent_id)
        );
        """,
    ),
    (
        7,
        "workspaces",
        """
        CREATE TABLE workspaces (
            project text NOT NULL, name text NOT NULL, document text NOT NULL,
            updated_at double precision NOT NULL, PRIMARY KEY (project, name)
        );
        CREATE TABLE workspace_defaults (project text PRIMARY KEY, name text NOT NULL);
        """,
    ),
    (
        8,
        "namespace_blobs",
        """
        CREATE TABLE namespace_blobs (
            namespace text NOT NULL, sha256 text NOT NULL, PRIMARY KEY (namespace, sha256)
        );
        """,
    ),
    (
        9,
        "run_files",
        """
        CREATE TABLE run_commits (
            run_id text PRIMARY KEY, heartbeat_at double precision,
            committed_at double precision NOT NULL
        );
        CREATE TABLE run_files (
            run_id text NOT NULL, name text NOT NULL, sha256 text NOT NULL,
            bytes bigint NOT NULL, PRIMARY KEY (run_id, name)
        );
        CREATE INDEX run_files_sha256 ON run_files (sha256);
        """,
    ),
    (
        10,
        "artifact_documents",
        """
        CREATE TABLE artifact_manifests (
            project text NOT NULL, name text NOT NULL, version bigint NOT NULL,
            digest text NOT NULL, deleted_at double precision, body text NOT NULL,
            PRIMARY KEY (project, name, version)
        );
        CREATE TABLE artifact_events (
            project text NOT NULL, name text NOT NULL, seq bigint NOT NULL, body text NOT NULL,
            PRIMARY KEY (project, name, seq)
        );
        CREATE TABLE artifact_use_records (
            project text NOT NULL, name text NOT NULL, run_id text NOT NULL,
            version bigint NOT NULL, body text NOT NULL,
            PRIMARY KEY (project, name, run_id, version)
        );
        """,
    ),
    (
        11,
        "alerts",
        """
        CREATE TABLE alert_rules (
            project text PRIMARY KEY, document text NOT NULL, saved_at double precision NOT NULL
        );
        CREATE TABLE alert_secrets (
            project text NOT NULL, destination text NOT NULL, field text NOT NULL,
            value text NOT NULL, PRIMARY KEY (project, destination, field)
        );
        CREATE TABLE alert_events (
            project text NOT NULL, key text NOT NULL, seq bigserial NOT NULL,
            kind text NOT NULL, at double precision NOT NULL, record text NOT NULL,
            PRIMARY KEY (project, key)
        );
        CREATE INDEX alert_events_seq ON alert_events (project, seq);
        """,
    ),
    (
        12,
        "run_json_synced",
        """
        ALTER TABLE run_commits ADD COLUMN synced_run_json_sha256 text;
        ALTER TABLE run_commits ADD COLUMN synced_run_json_bytes bigint;
        """,
    ),
)
