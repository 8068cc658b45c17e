"""Bundles: export → carry → import, byte-exact; truncated, tampered or malicious bundles refused
with nothing half-imported and nothing written outside the store. The import side (into a
server's store, and a bundle pushed to a server) runs on both server backends
(``server_backend``)."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from localtrack.cli.sync import standalone
from localtrack.errors import BundleError
from localtrack.sync.bundle import BundleSource, ImportReport, export_bundle, import_bundle
from localtrack.sync.bundle_format import MAGIC, scan_bundle
from localtrack.sync.client import SyncClient
from localtrack.sync.remote import Remote
from webui.server.app import create_server_app

from .backend_fixtures import ServerBackend, committed_runs
from .sync_fixtures import AppTransport, fast_retry, log_runs, metric_rows, store_files


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, list[str], Path]:
    root = tmp_path / "cluster"
    ids = log_runs(root, n=3)
    bundle = tmp_path / "runs.ltbundle"
    report = export_bundle(root, ids, bundle)
    assert report.runs == ids and not report.failed
    return root, ids, bundle


def _nothing_imported(store: Path, backend: ServerBackend | None = None) -> None:
    """No run committed, nothing left staged (on ``pg+s3`` a refused bundle's blobs may stay
    in the bucket: written once under their hash, they are no run's until a commit names them)."""
    assert not (store / "runs").exists() or os.listdir(store / "runs") == []
    assert committed_runs(backend or ServerBackend("dir"), store) == set()
    for sub in ("blobs", "tmp", "journal"):
        d = store / "ingest" / sub
        assert not d.exists() or os.listdir(d) == [], f"{sub}: {os.listdir(d)}"


def _import(bundle: Path, target: Path, backend: ServerBackend) -> ImportReport:
    """What `localtrack import BUNDLE --dir TARGET` does on the backend (``--blobs`` too)."""
    return import_bundle(bundle, target, blobs_url=backend.blobs or None)


def test_export_then_import_is_byte_exact_and_importing_again_changes_nothing(
    exported: tuple[Path, list[str], Path], tmp_path: Path, server_backend: ServerBackend
) -> None:
    root, ids, bundle = exported
    target = tmp_path / "central"
    report = _import(bundle, target, server_backend)
    assert report.runs == ids and report.changed == ids and not report.failed
    with server_backend.reader(target) as central:
        assert store_files(central.store) == store_files(root)
        for run_id in ids:
            assert metric_rows(central, run_id) == metric_rows(root, run_id)
    again = _import(bundle, target, server_backend)
    assert again.changed == [] and again.blobs == 0


@pytest.mark.parametrize("cut", ["header", "mid_blob", "before_end", "last_byte"])
def test_a_truncated_bundle_is_refused_with_nothing_imported(
    exported: tuple[Path, list[str], Path], tmp_path: Path, cut: str, server_backend: ServerBackend
) -> None:
    _, _, bundle = exported
    data = bundle.read_bytes()
    at = {
        "header": 12,
        "mid_blob": len(data) // 2,
        "before_end": len(data) - 41,
        "last_byte": len(data) - 1,
    }[cut]
    broken = tmp_path / "broken.ltbundle"
    broken.write_bytes(data[:at])
    target = tmp_path / "central"
    with pytest.raises(BundleError, match=r"truncated|checksum|end frame"):
        _import(broken, target, server_backend)
    _nothing_imported(target, server_backend)


def _frames(data: bytes) -> list[tuple[bytes, int, int]]:
    """(kind, payload offset, length) of every frame."""
    out, pos = [], len(MAGIC)
    while pos < len(data):
        kind, length = struct.unpack_from("<cQ", data, pos)
        out.append((kind, pos + 9, length))
        pos += 9 + length
    return out


@pytest.mark.parametrize("where", ["blob", "manifest", "end_digest", "appended"])
def test_a_tampered_bundle_is_refused_with_nothing_imported(
    exported: tuple[Path, list[str], Path],
    tmp_path: Path,
    where: str,
    server_backend: ServerBackend,
) -> None:
    _, _, bundle = exported
    data = bytearray(bundle.read_bytes())
    frames = _frames(bytes(data))
    if where == "appended":
        data += b"extra"
    else:
        kind = {"blob": b"B", "manifest": b"M", "end_digest": b"E"}[where]
        _, offset, length = next(f for f in frames if f[0] == kind)
        data[offset + length - 2] ^= 0x01
    bad = tmp_path / "bad.ltbundle"
    bad.write_bytes(bytes(data))
    target = tmp_path / "central"
    with pytest.raises(BundleError):
        _import(bad, target, server_backend)
    _nothing_imported(target, server_backend)


def _forge(path: Path, frames: list[tuple[bytes, bytes]]) -> None:
    """A bundle with a *valid* whole-file checksum around whatever frames an attacker chose."""
    body = bytearray(MAGIC)
    for kind, payload in frames:
        body += struct.pack("<cQ", kind, len(payload)) + payload
    digest = hashlib.sha256(bytes(body)).digest()
    path.write_bytes(bytes(body) + struct.pack("<cQ", b"E", 32) + digest)


@pytest.mark.parametrize(
    "name",
    [
        "../../outside.txt",
        "/tmp/evil",
        "metrics/../../../escape.parquet",
        "files/../../x",
        "run.json/../../y",
    ],
)
def test_a_forged_bundle_cannot_write_outside_the_store(tmp_path: Path, name: str) -> None:
    content = b"owned"
    sha = hashlib.sha256(content).hexdigest()
    run_json = json.dumps({"id": "victim", "project": "p"}).encode()
    rsha = hashlib.sha256(run_json).hexdigest()
    manifest = {
        "run_id": "victim",
        "project": "p",
        "entity": None,
        "heartbeat_at": None,
        "files": [
            {"name": "run.json", "sha256": rsha, "bytes": len(run_json)},
            {"name": name, "sha256": sha, "bytes": len(content)},
        ],
    }
    header = json.dumps({"format": "localtrack-bundle", "version": 1}).encode()
    evil = tmp_path / "evil.ltbundle"
    _forge(
        evil,
        [
            (b"H", header),
            (b"B", bytes.fromhex(sha) + content),
            (b"B", bytes.fromhex(rsha) + run_json),
            (b"M", json.dumps(manifest).encode()),
        ],
    )
    target = tmp_path / "a" / "b" / "central"
    with pytest.raises(BundleError, match="malformed"):
        import_bundle(evil, target)
    _nothing_imported(target)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == content]
    assert written == []


