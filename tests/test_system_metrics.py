"""System metrics: sampled in the background, stored under system/, read against wall time."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import localtrack
from localtrack.capture.system_metrics import (
    HostSampler,
    SystemMetricsThread,
    gpu_metrics,
    gpu_models,
    load_nvml,
)


class FakeNVML:
    """The slice of pynvml the sampler uses, for two GPUs; GPU 1 cannot report power."""

    NVML_TEMPERATURE_GPU = 0

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetUtilizationRates(self, h: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=50 + h, memory=10)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return 60 + h

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        if h == 1:
            raise RuntimeError("NVMLError_NotSupported")
        return 250_000

    def nvmlDeviceGetMemoryInfo(self, h: int) -> SimpleNamespace:
        return SimpleNamespace(used=40 * 2**30, total=80 * 2**30)


def test_gpu_metrics_parse_every_gpu_and_skip_unsupported_readings() -> None:
    values = gpu_metrics(FakeNVML())
    assert values["system/gpu/0/utilization_percent"] == 50.0
    assert values["system/gpu/1/temperature_c"] == 61.0
    assert values["system/gpu/0/power_w"] == 250.0 and "system/gpu/1/power_w" not in values
    assert (
        values["system/gpu/1/memory_used_mb"] == 40 * 1024
        and values["system/gpu/1/memory_percent"] == 50.0
    )
    assert gpu_models(FakeNVML()) == ["NVIDIA H100 80GB HBM3"] * 2


def test_host_sampler_reads_cpu_memory_disk_network_and_gpu(tmp_path: Path) -> None:
    sampler = HostSampler(tmp_path, nvml=FakeNVML())
    sampler.sample()
    values = sampler.sample()  # the second sample has rates
    for key in (
        "cpu_percent",
        "proc_cpu_percent",
        "proc_rss_mb",
        "memory_percent",
        "disk_usage_percent",
        "net_sent_mb_s",
        "net_recv_mb_s",
        "gpu/0/utilization_percent",
    ):
        assert f"system/{key}" in values, key
    assert values["system/proc_rss_mb"] > 1


def test_sampler_failures_never_escape(caplog: pytest.LogCaptureFixture) -> None:
    rows = []

    def broken() -> dict[str, float]:
        raise OSError("no /proc here")

    thread = SystemMetricsThread(broken, lambda *row: rows.append(row), interval=0.01)
    thread.sample_once()
    assert rows == []


def test_a_run_records_system_metrics_against_wall_time(root: Path) -> None:
    settings = localtrack.Settings(system_metrics_interval=0.05)
    run = localtrack.init(project="p", dir=root, settings=settings)
    for i in range(50):
        run.log({"loss": 1.0 / (i + 1)})
    import time

    time.sleep(0.3)
    run.finish()
    api_run = localtrack.Api(root).run(run.id)
    keys = {k.key: k for k in api_run.metric_keys()}
    assert keys["system/cpu_percent"].count >= 2 and "system/proc_rss_mb" in keys
    series = api_run.series("system/proc_rss_mb", x="wall_time")
    assert series.x[0] >= api_run.created_at - 1 and series.max.max() > 1
    assert "system/cpu_percent" not in api_run.history(pandas=False).column_names
    assert "system/cpu_percent" not in api_run.summary
    assert api_run.max_step == 49


def test_flush_with_system_metrics_queued_returns_true_and_makes_them_durable(root: Path) -> None:
    """A sample queued by the sampler thread while the training thread flushes used to hold the
    flush until its timeout (the writer left the sample for the next log(), which the blocked
    training thread could not make): every flush() of a run with system metrics returned False."""
    import time

    settings = localtrack.Settings(system_metrics_interval=0.01)
    run = localtrack.init(project="p", dir=root, settings=settings)
    sampled = 0
    for i in range(20):
        run.log({"loss": 1.0 / (i + 1)})
        deadline = time.monotonic() + 60  # outer bound: the sampler runs every 10 ms
        while not run._writer.queue and time.monotonic() < deadline:
            time.sleep(0.005)
        sampled += bool(run._writer.queue)
        assert run.flush(timeout=60), f"flush {i} timed out with a sample queued"
    assert sampled >= 1  # the condition this test is about really happened
    durable = {k.key for k in localtrack.Api(root).run(run.id).metric_keys()}
    assert "system/cpu_percent" in durable  # flushed samples are readable before finish()
    run.finish()


def test_system_metrics_can_be_turned_off(root: Path) -> None:
    run = localtrack.init(project="p", dir=root, settings=localtrack.Settings(system_metrics=False))
    run.log({"loss": 1.0})
    run.finish()
    assert [k.key for k in localtrack.Api(root).run(run.id).metric_keys()] == ["loss"]


def test_real_gpu_metrics_when_a_gpu_is_present(tmp_path: Path) -> None:
    nvml = load_nvml()
    if nvml is None:
        pytest.skip(
            "no NVIDIA GPU/driver on this machine; the parsing is tested above with a fake NVML"
        )
    values = gpu_metrics(nvml)
    assert values["system/gpu/0/memory_total_mb"] > 1000
    assert 0 <= values["system/gpu/0/utilization_percent"] <= 100
