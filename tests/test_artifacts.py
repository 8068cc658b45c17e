"""Artifacts: the W&B-shaped API, content-addressed storage, aliases, lineage, bad input."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

import localtrack
from localtrack.errors import DigestMismatchError, UsageError
from localtrack.store.artifacts.layout import ArtifactPaths
from localtrack.store.artifacts.packs import PACKED_MAX
from localtrack.store.artifacts.repository import ArtifactRepository, Source
from localtrack.store.doctor import run_doctor
from localtrack.store.recovery import reindex
from localtrack.store.root import StoreRoot


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("alpha")
    (d / "sub" / "b.txt").write_text("beta")
    return d


def _blobs(root: Path) -> list[Path]:
    return list(ArtifactRepository(root).blobs.all_blobs())


def test_log_use_download_roundtrip(tmp_path: Path, data: Path) -> None:
    root = tmp_path / "store"
    with localtrack.init(project="p", dir=root) as run:
        art = localtrack.Artifact("ds", "dataset", metadata={"n": 2})
        art.add_dir(data)
        with art.new_file("notes.txt") as f:
            f.write("hi")
        run.log_artifact(art, aliases=["raw"])
        producer = run.id
    assert (art.version, art.aliases) == ("v0", ["latest", "raw"])
    with localtrack.init(project="p", dir=root) as run:
        used = run.use_artifact("ds:latest", type="dataset")
        out = Path(used.download(tmp_path / "dl"))
        consumer = run.id
    assert (out / "sub" / "b.txt").read_text() == "beta"
    used.verify(out)
    assert used.logged_by().id == producer
    assert [r.id for r in used.used_by()] == [consumer]
    api = localtrack.Api(root)
    assert api.artifact("p/ds:raw").digest == art.digest
    assert [a.name for a in api.run(consumer).used_artifacts()] == ["ds:v0"]
    assert [a.name for a in api.run(producer).logged_artifacts()] == ["ds:v0"]


def test_unchanged_content_makes_no_version_and_no_bytes(tmp_path: Path, data: Path) -> None:
    root = tmp_path / "store"
    with localtrack.init(project="p", dir=root) as run:
        first = run.log_artifact(str(data), name="ds", type="dataset")
        blobs = sorted(_blobs(root))
        again = run.log_artifact(str(data), name="ds", type="dataset")
    assert again.version == first.version == "v0"
    assert sorted(_blobs(root)) == blobs


def test_new_draft_and_latest_moves(tmp_path: Path, data: Path) -> None:
    root = tmp_path / "store"
    with localtrack.init(project="p", dir=root) as run:
        v0 = run.log_artifact(str(data), name="ds", type="dataset", aliases=["best"])
        draft = v0.new_draft()
        draft.remove("sub")
        v1 = run.log_artifact(draft, aliases=["best"])
    versions = localtrack.Api(root).artifact_versions("p/ds")
    assert [a.version for a in versions] == ["v0", "v1"]
    assert versions[0].aliases == [] and versions[1].aliases == ["latest", "best"]
    assert list(v1.entries()) == ["a.txt"]
    moves = ArtifactRepository(root).state("p", "ds").moves
    assert [(m.from_version, m.to_version) for m in moves] == [(None, 0), (0, 1)]


def test_save_edits_and_delete(tmp_path: Path, data: Path) -> None:
    root = tmp_path / "store"
    with localtrack.init(project="p", dir=root) as run:
        run.log_artifact(str(data), name="ds", type="dataset")
    art = localtrack.Api(root).artifact("p/ds:v0")
    art.description = "cleaned"
    art.metadata["rows"] = 10
    art.aliases.append("prod")
    art.save()
    again = localtrack.Api(root).artifact("p/ds:prod")
    assert (again.description, again.metadata, again.aliases) == (
        "cleaned",
        {"rows": 10},
        ["latest", "prod"],
    )
    with pytest.raises(UsageError, match="aliases"):
        again.delete()
    again.delete(delete_aliases=True)
    with pytest.raises(UsageError, match="no version"):
        localtrack.Api(root).artifact("p/ds:v0")
    report = ArtifactRepository(root).gc(grace_s=0)
    assert len(report.removed) == 2 and _blobs(root) == []


def test_gc_repacks_a_pack_holding_dead_and_live_blobs(tmp_path: Path) -> None:
    root, d = tmp_path / "s", tmp_path / "d"
    d.mkdir()
    for i in range(6):
        (d / f"{i}.txt").write_text(f"file {i}")
    files = [Source(f"{i}.txt", local=d / f"{i}.txt") for i in range(6)]
    repo = ArtifactRepository(root, create=True)
    repo.log("p", "all", "dataset", files)  # six small blobs in one pack
    kept, _, report = repo.log("p", "some", "dataset", files[:3])
    assert (report.new_blobs, report.reused) == (0, 3)  # packed blobs are found, not re-stored
    localtrack.Api(root).artifact("p/all:v0").delete(delete_aliases=True)
    packs = ArtifactPaths.of_root(root).packs
    before = sorted(p.name for p in packs.glob("pack-*.tar"))
    assert len(before) == 1

    dry = repo.gc(grace_s=0, dry_run=True)
    assert len(dry.removed) == 3 and dry.repacked == before
    assert sorted(p.name for p in packs.glob("pack-*.tar")) == before  # dry: nothing changed
    done = repo.gc(grace_s=0)
    assert len(done.removed) == 3 and done.repacked == before
    after = sorted(p.name for p in packs.glob("pack-*.tar"))
    assert len(after) == 1 and after != before
    assert sorted(repo.blobs.all_blobs()) == sorted(e.sha256 for e in kept.entries.values())
    out = repo.materialize(kept, tmp_path / "dl")
    assert (out / "2.txt").read_text() == "file 2"
    assert run_doctor(root)["problems"] == 0


def test_registry_link(tmp_path: Path, data: Path) -> None:
    root = tmp_path / "store"
    with localtrack.init(project="p", dir=root) as run:
        model = run.log_artifact(str(data / "a.txt"), name="clf", type="model")
        linked = run.link_artifact(model, "model-registry/classifier", aliases=["production"])
    assert linked.linked_from["name"] == "clf"
    found = localtrack.Api(root).artifact("model-registry/classifier:production")
    assert found.digest == model.digest


def test_reference_change_is_reported(tmp_path: Path) -> None:
    ref = tmp_path / "ref.bin"
    ref.write_bytes(b"one")
    with localtrack.init(project="p", dir=tmp_path / "s") as run:
        art = localtrack.Artifact("refs", "dataset")
        art.add_reference(ref.as_uri())
        run.log_artifact(art)
    assert not _blobs(tmp_path / "s")  # a reference stores no bytes
    ref.write_bytes(b"two")
    with pytest.raises(DigestMismatchError, match="changed since it was logged"):
        art.download(tmp_path / "dl")


def test_verify_names_changed_file(tmp_path: Path, data: Path) -> None:
    with localtrack.init(project="p", dir=tmp_path / "s") as run:
        art = run.log_artifact(str(data), name="ds", type="dataset")
    out = Path(art.download(tmp_path / "dl"))
    (out / "a.txt").unlink()
    (out / "a.txt").write_text("tampered")
    with pytest.raises(DigestMismatchError, match=r"changed: a\.txt"):
        art.verify(out)


@pytest.mark.parametrize(
    "call",
    [
        lambda a, d: a.add_file(d / "missing.txt"),
        lambda a, d: a.add_file(d),
        lambda a, d: a.add_dir(d / "a.txt"),
        lambda a, d: a.add_file(d / "a.txt", name="../x"),
        lambda a, d: a.add_file(d / "a.txt", name="/abs"),
        lambda a, d: a.remove("nope"),
    ],
)
def test_bad_input_is_a_usage_error(data: Path, call: object) -> None:
    with pytest.raises(UsageError):
        call(localtrack.Artifact("ds", "dataset"), data)  # type: ignore[operator]


@pytest.mark.parametrize("name", ["a/b", "..", "a..b", ".hidden", ""])
def test_bad_names(name: str) -> None:
    with pytest.raises(UsageError):
        localtrack.Artifact(name, "dataset")


def test_alias_on_missing_version_and_reserved(tmp_path: Path, data: Path) -> None:
    root = tmp_path / "s"
    repo = ArtifactRepository(root, create=True)
    repo.log("p", "ds", "dataset", [])
    with pytest.raises(UsageError, match="no version v7"):
        repo.set_aliases("p", "ds", 7, ["best"])
    with pytest.raises(UsageError, match="reserved"):
        repo.set_aliases("p", "ds", 0, ["v3"])


def test_download_into_non_empty_folder(tmp_path: Path, data: Path) -> None:
    with localtrack.init(project="p", dir=tmp_path / "s") as run:
        art = run.log_artifact(str(data), name="ds", type="dataset")
    out = tmp_path / "dl"
    art.download(out)
    art.download(out)  # the same version again: already there, verified, no error
    (out / "other.txt").write_text("x")
    with pytest.raises(UsageError, match="holds other files"):
        art.download(out)


def test_download_hard_links_single_blobs_and_cached_packed_ones(
    tmp_path: Path, data: Path
) -> None:
    (data / "weights.bin").write_bytes(os.urandom(PACKED_MAX + 1))  # too big for a pack
    root = tmp_path / "s"
    with localtrack.init(project="p", dir=root) as run:
        art = run.log_artifact(str(data), name="ds", type="dataset")
    out = Path(art.download(tmp_path / "dl"))
    assert os.stat(out / "weights.bin").st_nlink == 2  # a hard link of the read-only blob
    if os.geteuid() != 0:
        with pytest.raises(PermissionError):
            (out / "weights.bin").write_bytes(b"edit")
    # a packed blob: extracted once, the file linked into the extraction cache
    cached = ArtifactPaths.of_root(root).extracted / art.get_entry("a.txt").sha256[:2]
    cached = cached / art.get_entry("a.txt").sha256
    assert os.path.samefile(out / "a.txt", cached)
    assert os.stat(out / "a.txt").st_mode & 0o222 == 0  # read-only, like a single blob
    again = Path(art.download(tmp_path / "dl2"))  # a cached version: every file a hard link
    assert os.path.samefile(again / "sub/b.txt", out / "sub/b.txt")
    assert os.stat(again / "a.txt").st_nlink == 3

    cached.chmod(0o644)  # damage the cache (e.g. a downloaded file edited in place)
    cached.write_text("ALPHA")
    third = Path(art.download(tmp_path / "dl3"))  # the cache is checked, then made again
    assert (third / "a.txt").read_text() == "alpha"
    art.verify(third)
    assert run_doctor(root)["problems"] == 0  # the cache is derived: nothing to report
    shutil.rmtree(ArtifactPaths.of_root(root).extracted)  # removing it is always safe
    fourth = Path(art.download(tmp_path / "dl4"))  # (by the same process) extracts again
    assert os.path.samefile(fourth / "a.txt", cached)

    art.delete(delete_aliases=True)
    report = ArtifactRepository(root).gc(grace_s=0)
    assert len(report.extracted.dropped) == 2  # a.txt and sub/b.txt: no version needs them
    assert not any(ArtifactRepository(root).extracted.files())
    assert (third / "a.txt").read_text() == "alpha"  # downloads keep their files


def test_download_across_file_systems_copies(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with localtrack.init(project="p", dir=tmp_path / "s") as run:
        art = run.log_artifact(str(data), name="ds", type="dataset")

    def no_links(src: object, dst: object) -> None:  # what link(2) says across devices
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "link", no_links)
    out = Path(art.download(tmp_path / "dl"))
    assert (out / "a.txt").read_text() == "alpha"
    assert os.stat(out / "a.txt").st_mode & 0o200  # a copy, free to edit
    assert not any(ArtifactRepository(tmp_path / "s").extracted.files())


def test_a_damaged_packed_blob_fails_its_download(tmp_path: Path, data: Path) -> None:
    with localtrack.init(project="p", dir=tmp_path / "s") as run:
        art = run.log_artifact(str(data), name="ds", type="dataset")
    blobs = ArtifactRepository(tmp_path / "s").blobs
    pack, offset, _size = blobs.index.find(art.get_entry("a.txt").sha256)
    (blobs.paths.packs / pack).chmod(0o644)
    with open(blobs.paths.packs / pack, "r+b") as f:
        f.seek(offset)
        f.write(b"ALPHA")
    with pytest.raises(DigestMismatchError, match=r"a\.txt"):
        art.download(tmp_path / "dl")
    assert not (tmp_path / "dl" / "a.txt").exists()


def test_reindex_rebuilds_artifact_tables(tmp_path: Path, data: Path) -> None:
    root = tmp_path / "s"
    with localtrack.init(project="p", dir=root) as run:
        run.log_artifact(str(data), name="ds", type="dataset", aliases=["best"])
    store = StoreRoot(root)
    index = store.open_index()
    assert index is not None
    index.conn.execute("DELETE FROM artifact_versions")
    index.close()
    reindex(store)
    index = store.open_index(readonly=True)
    assert index is not None
    rows = index.conn.execute("SELECT name, version FROM artifact_versions").fetchall()
    aliases = index.conn.execute("SELECT alias FROM artifact_aliases ORDER BY alias").fetchall()
    index.close()
    assert rows == [("ds", 0)] and aliases == [("best",), ("latest",)]


def test_doctor_finds_and_cleans_orphans(tmp_path: Path, data: Path) -> None:
    root = tmp_path / "s"
    repo = ArtifactRepository(root, create=True)
    repo.log("p", "ds", "dataset", [])
    paths = ArtifactPaths.of_root(root)
    paths.incoming.mkdir(parents=True, exist_ok=True)
    (paths.incoming / "123-abc.tmp").write_bytes(b"half")
    (paths.collection("p", "ds").dir / ".v1.json.9-x.tmp").write_bytes(b"{")
    report = run_doctor(root)
    assert sum("orphan" in line for line in report["lines"]) == 2
    run_doctor(root, repair=True)
    assert run_doctor(root)["problems"] == 0


def _log_one(root: str, i: int) -> None:
    repo = ArtifactRepository(root)
    src = Path(root).parent / f"f{i}.txt"
    src.write_text(f"content {i}")
    from localtrack.store.artifacts.repository import Source

    repo.log("p", "race", "dataset", [Source("f.txt", local=src)])


def test_concurrent_logs_number_without_gap(tmp_path: Path) -> None:
    root = tmp_path / "s"
    ArtifactRepository(root, create=True)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_log_one, args=(str(root), i)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    versions = ArtifactRepository(root).state("p", "race").live
    assert sorted(versions) == list(range(6))
    assert len({m.digest for m in versions.values()}) == 6


def test_store_is_readable_without_localtrack(tmp_path: Path, data: Path) -> None:
    """The manifest is plain JSON; a small blob is a member of a plain tar pack named by its
    hash (``tar xf`` yields it) and the pack index is plain SQLite; a large blob is a file."""
    (data / "weights.bin").write_bytes(os.urandom(PACKED_MAX + 1))
    with localtrack.init(project="p", dir=tmp_path / "s") as run:
        art = run.log_artifact(str(data), name="ds", type="dataset")
    doc = json.loads((tmp_path / "s/artifacts/collections/p/ds/v0.json").read_text())
    assert doc["digest"] == art.digest
    big = doc["entries"]["weights.bin"]["sha256"]
    blob = tmp_path / "s/artifacts/blobs" / big[:2] / big
    assert blob.read_bytes() == (data / "weights.bin").read_bytes()
    small = doc["entries"]["a.txt"]["sha256"]
    packs = tmp_path / "s/artifacts/packs"
    index = sqlite3.connect(packs / "index.sqlite")
    (pack,) = index.execute(
        "SELECT p.name FROM blobs b JOIN packs p ON p.id = b.pack WHERE b.sha256 = ?",
        (bytes.fromhex(small),),
    ).fetchone()
    index.close()
    out = tmp_path / "untarred"
    out.mkdir()
    subprocess.run(["tar", "xf", str(packs / pack), "-C", str(out)], check=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        e["sha256"] for p, e in doc["entries"].items() if p != "weights.bin"
    )
    assert (out / small).read_text() == "alpha"


def test_docs_example_runs(tmp_path: Path) -> None:
    import re
    import subprocess
    import sys

    from .conftest import REPO

    code = re.search(r"```python\n(.*?)```", (REPO / "docs/artifacts.md").read_text(), re.S)
    assert code is not None
    env = {**os.environ, "LOCALTRACK_DIR": str(tmp_path / "store")}
    out = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("True ")


def test_manifest_bytes_and_digest_are_the_documented_ones() -> None:
    """The manifest is written without a dict per entry, and its digest hashed in blocks: both
    must stay what docs/format.md defines (entries sorted by UTF-8 bytes)."""
    import hashlib
    from dataclasses import replace

    from localtrack.store.artifacts.manifest import Entry, Manifest, entries_digest

    paths = ["b", "a/z.txt", "Z", "é.txt", "日本/x", "\U0001f600", 'q"\\uote']
    entries = {p: Entry(p, hashlib.sha256(p.encode()).hexdigest(), i) for i, p in enumerate(paths)}
    entries["ref"] = Entry("ref", "0" * 64, 3, "s3://bucket/ké y")
    h = hashlib.sha256()
    for p in sorted(entries, key=lambda p: p.encode("utf-8")):
        e = entries[p]
        h.update(f"{p}\t{e.sha256}\t{e.size}\t{e.ref or ''}\n".encode())
    assert entries_digest(entries) == h.hexdigest()
    m = Manifest("p", "ds", 3, "dataset", h.hexdigest(), entries, 1.5, metadata={"é": [1.25]})
    for doc in (m, replace(m, deleted_at=2.5)):
        expected = json.dumps(doc.as_json(), separators=(",", ":"), allow_nan=False)
        assert doc.to_bytes() == expected.encode() + b"\n"


def test_identical_files_read_on_two_threads_are_stored_once(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for i in range(600):  # three chunks of files, read, hashed and packed by two threads
        (d / f"{i:03d}.txt").write_text("same" if i % 2 else "also the same")
    art = localtrack.Artifact("dup", "dataset")
    art.add_dir(d)
    repo = ArtifactRepository(tmp_path / "s", create=True)
    manifest, _, report = repo.log("p", "dup", "dataset", list(art._sources.values()))
    assert (report.new_blobs, report.reused) == (2, 598)
    assert len(list(repo.blobs.all_blobs())) == 2 and len(manifest.entries) == 600
    assert repo.materialize(manifest, tmp_path / "dl").joinpath("599.txt").read_text() == "same"
