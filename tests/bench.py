"""``just bench``: the job path under load, everything on this machine.

For each broker (RabbitMQ, then the in-process one), against the real PostgreSQL:

1. Throughput: N pipelines of 3 sequential no-op stages are submitted, then raw-HTTP worker
   processes pull and ack in batches until every pipeline completes. Completed stage jobs
   per second = 3N / drain time.
2. Latency under steady load: pipelines are submitted open-loop at shares of that throughput
   (10%, 25% and 50% by default) and at half the throughput target; dispatch latency (stage
   queued -> claimed by a worker) and pipeline end-to-end time are read from the database's
   own timestamps.

The report ends with the targets: at least 1,800 stage jobs/s, and a dispatch p50 under 5 ms
at half that load (900 jobs/s), each met or not on this run.

Peak memory (VmHWM) of every process is read from /proc at the end. Numbers depend on the
machine; compare them as ratios, on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import multiprocessing
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
import msgspec

from tests.processes import delete_queues, free_port, wait_ready
from worker_sdk.worker import MAX_RESULTS_PER_ACK

ADMIN_DSN = os.environ.get(
    "PIPELOGIQ_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AMQP_URL = os.environ.get("PIPELOGIQ_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
HANDLER = "noop"
# The job path's targets on a 2-core machine: throughput, and dispatch p50 at half of it.
TARGET_JOBS_PER_SECOND = 1800.0
TARGET_DISPATCH_P50_MS = 5.0
LOG_DIR = Path(".pipelogiq/bench-logs")


def peak_rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids_named(name: str) -> list[int]:
    found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]


def cpu_by_part(plane: ControlPlane, workers: list[Any]) -> dict[str, float]:
    """CPU seconds used so far, by part of the system: each control-plane process, the raw
    workers together, PostgreSQL's processes and RabbitMQ's."""
    parts = {name: cpu_seconds(p.pid) for name, p in plane.processes.items()}
    parts["http-workers"] = sum(cpu_seconds(p.pid) for p in workers if p.pid)
    parts["postgres"] = sum(cpu_seconds(pid) for pid in pids_named("postgres"))
    parts["rabbitmq"] = sum(cpu_seconds(pid) for pid in pids_named("beam.smp"))
    return parts


# -- raw HTTP workers (separate processes) -----------------------------------------------


def worker_process(
    base: str, key: str, loops: int, batch: int, go: Any, stop: Any, ready: Any
) -> None:
    asyncio.run(_worker_main(base, key, loops, batch, go, stop, ready))


def _session(base: str, key: str, connections: int) -> aiohttp.ClientSession:
    """The load driver's HTTP client.

    aiohttp with msgspec costs a fraction of the CPU httpx does per request; on a machine the
    driver shares with the system under test, every cycle it spends is taken from the system.
    """
    return aiohttp.ClientSession(
        base,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=60),
    )


async def _post(session: aiohttp.ClientSession, path: str, body: Any) -> Any:
    async with session.post(path, data=msgspec.json.encode(body)) as response:
        content = await response.read()
        if response.status >= 300:
            raise RuntimeError(f"{path} answered {response.status}: {content[:300]!r}")
        return msgspec.json.decode(content)


async def _worker_main(
    base: str, key: str, loops: int, batch: int, go: Any, stop: Any, ready: Any
) -> None:
    """Pull loops that hand their jobs to one ack loop, as the SDK worker does: a pull waits
    at the control plane while the last batch is being acked, so a job that is published
    finds a puller already waiting and dispatch latency measures the control plane, not the
    worker's own round trips."""
    pull = {"handlers": [HANDLER], "maxJobs": batch, "waitSeconds": 0.5}
    done: list[dict[str, str]] = []
    finished = asyncio.Event()
    async with _session(base, key, loops + 1) as session:
        ready.set()

        async def pull_loop() -> None:
            while not stop.is_set():
                if not go.is_set():  # held back while a backlog is being built
                    await asyncio.sleep(0.01)
                    continue
                try:
                    jobs = (await _post(session, "/jobs/pull", pull))["jobs"]
                except RuntimeError as error:
                    print(error, flush=True)
                    await asyncio.sleep(0.1)
                    continue
                done.extend({"jobId": j["jobId"], "status": "completed"} for j in jobs)
                if jobs:
                    finished.set()

        async def ack_loop() -> None:
            while not stop.is_set() or done:
                if not done:
                    finished.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(finished.wait(), 0.1)
                    continue
                results = done[:MAX_RESULTS_PER_ACK]
                del done[: len(results)]
                await _post(session, "/jobs/ack", {"results": results})

        await asyncio.gather(*(pull_loop() for _ in range(loops)), ack_loop())


