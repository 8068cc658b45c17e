"""Logging benchmarks against DESIGN.md §8. Run: python benchmarks/bench_logging.py [--quick]

Each measurement runs in a fresh subprocess so that imports, threads and memory of one do not
colour the next. Prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import textwrap
import time

CHILD_PRELUDE = """
import gc, json, os, statistics, sys, tempfile, time
import localtrack
root = tempfile.mkdtemp(prefix="lt-bench-")
# issue 11's cases: no console, system-metrics or environment capture (the environment thread
# reads every installed package's metadata: ~0.6 s of CPU at a run's start, which a 100k-step loop
# would share its GIL with, and finish() waits for); with it, add that once per run
QUIET = dict(system_metrics=False, console=False, capture_packages=False, save_code=False)
"""

CASES = {
    "log_cost_10": """
run = localtrack.init(project="bench", dir=root)
rows = [{f"train/m{j}": i * 0.001 + j for j in range(10)} for i in range(STEPS)]
times = []
perf = time.perf_counter_ns
for row in rows:
    t0 = perf(); run.log(row); times.append(perf() - t0)
run.finish()
base = []
sink = []
for row in rows:
    t0 = perf(); sink.append(row); base.append(perf() - t0)
print(json.dumps({"median_us": statistics.median(times) / 1000, "p99_us": sorted(times)[int(len(times) * .99)] / 1000,
                  "baseline_us": statistics.median(base) / 1000}))
""",
    "log_cost_1": """
run = localtrack.init(project="bench", dir=root)
rows = [{"train/loss": i * 0.001} for i in range(STEPS)]
times = []
perf = time.perf_counter_ns
for row in rows:
    t0 = perf(); run.log(row); times.append(perf() - t0)
run.finish()
base = []
sink = []
for row in rows:
    t0 = perf(); sink.append(row); base.append(perf() - t0)
print(json.dumps({"median_us": statistics.median(times) / 1000, "baseline_us": statistics.median(base) / 1000}))
""",
    "loop_and_finish": """
import math, random
rng = random.Random(0)
rows = [{f"train/m{j}": math.exp(-i / 30000) * (1 + j) + rng.gauss(0, 0.01) for j in range(10)} for i in range(STEPS)]
run = localtrack.init(project="bench", dir=root)
t0 = time.perf_counter()
for row in rows:
    run.log(row)
t1 = time.perf_counter()
run.finish()
t2 = time.perf_counter()
size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(root, "runs", run.id, "metrics")) for f in fs)
t3 = time.perf_counter()
table = localtrack.Api(root).run(run.id).history(keys=["train/m0"])
t4 = time.perf_counter()
assert len(table) == STEPS
print(json.dumps({"loop_s": t1 - t0, "finish_s": t2 - t1, "total_s": t2 - t0,
                  "bytes_per_scalar": size / (STEPS * 10), "history_10_keys_table_s": t4 - t3}))
""",
    "flush_throughput": """
run = localtrack.init(project="bench", dir=root, settings=localtrack.Settings(flush_interval=3600))
rows = [{f"train/m{j}": i * 0.001 + j for j in range(10)} for i in range(STEPS)]
for row in rows:
    run.log(row)
t0 = time.perf_counter(); run.flush(); t1 = time.perf_counter()
run.finish(); t2 = time.perf_counter()
print(json.dumps({"flush_s": t1 - t0, "scalars_per_s_flush": STEPS * 10 / (t1 - t0),
                  "seal_s": t2 - t1, "scalars_per_s_seal": STEPS * 10 / (t2 - t1)}))
""",
    "sampler_cost": """
perf = time.perf_counter_ns
rows = [{f"train/m{j}": i * 0.001 + j for j in range(10)} for i in range(STEPS)]
result = {}
for label, on in (("without_sampler", False), ("with_sampler_every_50ms", True)):
    settings = localtrack.Settings(system_metrics=on, system_metrics_interval=0.05)
    run = localtrack.init(project="bench", dir=root, settings=settings, reinit="create_new")
    times = []
    for row in rows:
        t0 = perf(); run.log(row); times.append(perf() - t0)
    run.finish()
    result[label + "_median_us"] = statistics.median(times) / 1000
print(json.dumps(result))
""",
    "history_1m": """
run = localtrack.init(project="bench", dir=root)
for i in range(STEPS):
    run.log({"loss": 1.0 / (i + 1)})
run.finish()
api = localtrack.Api(root)
times = []
for _ in range(5):
    t0 = time.perf_counter(); table = api.run(run.id).history(keys=["loss"]); times.append(time.perf_counter() - t0)
assert len(table) == STEPS
print(json.dumps({"history_s_median": statistics.median(times)}))
""",
    "rss_10m": """
