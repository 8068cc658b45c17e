"""The environment saved with a run: packages, uncommitted code, hardware."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import localtrack


@pytest.fixture
def dirty_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "train.py").write_text("lr = 0.1\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    (repo / "train.py").write_text("lr = 0.01  # tuned\n")
    monkeypatch.chdir(repo)
    return repo


def test_packages_diff_and_hardware_are_saved(root: Path, dirty_repo: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    run.finish()
    files = root / "runs" / run.id / "files"
    requirements = (files / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("pyarrow==") for line in requirements)
    patch = (files / "diff.patch").read_text()
    assert "-lr = 0.1" in patch and "+lr = 0.01  # tuned" in patch
    env = localtrack.Api(root).run(run.id).system["environment"]
    assert env["cpu_count"] >= 1 and env["os"] and env["package_count"] == len(requirements)
    assert env["diff_file"] == "files/diff.patch" and env["gpu_models"] == []


def test_each_part_can_be_turned_off(root: Path, dirty_repo: Path) -> None:
    settings = localtrack.Settings(save_code=False, capture_packages=False)
    run = localtrack.init(project="p", dir=root, settings=settings)
    run.finish()
    files = root / "runs" / run.id / "files"
    assert not (files / "requirements.txt").exists() and not (files / "diff.patch").exists()
    assert "cpu_model" in localtrack.Api(root).run(run.id).system["environment"]


def test_clean_tree_or_no_repository_saves_no_patch(
    root: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run = localtrack.init(project="p", dir=root)
    run.finish()
    assert not (root / "runs" / run.id / "files" / "diff.patch").exists()


def _requirements(root: Path) -> list[str]:
    run = localtrack.init(project="p", dir=root, settings=localtrack.Settings(save_code=False))
    run.finish()
    return (root / "runs" / run.id / "files" / "requirements.txt").read_text().splitlines()


def _install(site: Path, name: str, version: str) -> Path:
    """What pip leaves for a package: a ``<name>-<version>.dist-info`` folder with METADATA."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return info


def test_a_package_installed_or_upgraded_between_runs_is_in_the_next_runs_requirements(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One process, several runs (a notebook that runs `%pip install` between two runs)."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    assert not any(line.startswith("Lt-Fake-Pkg==") for line in _requirements(root))
    old = _install(site, "Lt-Fake-Pkg", "1.0")
    assert "Lt-Fake-Pkg==1.0" in _requirements(root)
    assert "Lt-Fake-Pkg==1.0" in _requirements(root)
    (old / "METADATA").unlink()  # pip's upgrade: the old version's folder goes, the new one comes
    old.rmdir()
    _install(site, "Lt-Fake-Pkg", "2.0")
    found = [line for line in _requirements(root) if line.startswith("Lt-Fake-Pkg==")]
    assert found == ["Lt-Fake-Pkg==2.0"]
    (site / "Lt-Fake-Pkg-2.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: Lt-Fake-Pkg\nVersion: 2.0.post1\n"
    )  # rewritten in place (``setup.py develop`` after a version bump)
    assert "Lt-Fake-Pkg==2.0.post1" in _requirements(root)
