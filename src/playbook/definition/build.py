"""From a schema-valid document to the immutable :class:`~playbook.model.Playbook`.

:func:`build` reads each section into the model, compiling every condition
once. It reports only what stops a part from being built (a condition that
does not type-check, a repeated id, a bad date, time or timezone) and skips
that part; it resolves references leniently, recording the names used and
each unknown one (:class:`Reference`), so that the lint passes (:mod:`playbook.definition.lint`)
report unknown names and unused declarations afterwards.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from functools import partial
from typing import Any, NamedTuple

from playbook.conditions import FieldType, parse_condition, referenced_fields, render, to_python
from playbook.conditions.limits import FIRST_DATE, LAST_DATE
from playbook.definition.approvals import read_approvals
from playbook.definition.loader import Document, YamlPath
from playbook.definition.report import Reporter
from playbook.definition.tables import build_tables
from playbook.definition.zones import timezone_of
from playbook.diagnostics import path_to_str
from playbook.errors import ConditionError
from playbook.i18n import Message
from playbook.model import (
    BUILTIN_ACTIVITY_KINDS,
    ActivityKind,
    Calendar,
    Condition,
    Criterion,
    Duration,
    Escalation,
    EscalationLevel,
    FieldSpec,
    Kpi,
    Migration,
    Playbook,
    RequiredAction,
    Review,
    Role,
    Stage,
    Text,
    Transition,
    TransitionRule,
    Trigger,
)

__all__ = [
    "GROUP_BUILTINS",
    "NOTIFY_BUILTINS",
    "WEEKDAYS",
    "Built",
    "Reference",
    "build",
    "duration",
]

WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
"""Weekday names of the format, to Python's numbers (0 = Monday)."""

NOTIFY_BUILTINS = frozenset({"owner", "manager"})
"""Who an escalation level may notify without declaring a role."""

GROUP_BUILTINS = frozenset({"owner", "team", "manager", "region"})
"""What a KPI may be grouped by without declaring a field."""

_KPI_PARAMS = (
    "stage",
    "from_stage",
    "to_stage",
    "outcome",
    "statistic",
    "field",
    "aggregate",
    "denominator",
    "activity",
)


class Reference(NamedTuple):
    """A name the document refers to at ``path`` (a stage, field or role) and the known ones."""

    path: YamlPath
    kind: str
    name: str
    known: Sequence[str]
    code: str


@dataclass(slots=True)
class Built:
    """What :func:`build` made: the model (None without stages) and what the lint passes need."""

    playbook: Playbook | None
    fields: dict[str, FieldSpec]
    used: set[tuple[str, str]]
    """``(kind, name)`` of every name referred to, fields in failed conditions included."""
    unknown: list[Reference]
    """The references to names that are not declared, in document order."""


def build(document: Document, reporter: Reporter) -> Built:
    """Build the model of a schema-valid ``document``, reporting what blocks a part of it."""
    ctx = _Context(document.data, reporter)
    calendar = _calendar(ctx)
    ctx.roles = _roles(ctx)
    ctx.activity_kinds = _activity_kinds(ctx.data)
    fields = _fields(ctx)
    ctx.field_types = {fid: spec.type for fid, spec in fields.items()}
    tables = build_tables(ctx.data, reporter, ctx.field_types, ctx.tz)
    ctx.used.update(("field", name) for name in tables.used)
    ctx.field_types.update(tables.types)  # derived fields read like any other
    ctx.field_ids = tuple(ctx.field_types)
    stages = _stages(ctx)
    if not stages:
        return Built(None, fields, ctx.used, ctx.unknown)
    transitions, rules = _transitions(ctx, stages)
    data = ctx.data
    overrides: YamlPath = ("overrides", "roles")
    override_roles = _roles_at(ctx, overrides, _value_at(data, overrides))
    playbook = Playbook(
        id=str(data["playbook"]),
        version=int(data["version"]),
        title=Text.of(data["title"]),
        description=_text(data.get("description")),
        stages=tuple(stages),
        transitions=tuple(transitions),
        fields=fields,
        roles=ctx.roles,
        activity_kinds=ctx.activity_kinds,
        rules=tuple(rules),
        override_roles=override_roles or (),
        kpis=tuple(_kpis(ctx)),
        escalations=tuple(_escalations(ctx)),
        language=str(data.get("language", "en")),
        currency=data.get("currency"),
        timezone=str(data.get("timezone", "UTC")),
        calendar=calendar,
        review=_review(data),
        migrations=tuple(_migrations(ctx)),
        approvals=read_approvals(ctx, partial(_condition, ctx), partial(_levels, ctx), duration),
        notifications={
            str(name): str(spec) for name, spec in data.get("notifications", {}).items()
        },
        source=document.file,
        tables=tables.tables,
    )
    return Built(playbook, fields, ctx.used, ctx.unknown)


