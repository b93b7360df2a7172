"""Hello world: a worker with one typed handler.

export PIPELOGIQ_API_KEY=plq_...        # from `just create-app demo`
python examples/hello/worker.py         # or: pipelogiq-worker examples.hello.worker:worker
"""

import os

import msgspec

from worker_sdk import JobContext, Worker

worker = Worker(
    os.environ.get("PIPELOGIQ_URL", "http://127.0.0.1:8081"),
    os.environ["PIPELOGIQ_API_KEY"],
    name="hello",
)


class Person(msgspec.Struct):
    name: str
    language: str = "en"


@worker.handler("hello.greet")
def greet(ctx: JobContext, person: Person) -> dict[str, str]:
    ctx.log.info("greeting %s", person.name)
    word = {"en": "Hello", "fr": "Bonjour", "de": "Hallo"}.get(person.language, "Hello")
    return {"greeting": f"{word}, {person.name}!"}


if __name__ == "__main__":
    worker.run()
