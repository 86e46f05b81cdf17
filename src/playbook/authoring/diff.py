"""What changes between two versions of a playbook, and what that does to live deals.

:func:`diff_playbooks` compares two models of the same playbook (the same
``playbook`` id; otherwise :class:`~playbook.errors.DiffError`) part by part:
fields, roles, stages (with their criteria and required actions), moves,
transition rules, KPIs, escalation rules and notification sinks, each added,
removed or changed.

:func:`impact_on_deals` runs both versions over the open deals pinned to the
old version in a deal store, at one moment: the deals that would now fail the
entry criteria of their stage, those that gain required actions, the
escalation rules that would start or stop firing that day, and the weighted
pipeline under each version's stage probabilities. A deal is read under the
new version with the stage mapping of its ``migrations`` (if any); a deal whose
stage the new version has not kept is listed as stranded.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from playbook.authoring.scenarios import due_escalations
from playbook.errors import DealError, DiffError
from playbook.i18n import Message
from playbook.model import (
    Criterion,
    Escalation,
    FieldSpec,
    Kpi,
    Playbook,
    RequiredAction,
    Stage,
    Transition,
)
from playbook.runtime.calendar import WorkingCalendar
from playbook.runtime.deals import DealState, as_deal
from playbook.values import coerce_fields

if TYPE_CHECKING:
    from playbook.store.repository import DealStore, StoredDeal

__all__ = [
    "CHANGE_SYMBOLS",
    "Change",
    "DealImpact",
    "Impact",
    "PlaybookDiff",
    "diff_playbooks",
    "impact_on_deals",
    "migrated_stage",
]

ChangeKind = Literal["added", "removed", "changed"]
CHANGE_SYMBOLS = {"added": "+", "removed": "-", "changed": "~"}
"""How a change is marked in the text and Markdown forms."""
_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class Change:
    """One part of the playbook added, removed or changed, with what changed in it."""

    kind: ChangeKind
    area: str
    id: str
    details: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{CHANGE_SYMBOLS[self.kind]} {self.area} {self.id}"
        return text + (": " + "; ".join(self.details) if self.details else "")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"kind": self.kind, "area": self.area, "id": self.id, "details": list(self.details)}


@dataclass(frozen=True, slots=True)
class PlaybookDiff:
    """The structural changes from ``old`` to ``new``."""

    old: Playbook
    new: Playbook
    changes: tuple[Change, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "playbook": self.new.id,
            "from_version": self.old.version,
            "to_version": self.new.version,
            "changes": [change.to_dict() for change in self.changes],
        }


def diff_playbooks(old: Playbook, new: Playbook) -> PlaybookDiff:
    """Every part added, removed or changed between two versions of one playbook.

    Raises :class:`~playbook.errors.DiffError` when the playbook ids differ.
    """
    if old.id != new.id:
        raise DiffError(
            Message("error.diff.these_are_two_different", id=old.id, id2=new.id),
            hint=Message("error.diff.compare_two_versions_same"),
            details={"old": old.id, "new": new.id},
        )
    changes: list[Change] = []
    if old.version != new.version:
        changes.append(Change("changed", "version", new.id, (f"{old.version} → {new.version}",)))
    changes += _compare("field", old.fields, new.fields, _field_words)
    changes += _compare("role", old.roles, new.roles, lambda role: {})
    changes += _stages(old, new)
    changes += _compare("move", _moves(old), _moves(new), _move_words)
    changes += _compare("transition rule", _rules(old), _rules(new), lambda text: {"rule": text})
    changes += _compare("KPI", _by_id(old.kpis), _by_id(new.kpis), _kpi_words)
    changes += _compare(
        "escalation", _by_id(old.escalations), _by_id(new.escalations), _escalation_words
    )
    changes += _compare("notification sink", old.notifications, new.notifications, _sink_words)
    return PlaybookDiff(old, new, tuple(changes))


_URL_PATH = re.compile(r"(https?://[^/?#\s]+)[/?#]\S*")


def _sink_words(spec: str) -> dict[str, Any]:
    """A sink's spec with URL paths left out: webhook tokens live there (Slack, WeCom)."""
    return {"sink": _URL_PATH.sub(r"\1/…", spec)}


