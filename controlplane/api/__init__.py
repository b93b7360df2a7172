"""The HTTP APIs: external (workers and applications) and internal (dashboard, operators)."""
