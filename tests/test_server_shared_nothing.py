"""Replicas that share no directory: only PostgreSQL and the bucket (docs/deploy.md).

Two real `localtrack server` processes with DIFFERENT `--dir`s, one throwaway PostgreSQL
(tests/pg_fixtures.py) and moto's S3 server (a test double for MinIO/Ceph/AWS, speaking the S3
HTTP protocol): a run synced through one replica is listed, and its metrics, media and files are
read through the other, which makes them in its bounded read cache from the bucket; the bound
evicts and the next read fetches again; a blob deleted from the bucket is named by
`server check` and by the read of its run, never as a traceback.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from localtrack.cli import cli
from localtrack.store.ingest.importer import Ingest
from localtrack.store.root import StoreRoot
from localtrack.store.runedit import delete_run

from .media_fixtures import rich_run
from .pg_fixtures import indexed_run_ids
from .s3_fixtures import moto_server, s3_client, use_new_bucket
from .sync_fixtures import (
    ServerProcess,
    env_without_home,
    log_runs,
    run_cli,
    store_files,
    wait_until,
)
from .test_server_replicas import _cli, _key
from .test_sync_importer import _manifest

pytestmark = pytest.mark.server


def _views(root: Path, run_id: str) -> list[Path]:
    """The versions of `run_id` a replica's read cache holds."""
    return sorted((root / "readcache" / "views").glob(f"*/{run_id}"))


def _raw(url: str, headers: dict[str, str]) -> bytes:
    # a generous bound: the first read of a run fetches it from the bucket on a loaded machine
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=120) as r:
        return bytes(r.read())


def get_json(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    """(status, body) of a JSON GET, with the same generous bound."""
    try:
        return 200, json.loads(_raw(url, headers))
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"null")


