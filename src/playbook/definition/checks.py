"""From a schema-valid document to a :class:`~playbook.model.Playbook`, with semantic checks.

:func:`check_document` builds the typed model (compiling every condition once)
and runs the checks that a JSON Schema cannot express: references between
sections, the stage graph, types inside conditions, and consistency warnings.
It reports every problem it finds in one pass, each at its exact position.
"""

from __future__ import annotations

import itertools
import re
import zoneinfo
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time, tzinfo
from typing import Any

from playbook.conditions import (
    FieldType,
    is_satisfiable,
    parse_condition,
    referenced_fields,
    render,
    to_python,
)
from playbook.conditions.parser import KEYWORDS
from playbook.definition.loader import Document, YamlPath
from playbook.diagnostics import RULES, Diagnostic, Severity, did_you_mean, path_to_str
from playbook.errors import ConditionError
from playbook.model import (
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

__all__ = ["check_document"]

_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_NOTIFY_BUILTINS = frozenset({"owner", "manager"})
_GROUP_BUILTINS = frozenset({"owner", "team", "manager", "region"})
_KPI_NEEDS: dict[str, tuple[str, ...]] = {
    "stage_entries": ("stage",),
    "conversion": ("from_stage", "to_stage"),
    "win_rate": (),
    "cycle_time": ("outcome",),
    "time_in_stage": ("stage",),
    "pipeline_value": ("field",),
    "weighted_pipeline": ("field",),
    "won_deals": (),
    "won_value": ("field",),
    "activity_count": (),
    "field_aggregate": ("field", "aggregate"),
    "field_ratio": ("field", "denominator"),
}
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


def check_document(document: Document) -> tuple[Playbook | None, list[Diagnostic]]:
    """Build the playbook model from a schema-valid document and check it.

    Returns the model (None when an error prevents building one) and every
    diagnostic found, errors and warnings, sorted by position.
    """
    checker = _Checker(document)
    playbook = checker.run()
    diagnostics = sorted(checker.diagnostics, key=Diagnostic.sort_key)
    if any(d.severity == "error" for d in diagnostics):
        return None, diagnostics
    return playbook, diagnostics


@dataclass
class _Uses:
    """What the rules refer to, for the unused-field and unused-role warnings."""

    fields: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)


