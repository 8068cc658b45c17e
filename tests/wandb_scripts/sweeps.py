"""W&B's sweep walkthrough with only the import swapped: a config dict, wandb.sweep, and
wandb.agent running a function (Bayesian search with Hyperband early termination), no server."""

import math

import localtrack as wandb

sweep_configuration = {
    "method": "bayes",
    "name": "sweep",
    "metric": {"goal": "maximize", "name": "val_acc"},
    "parameters": {
        "batch_size": {"values": [16, 32, 64]},
        "epochs": {"values": [5, 10, 15]},
        "lr": {"max": 0.1, "min": 0.0001},
    },
    "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3},
}


def train_one_epoch(epoch, lr, bs):
    acc = 0.25 + ((epoch / 30) + (lr / 10))
    loss = 0.2 + (1 - ((epoch - 1) / 10 + lr / 5))
    return acc, loss


def evaluate_one_epoch(epoch, lr):
    acc = 0.1 + epoch / 20 - 2 * abs(math.log10(lr) + 2) / 10
    loss = 0.25 + (1 - (epoch - 1) / 10 - lr / 5)
    return acc, loss


def main():
    run = wandb.init()
    lr = wandb.config.lr
    bs = wandb.config.batch_size
    epochs = wandb.config.epochs
    for epoch in range(1, epochs):
        train_acc, train_loss = train_one_epoch(epoch, lr, bs)
        val_acc, val_loss = evaluate_one_epoch(epoch, lr)
        wandb.log(
            {
                "epoch": epoch,
                "train_acc": train_acc,
                "train_loss": train_loss,
                "val_acc": val_acc,
                "val_loss": val_loss,
            }
        )
    print("trial", run.id, flush=True)


sweep_id = wandb.sweep(sweep=sweep_configuration, project="my-first-sweep")
wandb.agent(sweep_id, function=main, count=8)
print("sweep", sweep_id)
