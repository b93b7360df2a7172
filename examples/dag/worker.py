"""Fan-out and fan-in: split a list, square each half in parallel, sum the squares.

python examples/dag/worker.py
"""

import asyncio
import os

from worker_sdk import JobContext, Worker

worker = Worker(
    os.environ.get("PIPELOGIQ_URL", "http://127.0.0.1:8081"),
    os.environ["PIPELOGIQ_API_KEY"],
    name="dag",
    concurrency=4,
)


@worker.handler("numbers.split")
def split(ctx: JobContext, numbers: list[int]) -> dict[str, list[int]]:
    middle = len(numbers) // 2
    ctx.set_context("count", len(numbers))
    return {"left": numbers[:middle], "right": numbers[middle:]}


@worker.handler("numbers.square")
async def square(ctx: JobContext, side: str) -> list[int]:
    await asyncio.sleep(0.1)  # async handlers run concurrently on the worker's event loop
    return [n * n for n in ctx.dependencies["split"][side]]


@worker.handler("numbers.sum")
def total(ctx: JobContext, _: None) -> dict[str, int]:
    squares = ctx.dependencies["square_left"] + ctx.dependencies["square_right"]
    return {"sum": sum(squares), "count": ctx.context["count"]}


if __name__ == "__main__":
    worker.run()
