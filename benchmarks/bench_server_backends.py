"""The central server on its two backends (issue 18): sync throughput, commit latency and what a
server process (a replica) spends in CPU per request. Run:

    flock /work/bench.lock python benchmarks/bench_server_backends.py [--quick] [--json]

On this machine, in one run: a throwaway PostgreSQL (Debian's postgresql, started as the tests
start it, tests/pg_fixtures.py, then restarted with fsync on unless --pg-fsync-off), moto's S3
server (tests/s3_fixtures.py: a test double for MinIO/Ceph/AWS S3 written in Python, so its
speed is not an object store's; its CPU is counted apart), and for each backend a fresh
`localtrack server` process on 127.0.0.1: the directory (`--dir`) and PostgreSQL + S3
(`--index postgresql://… --blobs s3://…`). For each workload, N client stores (made by
bench_sync.make_store) are synced at once from N threads of this process. The workloads:
"sequential" (1 client × 32 small runs, one request at a time: a commit's latency without
queueing), "small" (8 clients × 32 runs × 2,000 points: commits/s and CPU per synced run) and
"bulk" (8 clients × 4 runs × 1M points, about 230 MB: MB/s). Measured:

- sync: runs/s and MB/s over the wall time of all N syncs; commit latency (each POST of the
  commit as a client sees it, queueing behind the other clients included), median and p95;
- CPU (user + system, psutil) per synced run (all its requests: negotiate, blob uploads,
  commit) of the server process, and of PostgreSQL's and moto's processes; the server's idle
  CPU (its change feed) is measured first and subtracted;
- UI reads after the sync, K of each on one keep-alive connection: latency median and the server
  process's CPU per request (the capacity figure for open pages: each polls once a second);
- floors: `cp -r` of the same runs (MB/s); a bare PUT of every same file to moto from N threads
  (boto3, MB/s); GET /healthz (latency and CPU per request).

Prints Markdown tables (or --json).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from benchmarks.bench_sync import make_store  # noqa: E402
from localtrack.sync import protocol  # noqa: E402
from localtrack.sync.client import SyncClient  # noqa: E402
from localtrack.sync.remote import Remote  # noqa: E402
from localtrack.sync.transport import HTTPTransport, Request, Response  # noqa: E402
from tests.pg_fixtures import PgCluster, throwaway_cluster  # noqa: E402
from tests.s3_fixtures import TEST_CREDENTIALS, moto_server, s3_client  # noqa: E402
from tests.sync_fixtures import ServerProcess  # noqa: E402

IDLE_S = 3.0


@dataclass
class Workload:
    name: str
    clients: int
    runs: int  # per client
    points: int  # per run (10 keys)
    workers: int | None = None  # a client's parallel requests (None: the client's default)


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def cpu_seconds(pids: Callable[[], list[int]]) -> dict[int, float]:
    """{pid: user + system CPU seconds} of the processes `pids()` names now."""
    out = {}
    for pid in pids():
        try:
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots (a process that exited meanwhile is lost)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def tree(pid: int) -> Callable[[], list[int]]:
    def pids() -> list[int]:
        try:
            return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    return pids


def moto_pid() -> int:
    """The moto_server child of this process."""
    for child in psutil.Process().children(recursive=True):
        if "moto_server" in " ".join(child.cmdline()):
            return child.pid
    raise RuntimeError("moto_server is not running")


def durable(cluster: PgCluster) -> None:
    """Restart the throwaway cluster with fsync and synchronous commit on (the tests' cluster
    has them off), so a commit's latency includes its disk flush, as in production."""
    cluster.stop()
    options = f"-p {cluster.port} -k {cluster.folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
    cluster._ctl("start", "-l", str(cluster.folder / "server.log"), "-o", options)


