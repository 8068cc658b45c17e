"""Export/import carry a sweep with its state (an S frame, checked by the sweep schema on import)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import localtrack
from localtrack.errors import BundleError
from localtrack.store.root import StoreRoot
from localtrack.sweeps.controller import Sweep
from localtrack.sync.bundle import export_bundle, import_bundle
from localtrack.sync.bundle_format import MAGIC, FrameWriter

QUIET = {
    "LOCALTRACK_SYSTEM_METRICS": "0",
    "LOCALTRACK_CONSOLE": "0",
    "LOCALTRACK_CAPTURE_PACKAGES": "0",
    "LOCALTRACK_SAVE_CODE": "0",
    "LOCALTRACK_CAPTURE_GIT": "0",
}


def test_export_import_carries_the_sweep_and_a_bad_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in QUIET.items():
        monkeypatch.setenv(k, v)
    here, there = tmp_path / "here", tmp_path / "there"
    config = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": [3, 1, 2]}},
    }
    sweep_id = localtrack.sweep(config, project="p", dir=here)

    def train() -> None:
        run = localtrack.init()
        run.log({"loss": float(run.config["a"])})
        run.finish()

    localtrack.agent(sweep_id, function=train, dir=here)
    report = export_bundle(here, StoreRoot(here).run_ids(), tmp_path / "b.ltb")
    assert report.sweeps == [sweep_id]
    imported = import_bundle(tmp_path / "b.ltb", there)
    assert imported.sweeps == [sweep_id] and not imported.failed
    status = Sweep(there, sweep_id).status()
    assert status["state"] == "finished" and status["best"]["value"] == 1.0
    assert status == Sweep(here, sweep_id).status()

    bad = tmp_path / "bad.ltb"
    with open(bad, "wb") as f:
        w = FrameWriter(f)
        w.write(MAGIC)
        w.frame(b"H", json.dumps({"format": "localtrack-bundle", "version": 1}).encode())
        w.frame(b"S", json.dumps({"format": 1, "id": "x", "sweep": {}, "control": {}}).encode())
        w.end()
    with pytest.raises(BundleError, match="sweep in the bundle is malformed"):
        import_bundle(bad, tmp_path / "elsewhere")