class _Context:
    """What the section readers share while one document is built."""

    def __init__(self, data: dict[str, Any], reporter: Reporter) -> None:
        self.data = data
        self.reporter = reporter
        self.tz = timezone_of(data, reporter)
        self.roles: dict[str, Role] = {}
        self.activity_kinds: tuple[ActivityKind, ...] = BUILTIN_ACTIVITY_KINDS
        self.role_ids: tuple[str, ...] = ()
        self.field_types: dict[str, FieldType] = {}
        self.field_ids: tuple[str, ...] = ()
        self.stage_ids: tuple[str, ...] = ()
        self.used: set[tuple[str, str]] = set()
        self.unknown: list[Reference] = []

    def refer(self, path: YamlPath, kind: str, name: str, known: Sequence[str], code: str) -> bool:
        """Record a reference; True when it names something known."""
        self.used.add((kind, name))
        if name in known:
            return True
        self.unknown.append(Reference(path, kind, name, known, code))
        return False

    def field_ref(self, path: YamlPath, name: Any) -> bool:
        """Record a reference to a field; True when the field is declared."""
        return self.refer(path, "field", str(name), self.field_ids, "PB303")


# --- small readers ---------------------------------------------------------------------


def _text(value: Any) -> Text | None:
    return None if value is None else Text.of(value)


