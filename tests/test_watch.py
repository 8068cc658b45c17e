"""localtrack.watch(): gradient and parameter histograms of a real PyTorch model."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import localtrack
from localtrack.store.reader import StoreReader

from .conftest import PYTHON, child_env

torch = pytest.importorskip("torch", reason="scripts/test.sh installs torch (CPU) for these tests")


def _train(run, model, steps: int) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.log({"loss": loss})  # a 0-d tensor, logged as a scalar


def test_watch_logs_gradient_and_parameter_histograms(root: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    run = localtrack.init(project="p", dir=root, settings=localtrack.Settings(console=False))
    localtrack.watch(model, log="all", log_freq=5)
    _train(run, model, 20)
    run.finish()
    reader = StoreReader(root)
    keys = reader.media_keys(run.id)
    assert keys["gradients/0.weight"] == "histogram" and keys["parameters/2.bias"] == "histogram"
    grads = reader.media(run.id, "gradients/0.weight")
    assert [g.step for g in grads] == [4, 9, 14, 19] and sum(grads[0].counts) == 32
    assert (
        reader.history(run.id)["loss"].to_pylist()[-1]
        < reader.history(run.id)["loss"].to_pylist()[0]
    )
    localtrack.unwatch(model)


def test_watch_needs_a_run_and_a_module(root: Path) -> None:
    with pytest.raises(localtrack.UsageError, match="init"):
        localtrack.watch(torch.nn.Linear(1, 1))
    run = localtrack.init(project="p", dir=root, settings=localtrack.Settings(console=False))
    with pytest.raises(localtrack.UsageError, match=r"torch\.nn\.Module"):
        localtrack.watch(object())
    with pytest.raises(localtrack.UsageError, match="log="):
        localtrack.watch(torch.nn.Linear(1, 1), log="weights")
    run.finish()


def test_importing_localtrack_does_not_import_torch() -> None:
    code = "import sys, localtrack; localtrack.init(project='p', mode='disabled'); print('torch' in sys.modules)"
    out = subprocess.run(
        [PYTHON, "-c", code], env=child_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
