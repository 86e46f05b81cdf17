"""Parse a one-line condition string into the syntax tree.

Grammar (keywords are lowercase and case-sensitive)::

    condition  = or_expr END
    or_expr    = and_expr { "or" and_expr }
    and_expr   = not_expr { "and" not_expr }
    not_expr   = "not" not_expr | primary
    primary    = "(" or_expr ")" | "has" "(" NAME ")" | comparison
    comparison = value [ CMP value | ["not"] "in" list | "contains" value ]
    value      = NAME | "len" "(" NAME ")" | NUMBER | STRING | "true" | "false"
    list       = "[" [ literal { "," literal } [","] ] "]"
"""

from __future__ import annotations

from collections.abc import Callable

from playbook.conditions import syntax
from playbook.conditions.lexer import Token, tokenize
from playbook.conditions.limits import MAX_DEPTH
from playbook.conditions.syntax import ROOT, Loc, did_you_mean, problem
from playbook.errors import ConditionError
from playbook.i18n import Message

__all__ = ["FUNCTIONS", "KEYWORDS", "parse_string"]

KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "true", "false"})
"""Reserved words of the string form: a field with one of these ids needs the structured form."""

FUNCTIONS = ("has", "len")
_NULL_WORDS = frozenset({"null", "None", "NULL", "nil"})
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


def parse_string(text: str, base: Loc = ROOT, *, depth: int = 0) -> syntax.SCond:
    """The syntax tree of ``text``; ConditionError (PB401, PB404, PB406) when it does not parse.

    ``depth`` is the nesting level the string sits at (inside the structured form);
    each ``not`` and each parenthesis adds one (``not (`` together one), and past
    :data:`MAX_DEPTH` it is PB401.
    """
    return _Parser(text, base, depth).condition()


