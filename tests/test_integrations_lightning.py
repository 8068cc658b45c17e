"""LocaltrackLogger with a real Lightning Trainer on the CPU: a tiny model, a few steps."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import localtrack
from localtrack.integrations.lightning import LocaltrackLogger

from .test_integrations_common import artifact_versions, media_keys, rows, run_info, settings

# Warnings about Lightning itself and this machine, not about our logger: Lightning 2.6 uses a
# pytree class torch 2.13 deprecated, and finds too few dataloader workers for the core count.
pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning"),
]


class Tiny(pl.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 4) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.Linear(hidden, 1))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _i: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _i: int) -> None:
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, generator=generator)
    return DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=4)


def _fit(logger: LocaltrackLogger, root: Path, epochs: int = 2, ckpt: str | None = None) -> None:
    trainer = pl.Trainer(
        max_epochs=epochs,
        logger=logger,
        log_every_n_steps=1,
        accelerator="cpu",
        devices=1,
        default_root_dir=root / "lightning",
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Tiny(), _loader(), _loader(), ckpt_path=ckpt)


def test_lightning_logger_logs_hparams_metrics_media_and_checkpoints(root: Path) -> None:
    logger = LocaltrackLogger(project="pl", dir=root, log_model="all", settings=settings())
    _fit(logger, root)
    run = logger.experiment
    assert isinstance(run, localtrack.Run)
    assert logger.version == run.id and logger.name == "pl"
    logger.log_image("samples", [torch.rand(3, 8, 8), torch.rand(3, 8, 8)], caption=["a", "b"])
    logger.log_table("preds", columns=["x", "y"], data=[[1, 2.0], [3, 4.0]])
    run.finish()

    info = run_info(root, run.id)
    assert info.config["lr"] == 0.1 and info.config["hidden"] == 4
    # 4 batches × 2 epochs, each at the trainer's global step; validation after each epoch
    assert [r["step"] for r in rows(root, run.id, "train/loss")] == list(range(8))
    assert [(r["step"], r["epoch"]) for r in rows(root, run.id, "val/loss", "epoch")] == [
        (3, 0),
        (7, 1),
    ]
    assert {"samples/0": "image", "samples/1": "image", "preds": "table"}.items() <= media_keys(
        root, run.id
    ).items()
    versions = artifact_versions(root, f"pl/model-{run.id}")
    assert len(versions) == 2  # one checkpoint per epoch, each logged as it was saved
    best = localtrack.Api(dir=root).artifact(f"pl/model-{run.id}:best")
    assert set(best.entries()) == {"model.ckpt"}
    assert best.metadata["original_filename"] == "epoch=1-step=8.ckpt"


# resuming into the same run id means the same checkpoint folder: Lightning says it is not empty
@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty:UserWarning")
def test_lightning_logger_resumes_the_same_run(root: Path) -> None:
    first = LocaltrackLogger(
        project="pl", dir=root, id="job-42", log_model=True, settings=settings()
    )
    _fit(first, root, epochs=1)
    first.experiment.finish()
    checkpoints = sorted((root / "lightning").rglob("*.ckpt"))
    assert [c.relative_to(root / "lightning").parts[:2] for c in checkpoints] == [("pl", "job-42")]

    again = LocaltrackLogger(
        project="pl", id="job-42", dir=root, resume="allow", settings=settings()
    )
    _fit(again, root, epochs=2, ckpt=str(checkpoints[0]))
    again.experiment.finish()

    # the second process continued at global step 4, in the same run
    assert [r["step"] for r in rows(root, "job-42", "train/loss")] == list(range(8))
    assert len(artifact_versions(root, "pl/model-job-42")) == 1  # log_model=True: at the end only


def test_lightning_logger_on_other_ranks_starts_no_run(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lightning.pytorch.utilities import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = LocaltrackLogger(project="pl", dir=root, settings=settings())
    logger.log_hyperparams({"lr": 0.1})
    logger.log_metrics({"loss": 1.0}, step=0)
    assert not isinstance(logger.experiment, localtrack.Run)
    assert localtrack.run is None and not root.exists()
