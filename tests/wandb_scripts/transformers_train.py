"""A Hugging Face Trainer logged the W&B way, with only the callback's import swapped
(was: ``from transformers.integrations import WandbCallback``). The model is built from a
config: nothing is downloaded."""

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from localtrack.integrations.transformers import LocaltrackCallback as WandbCallback


class Synthetic(torch.utils.data.Dataset):
    def __init__(self, n):
        self.ids = torch.randint(0, 32, (n, 6), generator=torch.Generator().manual_seed(0))
        self.labels = (self.ids[:, 0] % 2).tolist()

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


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
    output_dir="hf-out",
    max_steps=4,
    per_device_train_batch_size=4,
    learning_rate=1e-3,
    logging_steps=1,
    eval_strategy="steps",
    eval_steps=2,
    save_strategy="no",
    report_to="none",
    run_name="tiny-bert",
    use_cpu=True,
    disable_tqdm=True,
)
callback = WandbCallback()
trainer = Trainer(
    model=BertForSequenceClassification(config),
    args=args,
    train_dataset=Synthetic(16),
    eval_dataset=Synthetic(8),
    callbacks=[callback],
)
trainer.train()
callback.run.finish()
print(callback.run.id)
