"""localtrack.watch(model): histograms of a PyTorch model's gradients and parameters.

torch is imported only when watch() is called. Every `log_freq` backward passes each
parameter's gradient is logged as ``gradients/<name>``; every `log_freq` forward passes each
parameter as ``parameters/<name>`` — as Histograms into the current step (``commit=False``, like
W&B), so they land beside whatever the training loop logs next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import UsageError
from ..media.types import Histogram

MODES = ("gradients", "parameters", "all")
_HANDLES_ATTR = "_localtrack_watch_handles"


def _to_numpy(tensor: Any) -> Any:
    return tensor.detach().float().cpu().numpy().ravel()


def watch(
    models: Any,
    criterion: Any = None,
    log: str | None = "gradients",
    log_freq: int = 100,
    idx: int | None = None,
    log_graph: bool = False,
    num_bins: int = 64,
    run: Any = None,
) -> None:
    """Log histograms of `models`' gradients and/or parameters every `log_freq` passes."""
    from ..liverun import lifecycle

    run = run or lifecycle.current()
    if run is None:
        raise UsageError("localtrack.watch() needs a run: call localtrack.init() first")
    if log is None:
        return
    if log not in MODES:
        raise UsageError(f"watch(log=...) must be one of {MODES} or None, not {log!r}")
    if int(log_freq) < 1:
        raise UsageError(f"watch(log_freq=...) must be at least 1, not {log_freq}")
    import torch

    model_list = list(models) if isinstance(models, Sequence) else [models]
    for number, model in enumerate(model_list):
        if not isinstance(model, torch.nn.Module):
            raise UsageError(f"watch() takes torch.nn.Module objects, not {type(model).__name__}")
        prefix = (
            ""
            if len(model_list) == 1 and idx is None
            else f"model{idx if idx is not None else number}/"
        )
        handles = getattr(model, _HANDLES_ATTR, [])
        if log in ("parameters", "all"):
            handles.append(_watch_parameters(run, model, prefix, int(log_freq), num_bins))
        if log in ("gradients", "all"):
            handles.extend(_watch_gradients(run, model, prefix, int(log_freq), num_bins))
        setattr(model, _HANDLES_ATTR, handles)


def unwatch(models: Any = None) -> None:
    """Remove the hooks watch() added."""
    for model in list(models) if isinstance(models, Sequence) else [models]:
        for handle in getattr(model, _HANDLES_ATTR, []):
            handle.remove()
        if model is not None and hasattr(model, _HANDLES_ATTR):
            delattr(model, _HANDLES_ATTR)


def _watch_parameters(run: Any, model: Any, prefix: str, log_freq: int, num_bins: int) -> Any:
    calls = [0]

    def after_forward(module: Any, inputs: Any, output: Any) -> None:
        calls[0] += 1
        if calls[0] % log_freq:
            return
        values = {
            f"parameters/{prefix}{name}": Histogram(_to_numpy(p), num_bins=num_bins)
            for name, p in module.named_parameters()
        }
        run.log(values, commit=False)

    return model.register_forward_hook(after_forward)


def _watch_gradients(run: Any, model: Any, prefix: str, log_freq: int, num_bins: int) -> list[Any]:
    handles = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        calls = [0]

        def on_grad(
            grad: Any, key: str = f"gradients/{prefix}{name}", calls: list[int] = calls
        ) -> None:
            calls[0] += 1
            if calls[0] % log_freq == 0:
                run.log({key: Histogram(_to_numpy(grad), num_bins=num_bins)}, commit=False)

        handles.append(parameter.register_hook(on_grad))
    return handles
