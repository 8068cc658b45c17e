"""LocaltrackCallback with a real Hugging Face Trainer on the CPU: a tiny BERT built from a config
(nothing downloaded), a tiny synthetic dataset, a few steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

import localtrack
from localtrack.integrations.transformers import LocaltrackCallback, rewrite_logs

from .test_integrations_common import artifact_versions, rows, run_info, settings


class _Synthetic(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, n: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 32, (n, 6), generator=generator)
        self.labels = (self.ids[:, 0] % 2).tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def _trainer(root: Path, callback: LocaltrackCallback) -> Trainer:
    config = BertConfig(
        vocab_size=32,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
        num_labels=2,
    )
    args = TrainingArguments(
        output_dir=str(root / "hf"),
        max_steps=4,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        learning_rate=1e-3,
        logging_steps=1,
        eval_strategy="steps",
        eval_steps=2,
        save_strategy="steps",
        save_steps=2,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        run_name="tiny-bert",
    )
    return Trainer(
        model=BertForSequenceClassification(config),
        args=args,
        train_dataset=_Synthetic(16),
        eval_dataset=_Synthetic(8),
        callbacks=[callback],
    )


def test_transformers_callback_logs_config_steps_eval_and_checkpoints(root: Path) -> None:
    callback = LocaltrackCallback(project="hf", dir=root, log_checkpoints=True, settings=settings())
    trainer = _trainer(root, callback)
    trainer.train()
    trainer.evaluate()
    run = callback.run
    assert isinstance(run, localtrack.Run)
    run.finish()

    info = run_info(root, run.id)
    assert info.name == "tiny-bert"
    assert info.config["learning_rate"] == 1e-3  # a training argument
    assert info.config["hidden_size"] == 8 and info.config["model_type"] == "bert"  # model config
    assert info.config["model/num_parameters"] > 0
    losses = rows(root, run.id, "train/loss", "train/global_step")
    assert [(r["step"], r["train/global_step"]) for r in losses] == [(s, s) for s in (1, 2, 3, 4)]
    # evaluated at steps 2 and 4; trainer.evaluate() afterwards logs at 4 again (later value wins)
    assert [r["step"] for r in rows(root, run.id, "eval/loss")] == [2, 4]
    assert info.summary["train_runtime"] > 0 and "train/train_runtime" not in info.summary
    versions = artifact_versions(root, f"hf/checkpoint-{run.id}")
    assert [v.metadata["global_step"] for v in versions] == [2, 4]
    assert "model.safetensors" in versions[-1].entries()


@pytest.mark.parametrize(
    ("logs", "expected"),
    [
        ({"loss": 1.0, "eval_acc": 0.5}, {"train/loss": 1.0, "eval/acc": 0.5}),
        ({"test_f1": 0.2, "learning_rate": 0.1}, {"test/f1": 0.2, "train/learning_rate": 0.1}),
    ],
)
def test_rewrite_logs_names_keys_as_wandb_does(
    logs: dict[str, float], expected: dict[str, float]
) -> None:
    assert rewrite_logs(logs) == expected
