"""Read models behind the dashboard: they change nothing."""
