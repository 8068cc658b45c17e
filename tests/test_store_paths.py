"""A store under a path with characters that mean something in a URI still reads its index."""

from __future__ import annotations

from pathlib import Path

import pytest

import localtrack
from localtrack.store.reader import StoreReader


@pytest.mark.parametrize("folder", ["runs #1", "what?mode=rwc", "100% done", "a%20b"])
def test_reader_opens_the_index_of_a_store_with_uri_characters(tmp_path: Path, folder: str) -> None:
    root = tmp_path / folder / "store"
    run = localtrack.init(project="p", dir=root)
    run.log({"loss": 1.0})
    run.finish()
    outside = {p for p in tmp_path.rglob("*") if root not in p.parents}
    reader = StoreReader(root)
    idx = reader._index()
    assert idx is not None, "the read-only index did not open"
    assert [r.id for r in reader.runs()] == [run.id]
    assert idx.run_row(run.id) is not None  # answered by the index, not a scan
    stray = {p for p in tmp_path.rglob("*") if root not in p.parents} - outside
    assert not stray, "reading created files outside the store"
    assert not list(Path.cwd().glob("*store*")), "a stray database appeared in the cwd"
