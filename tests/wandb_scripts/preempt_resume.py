"""A W&B job that survives preemption: run it with WANDB_RUN_ID and WANDB_RESUME=allow, and the
requeued job continues the same run from its checkpoint. Only the import is swapped.

PREEMPT_AT_EPOCH stands in for the scheduler: the first attempt sends itself SIGTERM there.
"""

import json
import os
import signal
import sys

import localtrack as wandb

EPOCHS = 8
CHECKPOINT = "checkpoint.json"

run = wandb.init(project="preemptible", config={"lr": 0.1, "epochs": EPOCHS})
start, weights = 0, 0.0
if run.resumed and os.path.exists(CHECKPOINT):
    with open(CHECKPOINT) as f:
        state = json.load(f)
    start, weights = state["epoch"] + 1, state["weights"]


def save_checkpoint(epoch: int) -> None:
    with open(CHECKPOINT, "w") as f:
        json.dump({"epoch": epoch, "weights": weights}, f)
    wandb.save(CHECKPOINT, policy="now")


def on_preemption(signum, frame):
    wandb.mark_preempting()
    sys.exit(143)  # the scheduler requeues the job


signal.signal(signal.SIGTERM, on_preemption)
for epoch in range(start, EPOCHS):
    weights += run.config.lr
    wandb.log({"epoch": epoch, "loss": 1 / (1 + weights)})
    save_checkpoint(epoch)
    if epoch == int(os.environ.get("PREEMPT_AT_EPOCH", "-1")) and not run.resumed:
        os.kill(os.getpid(), signal.SIGTERM)
wandb.finish()
print(run.id)
