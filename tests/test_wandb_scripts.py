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


# what a W&B script imports, and the one line each becomes
SWAPS = {
    "import wandb": "import localtrack as wandb",
    "from lightning.pytorch.loggers import WandbLogger": (
        "from localtrack.integrations.lightning import LocaltrackLogger as WandbLogger"
    ),
    "from transformers.integrations import WandbCallback": (
        "from localtrack.integrations.transformers import LocaltrackCallback as WandbCallback"
    ),
    "from wandb.integration.keras import WandbMetricsLogger": (
        "from localtrack.integrations.keras import LocaltrackCallback as WandbMetricsLogger"
    ),
}


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.py")))
def test_only_the_import_is_swapped(script: str) -> None:
    text = (SCRIPTS / script).read_text()
    lines = re.findall(r"^(?:import|from) .*localtrack.*$", text, re.MULTILINE)
    imports = [line.split("  #")[0] for line in lines]
    assert imports and set(imports) <= set(SWAPS.values()), imports
    body = "\n".join(line for line in text.splitlines() if line not in lines)
    assert "localtrack" not in body.split('"""', 2)[-1], "the script should use only W&B names"


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


@pytest.mark.slow
def test_lightning_training_with_the_logger_swapped(tmp_path: Path) -> None:
    run_id = _run("lightning_train.py", tmp_path).split()[-1]
    info = _api(tmp_path).run(run_id)
    assert (info.project, info.state) == ("lightning-demo", "finished")
    assert info.config == {"lr": 0.05, "hidden": 4, "batch_size": 4}
    steps = [r["step"] for r in info.scan_history(keys=["train/loss"])]
    assert len(steps) == 8 and steps == sorted(steps)  # 4 batches x 2 epochs, by global step
    assert len(list(info.scan_history(keys=["val/loss"]))) == 2
    assert [a.name for a in info.logged_artifacts()] == [f"model-{run_id}:v0"]


@pytest.mark.slow
def test_transformers_training_with_the_callback_swapped(tmp_path: Path) -> None:
    out = _run("transformers_train.py", tmp_path, WANDB_PROJECT="hf-demo")
    info = _api(tmp_path).run(out.split()[-1])
    assert (info.project, info.name, info.state) == ("hf-demo", "tiny-bert", "finished")
    assert info.config["learning_rate"] == 1e-3 and info.config["hidden_size"] == 8
    assert [r["step"] for r in info.scan_history(keys=["train/loss"])] == [1, 2, 3, 4]
    assert [r["step"] for r in info.scan_history(keys=["eval/loss"])] == [2, 4]


@pytest.mark.slow
def test_keras_training_with_the_callback_swapped(tmp_path: Path) -> None:
    info = _api(tmp_path).run(_run("keras_train.py", tmp_path).split()[-1])
    assert (info.project, info.state) == ("keras-demo", "finished")
    assert info.config == {"epochs": 3, "batch_size": 8}
    epochs = list(info.scan_history(keys=["epoch/epoch", "epoch/loss", "epoch/val_loss"]))
    assert [r["epoch/epoch"] for r in epochs] == [0, 1, 2]
    assert all(r["epoch/val_loss"] is not None for r in epochs)
    assert list(info.scan_history(keys=["batch/loss"]))  # every second batch


def _sweep_runs(workdir: Path, project: str, sweep_id: str) -> list:
    runs = [r for r in _api(workdir).runs(project) if r.group == sweep_id]
    assert all(r.id.startswith(f"sweep-{sweep_id}-") for r in runs)
    return runs


def test_sweep_agent_with_a_function_bayes_and_hyperband(tmp_path: Path) -> None:
    from localtrack.sweeps.controller import Sweep

    pytest.importorskip("optuna")
    sweep_id = _run("sweeps.py", tmp_path).split()[-1]
    status = Sweep(tmp_path / "localtrack-runs", sweep_id).status()
    assert (status["project"], status["method"], status["metric"]) == (
        "my-first-sweep",
        "bayes",
        "val_acc",
    )
    assert sum(status["trials"].values()) == 8
    assert set(status["trials"]) <= {"finished", "stopped"}
    runs = _sweep_runs(tmp_path, "my-first-sweep", sweep_id)
    assert len(runs) == 8 and {r.state for r in runs} <= {"finished", "stopped"}
    for run in runs:
        assert set(run.config) == {"batch_size", "epochs", "lr"}
        assert 0.0001 <= run.config["lr"] <= 0.1 and run.config["epochs"] in (5, 10, 15)
    finished = [r.summary["val_acc"] for r in runs if r.state == "finished"]
    assert status["best"]["value"] == max(finished)  # goal: maximize


SWEEP_YAML = """\
program: sweep_program.py
method: random
name: cli-sweep
metric: {goal: minimize, name: val/loss}
parameters:
  lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
  batch_size: {values: [16, 32, 64]}
  optimizer: {values: [adam, sgd]}
"""


def test_sweep_over_a_program_from_the_command_line(tmp_path: Path) -> None:
    shutil.copy(SCRIPTS / "sweep_program.py", tmp_path / "sweep_program.py")
    (tmp_path / "sweep.yaml").write_text(SWEEP_YAML)
    cli = [PYTHON, "-m", "localtrack.cli"]

    def run(*args: str) -> str:
        done = subprocess.run([*cli, *args], cwd=tmp_path, env=_env(tmp_path), text=True,
                              capture_output=True, timeout=TIMEOUT_S)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    sweep_id = run("sweep", "sweep.yaml", "--project", "cli-tour").split()[-1]
    for _ in range(2):  # as two SLURM array tasks would: one trial each
        run("agent", sweep_id, "--count", "1")
    run("agent", sweep_id, "--count", "2")
    runs = _sweep_runs(tmp_path, "cli-tour", sweep_id)
    assert len(runs) == 4 and {r.state for r in runs} == {"finished"}
    assert len({json.dumps(r.config, sort_keys=True) for r in runs}) == 4
    listed = json.loads(run("sweeps", "--json"))
    assert [(s["id"], s["trials"]) for s in listed] == [(sweep_id, {"finished": 4})]
    assert listed[0]["best"]["value"] == min(r.summary["val/loss"] for r in runs)


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
