"""Hugging Face Transformers: ``Trainer(..., callbacks=[LocaltrackCallback()])``.

At the start of training the training arguments and the model's config go into ``run.config``
(merged flat, the training arguments winning, as W&B's callback does, plus
``model/num_parameters``); every ``on_log`` is logged at ``state.global_step`` with W&B's key
names (``loss`` → ``train/loss``, ``eval_loss`` → ``eval/loss``, ``test_*`` → ``test/*``), and the
end-of-training totals (``train_runtime``, ``total_flos``, …) go to the summary.
``log_checkpoints=True`` logs each saved ``checkpoint-<step>`` folder as a version of the
``checkpoint-<run id>`` artifact. Only the main process (``state.is_world_process_zero``) logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ._common import log_checkpoint, require, resolve_run, scalars

require("transformers", "transformers")
from transformers import TrainerCallback  # noqa: E402

__all__ = ["LocaltrackCallback"]

# logged once at the end of training: summary values, not series (as W&B's callback has them)
_TOTALS = frozenset(
    {
        "train_runtime",
        "train_samples_per_second",
        "train_steps_per_second",
        "train_loss",
        "total_flos",
    }
)


def rewrite_logs(logs: Mapping[str, Any]) -> dict[str, Any]:
    """Trainer's flat log keys as W&B names them: eval_x → eval/x, test_x → test/x, x → train/x."""
    out: dict[str, Any] = {}
    for key, value in logs.items():
        for prefix in ("eval", "test"):
            if key.startswith(prefix + "_"):
                out[f"{prefix}/{key[len(prefix) + 1 :]}"] = value
                break
        else:
            out[f"train/{key}"] = value
    return out


class LocaltrackCallback(TrainerCallback):  # type: ignore[misc]
    """Logs a Trainer's config, logs, evaluation metrics and (opt-in) checkpoints.

    ``run=`` logs to a run you started; otherwise the current run, else a new one started with
    ``init_kwargs`` (``project=``, ``name=``, ``dir=``, …; the name defaults to
    ``TrainingArguments.run_name`` when set). The run is not finished at the end of training, so
    ``trainer.evaluate()`` afterwards still logs to it (call ``localtrack.finish()``).
    """

    def __init__(self, run: Any = None, log_checkpoints: bool = False, **init_kwargs: Any) -> None:
        self._run = run
        self._init_kwargs = init_kwargs
        self._log_checkpoints = log_checkpoints
        self._ready = False

    @property
    def run(self) -> Any:
        """The run this callback logs to (None before training starts)."""
        return self._run

    def setup(self, args: Any, state: Any, model: Any = None) -> None:
        """Find or start the run and record the training arguments and model config."""
        self._ready = True
        if not state.is_world_process_zero:
            return
        kwargs = dict(self._init_kwargs)
        run_name = getattr(args, "run_name", None)
        if run_name and run_name != getattr(args, "output_dir", None):
            kwargs.setdefault("name", run_name)
        self._run, _started = resolve_run(self._run, kwargs)
        combined: dict[str, Any] = {}
        model_config = getattr(model, "config", None)
        if model_config is not None and hasattr(model_config, "to_dict"):
            combined.update(model_config.to_dict())
        combined.update(args.to_dict())
        if model is not None and hasattr(model, "num_parameters"):
            combined["model/num_parameters"] = model.num_parameters()
        self._run.config.update(combined, allow_val_change=True)

    def on_train_begin(
        self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        if not self._ready:
            self.setup(args, state, model)

    def on_log(
        self,
        args: Any,
        state: Any,
        control: Any,
        model: Any = None,
        logs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not self._ready:
            self.setup(args, state, model)
        if not state.is_world_process_zero or self._run is None:
            return
        values = scalars(logs)
        for key in _TOTALS & values.keys():
            self._run.summary[key] = values.pop(key)
        data = rewrite_logs(values)
        if data:
            data["train/global_step"] = state.global_step
            self._run.log(data, step=state.global_step)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not (self._log_checkpoints and state.is_world_process_zero and self._run is not None):
            return
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if not os.path.isdir(folder):
            return
        metadata = {"global_step": state.global_step, "best_metric": state.best_metric}
        aliases = [f"step-{state.global_step}"]
        best = state.best_model_checkpoint
        if best and os.path.abspath(best) == os.path.abspath(folder):
            aliases.append("best")
        log_checkpoint(self._run, folder, f"checkpoint-{self._run.id}", aliases, metadata)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and self._run is not None and hasattr(self._run, "flush"):
            self._run.flush()
