"""The database layer: migrations, the connection pool and the embedded PostgreSQL."""