class TimedTransport(HTTPTransport):
    """HTTP transport that records how long each commit POST took, as the client sees it."""

    def __init__(self, base_url: str, commits: list[float]) -> None:
        super().__init__(base_url, timeout=300)
        self.commits = commits

    def send(self, request: Request) -> Response:
        t0 = time.perf_counter()
        try:
            return super().send(request)
        finally:
            if request.path == protocol.COMMIT_PATH:
                self.commits.append((time.perf_counter() - t0) * 1000)


def sync_all(clients: list[Path], url: str, workers: int | None) -> dict[str, Any]:
    """Sync every client store at once (one thread each); wall time, bytes, commit latencies."""
    commits: list[float] = []
    results: list[Any] = []

    def one(store: Path) -> None:
        transport = TimedTransport(url, commits)
        remote = Remote(transport)
        try:
            options = {} if workers is None else {"workers": workers}
            client = SyncClient.for_store(store, remote, **options)
            report = client.sync(sorted(os.listdir(store / "runs")))
            assert not report.failed, [r.message for r in report.failed]
            results.append((report, remote.stats.retries))
        finally:
            transport.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        for future in [pool.submit(one, c) for c in clients]:
            future.result()
    wall = time.perf_counter() - t0
    runs = sum(len(r.runs) for r, _ in results)
    return {
        "wall_s": wall,
        "runs": runs,
        "bytes": sum(r.bytes_sent for r, _ in results),
        "retries": sum(n for _, n in results),
        "commit_ms": statistics.median(commits),
        "commit_p95_ms": _p95(commits),
    }


def ui_reads(url: str, run_id: str, repeat: int, server_cpu: Callable[[], float]) -> dict[str, Any]:
    """{what: (median ms, server CPU ms per request)} for the reads a UI makes."""
    conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=60)
    runs_page = "/api/v1/projects/bench/runs"
    conn.request("GET", runs_page)
    reply = conn.getresponse()
    reply.read()
    etag = reply.headers["ETag"]
    reads = {
        "floor: GET /healthz": ("/healthz", {}),
        "projects list": ("/api/v1/projects", {}),
        "runs table, first page": (runs_page, {}),
        "run page JSON": (f"/api/v1/runs/{run_id}", {}),
        "chart: one key of one run": (f"/api/v1/series?runs={run_id}&key=train/m0", {}),
        "page poll with ETag (304)": (runs_page, {"If-None-Match": etag}),
    }
    out = {}
    for what, (path, headers) in reads.items():
        times = []
        cpu0 = server_cpu()
        for _ in range(repeat):
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            reply = conn.getresponse()
            reply.read()
            times.append((time.perf_counter() - t0) * 1000)
            assert reply.status in (200, 304), (path, reply.status)
        cpu_ms = (server_cpu() - cpu0) * 1000 / repeat  # server_cpu() leaves out idle work
        out[what] = {"ms": statistics.median(times), "cpu_ms": cpu_ms}
    conn.close()
    return out


def floor_cp(clients: list[Path], dest: Path) -> float:
    """Seconds to `cp -r` every client's runs/ (the same bytes the sync sends)."""
    dest.mkdir(parents=True)
    t0 = time.perf_counter()
    for i, client in enumerate(clients):
        subprocess.run(["cp", "-r", str(client / "runs"), str(dest / f"c{i}")], check=True)
    seconds = time.perf_counter() - t0
    shutil.rmtree(dest)
    return seconds


def floor_put(clients: list[Path], moto_port: int, bucket: str) -> float:
    """Seconds to PUT every run file to moto (boto3, one thread per client, no hashing)."""
    s3_client(moto_port).create_bucket(Bucket=bucket)  # type: ignore[attr-defined]

    def put_all(i: int, client: Path) -> None:
        s3: Any = s3_client(moto_port)
        for path in sorted(p for p in (client / "runs").rglob("*") if p.is_file()):
            s3.put_object(
                Bucket=bucket, Key=f"c{i}/{path.relative_to(client)}", Body=path.read_bytes()
            )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        for future in [pool.submit(put_all, i, c) for i, c in enumerate(clients)]:
            future.result()
    return time.perf_counter() - t0


