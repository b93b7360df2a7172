"""The internal API (port 8080, under /api): the dashboard's, and operators' scripts'."""
