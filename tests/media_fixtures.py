"""Runs with rich data for the UI tests: images, tables and histograms logged with the real client,
and a real subprocess that prints (console capture) from a dirty git checkout (environment).

Imported by ``tests/test_webui_media*.py`` and ``tests/test_webui_console.py``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .conftest import PYTHON, child_env

QUIET = {"console": False, "system_metrics": False, "capture_packages": False, "save_code": False}
TABLE_ROWS = 120
HIST_STEPS = 30
XSS = "<img src=x onerror=alert(3)>"


def _settings() -> object:
    import localtrack

    return localtrack.Settings(**QUIET)


def digit(i: int, size: int = 28) -> np.ndarray:
    """A small greyscale test image: a bright bar whose position depends on `i`."""
    img = np.zeros((size, size), dtype=np.uint8)
    col = 4 + (i * 3) % (size - 8)
    img[4:-4, col : col + 4] = 255
    return img


def colour(i: int, h: int = 96, w: int = 128) -> np.ndarray:
    """A colour gradient image (HWC, uint8)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack(
        [(x * 2 + i * 20) % 256, (y * 2) % 256, np.full_like(x, 128 + i * 10)], axis=-1
    ).astype(np.uint8)


def rich_run(root: Path, project: str = "media", name: str = "rich") -> str:
    """A finished run with images, a table (with an image column) and histograms over steps."""
    import localtrack

    run = localtrack.init(project=project, name=name, dir=str(root), settings=_settings())
    rng = np.random.default_rng(0)
    for step in range(HIST_STEPS):
        row: dict[str, object] = {
            "loss": 1.0 / (step + 1),
            "weights/layer1": localtrack.Histogram(rng.normal(step / 10, 1 + step / 30, 2000)),
        }
        if step % 10 == 0:
            row["samples/digits"] = localtrack.Image(
                digit(step // 10), caption=f"digit at {step} {XSS}"
            )
            row["samples/colour"] = localtrack.Image(colour(step // 10))
        if step in (10, 20):
            data = [
                [i, f"item {i:03d}", float(i % 7) / 7, i % 2 == 0, localtrack.Image(digit(i))]
                for i in range(TABLE_ROWS)
            ]
            data[5][1] = XSS
            row["predictions"] = localtrack.Table(
                columns=["id", "label", "score", "even", "image"], data=data[: TABLE_ROWS - step]
            )
        run.log(row, step=step)
    run.finish()
    return str(run.id)


def plain_run(root: Path, project: str = "media", name: str = "plain") -> str:
    """A run with scalars only and no environment, console or media (like an old run)."""
    import localtrack

    run = localtrack.init(project=project, name=name, dir=str(root), settings=_settings())
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    run.finish()
    return str(run.id)


def legacy_run(root: Path, project: str = "media", name: str = "legacy") -> str:
    """A run as localtrack wrote them before rich data: no environment, files, media or console.

    Call it before logging anything else into `root`: it drops the index, so the run is read
    from its run.json (the next run logged creates the index again).
    """
    run_id = plain_run(root, project, name)
    run_dir = root / "runs" / run_id
    meta = json.loads((run_dir / "run.json").read_text())
    meta["system"].pop("environment", None)
    meta["system"].pop("console", None)  # recorded since console capture says why it is empty
    (run_dir / "run.json").write_text(json.dumps(meta))
    shutil.rmtree(run_dir / "files", ignore_errors=True)
    shutil.rmtree(run_dir / "media", ignore_errors=True)
    for path in root.glob("index.db*"):
        path.unlink()
    return run_id


CHILD = """
import sys, time, localtrack
run = localtrack.init(project="console", name=sys.argv[1], config={"lr": 0.1})
print("hello from the child <b>not bold</b>", flush=True)
for i in range(int(sys.argv[2])):
    print(f"epoch {i} loss {1 / (i + 1):.3f}", flush=True)
    run.log({"loss": 1 / (i + 1)}, step=i)
    time.sleep(float(sys.argv[3]))
print("\\x1b[31mcoloured\\x1b[0m line", flush=True)
print("done", run.id, flush=True)
run.finish()
"""


def dirty_repo(path: Path) -> Path:
    """A git repository at `path` with one commit and an uncommitted change."""
    path.mkdir(parents=True, exist_ok=True)
    env = child_env(
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.invalid",
    )

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("remote", "add", "origin", "https://user:s3cret-token@git.example.invalid/team/repo.git")
    (path / "train.py").write_text("lr = 0.1\n")
    git("add", "train.py")
    git("commit", "-q", "-m", "first")
    (path / "train.py").write_text("lr = 0.01  # <script>alert(4)</script>\n")
    return path


def start_printer(
    root: Path, cwd: Path, name: str = "printer", lines: int = 3, delay: float = 0.0
) -> subprocess.Popen[bytes]:
    """A real process that prints `lines` lines through localtrack's console capture."""
    env = child_env(LOCALTRACK_DIR=str(root), LOCALTRACK_SYSTEM_METRICS="0")
    return subprocess.Popen(
        [PYTHON, "-c", CHILD, name, str(lines), str(delay)],
        cwd=str(cwd),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def console_run(root: Path, cwd: Path, name: str = "printer", lines: int = 3) -> str:
    """Run the printer to the end; returns its run id."""
    proc = start_printer(root, cwd, name, lines)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    return out.decode().split()[-1]


def kinds_run(root: Path) -> str:
    """A run with a preset chart (``roc``) and a point cloud (``cloud``)."""
    import localtrack

    run = localtrack.init(project="kinds", dir=root, settings=localtrack.Settings(console=False))
    run.log(
        {
            "roc": localtrack.plot.roc_curve(
                [0, 1, 1, 0], [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]]
            ),
            "cloud": localtrack.Object3D(np.arange(30, dtype=float).reshape(10, 3)),
        }
    )
    run.finish()
    return run.id
