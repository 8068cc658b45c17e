"""A Lightning training logged the W&B way, with only the logger's import swapped
(was: ``from lightning.pytorch.loggers import WandbLogger``)."""

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from localtrack.integrations.lightning import LocaltrackLogger as WandbLogger


class Regressor(pl.LightningModule):
    def __init__(self, lr=0.05, hidden=4):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.Linear(hidden, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loader():
    x = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=4)


wandb_logger = WandbLogger(project="lightning-demo", log_model=True)
wandb_logger.experiment.config.update({"batch_size": 4})
trainer = pl.Trainer(
    logger=wandb_logger,
    max_epochs=2,
    log_every_n_steps=1,
    accelerator="cpu",
    devices=1,
    enable_progress_bar=False,
    enable_model_summary=False,
)
trainer.fit(Regressor(), loader(), loader())
wandb_logger.experiment.finish()
print(wandb_logger.experiment.id)
