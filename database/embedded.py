"""The embedded PostgreSQL (pgserver) used when no DATABASE_URL is set."""

from __future__ import annotations

from pathlib import Path


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or join) the PostgreSQL kept in ``data_dir/postgres``; returns its DSN.

    pgserver shares one server among all processes that use the same directory and stops it
    when the last of them exits, so ``pipelogiq dev`` and ``pipelogiq create-app`` can run side
    by side.
    """
    import pgserver  # imported here: it is only needed in the embedded mode

    pgdata = (data_dir / "postgres").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri()
