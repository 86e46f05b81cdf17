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
    from playbook.calendar import WorkingCalendar as WorkingCalendar
    from playbook.deals import Actor as Actor
    from playbook.deals import DealState as DealState
    from playbook.diagnostics import Diagnostic as Diagnostic
    from playbook.engine import ActionCompleted as ActionCompleted
    from playbook.engine import Advance as Advance
    from playbook.engine import Decision as Decision
    from playbook.engine import Engine as Engine
    from playbook.engine import NextSteps as NextSteps
    from playbook.engine import Reason as Reason
    from playbook.engine import StageChanged as StageChanged
    from playbook.escalation import SweepReport as SweepReport
    from playbook.escalation import acknowledge as acknowledge
    from playbook.escalation import list_escalations as list_escalations
    from playbook.escalation import snooze as snooze
    from playbook.escalation import sweep as sweep
    from playbook.kpi import compute_kpis as compute_kpis
    from playbook.kpi import parse_period as parse_period
    from playbook.model import Playbook as Playbook
    from playbook.store.db import open_database as open_database
    from playbook.store.repository import DealStore as DealStore
    from playbook.validate import load as load
    from playbook.validate import validate_paths as validate_paths

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "load": "playbook.validate",
    "validate_paths": "playbook.validate",
    "Playbook": "playbook.model",
    "Engine": "playbook.engine",
    "Decision": "playbook.engine",
    "Reason": "playbook.engine",
    "Advance": "playbook.engine",
    "NextSteps": "playbook.engine",
    "StageChanged": "playbook.engine",
    "ActionCompleted": "playbook.engine",
    "Actor": "playbook.deals",
    "DealState": "playbook.deals",
    "WorkingCalendar": "playbook.calendar",
    "sweep": "playbook.escalation",
    "SweepReport": "playbook.escalation",
    "list_escalations": "playbook.escalation",
    "acknowledge": "playbook.escalation",
    "snooze": "playbook.escalation",
    "compute_kpis": "playbook.kpi",
    "parse_period": "playbook.kpi",
    "open_database": "playbook.store.db",
    "DealStore": "playbook.store.repository",
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