def sdk_worker_process(base: str, key: str, concurrency: int) -> None:
    """A worker built with the SDK, serving the same no-op handler; stops on SIGTERM."""
    from worker_sdk import JobContext, Worker

    worker = Worker(base, key, name="bench-sdk", concurrency=concurrency, poll_seconds=0.5)

    @worker.handler(HANDLER)
    async def noop(ctx: JobContext, _: Any) -> None:
        return None

    worker.run()


# -- the control plane under test ----------------------------------------------------------

PORTS = ("PIPELOGIQ_EXTERNAL_PORT", "PIPELOGIQ_INTERNAL_PORT", "PIPELOGIQ_METRICS_PORT")


@dataclass
class ControlPlane:
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with open(LOG_DIR / f"{name}.log", "wb") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "pipelogiq.cli", *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def peaks(self) -> dict[str, float | None]:
        return {name: peak_rss_mib(p.pid) for name, p in self.processes.items()}

    def stop(self) -> None:
        for proc in self.processes.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def fresh_database(name: str) -> str:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return ADMIN_DSN.rpartition("/")[0] + f"/{name}"


PIPELINE = {
    "name": "bench",
    "stages": [{"name": f"s{i}", "handler": HANDLER} for i in range(3)],
}


async def submit(client: httpx.AsyncClient, count: int, concurrency: int = 16) -> None:
    remaining = iter(range(count))

    async def submitter() -> None:
        for _ in remaining:
            response = await client.post("/pipelines", json=PIPELINE)
            response.raise_for_status()

    await asyncio.gather(*(submitter() for _ in range(concurrency)))


def submitter_process(
    bases: list[str], key: str, per_second: float, seconds: float, window: Any, out: Any
) -> None:
    out.put(asyncio.run(_submit_at_rate(bases, key, per_second, seconds, window)))


async def _submit_at_rate(
    bases: list[str], key: str, per_second: float, seconds: float, window: Any
) -> tuple[int, float, float]:
    """Open-loop load: submissions start on schedule whether or not earlier ones returned,
    taking turns among the API processes. Sets ``window``'s events as sending starts and
    ends; returns (submitted, per second, this process's CPU seconds while sending)."""
    loop = asyncio.get_running_loop()
    sent = 0
    pending: set[asyncio.Task[Any]] = set()
    started, ended = window
    async with contextlib.AsyncExitStack() as stack:
        sessions = [
            await stack.enter_async_context(_session(base, key, _MAX_IN_FLIGHT)) for base in bases
        ]
        started.set()
        cpu_before, start = cpu_seconds(os.getpid()), loop.time()
        while loop.time() - start < seconds:
            due = int((loop.time() - start) * per_second) + 1
            # Past this many in flight the system is not keeping up; sending more would only
            # measure the client's queue. The achieved rate is reported.
            while sent < due and len(pending) < _MAX_IN_FLIGHT:
                session = sessions[sent % len(sessions)]
                task = asyncio.create_task(_post(session, "/pipelines", PIPELINE))
                pending.add(task)
                task.add_done_callback(pending.discard)
                sent += 1
            await asyncio.sleep(0.002)
        elapsed, cpu = loop.time() - start, cpu_seconds(os.getpid()) - cpu_before
        ended.set()
        await asyncio.gather(*pending)
    return sent, sent / elapsed, cpu


_MAX_IN_FLIGHT = 200


@dataclass
class SteadyLoad:
    submitted: int
    per_second: float
    # Cores each part kept busy on average while the load was being sent.
    cores: dict[str, float]


