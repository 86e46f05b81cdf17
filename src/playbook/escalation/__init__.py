"""Escalations.

Pure due-time rules, the SQL sweep, the outbox, list/ack/snooze, sinks and the
worker.
"""
