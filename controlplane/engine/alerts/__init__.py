"""Alerts: rules on what happens, the alerts they open once per rule and subject, and the
notifications of each alert's transitions (docs/alerts.md)."""