def _compare(
    area: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    words: Any,
) -> Iterator[Change]:
    for key in old:
        if key not in new:
            yield Change("removed", area, key)
    for key, item in new.items():
        if key not in old:
            described = words(item)
            shown = tuple(f"{k} {_shown(v)}" for k, v in described.items() if v not in (None, ()))
            yield Change("added", area, key, shown)
            continue
        details = _differences(words(old[key]), words(item))
        if details:
            yield Change("changed", area, key, details)


def _differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    for key in dict.fromkeys([*before, *after]):
        was, now = before.get(key), after.get(key)
        if was != now:
            out.append(f"{key} {_shown(was)} → {_shown(now)}")
    return tuple(out)


def _shown(value: Any) -> str:
    if value is None or value == "" or value == ():
        return "(none)"
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _by_id(items: Iterable[Any]) -> dict[str, Any]:
    return {item.id: item for item in items}


def _field_words(spec: FieldSpec) -> dict[str, Any]:
    return {
        "type": spec.kind,
        "values": spec.type.values,
        "min": spec.minimum,
        "max": spec.maximum,
        "pattern": spec.pattern,
    }


def _stages(old: Playbook, new: Playbook) -> Iterator[Change]:
    yield from _compare("stage", _by_id(old.stages), _by_id(new.stages), _stage_words)
    old_order = [s.id for s in old.stages if new.has_stage(s.id)]
    new_order = [s.id for s in new.stages if old.has_stage(s.id)]
    if old_order != new_order:
        yield Change("changed", "stage order", new.id, (" → ".join(new_order),))
    for stage in new.stages:
        before = old.stage(stage.id)
        if before is None:
            continue
        for kind in ("entry", "exit"):
            yield from _compare(
                f"{kind} criterion of {stage.id}",
                _by_id(getattr(before, kind)),
                _by_id(getattr(stage, kind)),
                _criterion_words,
            )
        yield from _compare(
            f"action of {stage.id}",
            _by_id(before.actions),
            _by_id(stage.actions),
            _action_words,
        )


def _stage_words(stage: Stage) -> dict[str, Any]:
    return {
        "outcome": stage.outcome,
        "probability": stage.probability,
        "roles": stage.roles,
    }


def _criterion_words(item: Criterion) -> dict[str, Any]:
    return {"condition": item.condition.text}


def _action_words(action: RequiredAction) -> dict[str, Any]:
    return {
        "role": action.roles,
        "due": str(action.due) if action.due is not None else None,
        "when": action.when.text if action.when is not None else None,
        "evidence": action.evidence,
        "optional": action.optional or None,
    }


def _moves(playbook: Playbook) -> dict[str, Transition]:
    return {f"{t.source}->{t.target}": t for t in playbook.transitions}


def _move_words(move: Transition) -> dict[str, Any]:
    return {"roles": move.roles, "when": move.guard.text if move.guard is not None else None}


def _rules(playbook: Playbook) -> dict[str, str]:
    out: dict[str, str] = {}
    for rule in playbook.rules:
        text = f"to {_shown(rule.targets) if rule.targets else 'any'}"
        if rule.sources:
            text += f" from {_shown(rule.sources)}"
        text += f": only {', '.join(rule.roles)}"
        if rule.when is not None:
            text += f" when {rule.when.text}"
        out[text] = text
    return out


def _kpi_words(kpi: Kpi) -> dict[str, Any]:
    return {
        "metric": kpi.metric,
        "target min": kpi.target_min,
        "target max": kpi.target_max,
        "period": kpi.period,
        "by": kpi.by,
        "where": kpi.where.text if kpi.where is not None else None,
        **dict(sorted(kpi.params.items())),
    }


def _escalation_words(rule: Escalation) -> dict[str, Any]:
    trigger = rule.trigger
    what = trigger.kind + (f" {trigger.duration}" if trigger.duration is not None else "")
    if trigger.condition is not None:
        what += f" while {trigger.condition.text}"
    if trigger.field is not None:
        what += f" {trigger.field}"
    levels = tuple(f"{'/'.join(level.notify)} after {level.after}" for level in rule.levels)
    return {
        "trigger": what,
        "stages": rule.stages,
        "when": rule.when.text if rule.when is not None else None,
        "levels": levels,
    }