def duration(value: Any) -> Duration | None:
    """The :class:`Duration` of a ``{unit: amount}`` mapping, or None for anything else."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return None
    unit, amount = next(iter(value.items()))
    return Duration(unit, float(amount))


def _value_at(data: Any, path: YamlPath) -> Any:
    for part in path:
        data = data.get(part) if isinstance(data, Mapping) else None
    return data


def _date(ctx: _Context, path: YamlPath, value: Any) -> date | None:
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        ctx.reporter.report(
            path,
            "PB318",
            Message("diag.build.not_date", value=value),
            hint=Message("diag.build.write_yyyy_mm_dd"),
        )
        return None
    if FIRST_DATE <= day <= LAST_DATE:
        return day
    # Due times are computed from calendar days: outside these years they overflow.
    ctx.reporter.report(
        path,
        "PB318",
        Message(
            "diag.build.outside_years", value=value, first=FIRST_DATE.year, last=LAST_DATE.year
        ),
        hint=Message("diag.build.write_date_between", first=FIRST_DATE, last=LAST_DATE),
    )
    return None


def _dates(ctx: _Context, path: YamlPath, values: Any) -> frozenset[date]:
    out = {_date(ctx, (*path, i), v) for i, v in enumerate(values or [])}
    return frozenset(d for d in out if d is not None)


def _calendar(ctx: _Context) -> Calendar:
    raw = ctx.data.get("calendar") or {}
    path: YamlPath = ("calendar",)
    weekdays = frozenset(WEEKDAYS[d] for d in raw.get("weekdays", list(WEEKDAYS)[:5]))
    if not weekdays:
        ctx.reporter.report(
            (*path, "weekdays"), "PB318", Message("diag.build.calendar_has_no_working")
        )
    hours = None
    if "hours" in raw:
        hours = _hours(ctx, (*path, "hours"), raw["hours"])
    return Calendar(
        weekdays=weekdays,
        holidays_country=raw.get("holidays"),
        extra_holidays=_dates(ctx, (*path, "extra_holidays"), raw.get("extra_holidays")),
        extra_workdays=_dates(ctx, (*path, "extra_workdays"), raw.get("extra_workdays")),
        hours=hours,
    )


def _hours(ctx: _Context, path: YamlPath, raw: Mapping[str, Any]) -> tuple[time, time] | None:
    try:
        start, end = time.fromisoformat(raw["start"]), time.fromisoformat(raw["end"])
    except (KeyError, ValueError):
        ctx.reporter.report(path, "PB318", Message("diag.build.working_hours_need_start"))
        return None
    if start >= end:
        ctx.reporter.report(
            path, "PB318", Message("diag.build.working_hours_end_before", end=end, start=start)
        )
        return None
    return start, end


def _roles(ctx: _Context) -> dict[str, Role]:
    raw = ctx.data.get("roles") or {}
    roles = {rid: Role(rid, _text((spec or {}).get("title"))) for rid, spec in raw.items()}
    ctx.role_ids = tuple(roles)
    return roles


def _activity_kinds(data: Mapping[str, Any]) -> tuple[ActivityKind, ...]:
    raw = data.get("activity_kinds")
    if not raw:
        return BUILTIN_ACTIVITY_KINDS
    return tuple(ActivityKind(kid, _text((spec or {}).get("title"))) for kid, spec in raw.items())


def _roles_at(ctx: _Context, path: YamlPath, value: Any) -> tuple[str, ...] | None:
    """The role ids at ``path`` (one or a list), each recorded as a reference."""
    if value is None:
        return None
    roles = [value] if isinstance(value, str) else list(value)
    for i, role in enumerate(roles):
        target = (*path, i) if not isinstance(value, str) else path
        ctx.refer(target, "role", role, ctx.role_ids, "PB304")
    return tuple(roles)


def _stage_refs(ctx: _Context, path: YamlPath, value: Any, *, star: bool) -> tuple[str, ...] | None:
    """The known stage ids at ``path`` (None for absent, or ``*`` where ``star`` allows it)."""
    if value is None or (star and value == "*"):
        return None
    names = [value] if isinstance(value, str) else list(value)
    good: list[str] = []
    for i, name in enumerate(names):
        target = path if isinstance(value, str) else (*path, i)
        if ctx.refer(target, "stage", str(name), ctx.stage_ids, "PB302"):
            good.append(str(name))
    return tuple(good)


def _unique_items(
    ctx: _Context, section: str, kind: str
) -> Iterator[tuple[YamlPath, Mapping[str, Any], str]]:
    """Each item of a list section with its path and id; a repeated id is PB301."""
    seen: set[str] = set()
    for i, raw in enumerate(ctx.data.get(section) or []):
        path: YamlPath = (section, i)
        item_id = str(raw["id"])
        if item_id in seen:
            ctx.reporter.report(
                (*path, "id"),
                "PB301",
                Message(f"diag.build.id_used_twice.{kind}", item_id=item_id),
            )
        seen.add(item_id)
        yield path, raw, item_id


# --- fields and conditions -------------------------------------------------------------


def _value_id(value: Any) -> str:
    """An enum value's id: the value itself, or the ``id`` of ``{id: key, title: ...}``."""
    return str(value["id"]) if isinstance(value, Mapping) else str(value)


def _value_titles(values: Iterable[Any]) -> tuple[tuple[str, Text], ...]:
    titles = ((_value_id(v), _text(v.get("title"))) for v in values if isinstance(v, Mapping))
    return tuple((key, title) for key, title in titles if title is not None)


def _fields(ctx: _Context) -> dict[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}
    for fid, raw in (ctx.data.get("fields") or {}).items():
        path: YamlPath = ("fields", fid)
        values = [_value_id(value) for value in raw.get("values") or ()]
        kind = raw["type"]
        out[fid] = FieldSpec(
            id=fid,
            type=FieldType(kind, tuple(values) if values else None),
            value_titles=_value_titles(raw.get("values") or ()),
            title=_text(raw.get("title")),
            description=_text(raw.get("description")),
            minimum=_bound(ctx, path, kind, raw, "min"),
            maximum=_bound(ctx, path, kind, raw, "max"),
            min_length=raw.get("min_length"),
            max_length=raw.get("max_length"),
            pattern=raw.get("pattern"),
            format=raw.get("format"),
            min_items=raw.get("min_items"),
            max_items=raw.get("max_items"),
            line=ctx.reporter.line(path),
        )
    return out


