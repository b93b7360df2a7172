"""The composition root: the ``pipelogiq`` command line and the wiring of its processes.

It stands above the parts it starts — ``controlplane`` (both APIs), ``builtin_worker`` and
``database`` — and nothing below imports it.
"""
