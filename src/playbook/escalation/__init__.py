"""Escalations.

Pure due-time rules and anchors (``rules``, ``times``), the SQL sweep
(``sweep`` over ``query``, ``candidate`` and ``inserts``), the outbox
(``outbox``), list/ack/snooze (``admin``), sinks and the worker.
"""