def _bound(ctx: _Context, path: YamlPath, kind: str, raw: Mapping[str, Any], key: str) -> Any:
    value = raw.get(key)
    if value is None or kind not in ("date", "datetime"):
        return value
    return _date(ctx, (*path, key), str(value)[:10])


def _condition(ctx: _Context, path: YamlPath, source: Any) -> Condition | None:
    """Parse and type-check a condition at ``path`` (None, reported, when it does not)."""
    try:
        expr = parse_condition(source, ctx.field_types, tz=ctx.tz)
    except ConditionError as error:
        ctx.reporter.condition_error(path, source, error)
        # The fields it names are still in use: no unused-field warning on top.
        ctx.used.update(("field", name) for name in _names_in(source) & ctx.field_types.keys())
        return None
    names = referenced_fields(expr)
    ctx.used.update(("field", name) for name in names)
    mark = ctx.reporter.doc.mark(path)
    return Condition(
        expr=expr,
        text=render(expr),
        test=to_python(expr),
        fields=names,
        line=mark.line,
        column=mark.column,
    )


def _optional_condition(ctx: _Context, path: YamlPath, raw: Mapping[str, Any]) -> Condition | None:
    """The condition under ``path[-1]`` of ``raw``, when there is one."""
    source = raw.get(str(path[-1]))
    return None if source is None else _condition(ctx, path, source)


def _names_in(source: Any) -> set[str]:
    """Every identifier-like word in a condition that failed to parse (best effort)."""
    if isinstance(source, str):
        return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source))
    if isinstance(source, Mapping):
        return set().union(*(_names_in(v) for v in source.values()), set())
    if isinstance(source, list):
        return set().union(*(_names_in(v) for v in source), set())
    return set()


def _criteria(
    ctx: _Context, path: YamlPath, raw: Sequence[Any], kind: str
) -> tuple[Criterion, ...]:
    out: list[Criterion] = []
    seen: set[str] = set()
    for i, item in enumerate(raw or []):
        item_path: YamlPath = (*path, i)
        named = isinstance(item, Mapping) and "condition" in item
        cid = str(item["id"]) if named and "id" in item else f"{kind}[{i}]"
        if cid in seen:
            ctx.reporter.report(
                (*item_path, "id"), "PB301", Message("diag.build.criterion_id_used_twice", cid=cid)
            )
        seen.add(cid)
        condition = _condition(
            ctx,
            (*item_path, "condition") if named else item_path,
            item["condition"] if named else item,
        )
        if condition is None:
            continue
        out.append(
            Criterion(
                id=cid,
                condition=condition,
                title=_text(item.get("title")) if named else None,
                message=_text(item.get("message")) if named else None,
                line=ctx.reporter.line(item_path),
            )
        )
    return tuple(out)


# --- stages and actions ----------------------------------------------------------------


def _stages(ctx: _Context) -> list[Stage]:
    raw_stages = ctx.data.get("stages") or []
    ctx.stage_ids = tuple(str(s["id"]) for s in raw_stages)
    stages: list[Stage] = []
    seen_stage: dict[str, int] = {}
    seen_action: dict[str, YamlPath] = {}
    for index, raw in enumerate(raw_stages):
        path: YamlPath = ("stages", index)
        sid = str(raw["id"])
        if sid in seen_stage:
            ctx.reporter.report(
                (*path, "id"),
                "PB301",
                Message("diag.build.stage_id_already_used", sid=sid, seen_stage=seen_stage[sid]),
            )
            continue
        seen_stage[sid] = index
        actions = _actions(ctx, path, sid, raw.get("actions") or [], seen_action)
        stages.append(
            Stage(
                id=sid,
                index=len(stages),
                title=Text.of(raw["title"]),
                outcome=raw.get("outcome", "open"),
                probability=raw.get("probability"),
                description=_text(raw.get("description")),
                goal=_text(raw.get("goal")),
                roles=_roles_at(ctx, (*path, "roles"), raw.get("roles")),
                entry=_criteria(ctx, (*path, "entry"), raw.get("entry") or [], "entry"),
                actions=actions,
                exit=_criteria(ctx, (*path, "exit"), raw.get("exit") or [], "exit"),
                line=ctx.reporter.line(path),
            )
        )
    return stages


