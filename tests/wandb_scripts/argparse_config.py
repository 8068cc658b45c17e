"""A W&B script that takes its config from argparse, with only the import swapped."""

import argparse
import math

import localtrack as wandb

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--optimizer", default="adam")
parser.add_argument("--data-dir", default="/data/secret")
args = parser.parse_args()

run = wandb.init(project="argparse-demo", config=args, config_exclude_keys=["data_dir"])
wandb.config.update({"scheduler": "cosine"})
wandb.config.update({"lr": args.lr * 2}, allow_val_change=True)  # a warm-up rule doubled it
try:
    wandb.config.update({"optimizer": "sgd"})  # W&B refuses a silent change of a value
except wandb.Error as error:
    wandb.termlog(f"config kept: {error}")

for epoch in range(wandb.config.epochs):
    lr = wandb.config.lr * 0.5 * (1 + math.cos(math.pi * epoch / wandb.config.epochs))
    wandb.log({"epoch": epoch, "lr": lr, "loss": 1 / (epoch + 1)})
wandb.finish()
print(run.id)
