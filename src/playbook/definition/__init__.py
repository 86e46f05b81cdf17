"""Reading a playbook.

Strict YAML with positions, the JSON Schema, building the model, lint passes
and ``validate``.
"""
