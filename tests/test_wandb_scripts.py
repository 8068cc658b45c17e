"""W&B-style scripts (tests/wandb_scripts/) run with only the import swapped; the store has it all.

Each script runs in a child process in its own folder, configured the way a cluster job is:
through ``WANDB_*`` variables (``WANDB_DIR`` names where the store goes).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

import localtrack

from .conftest import PYTHON, REPO, child_env

SCRIPTS = REPO / "tests" / "wandb_scripts"
TIMEOUT_S = 180


def _env(workdir: Path, **extra: str) -> dict[str, str]:
    return child_env(
        WANDB_DIR=str(workdir),
        WANDB_DISABLE_GIT="true",
        WANDB_X_DISABLE_STATS="true",
        LOCALTRACK_CAPTURE_PACKAGES="0",
        **extra,
    )


def _start(name: str, workdir: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(SCRIPTS / name, workdir / name)
    return subprocess.Popen(
        [PYTHON, name, *args],
        cwd=workdir,
        env=_env(workdir, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(name: str, workdir: Path, *args: str, check: bool = True, **env: str) -> str:
    process = _start(name, workdir, *args, **env)
    out, err = process.communicate(timeout=TIMEOUT_S)
    if check:
        assert process.returncode == 0, err
    return out


def _api(workdir: Path) -> localtrack.Api:
    return localtrack.Api(workdir / "localtrack-runs")


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.py")))
def test_only_the_import_is_swapped(script: str) -> None:
    text = (SCRIPTS / script).read_text()
    imports = re.findall(r"^(?:import|from) .*localtrack.*$", text, re.MULTILINE)
    assert imports == ["import localtrack as wandb"]
    assert "localtrack." not in text, "the script should use only `wandb.`"


def test_quickstart(tmp_path: Path) -> None:
    run_id = _run("quickstart.py", tmp_path).split()[-1]
    info = _api(tmp_path).run(run_id)
    assert info.project == "my-awesome-project" and info.state == "finished"
    assert info.config == {
        "learning_rate": 0.02,
        "architecture": "CNN",
        "dataset": "CIFAR-100",
        "epochs": 10,
    }
    history = info.scan_history(keys=["acc", "loss"])
    assert len(list(history)) == 8
    assert set(info.summary) >= {"acc", "loss"}


def test_config_from_argparse(tmp_path: Path) -> None:
    out = _run("argparse_config.py", tmp_path, "--lr", "0.05", "--epochs", "4")
    info = _api(tmp_path).run(out.split()[-1])
    assert info.config == {
        "lr": 0.1,
        "batch_size": 32,
        "epochs": 4,
        "optimizer": "adam",
        "scheduler": "cosine",
    }
    rows = list(info.scan_history(keys=["epoch", "lr"]))
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3] and rows[0]["lr"] == pytest.approx(0.1)


def test_preempted_job_resumes_the_same_run(tmp_path: Path) -> None:
    env = {"WANDB_RUN_ID": "job-42", "WANDB_RESUME": "allow", "PREEMPT_AT_EPOCH": "3"}
    first = _start("preempt_resume.py", tmp_path, **env)
    first.communicate(timeout=TIMEOUT_S)
    assert first.returncode == 143
    meta = json.loads((tmp_path / "localtrack-runs" / "runs" / "job-42" / "run.json").read_text())
    assert meta["preempting_at"] and meta["state"] != "running"
    _run("preempt_resume.py", tmp_path, **env)  # the requeued job
    info = _api(tmp_path).run("job-42")
    assert info.state == "finished" and info.config == {"lr": 0.1, "epochs": 8}
    rows = list(info.scan_history(keys=["epoch", "loss"]))
    assert [r["epoch"] for r in rows] == list(range(8))  # no epoch lost or repeated
    assert [r["step"] for r in rows] == list(range(8))
    saved = tmp_path / "localtrack-runs" / "runs" / "job-42" / "files" / "checkpoint.json"
    assert json.loads(saved.read_text())["epoch"] == 7
    assert len(meta["segments"]) == 1 and len(info.meta["segments"]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("per_rank", [False, True], ids=["rank0", "per-rank"])
def test_ddp_job(tmp_path: Path, per_rank: bool) -> None:
    pytest.importorskip("torch")
    world, port = 2, str(_free_port())
    extra = {"LOCALTRACK_PER_RANK": "1"} if per_rank else {}
    ranks = [
        _start(
            "ddp.py",
            tmp_path,
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(world),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
            **extra,
        )
        for rank in range(world)
    ]
    outputs = [p.communicate(timeout=TIMEOUT_S) for p in ranks]
    for process, (_out, err) in zip(ranks, outputs, strict=True):
        assert process.returncode == 0, err
    runs = _api(tmp_path).runs("ddp-demo")
    assert len(runs) == (world if per_rank else 1)
    for info in runs:
        assert info.group == "ddp-job" and info.state == "finished"
        assert info.config == {"world_size": world, "lr": 0.1}
        assert len(list(info.scan_history(keys=["loss"]))) == 5
    if per_rank:
        assert sorted(r.name.rsplit("-", 1)[-1] for r in runs) == ["rank0", "rank1"]


def test_tour_of_the_run_surface(tmp_path: Path) -> None:
    out = _run("tour.py", tmp_path)
    run_id, url, path = out.split()[-3:]
    assert url.endswith(f"/runs/{run_id}") and path == f"tour/{run_id}"
    info = _api(tmp_path).run(run_id)
    assert (info.name, info.notes, info.job_type) == ("renamed", "after", "train")
    assert set(info.tags) == {"baseline", "tour"}
    assert info.summary["val/loss"] == 0.2 and info.summary["best_epoch"] == 1
    files = {f.name for f in info.files()}
    assert {"outputs/notes.txt", "outputs/plots/curve.csv", "code/tour.py"} <= files
    run_dir = tmp_path / "localtrack-runs" / "runs" / run_id
    assert (run_dir / "files" / "outputs" / "notes.txt").read_text() == "final"
    media = [
        json.loads(line)
        for log in sorted((run_dir / "media").glob("log-*.jsonl"))
        for line in log.read_text().splitlines()
    ]
    kinds = {(m.get("key"), m.get("type")) for m in media}
    assert ("weights", "histogram") in kinds and ("predictions", "table") in kinds
    images = [m for m in media if m.get("key") == "samples"]
    assert len(images) == 6, "two images at each of three steps (a gallery)"


def test_tour_of_artifacts_dataset_train_model_aliases_lineage(tmp_path: Path) -> None:
    out = _run("artifacts_tour.py", tmp_path).splitlines()
    assert out == [
        "model mnist-model:v0 ['best', 'latest', 'production'] 0.93",
        "producer train ['mnist-clean:v0'] ['mnist-model:v0']",
        "consumers [0.1]",
        "raw versions ['v1', 'v0']",
        "entry model.pt 7 True",
        "registry True",
        "table ['id', 'label'] 2",
        "new files ['images/0.txt', 'images/1.txt', 'images/2.txt', 'images/3.txt', "
        "'images/extra.txt', 'labels.csv']",
    ]
    api = _api(tmp_path)
    moves = [
        (m["alias"], m["to"])
        for m in (
            json.loads(p.read_text())
            for p in sorted(
                (tmp_path / "localtrack-runs/artifacts/collections/tour-artifacts/mnist-model")
                .joinpath("events")
                .glob("*.json")
            )
        )
    ]
    assert moves == [("best", 0), ("production", 0)], "every alias move is recorded"
    upload = api.artifact("tour-artifacts/mnist-raw:v0").logged_by()
    assert upload.job_type == "upload"
