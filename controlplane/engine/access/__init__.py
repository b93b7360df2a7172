"""Who may do what: users and sessions, applications and their API keys, the audit log."""