def _reads(url: str, run_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """What a user reads of one run: the run, a chart's series, its media list and one image,
    a table page and a file of files/."""
    code, run = get_json(f"{url}/api/v1/runs/{run_id}", headers)
    assert code == 200, run
    code, series = get_json(f"{url}/api/v1/series?runs={run_id}&key=loss", headers)
    assert code == 200, series
    code, media = get_json(f"{url}/api/v1/runs/{run_id}/media", headers)
    assert code == 200, media
    code, table = get_json(f"{url}/api/v1/runs/{run_id}/table?key=predictions", headers)
    assert code == 200, table
    image = next(k for k in media["keys"] if k["type"] == "image")["items"][0]["file"]
    picture = _raw(f"{url}/api/v1/runs/{run_id}/media/{image}", headers)
    notes = _raw(f"{url}/api/v1/runs/{run_id}/files/notes.txt", headers)
    return {"run": run, "series": series, "media": media, "table": table, "png": picture, "notes": notes}  # fmt: skip


def test_replicas_with_their_own_dirs_read_each_others_runs_from_the_bucket(
    tmp_path: Path,
    pg_url: str,
    bucket_env: dict[str, str],
) -> None:
    a_dir, b_dir, client = tmp_path / "a", tmp_path / "b", tmp_path / "cluster"
    admin, writer = _key(a_dir, pg_url, "root", "admin"), _key(a_dir, pg_url, "ci", "write")
    ids = [rich_run(client, project="proj", name=f"rich-{i}") for i in range(2)]
    for run_id in ids:
        (client / "runs" / run_id / "files").mkdir(exist_ok=True)
        (client / "runs" / run_id / "files" / "notes.txt").write_text(f"notes of {run_id}\n")
    a = ServerProcess(a_dir, env=bucket_env, args=("--index", pg_url))
    # a cache bound smaller than one run: reading a second run evicts the first
    b_env = dict(bucket_env, LOCALTRACK_READ_CACHE_BYTES="1")
    b = ServerProcess(b_dir, env=b_env, args=("--index", pg_url))
    as_admin = {"Authorization": f"Bearer {admin['token']}"}
    try:
        a.start()
        b.start()
        env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=writer["token"])
        synced = run_cli("sync", "--all", "--dir", str(client), "--to", a.url, env=env)
        assert synced.returncode == 0 and "2 sent" in synced.stdout, synced.stderr
        for root in (a_dir, b_dir):  # neither replica keeps run directories or commit records
            assert not any((root / "runs").glob("*/run.json"))
            assert not any((root / "ingest" / "runs").glob("*.json"))

        code, listed = get_json(f"{b.url}/api/v1/projects/proj/runs", as_admin)
        assert code == 200 and sorted(r["id"] for r in listed["rows"]) == sorted(ids), listed
        first = _reads(b.url, ids[0], as_admin)
        assert first == _reads(a.url, ids[0], as_admin)  # the same answers through either
        assert first["notes"] == f"notes of {ids[0]}\n".encode()
        assert first["png"].startswith(b"\x89PNG") and first["table"]["rows"]
        assert first["run"]["warnings"] == []
        assert len(_views(b_dir, ids[0])) == 1

        # the bound: reading the second run evicts the first (once no read holds it)
        second = _reads(b.url, ids[1], as_admin)
        assert wait_until(lambda: bool(_reads(b.url, ids[1], as_admin)) and not _views(b_dir, ids[0]))  # fmt: skip
        assert _reads(b.url, ids[0], as_admin) == first  # fetched again, whole
        assert len(_views(b_dir, ids[0])) == 1

        # a blob deleted behind the servers' back: check names it, and so does the read
        shard = sorted((client / "runs" / ids[1] / "metrics").glob("*.parquet"))[0]
        sha = _sha256(shard)
        bucket = bucket_env["LOCALTRACK_BLOBS"][len("s3://") :].split("/")[0]
        port = int(bucket_env["LOCALTRACK_S3_ENDPOINT"].rsplit(":", 1)[1])
        notes = _sha256(client / "runs" / ids[1] / "files" / "notes.txt")
        for lost in (sha, notes):
            s3_client(port).delete_object(Bucket=bucket, Key=f"prod/blobs/{lost}")  # type: ignore[attr-defined]
        # (checked from A's dir, so B learns of the damage only by reading)
        check = _cli("server", "check", "--dir", str(a_dir), "--index", pg_url, env=bucket_env)
        assert check.returncode == 1, check.stdout + check.stderr
        assert f"run {ids[1]}: metrics/{shard.name}: blob {sha} missing" in check.stdout
        assert ids[0] not in check.stdout

        assert wait_until(lambda: bool(_reads(b.url, ids[0], as_admin)) and not _views(b_dir, ids[1]))  # fmt: skip
        code, damaged = get_json(f"{b.url}/api/v1/runs/{ids[1]}", as_admin)
        assert code == 200, damaged
        lines = [w for w in damaged["warnings"] if f"metrics/{shard.name}" in w]
        assert lines and f"blob {sha} missing in {bucket_env['LOCALTRACK_BLOBS']}" in lines[0]
        assert second["run"]["warnings"] == []
        code, body = get_json(f"{b.url}/api/v1/runs/{ids[1]}/files/notes.txt", as_admin)
        assert (
            code == 404 and f"files/notes.txt: blob {notes} missing in" in body["error"]["message"]
        )
        page = urllib.request.Request(f"{b.url}/runs/{ids[1]}", headers=as_admin)
        with urllib.request.urlopen(page, timeout=120) as reply:
            html = reply.read().decode()
        assert f"metrics/{shard.name}" in html and "Traceback" not in html
    finally:
        a.stop()
        b.stop()

    # moving back to a directory brings the runs home from PostgreSQL and the bucket (the one
    # with a lost blob is named, and stays out)
    blobs = bucket_env["LOCALTRACK_BLOBS"]
    back = _cli("server", "migrate", "--from", pg_url, "--to", str(b_dir), "--blobs", blobs, "--json", env=bucket_env)  # fmt: skip
    assert back.returncode == 1, back.stdout + back.stderr
    report = json.loads(back.stdout)
    assert report["runs_recorded"] == 1 and any(ids[1] in p for p in report["problems"]), report
    mine = {k: v for k, v in store_files(client).items() if k.startswith(ids[0])}
    assert {k: v for k, v in store_files(b_dir).items() if k.startswith(ids[0])} == mine


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_replicas_committing_one_run_at_once_land_it_once(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same sync's commit reaching two replicas at the same moment: each is one PostgreSQL
    transaction under the run's advisory lock, so one places the run and the other finds it
    there; the run's files and index rows are there once, and no run directory is written.
    Deleting it through one replica deletes it for the other."""
    ids = log_runs(tmp_path / "client", n=1, steps=40, shards=2)
    manifest, data = _manifest(tmp_path / "client", ids[0])
    with moto_server() as port:
        blobs = use_new_bucket(monkeypatch, port)
        areas = [Ingest(tmp_path / d, blobs_url=blobs, index_url=pg_url).create() for d in "ab"]
        for sha, payload in data.items():  # the client uploaded every blob through replica a
            areas[0].receive(sha, [payload], 1 << 30)
        both = threading.Barrier(2)
        results: list[Any] = []

        def commit(area: Ingest) -> None:
            both.wait(timeout=60)
            try:
                results.append(area.commit(manifest))
            except Exception as exc:  # reported below, not lost in a thread
                results.append(exc)

        threads = [threading.Thread(target=commit, args=(area,)) for area in areas]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert sorted(getattr(r, "changed", r) for r in results) == [False, True], results
        expected = {ref.name: {"sha256": ref.sha256, "bytes": ref.bytes} for ref in manifest.files}
        for area in areas:
            assert (area.record(ids[0]) or {}).get("files") == expected
            assert not (area.paths.run(ids[0]).dir).exists()
        assert indexed_run_ids(pg_url) == ids

        # `localtrack reindex` rebuilds the index from run_files and the bucket (no run dirs)
        monkeypatch.setenv("LOCALTRACK_INDEX_URL", pg_url)
        monkeypatch.setenv("LOCALTRACK_BLOBS", blobs)
        rebuilt = CliRunner().invoke(cli, ["reindex", "--dir", str(tmp_path / "b")])
        assert rebuilt.exit_code == 0 and "indexed 1 run" in rebuilt.output, rebuilt.output
        assert indexed_run_ids(pg_url) == ids

        # deleted through one replica, the run is gone for the other too
        stores = [StoreRoot(area.paths.root) for area in areas]
        for store, area in zip(stores, areas, strict=True):
            store.remote = area.shared.remote  # type: ignore[union-attr]
        assert stores[1].run(ids[0]).run_json.is_file()  # read from the bucket
        delete_run(stores[0], ids[0])
        assert areas[1].record(ids[0]) is None and indexed_run_ids(pg_url) == []
        assert wait_until(lambda: not stores[1].run(ids[0]).run_json.exists())
        assert stores[1].run_ids() == []
        for area in areas:
            area.close()