def submit_at_rate(
    ctx: Any,
    bases: list[str],
    key: str,
    per_second: float,
    args: argparse.Namespace,
    cpu_now: Callable[[], dict[str, float]],
) -> SteadyLoad:
    """Submit open-loop from a separate process, reading what each part spent meanwhile."""
    out = ctx.Queue()
    window = (ctx.Event(), ctx.Event())
    process = ctx.Process(
        target=submitter_process,
        args=(bases, key, per_second, args.latency_seconds, window, out),
    )
    process.start()
    try:
        window[0].wait(60)
        before, start = cpu_now(), time.monotonic()
        window[1].wait(args.latency_seconds + 60)
        after, elapsed = cpu_now(), time.monotonic() - start
        submitted, achieved, submitter_cpu = out.get(timeout=args.latency_seconds + 120)
    finally:
        process.join(10)
    cores = {part: (after[part] - before.get(part, 0.0)) / elapsed for part in after}
    cores["submitter"] = submitter_cpu / elapsed
    return SteadyLoad(submitted, achieved, cores)


async def wait_all_completed(dsn: str, expected: int, within: float) -> float:
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            done = await connection.fetchval(
                "SELECT count(*) FROM pipelines WHERE status = 'completed'"
            )
            if done >= expected:
                return time.monotonic()
            await asyncio.sleep(0.05)
        raise SystemExit(f"only {done} of {expected} pipelines completed in {within} s")
    finally:
        await connection.close()


_PERCENTILES = """
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) * 1000 AS p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY v) * 1000 AS p99
FROM (SELECT extract(epoch FROM {expr}) AS v FROM {table} WHERE {where}) t
"""


async def latencies(dsn: str, since: float) -> dict[str, float]:
    connection = await asyncpg.connect(dsn)
    try:
        where = f"created_at >= to_timestamp({since})"
        dispatch = await connection.fetchrow(
            _PERCENTILES.format(expr="started_at - queued_at", table="stages", where=where)
        )
        end_to_end = await connection.fetchrow(
            _PERCENTILES.format(expr="finished_at - created_at", table="pipelines", where=where)
        )
    finally:
        await connection.close()
    return {
        "dispatch_p50_ms": dispatch["p50"],
        "dispatch_p99_ms": dispatch["p99"],
        "pipeline_p50_ms": end_to_end["p50"],
        "pipeline_p99_ms": end_to_end["p99"],
    }


async def loop_lag(metrics_port: str) -> dict[str, float]:
    """The built-in worker's ``pipelogiq_event_loop_lag_*`` metrics, as they stand."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("pipelogiq_event_loop_lag"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def loop_stalls(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """How long the built-in worker's event loop was held while the steady loads ran (its
    50 ms ticks woken 25 ms and 100 ms late or more), and the longest stall of the whole run
    (the process keeps only its maximum). Every later stage is queued and published from that
    loop: a stall there is dispatch latency."""

    def between(name: str) -> float:
        return after[name] - before[name]

    ticks = between("pipelogiq_event_loop_lag_seconds_count")
    bucket = 'pipelogiq_event_loop_lag_seconds_bucket{le="%s"}'
    return {
        "longest_ms": after["pipelogiq_event_loop_lag_max_seconds"] * 1000,
        "late_share": (ticks - between(bucket % "0.025")) / ticks if ticks else 0.0,
        "late_100ms": ticks - between(bucket % "0.1"),
    }


async def never_answering() -> asyncio.Server:
    """A server that takes connections and never answers: an alert channel that is down
    the slow way (a timeout each time, not a refusal)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    return await asyncio.start_server(hold, "127.0.0.1", 0)


