"""A W&B DDP script (torchrun-style: RANK, WORLD_SIZE, MASTER_ADDR/PORT set by the launcher),
with only the import swapped. Every rank calls wandb.init() with the same group, as W&B's
"one run per process" recipe does; localtrack writes rank 0 only unless per_rank is set.
"""

import os

import torch
import torch.distributed as dist

import localtrack as wandb

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
run = wandb.init(project="ddp-demo", group="ddp-job", config={"world_size": world, "lr": 0.1})

model = torch.nn.Linear(4, 1)
ddp_model = torch.nn.parallel.DistributedDataParallel(model)
optimizer = torch.optim.SGD(ddp_model.parameters(), lr=run.config.lr)
torch.manual_seed(rank)
for _ in range(5):
    x = torch.randn(8, 4)
    loss = (ddp_model(x) - 1).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    mean_loss = loss.detach().clone()
    dist.all_reduce(mean_loss)
    wandb.log({"loss": mean_loss.item() / world, "rank_loss": loss.item()})
wandb.finish()
dist.destroy_process_group()
print(f"{os.environ['RANK']} {run.id}")
