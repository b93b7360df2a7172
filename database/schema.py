"""``database/schema.sql``: the whole schema as the migrations leave it, in one file to read.

Nobody should read fifteen migrations to learn what ``stages`` holds. The file is made by
migrating an empty database and dumping its schema (``just schema``); a test migrates one
the same way and fails when the file is out of date.

    python -m database.schema postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from database.migrator import migrate

SCHEMA_FILE = Path(__file__).with_name("schema.sql")

HEADER = """\
-- The schema as database/migrations/ leave it: generated, not applied (`just schema` makes
-- it again; tests/test_migrations.py fails when it is out of date). The day partitions of
-- stage_logs and worker_events are made by the built-in worker, and left out.
"""

# What differs between two dumps of the same schema: pg_dump's comments and settings, the
# random keys of its \\restrict lines, and the day partitions made when a database is new.
_NOISE = re.compile(r"^(--|SET |SELECT pg_catalog\.set_config|\\(un)?restrict )")
_DAY_PARTITIONS = ("stage_logs_p2*", "worker_events_p2*")


def _normalized(dump: str) -> str:
    lines = [line for line in dump.splitlines() if not _NOISE.match(line)]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return HEADER + "\n" + text + "\n"


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


async def current_schema(admin_dsn: str) -> str:
    """Migrate a new, empty database and dump its schema, normalized."""
    name = f"pipelogiq_schema_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            dsn = _with_database(admin_dsn, name)
            await migrate(dsn)
            excluded = [f"--exclude-table={pattern}" for pattern in _DAY_PARTITIONS]
            dump = await asyncio.to_thread(
                subprocess.run,
                ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", *excluded, dsn],
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    return _normalized(dump.stdout)


def main() -> None:
    admin_dsn = (
        sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    SCHEMA_FILE.write_text(asyncio.run(current_schema(admin_dsn)))
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
