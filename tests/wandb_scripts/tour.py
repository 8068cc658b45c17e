"""The rest of what a typical W&B script touches, with only the import swapped: settings, media,
tables, galleries, define_metric, run metadata, saved files and code."""

import os

import numpy as np

import localtrack as wandb

run = wandb.init(
    project="tour",
    name="first-name",
    tags=["baseline"],
    notes="before",
    job_type="train",
    settings=wandb.Settings(silent=True, disable_git=True, x_disable_stats=True),
    reinit=True,
    magic=True,
)
run.name = "renamed"
run.notes = "after"
run.tags = (*run.tags, "tour")
wandb.define_metric("epoch")
wandb.define_metric("val/*", step_metric="epoch")
wandb.define_metric("val/loss", summary="best", goal="minimize")

os.makedirs("outputs/plots", exist_ok=True)
with open("outputs/notes.txt", "w") as f:
    f.write("first")
wandb.save("outputs/*.txt")  # policy="live": copied again when it changes
wandb.save("outputs/plots/*.csv", policy="end")
run.log_code(".", include_fn=lambda path: path.endswith("tour.py"))

rng = np.random.default_rng(0)
for epoch in range(3):
    images = [wandb.Image(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)) for _ in range(2)]
    wandb.log(
        {
            "epoch": epoch,
            "val/loss": [0.5, 0.2, 0.4][epoch],
            "samples": images,
            "weights": wandb.Histogram(rng.normal(size=100)),
        }
    )
table = wandb.Table(columns=["id", "score"], data=[[1, 0.5], [2, 0.75]])
wandb.log({"predictions": table})
with open("outputs/notes.txt", "w") as f:
    f.write("final")
with open("outputs/plots/curve.csv", "w") as f:
    f.write("x,y\n0,1\n")
run.summary["best_epoch"] = 1
print(run.id, run.url, run.path)
run.finish()
