"""Submit the fan-out/fan-in pipeline: python examples/dag/submit.py 1 2 3 4 5"""

import os
import sys

from worker_sdk import Client, PipelineSpec

numbers = [int(n) for n in sys.argv[1:]] or list(range(1, 11))
spec = PipelineSpec("sum-of-squares")
split = spec.stage("split", "numbers.split", input=numbers)
left = spec.stage("square_left", "numbers.square", input="left", depends_on=[split])
right = spec.stage("square_right", "numbers.square", input="right", depends_on=[split])
spec.stage("sum", "numbers.sum", depends_on=[left, right])

with Client(
    os.environ.get("PIPELOGIQ_URL", "http://127.0.0.1:8081"), os.environ["PIPELOGIQ_API_KEY"]
) as client:
    pipeline = client.wait(client.create_pipeline(spec).id, timeout=60)
    print(pipeline.status, pipeline.stage("sum").output)
