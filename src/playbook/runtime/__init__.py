"""Deciding on deals.

Deal state, the engine and its reasons, gates and the working calendar: pure
code, no I/O and no clock.
"""
