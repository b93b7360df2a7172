"""``just bench`` still runs end to end and reports every figure (tiny loads; no speed asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_bench_runs_on_both_brokers_and_reports_every_figure() -> None:
    command = [sys.executable, "-m", "tests.bench", "--pipelines", "30", "--workers", "1"]
    command += ["--latency-jobs-per-second", "30", "--latency-seconds", "1"]
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
