"""worker_sdk"""
