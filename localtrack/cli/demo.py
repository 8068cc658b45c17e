"""`localtrack demo`: a realistic demo project, written through the real logging API.

Several runs of a small image-classifier sweep with learning curves, configs, tags and groups;
one run fails with an exception (recorded with its line), one is killed (kill -9) mid-training and
is closed as crashed, as `localtrack doctor --repair` would: the demo store is one doctor calls
healthy.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from pathlib import Path

from ..settings import Settings

PROJECT = "demo-cifar"
_CRASH_CHILD = """
import os, signal, sys
sys.path.insert(0, {path!r})
from localtrack.cli.demo import log_training
import localtrack
run = localtrack.init(project={project!r}, name="resnet18-preempted", dir={root!r},
                      config={{"model": "resnet18", "lr": 0.05, "batch_size": 256, "optimizer": {{"name": "sgd", "momentum": 0.9}}}},
                      tags=["baseline", "preempted"], group="resnet18", job_type="train")
log_training(run, lr=0.05, steps=1200, seed=7)
run.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""


def log_training(run, lr: float, steps: int, seed: int, fail_at: int | None = None) -> None:
    """Log a plausible training curve: train/* every step, val/* every 100 steps."""
    rng = random.Random(seed)
    speed = 0.3 + 40 * lr
    floor = 0.15 + abs(math.log10(lr) + 2.5) * 0.12
    for step in range(steps):
        progress = step / 1000
        loss = floor + 2.2 * math.exp(-speed * progress) + rng.gauss(0, 0.04)
        run.log(
            {
                "train/loss": loss,
                "train/acc": max(0.0, min(1.0, 1 - loss / 2.6 + rng.gauss(0, 0.01))),
                "train/lr": lr * 0.5 * (1 + math.cos(math.pi * step / steps)),
                "epoch": step // 100,
            },
            step=step,
        )
        if step % 100 == 99:
            val = floor + 2.2 * math.exp(-speed * progress * 0.9) + 0.05 + rng.gauss(0, 0.02)
            run.log({"val/loss": val, "val/acc": max(0.0, 1 - val / 2.7)}, step=step)
        if fail_at is not None and step == fail_at:
            raise FloatingPointError(f"loss became NaN at step {step}")


def write_demo(root: Path) -> list[str]:
    """Write the demo project into `root`; returns the new run ids."""
    import localtrack

    ids = []
    sweep = [
        ("resnet18-lr0.1", "resnet18", 0.1, 2000, None),
        ("resnet18-lr0.01", "resnet18", 0.01, 2000, None),
        ("resnet18-lr0.001", "resnet18", 0.001, 2000, None),
        ("vit-tiny-lr0.001", "vit-tiny", 0.001, 1500, None),
        ("vit-tiny-lr0.0003", "vit-tiny", 0.0003, 1500, None),
        ("vit-tiny-lr0.01", "vit-tiny", 0.01, 1500, 640),
    ]
    settings = Settings(capture_git=False)
    for i, (name, model, lr, steps, fail_at) in enumerate(sweep):
        run = localtrack.init(
            project=PROJECT,
            name=name,
            dir=root,
            config={
                "model": model,
                "lr": lr,
                "batch_size": 128 if model == "vit-tiny" else 256,
                "optimizer": {"name": "adamw" if model == "vit-tiny" else "sgd", "momentum": 0.9},
                "seed": i,
            },
            tags=["sweep", model] + (["best"] if lr == 0.01 and model == "resnet18" else []),
            group=model,
            job_type="train",
            notes=f"{model} at learning rate {lr}",
            settings=settings,
        )
        # good practice: the best of each metric, which is the lowest loss and the highest acc
        run.define_metric("val/*", step_metric="epoch")
        run.define_metric("*/loss", summary="min")
        run.define_metric("*/acc", summary="max")
        try:
            with run:  # the failure is recorded as a script's would be: type, message, line
                log_training(run, lr, steps, seed=i, fail_at=fail_at)
        except FloatingPointError:
            pass
        ids.append(run.id)
    ids.append(_write_crashed_run(root))
    return ids


def _write_crashed_run(root: Path) -> str:
    """Run a real training process and kill it with SIGKILL, as a preempted job would be."""
    package_parent = str(Path(__file__).resolve().parent.parent)
    code = _CRASH_CHILD.format(path=package_parent, project=PROJECT, root=str(root))
    before = set(os.listdir(root / "runs")) if (root / "runs").exists() else set()
    subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, timeout=120)
    after = set(os.listdir(root / "runs"))
    new = sorted(after - before)
    if new:  # close it as `localtrack doctor --repair` would, so the demo store is healthy
        from ..store.recovery import index_run, repair_run, scan_run
        from ..store.root import StoreRoot

        store = StoreRoot(root)
        repair_run(store.run(new[0]))
        index = store.open_index()
        if index is not None:
            try:
                index_run(index, scan_run(store.run(new[0])))
            finally:
                index.close()
    return new[0] if new else ""