class _Checker:
    def __init__(self, document: Document) -> None:
        self.doc = document
        self.data: dict[str, Any] = document.data
        self.diagnostics: list[Diagnostic] = []
        self.uses = _Uses()
        self.language = str(self.data.get("language", "en"))
        self.tz = self._timezone()
        self.field_types: dict[str, FieldType] = {}
        self.roles: dict[str, Role] = {}
        self.stage_ids: list[str] = []

    # --- reporting -----------------------------------------------------------------

    def report(
        self,
        path: YamlPath,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        key: bool = False,
        at: tuple[int, int] | None = None,
        severity: Severity | None = None,
    ) -> None:
        if at is None:
            mark = self.doc.mark(path, key=key)
            at = (mark.line, mark.column)
        self.diagnostics.append(
            Diagnostic(
                file=self.doc.file,
                line=at[0],
                column=at[1],
                severity=severity or RULES[code].severity,
                code=code,
                message=message,
                path=path_to_str(path),
                hint=hint,
            )
        )

    def line(self, path: YamlPath) -> int:
        return self.doc.mark(path).line

    def _reference(
        self, path: YamlPath, kind: str, name: str, known: Iterable[str], code: str
    ) -> bool:
        known = list(known)
        if name in known:
            return True
        listing = ", ".join(known[:12]) or "none declared"
        hint = did_you_mean(name, known) or f"known {kind}s: {listing}"
        self.report(path, code, f"unknown {kind} {name!r}", hint=hint)
        return False

    # --- run -----------------------------------------------------------------------

    def run(self) -> Playbook | None:
        calendar = self._calendar()
        self.roles = self._roles()
        fields = self._fields()
        self.field_types = {fid: spec.type for fid, spec in fields.items()}
        stages = self._stages()
        if not stages:
            return None
        transitions, rules = self._transitions(stages)
        override_roles = self._role_list(("overrides", "roles"))
        kpis = self._kpis()
        escalations = self._escalations()
        migrations = self._migrations()
        self._graph_checks(stages, transitions)
        self._probability_checks(stages, transitions)
        self._unused(fields)
        return Playbook(
            id=str(self.data["playbook"]),
            version=int(self.data["version"]),
            title=Text.of(self.data["title"]),
            description=self._text(self.data.get("description")),
            stages=tuple(stages),
            transitions=tuple(transitions),
            fields=fields,
            roles=self.roles,
            rules=tuple(rules),
            override_roles=override_roles,
            kpis=tuple(kpis),
            escalations=tuple(escalations),
            language=self.language,
            currency=self.data.get("currency"),
            timezone=str(self.data.get("timezone", "UTC")),
            calendar=calendar,
            review=self._review(),
            migrations=tuple(migrations),
            notifications={
                str(name): str(spec) for name, spec in self.data.get("notifications", {}).items()
            },
            source=self.doc.file,
        )

    # --- small readers -------------------------------------------------------------

    @staticmethod
    def _text(value: Any) -> Text | None:
        return None if value is None else Text.of(value)

    @staticmethod
    def _duration(value: Any) -> Duration | None:
        if not isinstance(value, Mapping) or len(value) != 1:
            return None
        unit, amount = next(iter(value.items()))
        return Duration(unit, float(amount))

    def _timezone(self) -> tzinfo:
        name = self.data.get("timezone", "UTC")
        try:
            return zoneinfo.ZoneInfo(str(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.report(
                ("timezone",),
                "PB204",
                f"unknown timezone {name!r}",
                hint="use an IANA name such as Asia/Shanghai or Europe/Berlin",
            )
            return zoneinfo.ZoneInfo("UTC")

    def _date(self, path: YamlPath, value: Any) -> date | None:
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.report(path, "PB318", f"{value!r} is not a date", hint="write YYYY-MM-DD")
            return None

    def _dates(self, path: YamlPath, values: Any) -> frozenset[date]:
        out = {self._date((*path, i), v) for i, v in enumerate(values or [])}
        return frozenset(d for d in out if d is not None)

    def _calendar(self) -> Calendar:
        raw = self.data.get("calendar") or {}
        path: YamlPath = ("calendar",)
        weekdays = frozenset(_WEEKDAYS[d] for d in raw.get("weekdays", list(_WEEKDAYS)[:5]))
        if not weekdays:
            self.report((*path, "weekdays"), "PB318", "the calendar has no working weekday")
        hours = None
        if "hours" in raw:
            hours = self._hours((*path, "hours"), raw["hours"])
        return Calendar(
            weekdays=weekdays,
            holidays_country=raw.get("holidays"),
            extra_holidays=self._dates((*path, "extra_holidays"), raw.get("extra_holidays")),
            extra_workdays=self._dates((*path, "extra_workdays"), raw.get("extra_workdays")),
            hours=hours,
        )

    def _hours(self, path: YamlPath, raw: Mapping[str, Any]) -> tuple[time, time] | None:
        try:
            start, end = time.fromisoformat(raw["start"]), time.fromisoformat(raw["end"])
        except (KeyError, ValueError):
            self.report(path, "PB318", "working hours need start and end as HH:MM")
            return None
        if start >= end:
            self.report(path, "PB318", f"working hours end ({end}) before they start ({start})")
            return None
        return start, end

    def _roles(self) -> dict[str, Role]:
        raw = self.data.get("roles") or {}
        return {rid: Role(rid, self._text((spec or {}).get("title"))) for rid, spec in raw.items()}

    def _role_list(self, path: YamlPath) -> tuple[str, ...]:
        value: Any = self.data
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            return ()
        roles = [value] if isinstance(value, str) else list(value)
        for i, role in enumerate(roles):
            self.uses.roles.add(role)
            target = (*path, i) if not isinstance(value, str) else path
            self._reference(target, "role", role, self.roles, "PB304")
        return tuple(roles)

    def _roles_at(self, path: YamlPath, value: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        roles = [value] if isinstance(value, str) else list(value)
        for i, role in enumerate(roles):
            self.uses.roles.add(role)
            target = (*path, i) if not isinstance(value, str) else path
            self._reference(target, "role", role, self.roles, "PB304")
        return tuple(roles)

    # --- fields --------------------------------------------------------------------

    def _fields(self) -> dict[str, FieldSpec]:
        out: dict[str, FieldSpec] = {}
        for fid, raw in (self.data.get("fields") or {}).items():
            path: YamlPath = ("fields", fid)
            values = raw.get("values")
            kind = raw["type"]
            if fid in KEYWORDS:
                self.report(
                    path,
                    "PB315",
                    f"{fid!r} is a word of the condition language and cannot name a field",
                    hint=f"rename it, e.g. {fid}_value",
                    key=True,
                )
            if kind == "enum" and not values:
                self.report(path, "PB315", f"enum field {fid!r} needs a list of values")
            if values and len(set(values)) != len(values):
                dupes = sorted({v for v in values if values.count(v) > 1})
                self.report((*path, "values"), "PB315", f"duplicate values {dupes}")
            spec = FieldSpec(
                id=fid,
                type=FieldType(kind, tuple(values) if values else None),
                title=self._text(raw.get("title")),
                description=self._text(raw.get("description")),
                minimum=self._bound(path, kind, raw, "min"),
                maximum=self._bound(path, kind, raw, "max"),
                min_length=raw.get("min_length"),
                max_length=raw.get("max_length"),
                pattern=self._pattern(path, raw.get("pattern")),
                min_items=raw.get("min_items"),
                max_items=raw.get("max_items"),
                line=self.line(path),
            )
            self._field_ranges(path, spec)
            out[fid] = spec
        return out

    def _bound(self, path: YamlPath, kind: str, raw: Mapping[str, Any], key: str) -> Any:
        value = raw.get(key)
        if value is None or kind not in ("date", "datetime"):
            return value
        return self._date((*path, key), str(value)[:10])

    def _pattern(self, path: YamlPath, pattern: str | None) -> str | None:
        if pattern is None:
            return None
        try:
            re.compile(pattern)
        except re.error as exc:
            self.report((*path, "pattern"), "PB315", f"invalid regular expression: {exc}")
        return pattern

    def _field_ranges(self, path: YamlPath, spec: FieldSpec) -> None:
        pairs = (
            ("min", "max", spec.minimum, spec.maximum),
            ("min_length", "max_length", spec.min_length, spec.max_length),
            ("min_items", "max_items", spec.min_items, spec.max_items),
        )
        for low_key, high_key, low, high in pairs:
            if low is not None and high is not None and low > high:
                self.report(
                    (*path, low_key),
                    "PB315",
                    f"{low_key} ({low}) is greater than {high_key} ({high})",
                )

    def _field_ref(self, path: YamlPath, name: Any) -> bool:
        self.uses.fields.add(str(name))
        return self._reference(path, "field", str(name), self.field_types, "PB303")

    # --- conditions ----------------------------------------------------------------

    def condition(self, path: YamlPath, source: Any) -> Condition | None:
        """Parse and type-check a condition at ``path``; report problems at their position."""
        try:
            expr = parse_condition(source, self.field_types, tz=self.tz)
        except ConditionError as error:
            self._condition_error(path, source, error)
            # The fields it names are still in use: no unused-field warning on top.
            self.uses.fields.update(_names_in(source) & self.field_types.keys())
            return None
        names = referenced_fields(expr)
        self.uses.fields.update(names)
        mark = self.doc.mark(path)
        return Condition(
            expr=expr,
            text=render(expr),
            test=to_python(expr),
            fields=names,
            line=mark.line,
            column=mark.column,
        )

    def _condition_error(self, path: YamlPath, source: Any, error: ConditionError) -> None:
        offset = error.details.get("offset")
        subpath = tuple(error.details.get("subpath", ()))
        at: tuple[int, int] | None = None
        target = path
        if isinstance(source, str) and isinstance(offset, int):
            at = self.doc.locate_in_scalar(path, offset)
        elif subpath:
            target = (*path, *subpath)
        self.diagnostics.append(
            Diagnostic(
                file=self.doc.file,
                line=at[0] if at else self.doc.mark(target).line,
                column=at[1] if at else self.doc.mark(target).column,
                severity="error",
                code=error.code,
                message=error.message,
                path=path_to_str(target),
                hint=error.hint,
            )
        )

    def _criteria(self, path: YamlPath, raw: Sequence[Any], kind: str) -> tuple[Criterion, ...]:
        out: list[Criterion] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(raw or []):
            item_path: YamlPath = (*path, i)
            named = isinstance(item, Mapping) and "condition" in item
            cid = str(item["id"]) if named and "id" in item else f"{kind}[{i}]"
            source = item["condition"] if named else item
            cond_path = (*item_path, "condition") if named else item_path
            if cid in seen:
                self.report((*item_path, "id"), "PB301", f"criterion id {cid!r} used twice")
            seen[cid] = i
            condition = self.condition(cond_path, source)
            if condition is None:
                continue
            out.append(
                Criterion(
                    id=cid,
                    condition=condition,
                    title=self._text(item.get("title")) if named else None,
                    message=self._text(item.get("message")) if named else None,
                    line=self.line(item_path),
                )
            )
        return tuple(out)

    # --- stages and actions --------------------------------------------------------

    def _stages(self) -> list[Stage]:
        raw_stages = self.data.get("stages") or []
        self.stage_ids = [str(s["id"]) for s in raw_stages]
        stages: list[Stage] = []
        seen_stage: dict[str, int] = {}
        seen_action: dict[str, YamlPath] = {}
        for index, raw in enumerate(raw_stages):
            path: YamlPath = ("stages", index)
            sid = str(raw["id"])
            if sid in seen_stage:
                self.report(
                    (*path, "id"),
                    "PB301",
                    f"stage id {sid!r} is already used by stages[{seen_stage[sid]}]",
                )
                continue
            seen_stage[sid] = index
            actions = self._actions(path, sid, raw.get("actions") or [], seen_action)
            stages.append(
                Stage(
                    id=sid,
                    index=len(stages),
                    title=Text.of(raw["title"]),
                    outcome=raw.get("outcome", "open"),
                    probability=raw.get("probability"),
                    description=self._text(raw.get("description")),
                    goal=self._text(raw.get("goal")),
                    roles=self._roles_at((*path, "roles"), raw.get("roles")),
                    entry=self._criteria((*path, "entry"), raw.get("entry") or [], "entry"),
                    actions=actions,
                    exit=self._criteria((*path, "exit"), raw.get("exit") or [], "exit"),
                    line=self.line(path),
                )
            )
            self._entry_satisfiable(path, stages[-1])
        if stages and stages[0].outcome != "open":
            self.report(
                ("stages", 0, "outcome"),
                "PB314",
                f"the first stage {stages[0].id!r} must be open: new deals start there",
            )
        if stages and not any(s.outcome == "won" for s in stages):
            self.report(
                ("stages",),
                "PB308",
                "no stage has outcome won",
                hint="mark the stage where the deal is won with `outcome: won`",
            )
        return stages

    def _actions(
        self,
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
                self.report(
                    (*apath, "id"),
                    "PB301",
                    f"action id {aid!r} is already used at {path_to_str(seen[aid])}",
                    hint="action ids are unique across the playbook",
                )
                continue
            seen[aid] = apath
            evidence = raw.get("evidence")
            if evidence is not None:
                self._field_ref((*apath, "evidence"), evidence)
            when = raw.get("when")
            out.append(
                RequiredAction(
                    id=aid,
                    stage=stage_id,
                    roles=self._roles_at((*apath, "role"), raw.get("role")) or (),
                    title=self._text(raw.get("title")),
                    description=self._text(raw.get("description")),
                    due=self._duration(raw.get("due")),
                    when=self.condition((*apath, "when"), when) if when is not None else None,
                    evidence=evidence,
                    optional=bool(raw.get("optional", False)),
                    line=self.line(apath),
                )
            )
        return tuple(out)

    def _entry_satisfiable(self, path: YamlPath, stage: Stage) -> None:
        if not stage.entry:
            return
        from playbook.conditions import all_of  # local: only needed for this check

        combined = all_of([c.condition.expr for c in stage.entry])
        if not is_satisfiable(combined, self.field_types):
            self.report(
                (*path, "entry"),
                "PB309",
                f"the entry criteria of stage {stage.id!r} can never all hold",
                hint="check the bounds and values: "
                + " and ".join(c.condition.text for c in stage.entry),
            )

    # --- transitions ---------------------------------------------------------------

    def _stage_refs(self, path: YamlPath, value: Any, *, star: bool) -> tuple[str, ...] | None:
        if value is None:
            return None
        if star and value == "*":
            return None
        names = [value] if isinstance(value, str) else list(value)
        good: list[str] = []
        for i, name in enumerate(names):
            target = path if isinstance(value, str) else (*path, i)
            if self._reference(target, "stage", str(name), self.stage_ids, "PB302"):
                good.append(str(name))
        return tuple(good)

    def _transitions(self, stages: list[Stage]) -> tuple[list[Transition], list[TransitionRule]]:
        raw = self.data.get("transitions") or {}
        moves: dict[tuple[str, str], Transition] = {}
        if raw.get("default", "forward") == "forward":
            for move in _default_moves(stages):
                moves[(move.source, move.target)] = move
        by_id = {s.id: s for s in stages}
        for i, item in enumerate(raw.get("allow") or []):
            path: YamlPath = ("transitions", "allow", i)
            sources = self._stage_refs((*path, "from"), item.get("from"), star=True)
            targets = self._stage_refs((*path, "to"), item.get("to"), star=False) or ()
            if sources is None:
                sources = tuple(s.id for s in stages if s.is_open)
            roles = self._roles_at((*path, "roles"), item.get("roles"))
            when = item.get("when")
            guard = self.condition((*path, "when"), when) if when is not None else None
            for source in sources:
                for target in targets:
                    if source == target:
                        continue
                    if by_id[source].outcome == "lost":
                        self.report(
                            (*path, "from"),
                            "PB317",
                            f"this move reopens deals from the lost stage {source!r}",
                        )
                    moves[(source, target)] = Transition(
                        source,
                        target,
                        "explicit",
                        roles,
                        guard,
                        self._text(item.get("title")),
                        self.line(path),
                    )
        rules = [self._rule(i, item) for i, item in enumerate(raw.get("rules") or [])]
        order = {s.id: s.index for s in stages}
        ordered = sorted(moves.values(), key=lambda t: (order[t.source], order[t.target]))
        return ordered, rules

    def _rule(self, index: int, item: Mapping[str, Any]) -> TransitionRule:
        path: YamlPath = ("transitions", "rules", index)
        when = item.get("when")
        return TransitionRule(
            targets=self._stage_refs((*path, "to"), item.get("to"), star=True),
            sources=self._stage_refs((*path, "from"), item.get("from"), star=True),
            roles=self._roles_at((*path, "roles"), item.get("roles")) or (),
            when=self.condition((*path, "when"), when) if when is not None else None,
            line=self.line(path),
        )

    # --- graph ---------------------------------------------------------------------

    def _graph_checks(self, stages: list[Stage], transitions: list[Transition]) -> None:
        forward: dict[str, set[str]] = {s.id: set() for s in stages}
        backward: dict[str, set[str]] = {s.id: set() for s in stages}
        for t in transitions:
            forward[t.source].add(t.target)
            backward[t.target].add(t.source)
        reached = _reach(stages[0].id, forward)
        closed = [s.id for s in stages if s.is_closed]
        can_close: set[str] = set()
        for sid in closed:
            can_close |= _reach(sid, backward)
        for stage in stages:
            path: YamlPath = ("stages", stage.index)
            if stage.id not in reached:
                self.report(
                    (*path, "id"),
                    "PB306",
                    f"stage {stage.id!r} cannot be reached from the first stage",
                    hint="add a transition into it under transitions.allow, or remove it",
                )
            if stage.is_open and stage.id not in can_close:
                nexts = sorted(forward[stage.id])
                where = f"it only leads to {nexts}" if nexts else "it has no way forward"
                self.report(
                    (*path, "id"),
                    "PB307",
                    f"open stage {stage.id!r} can never reach a won or lost stage: {where}",
                    hint="allow a move from it (or from its cycle) to a closed stage",
                )

    def _probability_checks(self, stages: list[Stage], transitions: list[Transition]) -> None:
        for t in transitions:
            if t.kind != "forward":
                continue
            before, after = self._stage(stages, t.source), self._stage(stages, t.target)
            if before.probability is None or after.probability is None:
                continue
            if after.probability < before.probability:
                self.report(
                    ("stages", after.index, "probability"),
                    "PB310",
                    f"probability {after.probability} of {after.id!r} is lower than "
                    f"{before.probability} of {before.id!r} before it",
                )

    @staticmethod
    def _stage(stages: list[Stage], sid: str) -> Stage:
        return next(s for s in stages if s.id == sid)

    # --- KPIs ----------------------------------------------------------------------

    def _unique_items(
        self, section: str, kind: str
    ) -> Iterator[tuple[YamlPath, Mapping[str, Any], str]]:
        """Each item of a list section with its path and id; a repeated id is PB301."""
        seen: set[str] = set()
        for i, raw in enumerate(self.data.get(section) or []):
            path: YamlPath = (section, i)
            item_id = str(raw["id"])
            if item_id in seen:
                self.report((*path, "id"), "PB301", f"{kind} id {item_id!r} used twice")
            seen.add(item_id)
            yield path, raw, item_id

    def _kpis(self) -> list[Kpi]:
        out: list[Kpi] = []
        for path, raw, kid in self._unique_items("kpis", "KPI"):
            metric = str(raw["metric"])
            for need in _KPI_NEEDS.get(metric, ()):
                if need not in raw:
                    self.report(path, "PB316", f"metric {metric!r} needs `{need}`")
            for key in ("stage", "from_stage", "to_stage"):
                if key in raw:
                    self._stage_refs((*path, key), raw[key], star=False)
            for key in ("field", "denominator"):
                if key in raw:
                    self._field_ref((*path, key), raw[key])
            by = tuple(raw.get("by") or ())
            for j, group in enumerate(by):
                if group not in _GROUP_BUILTINS and self._field_ref((*path, "by", j), group):
                    self._enum_group((*path, "by", j), group)
            where = raw.get("where")
            target = raw.get("target") or {}
            out.append(
                Kpi(
                    id=kid,
                    metric=metric,
                    title=self._text(raw.get("title")),
                    description=self._text(raw.get("description")),
                    target_min=target.get("min"),
                    target_max=target.get("max"),
                    period=raw.get("period"),
                    by=by,
                    where=self.condition((*path, "where"), where) if where is not None else None,
                    unit=raw.get("unit"),
                    params={k: raw[k] for k in _KPI_PARAMS if k in raw},
                    line=self.line(path),
                )
            )
        return out

    def _enum_group(self, path: YamlPath, group: str) -> None:
        if self.field_types[group].kind not in ("enum", "string", "boolean"):
            self.report(
                path,
                "PB403",
                f"cannot group by {group!r}: it is a {self.field_types[group].kind} field",
                hint="group by owner, team, manager, region or an enum field",
            )

    # --- escalations ---------------------------------------------------------------

    def _escalations(self) -> list[Escalation]:
        out: list[Escalation] = []
        for path, raw, eid in self._unique_items("escalations", "escalation"):
            trigger = self._trigger((*path, "trigger"), raw["trigger"])
            levels = self._levels((*path, "levels"), raw.get("levels") or [])
            when = raw.get("when")
            if trigger is None:
                continue
            out.append(
                Escalation(
                    id=eid,
                    trigger=trigger,
                    levels=levels,
                    title=self._text(raw.get("title")),
                    stages=self._stage_refs((*path, "stages"), raw.get("stages"), star=True),
                    when=self.condition((*path, "when"), when) if when is not None else None,
                    max_lateness=self._duration(raw.get("max_lateness")),
                    line=self.line(path),
                )
            )
        return out

    def _trigger(self, path: YamlPath, raw: Mapping[str, Any]) -> Trigger | None:
        for kind in ("in_stage", "since_last_activity"):
            if kind in raw:
                return Trigger(kind, duration=self._duration(raw[kind]))
        if "condition" in raw:
            condition = self.condition((*path, "condition"), raw["condition"])
            if condition is None:
                return None
            return Trigger(
                "condition", duration=self._duration(raw.get("for")), condition=condition
            )
        name = str(raw.get("date_passed"))
        if self._field_ref((*path, "date_passed"), name):
            kind = self.field_types[name].kind
            if kind not in ("date", "datetime"):
                self.report(
                    (*path, "date_passed"),
                    "PB403",
                    f"date_passed needs a date or datetime field; {name!r} is {kind}",
                )
        return Trigger("date_passed", duration=self._duration(raw.get("after")), field=name)

    def _levels(
        self, path: YamlPath, raw_levels: Sequence[Mapping[str, Any]]
    ) -> tuple[EscalationLevel, ...]:
        levels: list[EscalationLevel] = []
        for i, raw in enumerate(raw_levels):
            lpath: YamlPath = (*path, i)
            notify = [raw["notify"]] if isinstance(raw["notify"], str) else list(raw["notify"])
            for j, who in enumerate(notify):
                if who not in _NOTIFY_BUILTINS:
                    self.uses.roles.add(who)
                    self._reference(
                        (*lpath, "notify", j),
                        "role",
                        who,
                        [*_NOTIFY_BUILTINS, *self.roles],
                        "PB304",
                    )
            after = self._duration(raw.get("after")) or Duration("days", 0.0)
            if levels and after.nominal_hours <= levels[-1].after.nominal_hours:
                self.report(
                    (*lpath, "after"),
                    "PB311",
                    f"level {i + 1} comes after {after} but level {i} already after "
                    f"{levels[-1].after}: delays must increase from level to level",
                )
            levels.append(EscalationLevel(tuple(notify), after, self._text(raw.get("message"))))
        return tuple(levels)

    # --- review, migrations, unused -------------------------------------------------

    def _review(self) -> Review | None:
        raw = self.data.get("review")
        if raw is None:
            return None
        return Review(
            every=str(raw.get("every", "week")),
            weekday=_WEEKDAYS[str(raw.get("weekday", "mon"))],
            title=self._text(raw.get("title")),
        )

    def _migrations(self) -> list[Migration]:
        out: list[Migration] = []
        version = int(self.data["version"])
        for i, raw in enumerate(self.data.get("migrations") or []):
            path: YamlPath = ("migrations", i)
            if int(raw["from"]) >= version:
                self.report(
                    (*path, "from"),
                    "PB204",
                    f"migration from version {raw['from']}: it must be older than {version}",
                )
            mapping = {str(k): str(v) for k, v in (raw.get("stages") or {}).items()}
            for old, new in mapping.items():
                self._stage_refs((*path, "stages", old), new, star=False)
            out.append(Migration(int(raw["from"]), mapping, self.line(path)))
        return out

    def _unused(self, fields: Mapping[str, FieldSpec]) -> None:
        for fid in fields:
            if fid not in self.uses.fields:
                self.report(
                    ("fields", fid),
                    "PB312",
                    f"field {fid!r} is declared but no rule, action or KPI uses it",
                    key=True,
                )
        for rid in self.roles:
            if rid not in self.uses.roles:
                self.report(
                    ("roles", rid),
                    "PB313",
                    f"role {rid!r} is declared but nothing refers to it",
                    key=True,
                )


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


def _names_in(source: Any) -> set[str]:
    """Every identifier-like word in a condition that failed to parse (best effort)."""
    if isinstance(source, str):
        return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source))
    if isinstance(source, Mapping):
        return set().union(*(_names_in(v) for v in source.values()), set())
    if isinstance(source, list):
        return set().union(*(_names_in(v) for v in source), set())
    return set()


def _reach(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
