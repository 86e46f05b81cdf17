"""Tools for playbook authors.

Scenarios and coverage, diff and impact, migrate, graphs, handbooks, paths and
scaffold.
"""