def _actions(
    ctx: _Context,
    path: YamlPath,
    stage_id: str,
    raw_actions: Sequence[Mapping[str, Any]],
    seen: dict[str, YamlPath],
) -> tuple[RequiredAction, ...]:
    out: list[RequiredAction] = []
    for i, raw in enumerate(raw_actions):
        apath: YamlPath = (*path, "actions", i)
        aid = str(raw["id"])
        if aid in seen:
            ctx.reporter.report(
                (*apath, "id"),
                "PB301",
                Message(
                    "diag.build.action_id_already_used", aid=aid, path_to_str=path_to_str(seen[aid])
                ),
                hint=Message("diag.build.action_ids_are_unique"),
            )
            continue
        seen[aid] = apath
        evidence = raw.get("evidence")
        if evidence is not None:
            ctx.field_ref((*apath, "evidence"), evidence)
        out.append(
            RequiredAction(
                id=aid,
                stage=stage_id,
                roles=_roles_at(ctx, (*apath, "role"), raw.get("role")) or (),
                title=_text(raw.get("title")),
                description=_text(raw.get("description")),
                due=duration(raw.get("due")),
                when=_optional_condition(ctx, (*apath, "when"), raw),
                evidence=evidence,
                optional=bool(raw.get("optional", False)),
                line=ctx.reporter.line(apath),
            )
        )
    return tuple(out)


# --- transitions -----------------------------------------------------------------------


def _transitions(
    ctx: _Context, stages: list[Stage]
) -> tuple[list[Transition], list[TransitionRule]]:
    raw = ctx.data.get("transitions") or {}
    moves: dict[tuple[str, str], Transition] = {}
    if raw.get("default", "forward") == "forward":
        for move in _default_moves(stages):
            moves[(move.source, move.target)] = move
    for i, item in enumerate(raw.get("allow") or []):
        for move in _allowed_moves(ctx, ("transitions", "allow", i), item, stages):
            moves[(move.source, move.target)] = move
    rules = [_rule(ctx, i, item) for i, item in enumerate(raw.get("rules") or [])]
    order = {s.id: s.index for s in stages}
    ordered = sorted(moves.values(), key=lambda t: (order[t.source], order[t.target]))
    return ordered, rules


def _allowed_moves(
    ctx: _Context, path: YamlPath, item: Mapping[str, Any], stages: list[Stage]
) -> Iterable[Transition]:
    sources = _stage_refs(ctx, (*path, "from"), item.get("from"), star=True)
    targets = _stage_refs(ctx, (*path, "to"), item.get("to"), star=False) or ()
    if sources is None:
        sources = tuple(s.id for s in stages if s.is_open)
    roles = _roles_at(ctx, (*path, "roles"), item.get("roles"))
    guard = _optional_condition(ctx, (*path, "when"), item)
    title, line = _text(item.get("title")), ctx.reporter.line(path)
    return [
        Transition(source, target, "explicit", roles, guard, title, line)
        for source in sources
        for target in targets
        if source != target
    ]


def _default_moves(stages: Sequence[Stage]) -> list[Transition]:
    """The `default: forward` graph: next non-lost stage, and every open stage to every lost one."""
    moves: list[Transition] = []
    candidates = [s for s in stages if s.outcome != "lost"]
    for current, following in itertools.pairwise(candidates):
        moves.append(Transition(current.id, following.id, "forward"))
    lost = [s for s in stages if s.outcome == "lost"]
    for stage in stages:
        if stage.is_open:
            moves.extend(Transition(stage.id, target.id, "to_lost") for target in lost)
    return moves


def _rule(ctx: _Context, index: int, item: Mapping[str, Any]) -> TransitionRule:
    path: YamlPath = ("transitions", "rules", index)
    return TransitionRule(
        targets=_stage_refs(ctx, (*path, "to"), item.get("to"), star=True),
        sources=_stage_refs(ctx, (*path, "from"), item.get("from"), star=True),
        roles=_roles_at(ctx, (*path, "roles"), item.get("roles")) or (),
        when=_optional_condition(ctx, (*path, "when"), item),
        line=ctx.reporter.line(path),
    )


# --- KPIs, escalations, review, migrations ---------------------------------------------


