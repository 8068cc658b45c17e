"""System metrics: a background sampler that logs CPU, memory, disk, network and GPU use.

Every `interval` seconds (default 5) it reads psutil and, when a GPU is present, NVML
(nvidia-ml-py), and queues one row of ``system/...`` keys on the run's writer. It never touches
the training thread and never crashes a run: a missing or failing library is one debug line.

Keys (all under ``system/``): ``cpu_percent`` (whole machine), ``proc_cpu_percent`` (this
process), ``proc_rss_mb``, ``memory_percent``, ``memory_used_mb``, ``disk_read_mb_s``,
``disk_write_mb_s``, ``disk_usage_percent`` (the run's disk), ``net_sent_mb_s``,
``net_recv_mb_s``, and per GPU *i*: ``gpu/i/utilization_percent``, ``gpu/i/memory_used_mb``,
``gpu/i/memory_total_mb``, ``gpu/i/memory_percent``, ``gpu/i/temperature_c``, ``gpu/i/power_w``.
They are stored with their own sample counter as step; readers plot them against wall time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
PREFIX = "system/"
_MB = 1024 * 1024


def gpu_metrics(nvml: Any) -> dict[str, float]:
    """One sample of every GPU through an initialised NVML module (pynvml's API)."""
    out: dict[str, float] = {}
    for i in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(i)
        base = f"{PREFIX}gpu/{i}/"
        readers: list[tuple[str, Callable[[], float]]] = [
            (
                "utilization_percent",
                lambda h=handle: float(nvml.nvmlDeviceGetUtilizationRates(h).gpu),
            ),
            (
                "temperature_c",
                lambda h=handle: float(nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)),
            ),
            ("power_w", lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0),
        ]
        for name, read in readers:
            try:
                out[base + name] = read()
            except Exception as exc:  # NVMLError_NotSupported and friends: skip that reading
                log.debug("NVML %s of GPU %d unavailable: %s", name, i, exc)
        try:
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
        except Exception as exc:
            log.debug("NVML memory of GPU %d unavailable: %s", i, exc)
            continue
        out[base + "memory_used_mb"] = mem.used / _MB
        out[base + "memory_total_mb"] = mem.total / _MB
        out[base + "memory_percent"] = 100.0 * mem.used / mem.total if mem.total else 0.0
    return out


def gpu_models(nvml: Any) -> list[str]:
    names = []
    for i in range(nvml.nvmlDeviceGetCount()):
        name = nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i))
        names.append(name.decode() if isinstance(name, bytes) else str(name))
    return names


def load_nvml() -> Any | None:
    """pynvml, initialised, or None when there is no NVIDIA driver or library (one debug line)."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as exc:
        log.debug("no GPU metrics: %s", exc)
        return None
    return pynvml


class _Rates:
    """Turns cumulative counters into per-second rates between samples."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}

    def rate(self, name: str, value: float, now: float) -> float | None:
        previous = self._last.get(name)
        self._last[name] = (value, now)
        if previous is None or now <= previous[1]:
            return None
        return max(0.0, (value - previous[0]) / (now - previous[1]))


class HostSampler:
    """Reads psutil (and NVML) into one dict of system/... values per call."""

    def __init__(self, disk_path: Path, nvml: Any | None = None) -> None:
        import psutil

        self._psutil = psutil
        self._process = psutil.Process(os.getpid())
        self._disk_path = disk_path
        self._nvml = nvml
        self._rates = _Rates()
        self._process.cpu_percent(None)
        psutil.cpu_percent(None)

    def sample(self) -> dict[str, float]:
        ps, now = self._psutil, time.time()
        out: dict[str, float] = {}
        readings: list[tuple[str, Callable[[], dict[str, float]]]] = [
            (
                "cpu",
                lambda: {
                    "cpu_percent": ps.cpu_percent(None),
                    "proc_cpu_percent": self._process.cpu_percent(None),
                },
            ),
            ("memory", self._memory),
            ("disk", lambda: self._disk(now)),
            ("network", lambda: self._network(now)),
        ]
        for what, read in readings:
            try:
                out.update({PREFIX + k: float(v) for k, v in read().items() if v is not None})
            except Exception as exc:
                log.debug("system metric %s unavailable: %s", what, exc)
        if self._nvml is not None:
            try:
                out.update(gpu_metrics(self._nvml))
            except Exception as exc:
                log.debug("GPU metrics unavailable: %s", exc)
        return out

    def _memory(self) -> dict[str, float]:
        vm = self._psutil.virtual_memory()
        return {
            "proc_rss_mb": self._process.memory_info().rss / _MB,
            "memory_percent": vm.percent,
            "memory_used_mb": (vm.total - vm.available) / _MB,
        }

    def _disk(self, now: float) -> dict[str, float | None]:
        out: dict[str, float | None] = {
            "disk_usage_percent": self._psutil.disk_usage(str(self._disk_path)).percent
        }
        io = self._psutil.disk_io_counters()
        if io is not None:
            out["disk_read_mb_s"] = self._rates.rate("read", io.read_bytes / _MB, now)
            out["disk_write_mb_s"] = self._rates.rate("write", io.write_bytes / _MB, now)
        return out

    def _network(self, now: float) -> dict[str, float | None]:
        net = self._psutil.net_io_counters()
        return {
            "net_sent_mb_s": self._rates.rate("sent", net.bytes_sent / _MB, now),
            "net_recv_mb_s": self._rates.rate("recv", net.bytes_recv / _MB, now),
        }


class SystemMetricsThread:
    """Samples every `interval` seconds and hands each row to `emit(step, wall, values)`."""

    def __init__(
        self,
        sample: Callable[[], dict[str, float]],
        emit: Callable[[int, float, dict[str, float]], None],
        interval: float = 5.0,
        first_step: int = 0,
    ) -> None:
        self._sample = sample
        self._emit = emit
        self._interval = interval
        self._step = first_step
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="localtrack-system-metrics", daemon=True
        )

    def start(self) -> SystemMetricsThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample_once()

    def sample_once(self) -> None:
        try:
            values = self._sample()
        except Exception as exc:
            log.debug("system metrics sample failed: %s", exc)
            return
        if values:
            self._emit(self._step, time.time(), values)
            self._step += 1

    def stop(self, final_sample: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if final_sample:
            self.sample_once()
