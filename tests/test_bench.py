"""``just bench`` still runs end to end and reports every figure (tiny loads; no speed asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.bench import targets

ROOT = Path(__file__).resolve().parent.parent


def test_the_bench_runs_on_both_brokers_and_reports_every_figure() -> None:
    command = [sys.executable, "-m", "tests.bench", "--pipelines", "30", "--workers", "1"]
    command += ["--latency-jobs-per-second", "30", "--latency-seconds", "1"]
    command += ["--target-jobs-per-second", "60"]  # so that 30 jobs/s is the target's half
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = done.stdout
    number = r"[\d,]+(\.\d+)?"
    for broker in ("rabbitmq", "memory"):
        assert re.search(rf"^{broker}\s+{number}\s+{number}$", report, re.M), report
        assert re.search(rf"^{broker}\s+\d+%\s+{number}\s+{number}ms\s+{number}ms", report, re.M)
        assert re.search(rf"cores busy \[{broker}\] at {number} jobs/s: .*submitter", report)
        assert f"peak memory [{broker}]" in report
        assert f"CPU seconds per 1,000 stage jobs while draining [{broker}]" in report
        verdict = rf"targets \[{broker}\]: {number} stage jobs/s \(>= 60: (met|not met)\); "
        verdict += rf"dispatch p50 {number} ms at {number} jobs/s \(< 5 ms at 30: (met|not met)\)"
        assert re.search(verdict, report), report
    # The built-in worker runs apart from the API with RabbitMQ: its loop's stalls are read.
    stalls = r"built-in worker's event loop \[rabbitmq\]: under the steady loads [\d.]+% of its "
    stalls += r"ticks 25 ms late or more, \d+ 100 ms late or more; longest stall of the run \d+ ms"
    assert re.search(stalls, report), report
    # The SDK phase runs on the first broker: its ratio against the raw workers is printed.
    assert re.search(rf"SDK workers \[rabbitmq\]: {number} stage jobs/s", report), report


def test_the_polls_bench_reports_each_broker_and_layout() -> None:
    command = [sys.executable, "-m", "tests.bench_polls", "--polls", "20"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for broker in ("rabbitmq", "memory"):
        for where in ("others", "same queue"):
            row = rf"^{broker}\s+20\s+{where}\s+[\d.]+ms\s+[\d.]+ms$"
            assert re.search(row, done.stdout, re.M), done.stdout


def test_the_logs_bench_reports_every_search_and_the_insert_cost() -> None:
    from tests.bench_logs import SEARCHES

    command = [sys.executable, "-m", "tests.bench_logs", "--lines", "20000", "--rounds", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^logs: 20,000 lines made", done.stdout, re.M), done.stdout
    for label, _ in SEARCHES:
        row = rf"^{re.escape(label)}\s+[\d.]+ / +[\d.]+; +\d+\s+[\d.]+ / +[\d.]+; +\d+$"
        assert re.search(row, done.stdout, re.M), done.stdout
    assert re.search(r"^the slowest search: \d+ ms", done.stdout, re.M), done.stdout
    assert "with the word index" in done.stdout


def _run(throughput: float, loads: list[tuple[float, float]]) -> dict[str, Any]:
    return {
        "jobs_per_second": throughput,
        "loads": [
            {"target": rate, "achieved": rate * 0.98, "dispatch_p50_ms": p50} for rate, p50 in loads
        ],
    }


def test_the_targets_are_judged_on_the_load_at_half_the_throughput_target() -> None:
    met = targets(_run(2000, [(200, 9.0), (900, 4.9), (1000, 7.0)]), 1800)
    assert met == (
        "2,000 stage jobs/s (>= 1,800: met); dispatch p50 4.9 ms at 882 jobs/s (< 5 ms at 900: met)"
    )
    missed = targets(_run(1700, [(900, 5.0)]), 1800)
    assert "(>= 1,800: not met)" in missed
    assert "(< 5 ms at 900: not met)" in missed
    assert targets(_run(2000, [(300, 1.0)]), 1800).endswith("dispatch at 900 jobs/s not measured")