def _kpis(ctx: _Context) -> list[Kpi]:
    out: list[Kpi] = []
    for path, raw, kid in _unique_items(ctx, "kpis", "KPI"):
        for key in ("stage", "from_stage", "to_stage"):
            if key in raw:
                _stage_refs(ctx, (*path, key), raw[key], star=False)
        for key in ("field", "denominator"):
            if key in raw:
                ctx.field_ref((*path, key), raw[key])
        if "activity" in raw:
            kinds = [kind.id for kind in ctx.activity_kinds]
            ctx.refer((*path, "activity"), "activity_kind", str(raw["activity"]), kinds, "PB320")
        by = tuple(raw.get("by") or ())
        for j, group in enumerate(by):
            if group not in GROUP_BUILTINS:
                ctx.field_ref((*path, "by", j), group)
        target = raw.get("target") or {}
        out.append(
            Kpi(
                id=kid,
                metric=str(raw["metric"]),
                title=_text(raw.get("title")),
                description=_text(raw.get("description")),
                target_min=target.get("min"),
                target_max=target.get("max"),
                period=raw.get("period"),
                by=by,
                where=_optional_condition(ctx, (*path, "where"), raw),
                unit=raw.get("unit"),
                params={k: raw[k] for k in _KPI_PARAMS if k in raw},
                line=ctx.reporter.line(path),
                per=raw.get("per"),
            )
        )
    return out


def _escalations(ctx: _Context) -> list[Escalation]:
    out: list[Escalation] = []
    for path, raw, eid in _unique_items(ctx, "escalations", "escalation"):
        trigger = _trigger(ctx, (*path, "trigger"), raw["trigger"])
        levels = _levels(ctx, (*path, "levels"), raw.get("levels") or [])
        if trigger is None:
            continue
        out.append(
            Escalation(
                id=eid,
                trigger=trigger,
                levels=levels,
                title=_text(raw.get("title")),
                stages=_stage_refs(ctx, (*path, "stages"), raw.get("stages"), star=True),
                when=_optional_condition(ctx, (*path, "when"), raw),
                max_lateness=duration(raw.get("max_lateness")),
                line=ctx.reporter.line(path),
            )
        )
    return out


def _trigger(ctx: _Context, path: YamlPath, raw: Mapping[str, Any]) -> Trigger | None:
    for kind in ("in_stage", "since_last_activity"):
        if kind in raw:
            return Trigger(kind, duration=duration(raw[kind]))
    if "condition" in raw:
        condition = _condition(ctx, (*path, "condition"), raw["condition"])
        if condition is None:
            return None
        return Trigger("condition", duration=duration(raw.get("for")), condition=condition)
    name = str(raw.get("date_passed"))
    ctx.field_ref((*path, "date_passed"), name)
    return Trigger("date_passed", duration=duration(raw.get("after")), field=name)


def _levels(
    ctx: _Context, path: YamlPath, raw_levels: Sequence[Mapping[str, Any]]
) -> tuple[EscalationLevel, ...]:
    known = (*NOTIFY_BUILTINS, *ctx.role_ids)
    levels: list[EscalationLevel] = []
    for i, raw in enumerate(raw_levels):
        notify = [raw["notify"]] if isinstance(raw["notify"], str) else list(raw["notify"])
        for j, who in enumerate(notify):
            if who not in NOTIFY_BUILTINS:
                ctx.refer((*path, i, "notify", j), "role", who, known, "PB304")
        after = duration(raw.get("after")) or Duration("days", 0.0)
        levels.append(EscalationLevel(tuple(notify), after, _text(raw.get("message"))))
    return tuple(levels)


def _review(data: Mapping[str, Any]) -> Review | None:
    raw = data.get("review")
    if raw is None:
        return None
    return Review(
        every=str(raw.get("every", "week")),
        weekday=WEEKDAYS[str(raw.get("weekday", "mon"))],
        title=_text(raw.get("title")),
    )


def _migrations(ctx: _Context) -> list[Migration]:
    out: list[Migration] = []
    for i, raw in enumerate(ctx.data.get("migrations") or []):
        path: YamlPath = ("migrations", i)
        mapping = {str(k): str(v) for k, v in (raw.get("stages") or {}).items()}
        for old, new in mapping.items():
            _stage_refs(ctx, (*path, "stages", old), new, star=False)
        out.append(Migration(int(raw["from"]), mapping, ctx.reporter.line(path)))
    return out
