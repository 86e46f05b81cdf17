"""Type-check a syntax tree against the declared fields and build the IR.

The rules, per operand kind (``len(x)`` is an integer):

=========================  =================================  ==========================
kind                       operators                          compared with
=========================  =================================  ==========================
number, integer, decimal   ``== != < <= > >= in not in``      numbers, numeric fields
string                     ``== != < <= > >= in not in``      text, string/enum fields
enum                       ``== != in not in``                its declared values
boolean                    ``== !=``                          ``true``, ``false``
date / datetime            ``== != < <= > >= in not in``      ISO text, same-kind fields
list                       ``contains``, ``has()``, ``len()``  (allowed) item text
=========================  =================================  ==========================
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo

from playbook.conditions import ir, syntax
from playbook.conditions.fieldtypes import FieldType, family
from playbook.conditions.literals import convert, describe
from playbook.conditions.syntax import Loc, did_you_mean, problem
from playbook.errors import ConditionError
from playbook.i18n import Message

__all__ = ["check"]

_FLIPPED: dict[str, ir.CompareOp] = {
    "==": "==",
    "!=": "!=",
    "<": ">",
    "<=": ">=",
    ">": "<",
    ">=": "<=",
}
_OPS: dict[str, ir.CompareOp] = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_ORDERED = frozenset({"<", "<=", ">", ">="})
_LEN_TYPE = FieldType("integer")


def check(node: syntax.SCond, fields: Mapping[str, FieldType], tz: tzinfo) -> ir.Expr:
    """The IR of ``node``; ConditionError (PB402, PB403, PB405, PB406) on the first problem."""
    return _Checker(fields, tz).condition(node)


class _Checker:
    def __init__(self, fields: Mapping[str, FieldType], tz: tzinfo) -> None:
        self.fields = fields
        self.tz = tz

    def condition(self, node: syntax.SCond) -> ir.Expr:
        if isinstance(node, syntax.SConst):
            return ir.Const(node.value)
        if isinstance(node, syntax.SAll):
            return ir.all_of(self.condition(item) for item in node.items)
        if isinstance(node, syntax.SAny):
            return ir.any_of(self.condition(item) for item in node.items)
        if isinstance(node, syntax.SNot):
            return ir.Not(self.condition(node.item))
        if isinstance(node, syntax.SHas):
            return ir.Has(self.field(node.field))
        if isinstance(node, syntax.SCompare):
            return self.compare(node)
        if isinstance(node, syntax.SIn):
            return self.membership(node)
        if isinstance(node, syntax.SContains):
            return self.contains(node)
        return self.bare(node)

    # --- operands ---

    def field(self, node: syntax.SField) -> ir.FieldRef:
        ftype = self.fields.get(node.name)
        if ftype is None:
            hint = did_you_mean(node.name, self.fields)
            if hint is None and not self.fields:
                hint = Message("diag.typecheck.declare_under_fields")
            raise problem(
                "PB402", Message("diag.typecheck.unknown_field", name=node.name), node.loc, hint
            )
        return ir.FieldRef(node.name, ftype)

    def operand(self, node: syntax.SField | syntax.SLen) -> ir.Operand:
        if isinstance(node, syntax.SField):
            return self.field(node)
        ref = self.field(node.field)
        if ref.type.kind not in ("string", "list"):
            raise problem(
                "PB403",
                Message(
                    "diag.typecheck.len_counts_text_characters", name=ref.name, kind=ref.type.kind
                ),
                node.field.loc,
                Message("diag.typecheck.len_works_on_string"),
            )
        return ir.Len(ref)

    def check_op(self, op: str, operand: ir.Operand, loc: Loc) -> None:
        kind = _kind(operand)
        hint: Message | None = None
        if kind == "list" and op != "contains":
            hint = Message("diag.typecheck.list_fields_use_contains")
        elif kind == "boolean" and op not in ("==", "!="):  # in [true] adds nothing to ==
            hint = Message("diag.typecheck.compare_boolean_field_true")
        elif kind == "enum" and op in _ORDERED:
            hint = Message("diag.typecheck.enum_values_have_no")
        elif op == "contains" and kind != "list":
            hint = Message("diag.typecheck.contains_looks_item_list")
        if hint is not None:
            shown = op.replace("_", " ")
            raise problem(
                "PB405",
                Message("diag.typecheck.does_not_apply", shown=shown, what=_what(operand)),
                loc,
                hint,
            )

    def literal(self, node: syntax.SLit, operand: ir.Operand, op: str) -> ir.Literal:
        if node.value is None:
            raise _null(node, operand, op)
        target = _LEN_TYPE if isinstance(operand, ir.Len) else operand.type
        return ir.Literal(convert(node.value, target, _what(operand), node.loc, self.tz))

    # --- atoms ---

    def compare(self, node: syntax.SCompare) -> ir.Expr:
        left, right, op = node.left, node.right, node.op
        if isinstance(left, syntax.SLit):
            if isinstance(right, syntax.SLit):
                raise problem("PB403", Message("diag.typecheck.compares_two_values_one"), node.loc)
            left, right, op = right, left, _FLIPPED[op]
        subject = self.operand(left)
        self.check_op(op, subject, node.op_loc)
        if isinstance(right, syntax.SLit):
            return ir.Compare(_OPS[op], subject, self.literal(right, subject, op))
        other = self.operand(right)
        self.check_op(op, other, node.op_loc)
        if family(_kind(subject)) != family(_kind(other)):
            raise problem(
                "PB403",
                Message("diag.typecheck.cannot_compared", what=_what(subject), what2=_what(other)),
                right.loc,
            )
        return ir.Compare(_OPS[op], subject, other)

    def membership(self, node: syntax.SIn) -> ir.Expr:
        subject = self.operand(self.subject(node.operand, "in"))
        op = "not_in" if node.negated else "in"
        self.check_op(op, subject, node.op_loc)
        items = node.items.value
        assert isinstance(items, tuple)
        values = tuple(self.literal(item, subject, op).value for item in items)
        return ir.In(subject, values, node.negated)

    def contains(self, node: syntax.SContains) -> ir.Expr:
        subject = self.operand(self.subject(node.operand, "contains"))
        self.check_op("contains", subject, node.op_loc)
        assert isinstance(subject, ir.FieldRef)  # check_op refused len(), an integer
        if not isinstance(node.item, syntax.SLit):
            raise problem(
                "PB403",
                Message("diag.typecheck.contains_looks_value_not"),
                node.item.loc,
                Message("diag.typecheck.write_item_as_quoted"),
            )
        return ir.Contains(subject, str(self.literal(node.item, subject, "contains").value))

    def subject(self, node: syntax.SValue, op: str) -> syntax.SField | syntax.SLen:
        if isinstance(node, syntax.SLit):
            raise problem(
                "PB403",
                Message("diag.typecheck.left_side_must_field", op=op),
                node.loc,
                Message("diag.typecheck.write_field", op=op),
            )
        return node

    def bare(self, node: syntax.SBare) -> ir.Expr:
        value = node.value
        if isinstance(value, syntax.SLit):
            if isinstance(value.value, bool):
                return ir.Const(value.value)
            raise problem(
                "PB403",
                Message("diag.typecheck.on_own_not_condition", describe=describe(value.value)),
                node.loc,
                Message("diag.typecheck.compare_field_amount_50000"),
            )
        operand = self.operand(value)
        if isinstance(operand, ir.FieldRef) and operand.type.kind == "boolean":
            return ir.Compare("==", operand, ir.Literal(True))
        hint = (
            Message("diag.typecheck.did_you_mean_has", name=operand.name)
            if isinstance(operand, ir.FieldRef)
            else (Message("diag.typecheck.compare_len_0", name=operand.field.name))
        )
        raise problem(
            "PB403",
            Message("diag.typecheck.not_condition_on_own", what=_what(operand)),
            node.loc,
            hint,
        )


def _kind(operand: ir.Operand) -> str:
    return "integer" if isinstance(operand, ir.Len) else operand.type.kind


def _what(operand: ir.Operand) -> str:
    if isinstance(operand, ir.Len):
        return f"len({operand.field.name})"
    return f"'{operand.name}' ({operand.type.kind})"


def _null(node: syntax.SLit, operand: ir.Operand, op: str) -> ConditionError:
    name = operand.field.name if isinstance(operand, ir.Len) else operand.name
    hints = {
        "==": Message("diag.typecheck.write_not_has", name=name),
        "!=": Message("diag.typecheck.write_has", name=name),
    }
    return problem(
        "PB406",
        Message("diag.typecheck.null_not_value_compare"),
        node.loc,
        hints.get(op, Message("diag.typecheck.test_with_has", name=name)),
    )