# Webhook channels at $1, $2 of them, in the only application; a rule sending to all of them;
# and $3 alerts of it opened, each with a delivery due to every channel.
_DEAD_CHANNELS = """
WITH app AS (SELECT id FROM applications LIMIT 1),
channels AS (
    INSERT INTO alert_channels (application_id, name, type, config, rate_limit_per_minute)
    SELECT app.id, 'dead-' || n, 'webhook', jsonb_build_object('url', $1::text), 1000
    FROM app, generate_series(1, $2) n
    RETURNING id, application_id
),
rule AS (
    INSERT INTO alert_rules (application_id, name, condition, condition_type, channel_ids)
    SELECT app.id, 'bench', '{"type": "pipeline_failed"}', 'pipeline_failed',
           (SELECT array_agg(id) FROM channels)
    FROM app RETURNING id, application_id, name
),
alerts AS (
    INSERT INTO alerts (application_id, rule_id, rule_name, condition_type, severity,
                        subject_kind, subject_key, subject_name, summary)
    SELECT rule.application_id, rule.id, rule.name, 'pipeline_failed', 'warning', 'pipeline',
           'p' || n, 'p' || n, 'pipeline p' || n || ' failed'
    FROM rule, generate_series(1, $3) n
    RETURNING id
),
events AS (
    INSERT INTO alert_events (alert_id, kind) SELECT id, 'opened' FROM alerts RETURNING id
)
INSERT INTO alert_deliveries (event_id, channel_id, application_id)
SELECT events.id, channels.id, channels.application_id FROM events, channels
"""


async def dead_channels(dsn: str, url: str, channels: int) -> None:
    db = await asyncpg.connect(dsn)
    try:
        await db.execute(_DEAD_CHANNELS, url, channels, 100)
    finally:
        await db.close()


