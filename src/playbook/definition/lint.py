"""The semantic checks a JSON Schema cannot express, one small pass per concern.

Each pass reads what :func:`~playbook.definition.build.build` made (and the
document, for the positions of what the model does not keep) and reports
through the :class:`~playbook.definition.report.Reporter`: unknown references,
contradictory field declarations, the stage graph (unreachable and trap
stages), entry criteria that can never hold, decreasing probabilities, moves
out of lost stages, incomplete KPIs, escalation levels out of order, migration
versions, notification sinks refused whatever the operator allows, and unused
fields and roles.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from playbook.conditions import all_of, is_satisfiable
from playbook.conditions.parser import KEYWORDS
from playbook.definition.build import GROUP_BUILTINS, Built, duration
from playbook.definition.loader import YamlPath
from playbook.definition.report import Reporter
from playbook.definition.sinkspec import spec_problem
from playbook.definition.table_checks import check_tables
from playbook.diagnostics import did_you_mean
from playbook.i18n import Items, Message
from playbook.model import Duration, FieldSpec, Kpi, Playbook

__all__ = ["lint"]

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

_ModelPass = Callable[[Playbook, Mapping[str, Any], Reporter], None]


def lint(built: Built, reporter: Reporter) -> None:
    """Run every pass over what was built; the model passes only when there is a model."""
    _references(built, reporter)
    for fid, spec in built.fields.items():
        _field_spec(fid, spec, reporter)
    if built.playbook is None:
        return
    for model_pass in _MODEL_PASSES:
        model_pass(built.playbook, reporter.doc.data, reporter)
    _unused(built, reporter)


def _references(built: Built, reporter: Reporter) -> None:
    """PB302/PB303/PB304: a stage, field or role that is not declared."""
    for ref in built.unknown:
        listing: list[object] = [*ref.known[:12]] or [Message("diag.lint.none_declared")]
        hint = did_you_mean(ref.name, ref.known) or Message(
            f"diag.lint.known.{ref.kind}", listing=listing
        )
        reporter.report(
            ref.path,
            ref.code,
            Message(f"diag.lint.unknown.{ref.kind}", name=ref.name),
            hint=hint,
        )


def _field_spec(fid: str, spec: FieldSpec, reporter: Reporter) -> None:
    """PB315: a field declaration that contradicts itself or the condition language."""
    path: YamlPath = ("fields", fid)
    values = spec.type.values
    if fid in KEYWORDS:
        reporter.report(
            path,
            "PB315",
            Message("diag.lint.word_condition_language_cannot", fid=fid),
            hint=Message("diag.lint.rename_e_g_value", fid=fid),
            key=True,
        )
    if spec.kind == "enum" and not values:
        reporter.report(path, "PB315", Message("diag.lint.enum_field_needs_list", fid=fid))
    if values and len(set(values)) != len(values):
        dupes = sorted({v for v in values if values.count(v) > 1})
        reporter.report(
            (*path, "values"), "PB315", Message("diag.lint.duplicate_values", dupes=dupes)
        )
    if spec.pattern is not None:
        try:
            re.compile(spec.pattern)
        except re.error as exc:
            reporter.report(
                (*path, "pattern"),
                "PB315",
                Message("diag.lint.invalid_regular_expression", exc=exc),
            )
        except RecursionError:  # Python's regex parser recurses once per nested group
            message = Message("diag.lint.invalid_regular_expression_nests")
            reporter.report((*path, "pattern"), "PB315", message)
    pairs = (
        ("min", "max", spec.minimum, spec.maximum),
        ("min_length", "max_length", spec.min_length, spec.max_length),
        ("min_items", "max_items", spec.min_items, spec.max_items),
    )
    for low_key, high_key, low, high in pairs:
        if low is not None and high is not None and low > high:
            reporter.report(
                (*path, low_key),
                "PB315",
                Message(
                    "diag.lint.greater_than", low_key=low_key, low=low, high_key=high_key, high=high
                ),
            )


# --- stages and the graph --------------------------------------------------------------


def _impossible_entry(playbook: Playbook, data: Mapping[str, Any], reporter: Reporter) -> None:
    """PB309: a stage whose entry criteria can never all hold for the declared field types."""
    field_types = {fid: spec.type for fid, spec in playbook.fields.items()}
    for stage in playbook.stages:
        if not stage.entry:
            continue
        combined = all_of([c.condition.expr for c in stage.entry])
        if not is_satisfiable(combined, field_types):
            reporter.report(
                ("stages", _document_index(data, stage.id), "entry"),
                "PB309",
                Message("diag.lint.entry_criteria_stage_can", id=stage.id),
                hint=Message(
                    "diag.lint.check_bounds_values",
                    names=Items([c.condition.text for c in stage.entry]),
                ),
            )


def _document_index(data: Mapping[str, Any], stage_id: str) -> int:
    """Where a stage is in the document: the model leaves out stages with a repeated id."""
    return next(i for i, raw in enumerate(data["stages"]) if str(raw["id"]) == stage_id)


def _outcomes(playbook: Playbook, data: Mapping[str, Any], reporter: Reporter) -> None:
    """PB314: the first stage is closed; PB308: no stage is won."""
    first = playbook.stages[0]
    if first.outcome != "open":
        reporter.report(
            ("stages", 0, "outcome"),
            "PB314",
            Message("diag.lint.first_stage_must_open", id=first.id),
        )
    if not any(s.outcome == "won" for s in playbook.stages):
        reporter.report(
            ("stages",),
            "PB308",
            Message("diag.lint.no_stage_has_outcome"),
            hint=Message("diag.lint.mark_stage_where_deal"),
        )


def _reachability(playbook: Playbook, data: Mapping[str, Any], reporter: Reporter) -> None:
    """PB306: a stage the first cannot reach; PB307: an open stage that cannot close."""
    stages = playbook.stages
    forward: dict[str, set[str]] = {s.id: set() for s in stages}
    backward: dict[str, set[str]] = {s.id: set() for s in stages}
    for t in playbook.transitions:
        forward[t.source].add(t.target)
        backward[t.target].add(t.source)
    reached = _reach(stages[0].id, forward)
    can_close: set[str] = set()
    for stage in stages:
        if stage.is_closed:
            can_close |= _reach(stage.id, backward)
    for stage in stages:
        path: YamlPath = ("stages", stage.index, "id")
        if stage.id not in reached:
            reporter.report(
                path,
                "PB306",
                Message("diag.lint.stage_cannot_reached_from", id=stage.id),
                hint=Message("diag.lint.add_transition_into_under"),
            )
        if stage.is_open and stage.id not in can_close:
            nexts = sorted(forward[stage.id])
            where = (
                Message("diag.lint.only_leads_to", stages=[f"'{s}'" for s in nexts])
                if nexts
                else Message("diag.lint.no_way_forward")
            )
            reporter.report(
                path,
                "PB307",
                Message("diag.lint.open_stage_can_never", id=stage.id, where=where),
                hint=Message("diag.lint.allow_move_from_from"),
            )


def _reach(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _probabilities(playbook: Playbook, data: Mapping[str, Any], reporter: Reporter) -> None:
    """PB310: win probability goes down along a forward move."""
    by_id = {stage.id: stage for stage in playbook.stages}
    for t in playbook.transitions:
        if t.kind != "forward":
            continue
        before, after = by_id[t.source], by_id[t.target]
        if before.probability is None or after.probability is None:
            continue
        if after.probability < before.probability:
            reporter.report(
                ("stages", after.index, "probability"),
                "PB310",
                Message(
                    "diag.lint.probability_lower_than_before",
                    probability=after.probability,
                    id=after.id,
                    probability2=before.probability,
                    id2=before.id,
                ),
            )


def _reopened_lost(playbook: Playbook, data: Mapping[str, Any], reporter: Reporter) -> None:
    """PB317: an allowed move out of a lost stage (one report per move, as written)."""
    for i, item in enumerate((data.get("transitions") or {}).get("allow") or []):
        sources = _stage_names(playbook, item.get("from"))
        targets = _stage_names(playbook, item.get("to"))
        for source in sources:
            stage = playbook.stage(source)
            if stage is None or stage.outcome != "lost":
                continue
            for target in targets:
                if target != source:
                    reporter.report(
                        ("transitions", "allow", i, "from"),
                        "PB317",
                        Message("diag.lint.move_reopens_deals_from", source=source),
                    )


def _stage_names(playbook: Playbook, value: Any) -> list[str]:
    """The declared stage ids a ``from``/``to`` value names (``*`` names only open stages)."""
    if value is None or value == "*":
        return []
    names = [value] if isinstance(value, str) else list(value)
    return [str(name) for name in names if playbook.has_stage(str(name))]


# --- KPIs, escalations, migrations -----------------------------------------------------


def _kpi_params(playbook: Playbook, data: Mapping[str, Any], reporter: Reporter) -> None:
    """PB316: a metric without a parameter it needs; PB403: grouping by an ungroupable field;
    PB321: a per-member target on a figure that does not add up over members."""
    for index, kpi in enumerate(playbook.kpis):
        path: YamlPath = ("kpis", index)
        if kpi.per is not None and not _adds_up(kpi):
            reporter.report(
                (*path, "per"),
                "PB321",
                Message("diag.lint.per_member_not_additive", metric=kpi.metric),
                hint=Message("diag.lint.remove_per_or_count"),
            )
        for need in _KPI_NEEDS.get(kpi.metric, ()):
            if need not in kpi.params:
                reporter.report(
                    path, "PB316", Message("diag.lint.metric_needs", metric=kpi.metric, need=need)
                )
        for j, group in enumerate(kpi.by):
            spec = playbook.fields.get(group)
            if group in GROUP_BUILTINS or spec is None:
                continue
            if spec.kind not in ("enum", "string", "boolean"):
                reporter.report(
                    (*path, "by", j),
                    "PB403",
                    Message("diag.lint.cannot_group_by_field", group=group, kind=spec.kind),
                    hint=Message("diag.lint.group_by_owner_team"),
                )


def _adds_up(kpi: Kpi) -> bool:
    """Counts and sums add up over members; ratios, averages and percentiles do not."""
    if kpi.metric in _ADDITIVE_METRICS:
        return True
    return kpi.metric == "field_aggregate" and kpi.params.get("aggregate") in ("sum", "count")


_ADDITIVE_METRICS = frozenset(
    {
        "stage_entries",
        "won_deals",
        "won_value",
        "activity_count",
        "pipeline_value",
        "weighted_pipeline",
    }
)


def _raw_escalations(data: Mapping[str, Any]) -> Iterator[tuple[YamlPath, Mapping[str, Any]]]:
    # From the document: an escalation whose condition fails is not in the model.
    for i, raw in enumerate(data.get("escalations") or []):
        yield ("escalations", i), raw


def _date_passed(playbook: Playbook, data: Mapping[str, Any], reporter: Reporter) -> None:
    """PB403: a ``date_passed`` trigger on a field that holds no date."""
    for path, raw in _raw_escalations(data):
        trigger = raw["trigger"]
        if any(kind in trigger for kind in ("in_stage", "since_last_activity", "condition")):
            continue
        name = str(trigger.get("date_passed"))
        spec = playbook.fields.get(name)
        if spec is not None and spec.kind not in ("date", "datetime"):
            reporter.report(
                (*path, "trigger", "date_passed"),
                "PB403",
                Message("diag.lint.date_passed_needs_date", name=name, kind=spec.kind),
            )


def _duration_words(duration: Duration) -> Message:
    """``2 days``, ``4 working hours`` (``2 天``, ``4 个工作小时``)."""
    amount = duration.amount
    shown = int(amount) if float(amount).is_integer() else amount
    return Message("diag.lint.duration", amount=shown, unit=Message(f"unit.{duration.unit}"))


def _level_order(playbook: Playbook, data: Mapping[str, Any], reporter: Reporter) -> None:
    """PB311: an escalation level that does not come later than the one before it."""
    for path, raw in _raw_escalations(data):
        previous: Duration | None = None
        for i, level in enumerate(raw.get("levels") or []):
            after = duration(level.get("after")) or Duration("days", 0.0)
            if previous is not None and after.nominal_hours <= previous.nominal_hours:
                reporter.report(
                    (*path, "levels", i, "after"),
                    "PB311",
                    Message(
                        "diag.lint.level_comes_after_but",
                        value=i + 1,
                        after=_duration_words(after),
                        i=i,
                        previous=_duration_words(previous),
                    ),
                )
            previous = after


def _migration_versions(playbook: Playbook, data: Mapping[str, Any], reporter: Reporter) -> None:
    """PB204: a migration from a version that is not older than this one."""
    for i, raw in enumerate(data.get("migrations") or []):
        if int(raw["from"]) >= playbook.version:
            reporter.report(
                ("migrations", i, "from"),
                "PB204",
                Message(
                    "diag.lint.migration_from_version_must",
                    raw=raw["from"],
                    version=playbook.version,
                ),
            )


def _unused(built: Built, reporter: Reporter) -> None:
    """PB312/PB313: a declared field or role that nothing refers to."""
    assert built.playbook is not None
    used = built.used
    declared = (("field", built.playbook.fields), ("role", built.playbook.roles))
    for kind, names in declared:
        section, code = _UNUSED[kind]
        for name in names:
            if (kind, name) not in used:
                reporter.report(
                    (section, name),
                    code,
                    Message(f"diag.lint.declared_but.{kind}", name=name),
                    key=True,
                )


_UNUSED = {"field": ("fields", "PB312"), "role": ("roles", "PB313")}


def _unsafe_sinks(playbook: Playbook, data: Mapping[str, Any], reporter: Reporter) -> None:
    """PB319: a notification sink refused from its text alone (a path out of its folder, say)."""
    for name, spec in playbook.notifications.items():
        why = spec_problem(spec)
        if why is not None:
            reporter.report(
                ("notifications", name),
                "PB319",
                Message("diag.lint.notification_sink_unsafe", name=name, why=why),
                hint=Message("diag.lint.no_sweep_sends_whatever"),
            )


_MODEL_PASSES: tuple[_ModelPass, ...] = (
    _impossible_entry,
    check_tables,
    _outcomes,
    _reopened_lost,
    _reachability,
    _probabilities,
    _kpi_params,
    _date_passed,
    _level_order,
    _migration_versions,
    _unsafe_sinks,
)
