"""localtrack.apikeys: namespace scopes, the memory that keys existed, the last admin key, and
names with a trailing newline; the stateful ones on both key stores (``server_backend``: the
directory's keys file, and PostgreSQL through ``LOCALTRACK_INDEX_URL``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from localtrack.apikeys import KeyStore, parse_scope
from localtrack.cli.sync import standalone
from localtrack.errors import UsageError

from .backend_fixtures import ServerBackend


@pytest.mark.parametrize(
    ("scope", "entity", "project", "covered"),
    [
        ("team-a/mnist", "team-a", "mnist", True),
        ("team-a/mnist", None, "mnist", False),
        ("team-a/mnist", "victim", "team-a/mnist", False),
        ("team-a/mnist", "team-b", "mnist", False),
        ("mnist", None, "mnist", True),
        ("mnist", "", "mnist", True),  # an empty entity is no entity
        ("mnist", "team-a", "mnist", False),
        ("mnist", None, "mnist2", False),
    ],
)
def test_a_scope_covers_its_whole_namespace_only(
    tmp_path: Path, scope: str, entity: str | None, project: str, covered: bool
) -> None:
    key = KeyStore(tmp_path).create("ann", "write", scope).key
    assert key.covers(entity, project) is covered


def test_a_scope_string_matches_a_project_page_name_exactly(tmp_path: Path) -> None:
    key = KeyStore(tmp_path).create("ann", "read", "team-a/mnist").key
    assert key.can_access("team-a/mnist")
    assert not key.can_access("mnist") and not key.can_access("victim/team-a/mnist")
    assert parse_scope("team-a/mnist") == ("team-a", "mnist") and parse_scope("p") == (None, "p")


@pytest.mark.parametrize(
    "scope", ["mnist\n", "team-a/mnist\n", "/mnist", "team-a/", "a/b/c", " mnist", "mn\x00ist"]
)
def test_bad_scopes_are_refused(tmp_path: Path, scope: str) -> None:
    with pytest.raises(UsageError, match="PROJECT or ENTITY/PROJECT"):
        KeyStore(tmp_path).create("ann", "read", scope)


def test_a_user_name_with_a_trailing_newline_is_refused(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    with pytest.raises(UsageError, match="user name"):
        KeyStore(tmp_path).create("ann\n", "read")


def test_a_token_with_a_trailing_newline_does_not_authenticate(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    keys = KeyStore(tmp_path)
    token = keys.create("ann", "read").token
    assert keys.authenticate(token) is not None
    assert keys.authenticate(token + "\n") is None


def test_the_keys_file_remembers_that_keys_existed_after_all_are_revoked(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    keys = KeyStore(tmp_path)
    assert not keys.ever_had_keys()
    key = keys.create("ann", "read").key
    keys.revoke(key.id)
    assert keys.active_count() == 0
    fresh = KeyStore(tmp_path)  # what another process (the server) reads from disk
    assert fresh.ever_had_keys()
    if server_backend.shared:  # the keys document is a row of PostgreSQL, never a file
        assert fresh.index_url == server_backend.index_url and not fresh.path.exists()
    else:
        assert json.loads(fresh.path.read_text())["keys_existed"] is True


def test_revoking_the_last_active_admin_key_needs_force(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    keys = KeyStore(tmp_path)
    first = keys.create("root", "admin").key
    second = keys.create("root2", "admin").key
    keys.revoke(first.id)  # another admin remains: fine
    with pytest.raises(UsageError, match="last active admin key"):
        keys.revoke(second.id)
    assert keys.get(second.id).active
    keys.revoke(second.id, force=True)
    assert keys.active_admins() == 0


def test_keys_revoke_cli_refuses_the_last_admin_and_warns_loudly_when_forced(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    root = str(tmp_path / "s")
    admin = KeyStore(root).create("root", "admin").key
    runner = CliRunner()
    out = runner.invoke(standalone, ["keys", "revoke", admin.id, "--dir", root])
    assert out.exit_code == 1 and "last active admin key" in out.output and "--force" in out.output
    assert KeyStore(root).get(admin.id).active
    out = runner.invoke(standalone, ["keys", "revoke", admin.id, "--force", "--dir", root])
    assert out.exit_code == 0, out.output
    assert "WARNING" in out.output and "NO active admin key" in out.output
    assert not KeyStore(root).get(admin.id).active