# --- impact on live deals -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DealImpact:
    """What the new version changes for one open deal."""

    ref: str
    stage: str
    new_stage: str | None
    failing: tuple[str, ...] = ()
    new_actions: tuple[str, ...] = ()
    starts: tuple[str, ...] = ()
    stops: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def affected(self) -> bool:
        """True when anything changes for this deal."""
        return bool(
            self.failing or self.new_actions or self.starts or self.stops or self.problem
        ) or (self.new_stage != self.stage)


@dataclass(frozen=True, slots=True)
class Impact:
    """The effect of a new version on the open deals pinned to the old one, at ``now``."""

    now: datetime
    open_deals: int
    deals: tuple[DealImpact, ...]
    value_field: str | None
    weighted_old: Decimal
    weighted_new: Decimal
    expected_wins_old: float
    expected_wins_new: float
    per_rule: Mapping[str, int] = field(default_factory=dict)
    created_after_now: int = 0
    """Open deals created after ``now``: no escalation can be due for them then."""

    def count(self, attribute: str) -> int:
        """How many deals have something in ``attribute`` (failing, new_actions...)."""
        return sum(1 for deal in self.deals if getattr(deal, attribute))

    def tally(self, attribute: str) -> Counter[str]:
        """How many deals each criterion, action or escalation appears for in ``attribute``."""
        return Counter(item for deal in self.deals for item in getattr(deal, attribute))

    def examples(self, attribute: str, item: str) -> list[str]:
        """A few deal references for ``item`` in ``attribute``."""
        refs = (deal.ref for deal in self.deals if item in getattr(deal, attribute))
        return [ref for ref, _ in zip(refs, range(_EXAMPLES), strict=False)]

    @property
    def stranded(self) -> tuple[DealImpact, ...]:
        """Deals whose stage the new version has no place for."""
        return tuple(deal for deal in self.deals if deal.problem is not None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: totals, per-item counts with examples, pipeline figures."""
        groups = {
            name: {
                item: {"deals": count, "examples": self.examples(name, item)}
                for item, count in self.tally(name).most_common()
            }
            for name in ("failing", "new_actions", "starts", "stops")
        }
        return {
            "now": self.now.isoformat(),
            "open_deals": self.open_deals,
            "fail_entry_criteria": self.count("failing"),
            "gain_required_actions": self.count("new_actions"),
            "escalations_start": groups["starts"],
            "escalations_stop": groups["stops"],
            "failing_criteria": groups["failing"],
            "new_actions": groups["new_actions"],
            "stranded": [
                {"deal": d.ref, "stage": d.stage, "problem": d.problem} for d in self.stranded
            ],
            "weighted_pipeline": {
                "field": self.value_field,
                "old": str(self.weighted_old),
                "new": str(self.weighted_new),
            },
            "expected_wins": {
                "old": round(self.expected_wins_old, 2),
                "new": round(self.expected_wins_new, 2),
            },
            "created_after_now": self.created_after_now,
        }


def migrated_stage(old: Playbook, new: Playbook, stage: str) -> str | None:
    """Where a deal in ``stage`` of ``old`` goes in ``new``: the declared mapping, else the same id.

    None when ``new`` has neither a mapping nor a stage of that id.
    """
    for migration in new.migrations:
        if migration.from_version == old.version and stage in migration.stages:
            return migration.stages[stage]
    return stage if new.has_stage(stage) else None


def impact_on_deals(old: Playbook, new: Playbook, store: DealStore, *, now: datetime) -> Impact:
    """What ``new`` changes for the open deals of ``store`` pinned to ``old``, at ``now``.

    Raises :class:`~playbook.errors.DiffError` when the playbook ids differ.
    """
    if old.id != new.id:
        diff_playbooks(old, new)  # raises the DiffError
    calendars = (WorkingCalendar.from_playbook(old), WorkingCalendar.from_playbook(new))
    value_field = _value_field(new) or _value_field(old)
    deals: list[DealImpact] = []
    totals = [Decimal(0), Decimal(0)]
    wins = [0.0, 0.0]
    later = 0
    for stored in _open_deals(store, old):
        later += stored.created_at > now
        before = as_deal(stored.deal_form(), old)
        after, problem = _under(new, old, before)
        deals.append(_deal_impact(old, new, before, after, problem, calendars, now))
        for index, (playbook, state) in enumerate(((old, before), (new, after))):
            if state is None:
                continue
            probability = _probability(playbook, state.stage)
            wins[index] += probability
            totals[index] += _value(state, value_field) * Decimal(str(probability))
    affected = tuple(deal for deal in deals if deal.affected)
    return Impact(
        now,
        len(deals),
        affected,
        value_field,
        totals[0],
        totals[1],
        wins[0],
        wins[1],
        created_after_now=later,
    )


def _open_deals(store: DealStore, playbook: Playbook) -> Iterator[StoredDeal]:
    open_stages = {s.id for s in playbook.stages if s.is_open}
    for deal in store.list_deals(playbook_id=playbook.id):
        if deal.playbook_version == playbook.version and deal.stage in open_stages:
            yield deal


def _under(new: Playbook, old: Playbook, deal: DealState) -> tuple[DealState | None, str | None]:
    stage = migrated_stage(old, new, deal.stage)
    if stage is None:
        return None, f"version {new.version} has no stage {deal.stage!r} and no mapping for it"
    try:
        fields = coerce_fields(new, {k: v for k, v in deal.fields.items() if k in new.fields})
    except DealError as error:
        return None, error.message
    target = new.stage(stage)
    assert target is not None
    kept = {a.id for a in target.actions}
    done = {k: v for k, v in deal.completed_actions.items() if k in kept}
    moved = replace(
        deal, playbook_version=new.version, stage=stage, fields=fields, completed_actions=done
    )
    return moved, None


def _deal_impact(
    old: Playbook,
    new: Playbook,
    before: DealState,
    after: DealState | None,
    problem: str | None,
    calendars: tuple[WorkingCalendar, WorkingCalendar],
    now: datetime,
) -> DealImpact:
    if after is None:
        return DealImpact(before.id, before.stage, None, problem=problem)
    was_failing = set(_failing(old, before))
    failing = tuple(rule for rule in _failing(new, after) if rule not in was_failing)
    had = set(_required(old, before))
    gained = tuple(a for a in _required(new, after) if a not in had)
    fired_before = {d.escalation.id for d in due_escalations(old, calendars[0], before, now)}
    fired_after = {d.escalation.id for d in due_escalations(new, calendars[1], after, now)}
    return DealImpact(
        before.id,
        before.stage,
        after.stage,
        failing,
        gained,
        tuple(sorted(fired_after - fired_before)),
        tuple(sorted(fired_before - fired_after)),
    )


def _failing(playbook: Playbook, deal: DealState) -> Iterator[str]:
    stage = playbook.stage(deal.stage)
    assert stage is not None
    for item in stage.entry:
        if not item.condition.test(deal.fields):
            yield f"{stage.id}.{item.id}"


def _required(playbook: Playbook, deal: DealState) -> Iterator[str]:
    stage = playbook.stage(deal.stage)
    assert stage is not None
    for action in stage.actions:
        if action.optional or action.id in deal.completed_actions:
            continue
        if action.when is None or action.when.test(deal.fields):
            yield action.id


def _value_field(playbook: Playbook) -> str | None:
    """The field the weighted pipeline sums: that of a pipeline KPI, else none."""
    for kpi in playbook.kpis:
        if kpi.metric in ("weighted_pipeline", "pipeline_value") and "field" in kpi.params:
            return str(kpi.params["field"])
    return None


def _value(deal: DealState, name: str | None) -> Decimal:
    value = deal.fields.get(name) if name is not None else None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return Decimal(str(value))
    return Decimal(0)


def _probability(playbook: Playbook, stage_id: str) -> float:
    stage = playbook.stage(stage_id)
    return stage.probability if stage is not None and stage.probability is not None else 0.0
