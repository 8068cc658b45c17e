"""Reading runs by namespace (entity/project): the API and the CLI find what the UI shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import localtrack
from localtrack.cli.main import cli
from localtrack.errors import RunNotFoundError


@pytest.fixture
def two_entities(root: Path) -> dict[str, str]:
    """Project "mnist" of entities "alice" and "bob", and one without an entity."""
    ids = {}
    for entity in ("alice", "bob", None):
        run = localtrack.init(project="mnist", entity=entity, dir=root)
        run.log({"loss": 1.0})
        run.finish()
        ids[f"{entity}/mnist" if entity else "mnist"] = run.id
    return ids


def test_api_projects_keep_entities_apart(root: Path, two_entities: dict[str, str]) -> None:
    projects = {p.name: p for p in localtrack.Api(root).projects()}
    assert sorted(projects) == ["alice/mnist", "bob/mnist", "mnist"]
    assert projects["alice/mnist"].run_count == 1
    assert (projects["bob/mnist"].entity, projects["bob/mnist"].project) == ("bob", "mnist")


@pytest.mark.parametrize("namespace", ["alice/mnist", "bob/mnist", "mnist"])
def test_api_runs_and_run_by_namespace(
    root: Path, two_entities: dict[str, str], namespace: str
) -> None:
    api = localtrack.Api(root)
    assert [r.id for r in api.runs(namespace)] == [two_entities[namespace]]
    run_id = two_entities[namespace]
    assert api.run(f"{namespace}/{run_id}").id == run_id
    assert api.run(f"{namespace}/runs/{run_id}").id == run_id


def test_api_run_in_the_wrong_namespace_is_not_found(
    root: Path, two_entities: dict[str, str]
) -> None:
    with pytest.raises(RunNotFoundError, match="alice/mnist"):
        localtrack.Api(root).run(f"bob/mnist/{two_entities['alice/mnist']}")


def test_cli_runs_project_by_namespace(root: Path, two_entities: dict[str, str]) -> None:
    out = CliRunner().invoke(cli, ["runs", "--dir", str(root), "--project", "alice/mnist"])
    assert out.exit_code == 0, out.output
    assert two_entities["alice/mnist"] in out.output
    assert two_entities["bob/mnist"] not in out.output


def test_cli_runs_unknown_project_says_so_and_lists_projects(
    root: Path, two_entities: dict[str, str]
) -> None:
    out = CliRunner().invoke(cli, ["runs", "--dir", str(root), "--project", "nope"])
    assert out.exit_code != 0
    assert "no project 'nope'" in out.output
    assert "alice/mnist, bob/mnist, mnist" in out.output
