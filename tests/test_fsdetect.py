"""Network filesystems are detected from /proc/mounts, so the shared WAL index is not used there."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from localtrack.store import root as store_root
from localtrack.store.fsdetect import filesystem_type, is_network_filesystem

MOUNTS = """\
overlay / overlay rw 0 0
server:/export /mnt/nfs nfs4 rw,relatime 0 0
lustre@tcp:/fs /lustre lustre rw 0 0
/dev/sda1 /mnt/nfs/local ext4 rw 0 0
//host/share /mnt/my\\040share cifs rw 0 0
gpfs1 /gpfs gpfs rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "fstype", "network"),
    [
        ("/home/user/runs", "overlay", False),
        ("/mnt/nfs/team/runs", "nfs4", True),
        ("/mnt/nfs/local/runs", "ext4", False),
        ("/lustre/project", "lustre", True),
        ("/mnt/my share/x", "cifs", True),
        ("/gpfs", "gpfs", True),
        ("/mnt/nfsx", "overlay", False),
    ],
)
def test_filesystem_type_uses_the_longest_mount_prefix(
    path: str, fstype: str, network: bool
) -> None:
    assert filesystem_type(Path(path), MOUNTS) == fstype
    assert is_network_filesystem(Path(path), MOUNTS) is network


def test_store_on_network_fs_skips_the_index_with_one_warning(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import localtrack

    monkeypatch.setattr(store_root, "is_network_filesystem", lambda path: True)
    monkeypatch.setattr(store_root, "filesystem_type", lambda path: "nfs4")
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            run = localtrack.init(project="p", dir=root)
            run.log({"a": 1.0})
            run.finish()
    assert not (root / "index.db").exists()
    assert sum("network filesystem" in r.message for r in caplog.records) == 1
    assert len(localtrack.Api(root).runs()) == 2