def test_a_forged_run_id_cannot_escape_either(tmp_path: Path) -> None:
    header = json.dumps({"format": "localtrack-bundle", "version": 1}).encode()
    manifest = {"run_id": "../../../x", "project": "p", "files": []}
    evil = tmp_path / "evil.ltbundle"
    _forge(evil, [(b"H", header), (b"M", json.dumps(manifest).encode())])
    with pytest.raises(BundleError, match="run id"):
        import_bundle(evil, tmp_path / "central")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a bundle at all",
        MAGIC + b"Z" + b"\x00" * 8,
        MAGIC + struct.pack("<cQ", b"B", 1 << 62),
    ],
)
def test_things_that_are_not_bundles_are_refused_clearly(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.ltbundle"
    path.write_bytes(content)
    with pytest.raises(BundleError):
        scan_bundle(path)


def test_export_leaves_a_damaged_run_out_and_names_it(tmp_path: Path) -> None:
    root = tmp_path / "cluster"
    good, damaged = log_runs(root, n=2)
    shard = sorted((root / "runs" / damaged / "metrics").iterdir())[-1]
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF
    shard.write_bytes(bytes(data))
    bundle = tmp_path / "b.ltbundle"
    report = export_bundle(root, [damaged, good], bundle)
    assert report.runs == [good] and damaged in report.failed
    contents = scan_bundle(bundle)
    assert [m.run_id for m in contents.manifests] == [good]
    assert set(contents.blobs) == {f.sha256 for f in contents.manifests[0].files}


def test_sync_bundle_pushes_a_bundle_to_a_server(
    exported: tuple[Path, list[str], Path], tmp_path: Path, server_backend: ServerBackend
) -> None:
    root, ids, bundle = exported
    server = tmp_path / "server"
    app = create_server_app(server, watch=False)
    try:
        client = SyncClient(BundleSource(bundle), Remote(AppTransport(app), retry=fast_retry(3)))
        report = client.sync(ids)
        assert [r.outcome for r in report.runs] == ["sent"] * 3
        assert store_files(app.extensions["localtrack"].reader.store) == store_files(root)
        assert [r.outcome for r in client.sync(ids).runs] == ["current"] * 3
    finally:
        app.extensions["localtrack"].close()
        app.extensions["localtrack_ingest"].close()


def test_cli_export_and_import(tmp_path: Path) -> None:
    root = tmp_path / "cluster"
    ids = log_runs(root, n=2, project="a") + log_runs(root, n=1, project="b")
    runner = CliRunner()
    out = runner.invoke(
        standalone, ["export", "--project", "a", "--dir", str(root), "-o", str(tmp_path / "a.ltb")]
    )
    assert out.exit_code == 0, out.output
    assert "exported 2 runs" in out.output
    out = runner.invoke(
        standalone,
        ["import", str(tmp_path / "a.ltb"), "--dir", str(tmp_path / "c"), "--create", "--json"],
    )
    assert out.exit_code == 0, out.output
    assert sorted(json.loads(out.output)["changed"]) == sorted(ids[:2])
    (tmp_path / "bad.ltb").write_bytes(b"junk")
    out = runner.invoke(
        standalone, ["import", str(tmp_path / "bad.ltb"), "--dir", str(tmp_path / "c")]
    )
    assert (
        out.exit_code == 1
        and "not a localtrack bundle" in out.output
        and "Traceback" not in out.output
    )
