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

    # Only this test's store is "on NFS": a run left open by an earlier test may flush (and so
    # ask about its own store) while the patch is on, and must not be counted here.
    def on_nfs(path: Path) -> bool:
        return Path(path).is_relative_to(root)

    monkeypatch.setattr(store_root, "is_network_filesystem", on_nfs)
    monkeypatch.setattr(store_root, "filesystem_type", lambda path: "nfs4")
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            run = localtrack.init(project="p", dir=root)
            run.log({"a": 1.0})
            run.finish()
    assert not (root / "index.db").exists()
    warnings = [r.getMessage() for r in caplog.records if "network filesystem" in r.getMessage()]
    assert [m for m in warnings if str(root) in m] == warnings, warnings
    assert len(warnings) == 1, warnings
    assert len(localtrack.Api(root).runs()) == 2
