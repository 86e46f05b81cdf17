"""playbook: declarative YAML sales playbooks, validated and enforced on deals.

The public API is imported lazily (PEP 562): ``import playbook`` costs almost
nothing, and ``playbook validate`` never loads the engine or the database layer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from playbook.errors import *  # noqa: F403  (the error tree is part of the public API)
from playbook.errors import __all__ as _error_names

if TYPE_CHECKING:
    from playbook.diagnostics import Diagnostic as Diagnostic

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Diagnostic": "playbook.diagnostics",
}

__all__ = [*_error_names, *_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'playbook' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
