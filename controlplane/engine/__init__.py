"""The engine: every state change of the job path, each one guarded SQL statement.

Imports flow one way: the API and the built-in worker call the engine; the engine uses the
database pool and the broker port; nothing here knows about HTTP.
"""
