"""The ``approvals:`` section: from the validated document to :class:`~playbook.model.Approval`.

:func:`read_approvals` is called by :func:`playbook.definition.build.build`
with the build's context: stage, field and role names are recorded as
references there (unknown ones become PB302/PB303/PB304 in the lint passes,
with a did-you-mean), conditions are compiled by the build's own reader. What
only approvals can get wrong is reported here, at its place in the file:

* PB350: a step's ``person_field`` that is neither ``owner``/``manager`` nor a
  declared string field;
* PB351: two steps of one approval with the same id;
* PB352: a step with ``escalate`` levels but no ``due`` time to count from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

from playbook.conditions import FieldType
from playbook.definition.loader import YamlPath
from playbook.definition.report import Reporter
from playbook.i18n import Message
from playbook.model import (
    Approval,
    ApprovalStep,
    Approver,
    Condition,
    Duration,
    EscalationLevel,
    Text,
)

__all__ = ["PERSON_FIELD_BUILTINS", "read_approvals"]

PERSON_FIELD_BUILTINS = ("owner", "manager")
"""The deal's own fields that name a person, usable as ``person_field`` without declaring."""

ConditionReader = Callable[[YamlPath, Any], Condition | None]
LevelReader = Callable[[YamlPath, Sequence[Mapping[str, Any]]], tuple[EscalationLevel, ...]]
DurationReader = Callable[[Any], Duration | None]


class BuildContext(Protocol):
    """What the approvals reader needs of the build's context."""

    data: dict[str, Any]
    reporter: Reporter
    role_ids: tuple[str, ...]
    stage_ids: tuple[str, ...]
    field_ids: tuple[str, ...]
    field_types: dict[str, FieldType]

    def refer(self, path: YamlPath, kind: str, name: str, known: Sequence[str], code: str) -> bool:
        """Record a reference; True when it names something known."""
        ...


def read_approvals(
    ctx: BuildContext,
    condition: ConditionReader,
    levels: LevelReader,
    duration: DurationReader,
) -> tuple[Approval, ...]:
    """Every approval of the document, in order; parts that cannot be built are reported."""
    reader = _Reader(ctx, condition, levels, duration)
    out: list[Approval] = []
    seen: set[str] = set()
    for index, raw in enumerate(ctx.data.get("approvals") or []):
        path: YamlPath = ("approvals", index)
        if str(raw["id"]) in seen:
            message = Message("diag.build.id_used_twice.approval", item_id=raw["id"])
            ctx.reporter.report((*path, "id"), "PB301", message)
        seen.add(str(raw["id"]))
        out.append(reader.approval(path, raw))
    return tuple(out)


class _Reader:
    """Reads one approval after another with the build's readers."""

    def __init__(
        self,
        ctx: BuildContext,
        condition: ConditionReader,
        levels: LevelReader,
        duration: DurationReader,
    ) -> None:
        self.ctx = ctx
        self.condition = condition
        self.levels = levels
        self.duration = duration

    def approval(self, path: YamlPath, raw: Mapping[str, Any]) -> Approval:
        ctx = self.ctx
        stages = _names(raw.get("stages"))
        for i, name in enumerate(stages):
            where = (*path, "stages") if isinstance(raw["stages"], str) else (*path, "stages", i)
            ctx.refer(where, "stage", name, ctx.stage_ids, "PB302")
        fields = _names(raw.get("fields"))
        invalidate = _names(raw.get("invalidate_on"))
        for key, names in (("fields", fields), ("invalidate_on", invalidate)):
            for i, name in enumerate(names):
                ctx.refer((*path, key, i), "field", name, ctx.field_ids, "PB303")
        when = raw.get("when")
        return Approval(
            id=str(raw["id"]),
            steps=self.steps((*path, "steps"), raw["steps"]),
            when=None if when is None else self.condition((*path, "when"), when),
            stages=stages,
            fields=fields,
            invalidate_on=invalidate,
            delegation=bool(raw.get("delegation", True)),
            title=_text(raw.get("title")),
            line=ctx.reporter.line(path),
        )

    def steps(self, path: YamlPath, raw_steps: Sequence[Any]) -> tuple[ApprovalStep, ...]:
        out: list[ApprovalStep] = []
        seen: set[str] = set()
        for index, raw in enumerate(raw_steps):
            step_path: YamlPath = (*path, index)
            if str(raw["id"]) in seen:
                message = Message("diag.approvals.step_id_twice", step=raw["id"])
                self.ctx.reporter.report((*step_path, "id"), "PB351", message)
            seen.add(str(raw["id"]))
            out.append(self.step(step_path, raw))
        return tuple(out)

    def step(self, path: YamlPath, raw: Mapping[str, Any]) -> ApprovalStep:
        due = self.duration(raw.get("due"))
        escalate = self.levels((*path, "escalate"), raw.get("escalate") or [])
        if escalate and due is None:
            self.ctx.reporter.report(
                (*path, "escalate"),
                "PB352",
                Message("diag.approvals.escalate_without_due", step=raw["id"]),
                hint=Message("diag.approvals.escalate_without_due_hint"),
            )
        require: Literal["any", "all"] = "all" if raw.get("require") == "all" else "any"
        return ApprovalStep(
            id=str(raw["id"]),
            approvers=self.approvers(path, raw),
            require=require,
            title=_text(raw.get("title")),
            due=due,
            escalate=escalate,
            line=self.ctx.reporter.line(path),
        )

    def approvers(self, path: YamlPath, raw: Mapping[str, Any]) -> tuple[Approver, ...]:
        ctx = self.ctx
        out: list[Approver] = []
        for kind in ("role", "person", "person_field"):
            value = raw.get(kind)
            for i, name in enumerate(_names(value)):
                where = (*path, kind) if isinstance(value, str) else (*path, kind, i)
                if kind == "role":
                    ctx.refer(where, "role", name, ctx.role_ids, "PB304")
                elif kind == "person_field":
                    self.person_field(where, name)
                out.append(Approver(kind, name))
        return tuple(out)

    def person_field(self, path: YamlPath, name: str) -> None:
        """PB350 unless ``name`` is owner, manager or a declared string field."""
        ctx = self.ctx
        if name in PERSON_FIELD_BUILTINS:
            return
        spec = ctx.field_types.get(name)
        if spec is not None:
            ctx.refer(path, "field", name, ctx.field_ids, "PB303")  # counts as used
            if spec.kind == "string":
                return
        people = [*PERSON_FIELD_BUILTINS]
        people += [fid for fid, kind in ctx.field_types.items() if kind.kind == "string"]
        ctx.reporter.report(
            path,
            "PB350",
            Message("diag.approvals.not_a_person_field", name=name),
            hint=Message("diag.approvals.person_fields", listing=people),
        )


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def _text(value: Any) -> Text | None:
    return None if value is None else Text.of(value)