import psutil
proc = psutil.Process()
run = localtrack.init(project="bench", dir=root)
samples = []
row = {f"m{j}": 0.0 for j in range(10)}
for i in range(STEPS):
    row = {f"m{j}": i * 0.5 + j for j in range(10)}
    run.log(row)
    if i % (STEPS // 10) == 0:
        samples.append(proc.memory_info().rss / 2**20)
run.finish()
samples.append(proc.memory_info().rss / 2**20)
print(json.dumps({"rss_mib": [round(s) for s in samples]}))
""",
}
# Issue 11: every ratio against its baseline measured in the same process, same rows.
KEYS10 = [f"train/m{j}" for j in range(10)]
ROW_EXPR = "{" + ", ".join(f"{k!r}: x + {j}" for j, k in enumerate(KEYS10)) + "}"
CASES["floors_and_ratios"] = f"""
import pyarrow as pa, pyarrow.parquet as pq
from localtrack.store.metrics import arrow_from_numpy
CPU = []  # (list loop, log loop) CPU seconds of the loop's own thread: robust to a busy machine
def list_loop(n):
    sink = []
    t0, c0 = time.perf_counter(), time.thread_time()
    for i in range(n):
        x = i * 0.001
        sink.append({ROW_EXPR})
    CPU.append(time.thread_time() - c0)
    return time.perf_counter() - t0, sink
def log_loop(run, n):
    t0, c0 = time.perf_counter(), time.thread_time()
    for i in range(n):
        x = i * 0.001
        run.log({ROW_EXPR})
    CPU.append(time.thread_time() - c0)
    return time.perf_counter() - t0
def parquet_floor(n, path):
    loop_s, sink = list_loop(n)
    t0 = time.perf_counter()
    cols = {{k: [r[k] for r in sink] for k in {KEYS10!r}}}
    table = pa.table({{k: pa.array(v, pa.float64()) for k, v in cols.items()}})
    with open(path, "wb") as f:
        pq.write_table(table, f)
        f.flush(); os.fsync(f.fileno())
    return loop_s + time.perf_counter() - t0
settings = localtrack.Settings(**QUIET)
per_list, per_log, floors, totals = [], [], [], []
for rep in range(5):
    per_list.append(list_loop(STEPS)[0] / STEPS)
    run = localtrack.init(project="bench", dir=root, settings=settings, reinit="create_new")
    per_log.append(log_loop(run, STEPS) / STEPS)
    t0 = time.perf_counter(); run.finish(); finish_s = time.perf_counter() - t0
    totals.append(per_log[-1] * STEPS + finish_s)
    floors.append(parquet_floor(STEPS, os.path.join(root, f"floor{{rep}}.parquet")))
med = statistics.median
print(json.dumps({{
    "list_us": med(per_list) * 1e6, "log_us": med(per_log) * 1e6,
    "log_ratio": med(per_log) / med(per_list),
    "parquet_floor_s": med(floors), "loop_finish_s": med(totals),
    "loop_finish_ratio": med(totals) / med(floors),
    "log_cpu_ratio": med(CPU[1::3]) / med(CPU[0::3]),
}}))
"""
CASES["stalls"] = f"""
run = localtrack.init(project="bench", dir=root, settings=localtrack.Settings(**QUIET))
perf = time.perf_counter_ns
times = [0] * STEPS
for i in range(STEPS):
    x = i * 0.001
    row = {ROW_EXPR}
    t0 = perf(); run.log(row); times[i] = perf() - t0
run.finish()
times.sort()
print(json.dumps({{"median_us": times[STEPS // 2] / 1000, "p99_9_us": times[int(STEPS * 0.999)] / 1000,
                  "max_ms": times[-1] / 1e6, "over_50us_pct": 100 * sum(t > 50_000 for t in times) / STEPS}}))
"""
CASES["init_time"] = """
t0 = time.perf_counter()
run = localtrack.init(project="bench", dir=root, settings=localtrack.Settings(**QUIET))
t1 = time.perf_counter()
heavy = sorted(m for m in ("pyarrow", "numpy", "sqlite_utils", "pandas") if m in sys.modules)
run.log({"a": 1.0})
run.finish()
print(json.dumps({"init_s": t1 - t0, "imported_when_init_returned": heavy}))
"""

DEFAULT_STEPS = {
    "floors_and_ratios": 100_000,
    "stalls": 100_000,
    "init_time": 1,
    "log_cost_10": 100_000,
    "log_cost_1": 100_000,
    "loop_and_finish": 100_000,
    "flush_throughput": 100_000,
    "sampler_cost": 100_000,
    "history_1m": 1_000_000,
    "rss_10m": 1_000_000,
}


CLASSIC = (  # the write path before tail segments, which network filesystems keep
    "from localtrack.store import writer as _w; _w.is_network_filesystem = lambda path: True\n"
)


def run_case(name: str, steps: int, classic: bool = False) -> dict:
    prelude = CHILD_PRELUDE + (CLASSIC if classic else "")
    code = prelude + f"STEPS = {steps}\n" + textwrap.dedent(CASES[name])
    # as users run it: with the bytecode cache (compiling every module would count in init())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", "import localtrack.liverun.init"], env=env, check=True)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10x fewer steps")
    parser.add_argument(
        "--classic", action="store_true", help="the classic write path (queue + tail log)"
    )
    parser.add_argument("cases", nargs="*", default=list(CASES))
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    for name in args.cases:
        steps = DEFAULT_STEPS[name] // (10 if args.quick else 1)
        result = run_case(name, steps, args.classic)
        print(f"| {name} | {steps:,} steps | {json.dumps(result)} |")


if __name__ == "__main__":
    main()