async def run_one(broker: str, args: argparse.Namespace) -> dict[str, Any]:
    dsn = await fresh_database(f"pipelogiq_bench_{broker}")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AMQP_URL")}
    env.update(
        DATABASE_URL=dsn,
        PIPELOGIQ_EXTERNAL_PORT=str(free_port()),
        PIPELOGIQ_INTERNAL_PORT=str(free_port()),
        PIPELOGIQ_METRICS_PORT=str(free_port()),
        PIPELOGIQ_LOG_LEVEL="WARNING",
        PIPELOGIQ_JWT_SECRET=secrets.token_urlsafe(48),
    )
    plane = ControlPlane()
    hole = None
    if args.dead_channels:
        hole = await never_answering()
        env.update(PIPELOGIQ_ALERTS_ALLOW="127.0.0.0/8", PIPELOGIQ_ALERT_SEND_TIMEOUT_SECONDS="10")
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    bases = [f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"]
    if broker == "rabbitmq":
        env.update(AMQP_URL=AMQP_URL, PIPELOGIQ_AMQP_PREFIX=prefix)
        # --replicas N: N API processes and N built-in workers, each on ports of its own;
        # the raw-HTTP workers spread over the APIs.
        for n in range(1, args.replicas + 1):
            replica_env = env if n == 1 else {**env, **{port: str(free_port()) for port in PORTS}}
            suffix = "" if args.replicas == 1 else f"-{n}"
            plane.start(f"api{suffix}", ["api"], replica_env)
            plane.start(f"worker{suffix}", ["worker"], replica_env)
            if n > 1:
                bases.append(f"http://127.0.0.1:{replica_env['PIPELOGIQ_EXTERNAL_PORT']}")
    else:
        plane.start("dev", ["dev"], env)
    base = bases[0]
    workers: list[multiprocessing.Process] = []
    ctx = multiprocessing.get_context("spawn")
    stop, go = ctx.Event(), ctx.Event()
    go.set()
    try:
        for each in bases:
            wait_ready(f"{each}/readyz")
        created = subprocess.run(  # noqa: ASYNC221 - nothing else runs yet
            [sys.executable, "-m", "pipelogiq.cli", "create-app", f"bench-{broker}"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        key = created.stdout.strip().splitlines()[-1]
        if hole is not None:
            port = hole.sockets[0].getsockname()[1]
            await dead_channels(dsn, f"http://127.0.0.1:{port}/hook", args.dead_channels)
        async with httpx.AsyncClient(
            base_url=base,
            headers={"X-API-Key": key},
            timeout=httpx.Timeout(60, pool=None),
            limits=httpx.Limits(max_connections=200),
        ) as client:
            # Warm up: queues, consumers and connections exist before anything is timed.
            await submit(client, 20)
            for n in range(args.workers):
                ready = ctx.Event()
                process = ctx.Process(
                    target=worker_process,
                    args=(bases[n % len(bases)], key, args.loops, args.batch, go, stop, ready),
                )
                process.start()
                ready.wait(30)
                workers.append(process)
            await wait_all_completed(dsn, 20, 60)

            # Phase 1: build a backlog of N pipelines with the workers held back, then let
            # them drain it as fast as the system can take it.
            go.clear()
            await asyncio.sleep(1)  # pulls in flight return empty and see the pause
            print(f"[{broker}] submitting {args.pipelines} pipelines ...", flush=True)
            backlog_since = time.time()
            submit_began = time.monotonic()
            await submit(client, args.pipelines)
            started = time.monotonic()
            submit_rate = args.pipelines / (started - submit_began)
            print(f"[{broker}] submitted {submit_rate:,.0f} pipelines/s (16 at once)", flush=True)
            cpu_before = cpu_by_part(plane, workers)
            go.set()
            await wait_all_completed(dsn, args.pipelines + 20, 600)
            cpu_after = cpu_by_part(plane, workers)
            throughput = await drain_rate(dsn, backlog_since, args.pipelines)
            print(f"[{broker}] {throughput:,.0f} stage jobs/s", flush=True)
            jobs = 3 * args.pipelines
            cpu_per_1000 = {
                part: (cpu_after[part] - cpu_before.get(part, 0.0)) * 1000 / jobs
                for part in cpu_after
            }

            # Phase 2: steady loads, for latency, each run until its pipelines complete.
            metrics_port = env["PIPELOGIQ_METRICS_PORT"]
            lag_before = await loop_lag(metrics_port) if broker == "rabbitmq" else {}
            rates = args.latency_jobs_per_second or sorted(
                [throughput * f for f in args.latency_loads] + [args.target_jobs_per_second / 2]
            )
            loads = []
            expected = args.pipelines + 20
            for jobs_per_second in rates:
                since = time.time()
                steady = await asyncio.to_thread(
                    submit_at_rate,
                    ctx,
                    bases,
                    key,
                    jobs_per_second / 3,
                    args,
                    lambda: cpu_by_part(plane, workers),
                )
                expected += steady.submitted
                await wait_all_completed(dsn, expected, 300)
                load = {
                    "target": jobs_per_second,
                    "achieved": steady.per_second * 3,
                    "cores": steady.cores,
                    **await latencies(dsn, since),
                }
                print(
                    f"[{broker}] at {load['achieved']:,.0f} jobs/s: dispatch p50 "
                    f"{load['dispatch_p50_ms']:.1f} ms",
                    flush=True,
                )
                loads.append(load)
            result = {
                "broker": broker,
                "jobs_per_second": throughput,
                "submitted_per_second": submit_rate,
                "loads": loads,
                "cpu_per_1000_jobs": cpu_per_1000,
            }
            if broker == "rabbitmq":
                lag_after = await loop_lag(metrics_port)
                result["worker_loop"] = loop_stalls(lag_before, lag_after)

            # Phase 3: the same backlog drained by SDK workers with as many jobs in flight.
            # Phase 3: the same backlog drained by SDK workers with as many jobs in flight,
            # then by the raw-HTTP workers once more, so that neither gains from going second
            # (by then the tables are analysed and the caches warm).
            if args.sdk and broker == args.brokers[0]:
                go.clear()
                await asyncio.sleep(1)
                sdk = await sdk_drain(ctx, client, dsn, base, key, expected, args)
                expected += args.pipelines
                print(f"[{broker}] SDK workers: {sdk:,.0f} stage jobs/s", flush=True)
                since = time.time()
                await submit(client, args.pipelines)
                go.set()
                expected += args.pipelines
                await wait_all_completed(dsn, expected, 600)
                raw_again = await drain_rate(dsn, since, args.pipelines)
                print(f"[{broker}] raw-HTTP workers again: {raw_again:,.0f} stage jobs/s")
                result["sdk"] = {"sdk": sdk, "raw_before": throughput, "raw_after": raw_again}
    finally:
        if hole is not None:
            hole.close()
        peaks = plane.peaks()
        worker_peaks = [peak_rss_mib(p.pid) for p in workers if p.pid]
        stop.set()
        for process in workers:
            process.join(10)
        plane.stop()
        if broker == "rabbitmq":
            await delete_queues(
                AMQP_URL, prefix, [f"bench-{broker}.stage.{HANDLER}", "stage.results"]
            )
    result["peak_rss_mib"] = {
        **peaks,
        "http-workers (each, max)": max((p for p in worker_peaks if p), default=None),
    }
    return result


async def sdk_drain(
    ctx: Any,
    client: httpx.AsyncClient,
    dsn: str,
    base: str,
    key: str,
    completed_before: int,
    args: argparse.Namespace,
) -> float:
    """Submit a backlog and let SDK workers drain it; stage jobs per second."""
    since = time.time()
    await submit(client, args.pipelines)
    concurrency = args.loops * args.batch  # the raw workers' jobs in flight per process
    sdk_workers = [
        ctx.Process(target=sdk_worker_process, args=(base, key, concurrency))
        for _ in range(args.workers)
    ]
    for process in sdk_workers:
        process.start()
    try:
        await wait_all_completed(dsn, completed_before + args.pipelines, 600)
    finally:
        for process in sdk_workers:
            if process.pid:
                os.kill(process.pid, signal.SIGTERM)
        for process in sdk_workers:
            process.join(30)
    return await drain_rate(dsn, since, args.pipelines)


async def drain_rate(dsn: str, since: float, pipelines: int) -> float:
    """Stage jobs per second of the pipelines created since ``since``, by the database clock:
    from their first claim to their last pipeline finished, so worker start-up and the
    driver's polling are not counted."""
    connection = await asyncpg.connect(dsn)
    try:
        seconds = await connection.fetchval(
            """
            SELECT extract(epoch FROM max(p.finished_at) - min(s.started_at))
            FROM pipelines p JOIN stages s ON s.pipeline_id = p.id
            WHERE p.created_at >= to_timestamp($1)
            """,
            since,
        )
    finally:
        await connection.close()
    return 3 * pipelines / float(seconds)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        f"machine: {os.cpu_count()} cores; {args.pipelines} pipelines x 3 stages; "
        f"{args.workers} worker processes x {args.loops} pull loops, batches of {args.batch}; "
        f"{args.replicas} API and built-in worker process(es) each"
    )
    print(f"{'broker':<10}{'jobs/s':>10}{'submits/s':>11}")
    for r in results:
        print(f"{r['broker']:<10}{r['jobs_per_second']:>10,.0f}{r['submitted_per_second']:>11,.0f}")
    print()
    print("latency under steady load (pipelines submitted open-loop; stage jobs per second)")
    print(
        f"{'broker':<10}{'load':>6}{'jobs/s':>9}{'dispatch p50':>14}{'p99':>9}"
        f"{'pipeline p50':>14}{'p99':>9}"
    )
    for r in results:
        for load in r["loads"]:
            share = load["achieved"] / r["jobs_per_second"]
            print(
                f"{r['broker']:<10}{share:>6.0%}{load['achieved']:>9,.0f}"
                f"{load['dispatch_p50_ms']:>12.1f}ms{load['dispatch_p99_ms']:>7.1f}ms"
                f"{load['pipeline_p50_ms']:>12.1f}ms{load['pipeline_p99_ms']:>7.1f}ms"
            )
    print("load: the achieved rate as a share of the throughput above")
    for r in results:
        for load in r["loads"]:
            cores = ", ".join(f"{part} {used:.2f}" for part, used in load["cores"].items())
            print(f"cores busy [{r['broker']}] at {load['achieved']:,.0f} jobs/s: {cores}")
    for r in results:
        if "sdk" in r:
            sdk, before, after = r["sdk"]["sdk"], r["sdk"]["raw_before"], r["sdk"]["raw_after"]
            print()
            print(
                f"SDK workers [{r['broker']}]: {sdk:,.0f} stage jobs/s; raw HTTP {before:,.0f} "
                f"before and {after:,.0f} after; SDK / raw = {2 * sdk / (before + after):.2f} "
                "(same jobs in flight)"
            )
    for r in results:
        peaks = ", ".join(f"{name} {mib:.0f} MiB" for name, mib in r["peak_rss_mib"].items() if mib)
        print(f"peak memory [{r['broker']}]: {peaks}")
        if "worker_loop" in r:
            stalls = r["worker_loop"]
            print(
                f"built-in worker's event loop [{r['broker']}]: under the steady loads "
                f"{stalls['late_share']:.2%} of its ticks 25 ms late or more, "
                f"{stalls['late_100ms']:.0f} 100 ms late or more; longest stall of the run "
                f"{stalls['longest_ms']:.0f} ms"
            )
    for r in results:
        cpu = r["cpu_per_1000_jobs"]
        parts = ", ".join(f"{part} {seconds:.2f}" for part, seconds in cpu.items())
        print(
            f"CPU seconds per 1,000 stage jobs while draining [{r['broker']}]: {parts}; "
            f"in all {sum(cpu.values()):.2f}"
        )
    for r in results:
        print(f"targets [{r['broker']}]: {targets(r, args.target_jobs_per_second)}")


def targets(result: dict[str, Any], target_jobs_per_second: float) -> str:
    """One broker's run against the targets: throughput, and dispatch p50 at half of it."""
    throughput = result["jobs_per_second"]
    met = "met" if throughput >= target_jobs_per_second else "not met"
    verdict = f"{throughput:,.0f} stage jobs/s (>= {target_jobs_per_second:,.0f}: {met})"
    half = target_jobs_per_second / 2
    at_half = [load for load in result["loads"] if math.isclose(load["target"], half)]
    if not at_half:
        return f"{verdict}; dispatch at {half:,.0f} jobs/s not measured"
    p50 = at_half[0]["dispatch_p50_ms"]
    met = "met" if p50 < TARGET_DISPATCH_P50_MS else "not met"
    return (
        f"{verdict}; dispatch p50 {p50:.1f} ms at {at_half[0]['achieved']:,.0f} jobs/s "
        f"(< {TARGET_DISPATCH_P50_MS:.0f} ms at {half:,.0f}: {met})"
    )


def _rates(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="raw-HTTP worker processes")
    parser.add_argument("--loops", type=int, default=4, help="pull loops per worker process")
    parser.add_argument("--batch", type=int, default=100, help="maxJobs per pull")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument(
        "--latency-loads",
        type=_rates,
        default=[0.1, 0.25, 0.5],
        help="steady loads for latency, as shares of the throughput (default 0.1,0.25,0.5)",
    )
    parser.add_argument(
        "--latency-jobs-per-second",
        type=_rates,
        help="steady loads for latency in stage jobs per second, instead of shares",
    )
    parser.add_argument(
        "--target-jobs-per-second",
        type=float,
        default=TARGET_JOBS_PER_SECOND,
        help="the throughput target; the steady loads include half of it, where dispatch p50 "
        f"should be under {TARGET_DISPATCH_P50_MS:.0f} ms (default {TARGET_JOBS_PER_SECOND:.0f})",
    )
    parser.add_argument("--broker", choices=["rabbitmq", "memory", "both"], default="both")
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="API processes and built-in workers each (RabbitMQ only; default 1)",
    )
    parser.add_argument(
        "--dead-channels",
        type=int,
        default=0,
        help="alert channels that never answer, each with 100 notifications due all along: "
        "the job path's figures should not move (default 0)",
    )
    parser.add_argument(
        "--no-sdk",
        dest="sdk",
        action="store_false",
        help="skip draining a backlog with SDK workers (done on the first broker)",
    )
    args = parser.parse_args()
    args.brokers = ["rabbitmq", "memory"] if args.broker == "both" else [args.broker]
    results = [asyncio.run(run_one(broker, args)) for broker in args.brokers]
    report(results, args)


if __name__ == "__main__":
    main()
