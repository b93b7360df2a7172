"""Submit three one-stage pipelines and show how each ended: python examples/retries/submit.py"""

import os

from worker_sdk import Client

quick_retries = {"maxRetries": 3, "retryBackoff": "fixed", "retryBackoffSeconds": 0.2}
pipelines = {
    "flaky": {"name": "flaky", "handler": "demo.flaky", **quick_retries},
    "invalid": {"name": "invalid", "handler": "demo.invalid", **quick_retries},
    "slow": {"name": "slow", "handler": "demo.slow", "input": 30, "timeoutSeconds": 1},
}
with Client(
    os.environ.get("PIPELOGIQ_URL", "http://127.0.0.1:8081"), os.environ["PIPELOGIQ_API_KEY"]
) as client:
    ids = {
        name: client.create_pipeline({"name": name, "stages": [stage]}).id
        for name, stage in pipelines.items()
    }
    for name, pipeline_id in ids.items():
        stage = client.wait(pipeline_id, timeout=60).stages[0]
        outcome = stage.output if stage.status == "completed" else stage.error["code"]
        print(f"{name}: {stage.status} after {stage.attempt} attempt(s): {outcome}")