class _Parser:
    def __init__(self, text: str, base: Loc, depth: int) -> None:
        self.text = text
        self.base = base
        self.tokens = tokenize(text, base)
        self.pos = 0
        self.depth = depth
        self.free_parenthesis = False

    # --- token helpers ---

    @property
    def token(self) -> Token:
        return self.tokens[self.pos]

    def _peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def _next(self) -> Token:
        token = self.token
        self.pos += 1
        return token

    def _at_end(self) -> bool:
        return self.token.kind == "end"

    def _is(self, kind: str, text: str) -> bool:
        return self.token.kind == kind and self.token.text == text

    def _loc(self, start: int, end: int) -> Loc:
        return self.base.span(start, end - start)

    def _token_loc(self, token: Token) -> Loc:
        return self.base.span(token.offset, max(len(token.text), 1) if token.kind != "end" else 0)

    def _expect(self, text: str, what: str) -> Token:
        if self.token.text != text or self.token.kind not in ("punct", "op"):
            raise self._problem_here(Message("diag.parser.expected", what=what))
        return self._next()

    def _problem_here(self, message: Message, hint: Message | None = None) -> ConditionError:
        token = self.token
        found = Message("diag.parser.the_end") if token.kind == "end" else f"'{token.text}'"
        return problem(
            "PB401",
            Message("diag.parser.found", message=message, found=found),
            self._token_loc(token),
            hint,
        )

    # --- grammar ---

    def condition(self) -> syntax.SCond:
        if self._at_end():
            raise problem(
                "PB401", Message("diag.parser.condition_empty"), self._loc(0, len(self.text))
            )
        cond = self._or()
        if not self._at_end():
            raise self._problem_here(
                Message("diag.parser.expected_end"), self._hint_after_condition()
            )
        return cond

    def _hint_after_condition(self) -> Message | None:
        token = self.token
        if token.kind == "name" and token.text.lower() in KEYWORDS:
            return Message("diag.parser.keywords_lowercase", keyword=token.text.lower())
        if token.kind == "op":
            return Message("diag.parser.comparison_after_comparison")
        if token.text == ")":
            return Message("diag.parser.unmatched_paren")
        if token.text == ",":
            return Message("diag.parser.no_thousands_separators")
        return Message("diag.parser.join_conditions")

    def _or(self) -> syntax.SCond:
        items, loc = self._joined("or", self._and)
        return items[0] if len(items) == 1 else syntax.SAny(items, loc)

    def _and(self) -> syntax.SCond:
        items, loc = self._joined("and", self._not)
        return items[0] if len(items) == 1 else syntax.SAll(items, loc)

    def _joined(
        self, keyword: str, operand: Callable[[], syntax.SCond]
    ) -> tuple[tuple[syntax.SCond, ...], Loc]:
        """``operand { keyword operand }``: the operands and the span they cover."""
        start = self.token.offset
        items = [operand()]
        while self._is("name", keyword):
            self._next()
            items.append(operand())
        return tuple(items), self._loc(start, self._previous_end())

    def _not(self) -> syntax.SCond:
        if self._is("name", "not") and self._peek().text != "in":
            start = self._enter().offset
            # `not (a == 1)`, as render() writes it, is one level: the ( adds none.
            self.free_parenthesis = self._is("punct", "(")
            item = self._not()
            self.depth -= 1
            return syntax.SNot(item, self._loc(start, self._previous_end()))
        return self._primary()

    def _enter(self) -> Token:
        """Consume the ``not`` or ``(`` that opens a nesting level, refusing one too many."""
        if self.depth >= MAX_DEPTH:
            raise problem(
                "PB401",
                Message("diag.parser.condition_nests_deeper_than", MAX_DEPTH=MAX_DEPTH),
                self._token_loc(self.token),
                Message("diag.parser.split_into_simpler_conditions"),
            )
        self.depth += 1
        return self._next()

    def _previous_end(self) -> int:
        return self.tokens[self.pos - 1].end

    def _primary(self) -> syntax.SCond:
        if self._is("punct", "("):
            free, self.free_parenthesis = self.free_parenthesis, False
            opening = self._next() if free else self._enter()
            cond = self._or()
            if not self._is("punct", ")"):
                raise self._problem_here(
                    Message("diag.parser.expected_2"),
                    Message("diag.parser.close_at_character", value=opening.offset + 1),
                )
            self._next()
            self.depth -= 0 if free else 1
            return cond
        if self._is("name", "has") and self._peek().text == "(":
            start = self.token.offset
            field = self._call_argument()
            return syntax.SHas(field, self._loc(start, self._previous_end()))
        return self._comparison()

    def _comparison(self) -> syntax.SCond:
        start = self.token.offset
        left = self._value()
        token = self.token
        if token.kind == "op" and token.text in _COMPARISONS:
            self._next()
            right = self._value()
            loc = self._loc(start, self._previous_end())
            return syntax.SCompare(token.text, left, right, loc, self._token_loc(token))
        if self._is("name", "in") or (self._is("name", "not") and self._peek().text == "in"):
            negated = self._next().text == "not"
            if negated:
                self._next()
            op_loc = self._loc(token.offset, self._previous_end())
            items = self._list()
            return syntax.SIn(left, items, negated, self._loc(start, self._previous_end()), op_loc)
        if self._is("name", "contains"):
            self._next()
            item = self._value()
            loc = self._loc(start, self._previous_end())
            return syntax.SContains(left, item, loc, self._token_loc(token))
        return syntax.SBare(left, self._loc(start, self._previous_end()))

    def _value(self) -> syntax.SValue:
        token = self.token
        if token.kind in ("number", "string"):
            self._next()
            return syntax.SLit(token.value, self._token_loc(token))
        if token.kind == "name":
            return self._named_value(token)
        if token.text == "[":
            raise self._problem_here(
                Message("diag.parser.expected_value"),
                Message("diag.parser.list_values_only_allowed"),
            )
        raise self._problem_here(Message("diag.parser.expected_field_name_value"))

    def _named_value(self, token: Token) -> syntax.SValue:
        word = token.text
        if word in ("true", "false"):
            self._next()
            return syntax.SLit(word == "true", self._token_loc(token))
        if word in _NULL_WORDS:
            self._next()
            return syntax.SLit(None, self._token_loc(token))
        if word in KEYWORDS:
            raise self._problem_here(Message("diag.parser.expected_field_name_value"))
        if self._peek().text == "(":
            return self._function(token)
        self._next()
        return syntax.SField(word, self._token_loc(token))

    def _function(self, token: Token) -> syntax.SValue:
        if token.text == "len":
            field = self._call_argument()
            return syntax.SLen(field, self._loc(token.offset, self._previous_end()))
        if token.text == "has":
            raise problem(
                "PB401",
                Message("diag.parser.has_condition_not_value"),
                self._token_loc(token),
                Message("diag.parser.use_has_x_on"),
            )
        hint = did_you_mean(token.text, FUNCTIONS) or Message("diag.parser.functions_are_has_field")
        raise problem(
            "PB404",
            Message("diag.parser.unknown_function", text=token.text),
            self._token_loc(token),
            hint,
        )

    def _call_argument(self) -> syntax.SField:
        name = self._next().text
        self._next()  # the "(" that made this a call
        token = self.token
        if token.kind != "name" or token.text in KEYWORDS:
            raise self._problem_here(
                Message("diag.parser.takes_field_name", name=name),
                Message("diag.parser.write_field_id", name=name),
            )
        self._next()
        self._expect(")", f"')' after the field name of {name}()")
        return syntax.SField(token.text, self._token_loc(token))

    def _list(self) -> syntax.SLit:
        start = self.token.offset
        self._expect("[", "a list of values in [ ]")
        items: list[syntax.SLit] = []
        while not self._is("punct", "]"):
            items.append(self._list_item())
            if not self._is("punct", ","):
                break
            self._next()
        self._expect("]", "',' or ']' in the list of values")
        return syntax.SLit(tuple(items), self._loc(start, self._previous_end()))

    def _list_item(self) -> syntax.SLit:
        token = self.token
        if token.kind == "name" and token.text not in ("true", "false", *_NULL_WORDS):
            raise self._problem_here(
                Message("diag.parser.expected_value_list"),
                Message("diag.parser.quote_text_values", text=token.text),
            )
        value = self._value()
        assert isinstance(value, syntax.SLit)
        return value
