"""A W&B sweep's program, with only the import swapped: the agent starts it with the trial's
values as arguments (``${args}``); wandb.init() joins the sweep and wandb.config holds them."""

import argparse

import localtrack as wandb

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--batch_size", type=int)
parser.add_argument("--optimizer")
args = parser.parse_args()

with wandb.init() as run:
    assert (wandb.config.lr, wandb.config.batch_size) == (args.lr, args.batch_size)
    assert wandb.config.optimizer == args.optimizer
    for epoch in range(4):
        loss = abs(args.lr - 0.01) * 100 + 1 / (epoch + 1) + (args.optimizer == "sgd")
        wandb.log({"val/loss": loss, "epoch": epoch})
