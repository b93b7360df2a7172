"""Where datasets come from besides files: named database connections."""
