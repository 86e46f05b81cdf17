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
    from playbook.definition.validate import load as load
    from playbook.definition.validate import validate_paths as validate_paths
    from playbook.diagnostics import Diagnostic as Diagnostic
    from playbook.escalation.admin import acknowledge as acknowledge
    from playbook.escalation.admin import list_escalations as list_escalations
    from playbook.escalation.admin import snooze as snooze
    from playbook.escalation.sweep import SweepReport as SweepReport
    from playbook.escalation.sweep import sweep as sweep
    from playbook.kpi.metrics import compute_kpis as compute_kpis
    from playbook.kpi.periods import parse_period as parse_period
    from playbook.model import Playbook as Playbook
    from playbook.pipeline import Pipeline as Pipeline
    from playbook.runtime.calendar import WorkingCalendar as WorkingCalendar
    from playbook.runtime.deals import ActionRecord as ActionRecord
    from playbook.runtime.deals import DealLike as DealLike
    from playbook.runtime.deals import DealRecord as DealRecord
    from playbook.runtime.deals import DealState as DealState
    from playbook.runtime.deals import HasDealForm as HasDealForm
    from playbook.runtime.deals import as_deal as as_deal
    from playbook.runtime.deals import new_deal as new_deal
    from playbook.runtime.decisions import REASON_CODES as REASON_CODES
    from playbook.runtime.decisions import ActionCompleted as ActionCompleted
    from playbook.runtime.decisions import Advance as Advance
    from playbook.runtime.decisions import AvailableMove as AvailableMove
    from playbook.runtime.decisions import Deadline as Deadline
    from playbook.runtime.decisions import Decision as Decision
    from playbook.runtime.decisions import Event as Event
    from playbook.runtime.decisions import MissingForStage as MissingForStage
    from playbook.runtime.decisions import NextSteps as NextSteps
    from playbook.runtime.decisions import OpenAction as OpenAction
    from playbook.runtime.decisions import Reason as Reason
    from playbook.runtime.decisions import RuleRef as RuleRef
    from playbook.runtime.decisions import StageChanged as StageChanged
    from playbook.runtime.engine import Engine as Engine
    from playbook.runtime.forms import DecisionDict as DecisionDict
    from playbook.runtime.forms import NextStepsDict as NextStepsDict
    from playbook.runtime.forms import ReasonDict as ReasonDict
    from playbook.runtime.forms import ReasonKind as ReasonKind
    from playbook.store.db import Database as Database
    from playbook.store.db import open_database as open_database
    from playbook.store.repository import DealStore as DealStore
    from playbook.store.repository import StoredDeal as StoredDeal
    from playbook.values import Actor as Actor

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "load": "playbook.definition.validate",
    "validate_paths": "playbook.definition.validate",
    "Playbook": "playbook.model",
    "Engine": "playbook.runtime.engine",
    "Decision": "playbook.runtime.decisions",
    "Reason": "playbook.runtime.decisions",
    "Advance": "playbook.runtime.decisions",
    "NextSteps": "playbook.runtime.decisions",
    "StageChanged": "playbook.runtime.decisions",
    "ActionCompleted": "playbook.runtime.decisions",
    "AvailableMove": "playbook.runtime.decisions",
    "OpenAction": "playbook.runtime.decisions",
    "MissingForStage": "playbook.runtime.decisions",
    "Deadline": "playbook.runtime.decisions",
    "RuleRef": "playbook.runtime.decisions",
    "Event": "playbook.runtime.decisions",
    "REASON_CODES": "playbook.runtime.decisions",
    "DecisionDict": "playbook.runtime.forms",
    "NextStepsDict": "playbook.runtime.forms",
    "ReasonDict": "playbook.runtime.forms",
    "ReasonKind": "playbook.runtime.forms",
    "Actor": "playbook.values",
    "DealState": "playbook.runtime.deals",
    "ActionRecord": "playbook.runtime.deals",
    "DealLike": "playbook.runtime.deals",
    "DealRecord": "playbook.runtime.deals",
    "HasDealForm": "playbook.runtime.deals",
    "as_deal": "playbook.runtime.deals",
    "new_deal": "playbook.runtime.deals",
    "StoredDeal": "playbook.store.repository",
    "WorkingCalendar": "playbook.runtime.calendar",
    "sweep": "playbook.escalation.sweep",
    "SweepReport": "playbook.escalation.sweep",
    "list_escalations": "playbook.escalation.admin",
    "acknowledge": "playbook.escalation.admin",
    "snooze": "playbook.escalation.admin",
    "compute_kpis": "playbook.kpi.metrics",
    "parse_period": "playbook.kpi.periods",
    "open_database": "playbook.store.db",
    "Database": "playbook.store.db",
    "DealStore": "playbook.store.repository",
    "Pipeline": "playbook.pipeline",
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
