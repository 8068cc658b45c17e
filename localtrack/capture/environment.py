"""The environment a run ran in, saved beside it: packages, uncommitted code, hardware.

Captured on a background thread right after init (it can take a moment in a big repository or
environment), into the run's ``files/``:

- ``requirements.txt`` — every installed distribution as ``name==version`` (like ``pip freeze``);
- ``diff.patch`` — ``git diff HEAD`` when the working tree has uncommitted changes (capped);

and into run.json's ``system.environment``: OS, CPU model and count, memory, GPU models, and the
names of the files above. Each part can be turned off (``capture_packages``, ``save_code``).
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .git import run_git

log = logging.getLogger(__name__)
MAX_DIFF_BYTES = 10 * 1024 * 1024
_GIT_TIMEOUT_S = 10.0


_packages: tuple[tuple, tuple[str, ...]] | None = None  # (stamp, lines) of the last listing
_METADATA_FILE = {".dist-info": "METADATA", ".egg-info": "PKG-INFO"}


def installed_packages() -> list[str]:
    """Installed distributions as sorted ``name==version`` lines.

    Parsing every package's metadata takes a while in a big environment, so the list is kept
    for the next run of this process while ``_metadata_stamp`` (cheap: folder listings and
    stats) stays the same; a package installed, removed or upgraded in between changes it.
    """
    global _packages
    stamp = _metadata_stamp()
    known = _packages
    if known is not None and known[0] == stamp:
        return list(known[1])
    from importlib import metadata  # imports email & co: on this thread, not in init()

    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={dist.version}"
    lines = sorted(seen.values(), key=str.lower)
    _packages = (stamp, tuple(lines))
    return lines


def _metadata_stamp() -> tuple:
    """Where packages are looked up and each one's metadata file with its mtime and size:
    what ``pip install``, an upgrade, an uninstall or ``setup.py develop`` changes."""
    stamp: list[Any] = [tuple(sys.path)]
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as entries:
                found = [e for e in entries if e.name.endswith(tuple(_METADATA_FILE))]
        except OSError:  # a zip file, or a folder that is not there
            continue
        for e in found:
            path = os.path.join(e.path, _METADATA_FILE[os.path.splitext(e.name)[1]])
            try:
                st = os.stat(path if e.is_dir() else e.path)
            except OSError:
                stamp.append((e.path, None))
                continue
            stamp.append((e.path, st.st_mtime_ns, st.st_size))
    return tuple(stamp)


def git_diff(cwd: Path) -> bytes | None:
    """The uncommitted changes (``git diff HEAD``) of the repository around `cwd`, if any."""
    out = run_git(["diff", "HEAD", "--binary"], cwd, _GIT_TIMEOUT_S)
    return out or None


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def hardware(gpu_names: Callable[[], list[str]] | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "os": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import psutil

        info["memory_total_gb"] = round(psutil.virtual_memory().total / 2**30, 2)
    except Exception as exc:
        log.debug("memory size unavailable: %s", exc)
    if gpu_names is not None:
        try:
            info["gpu_models"] = gpu_names()
        except Exception as exc:
            log.debug("GPU models unavailable: %s", exc)
    return info


def _gpu_names() -> list[str]:
    from .system_metrics import gpu_models, load_nvml

    nvml = load_nvml()
    return gpu_models(nvml) if nvml is not None else []


def capture_environment(files_dir: Path, packages: bool, code: bool) -> dict[str, Any]:
    """Write requirements.txt / diff.patch into `files_dir`; return run.json's environment."""
    from ..store.atomic import write_bytes_atomic

    files_dir.mkdir(parents=True, exist_ok=True)
    env = hardware(_gpu_names)
    if packages:
        lines = installed_packages()
        write_bytes_atomic(files_dir / "requirements.txt", ("\n".join(lines) + "\n").encode())
        env["packages_file"] = "files/requirements.txt"
        env["package_count"] = len(lines)
    if code:
        diff = git_diff(Path.cwd())
        if diff:
            cut = len(diff) > MAX_DIFF_BYTES
            if cut:
                diff = diff[:MAX_DIFF_BYTES] + b"\n# localtrack: diff cut at 10 MiB\n"
            write_bytes_atomic(files_dir / "diff.patch", diff)
            env["diff_file"] = "files/diff.patch"
            env["diff_truncated"] = cut
    return env


class EnvironmentCapture:
    """Runs capture_environment on a thread and hands the result to `done`."""

    def __init__(
        self, files_dir: Path, packages: bool, code: bool, done: Callable[[dict], None]
    ) -> None:
        self._args = (files_dir, packages, code)
        self._done = done
        self._thread = threading.Thread(
            target=self._run, name="localtrack-environment", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            self._done(capture_environment(*self._args))
        except Exception as exc:
            log.warning("could not record the run's environment: %s", exc)

    def stop(self) -> None:
        self._thread.join(timeout=30)