@contextmanager
def server(root: Path, env: dict[str, str], args: tuple[str, ...]) -> Iterator[ServerProcess]:
    process = ServerProcess(root, env=env, args=args).start()
    try:
        yield process
    finally:
        process.stop()


def measure_backend(
    clients: list[Path],
    root: Path,
    backend: tuple[dict[str, str], tuple[str, ...], dict[str, Callable[[], list[int]]]],
    repeat: int,
    workers: int | None = None,
) -> dict[str, Any]:
    """Sync `clients` to a fresh server on `backend` (env, args, its services' processes), then
    time the UI's reads."""
    env, args, services = backend
    with server(root, env, args) as srv:
        assert srv.proc is not None
        mine = tree(srv.proc.pid)
        c0 = cpu_seconds(mine)
        time.sleep(IDLE_S)
        idle_per_s = cpu_delta(c0, cpu_seconds(mine)) / IDLE_S
        groups = {"server": mine, **services}
        before = {name: cpu_seconds(pids) for name, pids in groups.items()}
        result = sync_all(clients, srv.url, workers)
        spent = {name: cpu_delta(before[name], cpu_seconds(pids)) for name, pids in groups.items()}
        spent["server"] -= idle_per_s * result["wall_s"]
        result["cpu_ms_per_run"] = {k: v * 1000 / result["runs"] for k, v in spent.items()}
        result["idle_cpu_pct"] = idle_per_s * 100

        def server_cpu() -> float:
            return sum(cpu_seconds(mine).values()) - idle_per_s * time.perf_counter()

        run_id = sorted(os.listdir(clients[0] / "runs"))[0]
        result["reads"] = ui_reads(srv.url, run_id, repeat, server_cpu)
    return result


def run_workload(
    work: Workload, tmp: Path, cluster: PgCluster, moto_port: int, repeat: int
) -> dict[str, Any]:
    made = tmp / "made"
    clients = [made / f"c{i}" for i in range(work.clients)]
    size = sum(make_store(c, work.runs, work.points, seed=i) for i, c in enumerate(clients))
    out: dict[str, Any] = {"workload": work.__dict__, "mb": size / 1e6}
    out["cp_s"] = floor_cp(clients, tmp / "cp")
    out["put_s"] = floor_put(clients, moto_port, f"floor-{work.name}")
    bucket = f"lt-{work.name}"
    s3_client(moto_port).create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    s3_env = dict(
        TEST_CREDENTIALS,
        LOCALTRACK_S3_ENDPOINT=f"http://127.0.0.1:{moto_port}",
        LOCALTRACK_BLOBS=f"s3://{bucket}/prod",
    )
    postmaster = int((cluster.folder / "data" / "postmaster.pid").read_text().split()[0])
    services = {"postgresql": tree(postmaster), "moto": tree(moto_pid())}
    backends = {
        DIRECTORY: ({}, (), {}),
        DISTRIBUTED: (s3_env, ("--index", cluster.new_database()), services),
    }
    out["backends"] = {}
    for name, backend in backends.items():
        fresh = tmp / name.split()[0]
        for i, client in enumerate(clients):  # each backend syncs pristine copies
            shutil.copytree(client, fresh / f"c{i}")
        copies = [fresh / f"c{i}" for i in range(work.clients)]
        out["backends"][name] = measure_backend(
            copies, fresh / "server", backend, repeat, work.workers
        )
        shutil.rmtree(fresh)
    shutil.rmtree(made)
    return out


DIRECTORY = "directory (`--dir`)"
DISTRIBUTED = "PostgreSQL + S3 (moto)"
HEADROOM = 0.7  # plan a replica at 70 % of one core: it is one Python process


