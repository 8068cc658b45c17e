"""Import benchmarks (issue 17): 1M points per source, side by side with the tool's own reader.

    python benchmarks/bench_import.py [--points 1000000] [--sources tensorboard,mlflow,wandb,csv,aim]

For each source the real tool writes a run of 10 keys × points/10 steps (not timed), then, on the
same files and in one process:

- the tool's own reader reads every point (TensorBoard's EventAccumulator, MLflow's
  get_metric_history per key; wandb ships no Python reader of its record log since 0.19: its
  row is wandb-core's reader, ``wandb leet inspect --json``, whose lines are parsed; Aim: its
  index built on a copy, as import-from does, then every metric's ``data.items_list()``; CSV:
  pyarrow.csv.read_csv);
- ``import-from`` into a fresh store (read, write shards, commit);
- ``import-from`` again (nothing new: read and compare);
- the floor: pyarrow writing the same points to one Parquet file.

Prints a Markdown table with seconds and µs per point.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from localtrack.importers import import_from  # noqa: E402

KEYS = 10


def _values(points: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((points // KEYS, KEYS))


def write_tensorboard(folder: Path, points: int) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder / "run"), max_queue=10_000, flush_secs=3600)
    for step, row in enumerate(_values(points)):
        for j in range(KEYS):
            writer.add_scalar(f"m{j}", float(row[j]), step)
    writer.close()
    return folder


def read_tensorboard(folder: Path) -> int:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder / "run"), size_guidance={"scalars": 0})
    acc.Reload()
    return sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])


def write_mlflow(folder: Path, points: int) -> Path:
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient((folder / "mlruns").as_uri())
    run = client.create_run(client.create_experiment("bench"))
    batch: list[Metric] = []
    now = int(time.time() * 1000)
    for step, row in enumerate(_values(points)):
        batch += [Metric(f"m{j}", float(row[j]), now + step, step) for j in range(KEYS)]
        if len(batch) >= 1000:
            client.log_batch(run.info.run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run.info.run_id, metrics=batch)
    client.set_terminated(run.info.run_id)
    return folder / "mlruns"


def read_mlflow(path: Path) -> int:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(path.as_uri())
    total = 0
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            for key in run.data.metrics:
                total += len(client.get_metric_history(run.info.run_id, key))
    return total


def write_wandb(folder: Path, points: int) -> Path:
    os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(folder))
    import wandb

    run = wandb.init(project="bench")
    for step, row in enumerate(_values(points)):
        run.log({f"m{j}": float(row[j]) for j in range(KEYS)}, step=step)
    run.finish()
    return folder / "wandb"


def read_wandb(path: Path) -> int:
    """wandb-core's own reader of the record log (``wandb leet inspect --json``)."""
    import json
    import subprocess

    total = 0
    for file in path.glob("offline-run-*/run-*.wandb"):
        command = [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(file)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            record = json.loads(line)
            if record.get("type") == "history":
                total += sum(1 for k in record["history"]["item"] if not k.startswith("_"))
    return total


def write_aim(folder: Path, points: int) -> Path:
    import aim

    run = aim.Run(
        repo=str(folder / "aimrepo"),
        experiment="bench",
        system_tracking_interval=None,
        log_system_params=False,
        capture_terminal_logs=False,
    )
    for step, row in enumerate(_values(points)):
        for j in range(KEYS):
            run.track(float(row[j]), name=f"m{j}", step=step)
    run.close()
    return folder / "aimrepo"


def read_aim(path: Path) -> int:
    """Aim's Repo on a copy indexed by Aim's own index manager (an SDK-written repository has no
    index until `aim up` or `aim storage reindex` writes one), then every metric's points."""
    import shutil

    from aim import Repo
    from aim.sdk.index_manager import RepoIndexManager

    with tempfile.TemporaryDirectory(prefix="bench-aim-") as tmp:
        shutil.copytree(path / ".aim", Path(tmp) / ".aim")
        indexer = RepoIndexManager(Repo(tmp))
        for run_hash in indexer.repo.list_all_runs():
            indexer.index(run_hash)
        repo = Repo(tmp)
        total = sum(
            len(metric.data.items_list()[0]) for run in repo.iter_runs() for metric in run.metrics()
        )
        repo.close()
    return total


def write_csv(folder: Path, points: int) -> Path:
    import pyarrow.csv as csv

    table = _long_table(points)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "metrics.csv"
    csv.write_csv(table, path)
    return path


def read_csv(path: Path) -> int:
    import pyarrow.csv as csv

    return csv.read_csv(path).num_rows


def _long_table(points: int) -> pa.Table:
    values = _values(points)
    steps = np.repeat(np.arange(len(values), dtype=np.int64), KEYS)
    keys = np.tile(np.array([f"m{j}" for j in range(KEYS)]), len(values))
    return pa.table(
        {
            "step": steps,
            "key": keys,
            "value": values.ravel(),
            "timestamp": 1.7e9 + steps * 0.001,
        }
    )


SOURCES: dict[str, tuple[Callable[[Path, int], Path], Callable[[Path], int], str]] = {
    "tensorboard": (write_tensorboard, read_tensorboard, "EventAccumulator"),
    "mlflow": (write_mlflow, read_mlflow, "get_metric_history"),
    "wandb": (write_wandb, read_wandb, "wandb leet inspect --json"),
    "csv": (write_csv, read_csv, "pyarrow.csv.read_csv"),
    "aim": (write_aim, read_aim, "aim.Repo, indexed copy"),
}


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def bench(name: str, points: int, work: Path) -> str:
    write, read, reader_name = SOURCES[name]
    made, source = _timed(lambda: write(work / name, points))
    read_s, read_points = _timed(lambda: read(source))  # type: ignore[arg-type]
    store = work / f"store-{name}"
    import_s, report = _timed(lambda: import_from(name, source, dir=store))
    imported = sum(r.new_points for r in report.runs)  # type: ignore[attr-defined]
    again_s, _ = _timed(lambda: import_from(name, source, dir=store))
    floor_s, _ = _timed(lambda: pq.write_table(_long_table(points), work / f"floor-{name}.parquet"))
    per = 1e6 / max(imported, 1)
    return (
        f"| {name} | {imported:,} (reader saw {read_points:,}) | {reader_name}: {read_s:.2f} s "
        f"| **{import_s:.2f} s** ({import_s * per:.2f} s per 1M) | {again_s:.2f} s "
        f"| {floor_s:.2f} s | {made:.0f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--sources", default=",".join(SOURCES))
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    print(
        "| source | points imported | the tool's own reader | import-from (fresh store) "
        "| import-from again (nothing new) | floor: one Parquet file | writing the source |"
    )
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        for name in args.sources.split(","):
            print(bench(name, args.points, Path(tmp)), flush=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
