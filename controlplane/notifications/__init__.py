"""Sending alert notifications: what each channel is sent, and the built-in worker's round.

The engine records what is to be sent (:mod:`controlplane.engine.alerts.deliveries`); this
district renders each message for its channel (``messages``), sends it (``senders``) and
records how it went (``round``).
"""