def print_tables(results: list[dict[str, Any]]) -> None:
    for r in results:
        w = r["workload"]
        mb = r["mb"]
        runs = w["clients"] * w["runs"]
        one_at_a_time = ", one request at a time" if w["workers"] == 1 else ""
        print(
            f"\n**{w['name']}**: {w['clients']} clients × {w['runs']} runs × {w['points']:,} points ({runs} runs, {mb:.1f} MB{one_at_a_time})\n"
        )
        print(
            "| backend | runs/s | MB/s | commit median / p95 | server CPU per run | PostgreSQL / moto CPU per run | client retries |"
        )
        print("|---|---|---|---|---|---|---|")
        print(
            f"| floor: `cp -r` of the runs | {runs / r['cp_s']:.0f} | {mb / r['cp_s']:.0f} | | | | |"
        )
        print(
            f"| floor: bare PUT of the files to moto, {w['clients']} threads "
            f"| {runs / r['put_s']:.1f} | {mb / r['put_s']:.1f} | | | | |"
        )
        for name, b in r["backends"].items():
            cpu = b["cpu_ms_per_run"]
            services = f"{cpu['postgresql']:.1f} / {cpu['moto']:.1f} ms" if "moto" in cpu else "—"
            print(
                f"| {name} | {b['runs'] / b['wall_s']:.1f} | {b['bytes'] / 1e6 / b['wall_s']:.1f} "
                f"| {b['commit_ms']:.0f} / {b['commit_p95_ms']:.0f} ms | {cpu['server']:.1f} ms "
                f"| {services} | {b['retries']} |"
            )
    last = next(r for r in results if r["workload"]["name"] == "small")["backends"]
    print(
        "\nUI reads after the small workload's sync (one keep-alive connection; median latency, server CPU per request):\n"
    )
    print("| read | " + " | ".join(last) + " |")
    print("|---|" + "---|" * len(last))
    for what in next(iter(last.values()))["reads"]:
        cells = [
            f"{b['reads'][what]['ms']:.2f} ms, {b['reads'][what]['cpu_ms']:.2f} ms CPU"
            for b in last.values()
        ]
        print(f"| {what} | " + " | ".join(cells) + " |")
    bulk = next(r for r in results if r["workload"]["name"] == "bulk")
    bulk_mb_per_run = bulk["mb"] / (bulk["workload"]["clients"] * bulk["workload"]["runs"])
    print(f"\nDerived, one replica at {HEADROOM:.0%} of one core (extrapolated):\n")
    for name, b in last.items():
        per_run = b["cpu_ms_per_run"]["server"] / 1000
        per_mb = bulk["backends"][name]["cpu_ms_per_run"]["server"] / 1000 / bulk_mb_per_run
        poll = b["reads"]["page poll with ETag (304)"]["cpu_ms"] / 1000
        print(
            f"- {name}: {HEADROOM / per_run:.0f} synced small runs/s, or {HEADROOM / per_mb:.0f} MB/s "
            f"of bulk sync, or {HEADROOM / poll:.0f} page polls/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a smoke run)")
    parser.add_argument("--repeat", type=int, default=200, help="requests per UI read kind")
    parser.add_argument("--pg-fsync-off", action="store_true", help="as the tests' cluster")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        workloads = [
            Workload("sequential", 1, 8, 2_000, workers=1),
            Workload("small", 4, 4, 2_000),
            Workload("bulk", 2, 1, 200_000),
        ]
    else:
        workloads = [
            Workload("sequential", 1, 32, 2_000, workers=1),  # commit latency, no queueing
            Workload("small", 8, 32, 2_000),  # commits: runs/s and CPU per synced run
            Workload("bulk", 8, 4, 1_000_000),  # bytes: MB/s
        ]
    results = []
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="lt-bench-backends-") as tmp,
        throwaway_cluster() as cluster,
        moto_server() as moto_port,
    ):
        if not args.pg_fsync_off:
            durable(cluster)
        for work in workloads:
            results.append(
                run_workload(work, Path(tmp) / work.name, cluster, moto_port, args.repeat)
            )
    machine = (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load_before[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    if args.json:
        print(json.dumps({"machine": machine, "workloads": results}, indent=1))
    else:
        print(machine)
        print_tables(results)


if __name__ == "__main__":
    main()
