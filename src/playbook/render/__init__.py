"""Renderers: turn results into text for people and formats for tools.

:mod:`playbook.render.diagnostics` renders validation diagnostics as compiler
style text, JSON, GitHub workflow commands or SARIF. Modules are imported on
demand so that a command pays only for the renderer it uses.
"""
