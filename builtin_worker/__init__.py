"""builtin_worker"""
