"""Submit a one-stage pipeline and wait for its result: python examples/hello/submit.py Ada"""

import os
import sys

from worker_sdk import Client, PipelineSpec

name = sys.argv[1] if len(sys.argv) > 1 else "world"
with Client(
    os.environ.get("PIPELOGIQ_URL", "http://127.0.0.1:8081"), os.environ["PIPELOGIQ_API_KEY"]
) as client:
    spec = PipelineSpec("hello")
    spec.stage("greet", "hello.greet", input={"name": name, "language": "fr"})
    pipeline = client.wait(client.create_pipeline(spec).id, timeout=60)
    print(pipeline.status, pipeline.stage("greet").output["greeting"])
