"""Pipeline definitions: versions and their review, the file format, schedules, templates."""
