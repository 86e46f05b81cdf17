"""Strict YAML: text to plain data, with the position of every node.

PyYAML's own constructors follow YAML 1.1, keep the last of duplicate keys and
expand aliases without bound; libyaml's composer recurses once per nesting
level. This loader composes the node graph without recursion
(:mod:`playbook.definition.yaml_compose`, on libyaml's events when present) and
builds the data itself:

- only plain scalars, lists and maps; explicit tags other than the standard
  ``!!str !!int !!float !!bool !!null !!seq !!map`` are refused;
- plain scalars resolve as in YAML 1.2 (``true``/``false``, ``null``, decimal,
  ``0o`` and ``0x`` integers, floats); words that YAML 1.1 reads differently
  (``yes no on off``, ``1:30``, ``010``, ``1_000``, ``1e3``) are reported and
  never change meaning silently; dates stay strings until a typed place reads them;
- duplicate keys, merge keys (``<<``), non-string keys, tabs in indentation,
  files over :data:`MAX_FILE_BYTES`, non-UTF-8 and binary input are reported;
- aliases are allowed but the expanded tree is bounded (:data:`MAX_NODES`), so
  an alias bomb is refused after a bounded amount of work; nesting is bounded
  (:data:`MAX_DEPTH`) while composing, so deep input cannot exhaust the stack.

Every value and every mapping key keeps its 1-based line and column, counted in
characters, so that diagnostics can point at the exact place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from playbook.conditions.limits import MAX_DIGITS
from playbook.definition.yaml_compose import (
    MAP_TAG,
    MAX_DEPTH,
    PLAIN_TAG,
    SEQ_TAG,
    STR_TAG,
    NestingError,
    compose,
    is_libyaml_nesting_refusal,
)
from playbook.definition.yaml_errors import indent_diagnostic, odd_indent_key, syntax_diagnostic
from playbook.diagnostics import Diagnostic, path_to_str
from playbook.errors import InputFileError
from playbook.i18n import Message

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "Document",
    "LoadResult",
    "Mark",
    "Span",
    "load_document",
    "read_document",
    "read_text",
]

MAX_FILE_BYTES = 2 * 1024 * 1024
"""Playbooks are configuration: anything larger is refused before it is parsed."""

MAX_NODES = 100_000
"""Upper bound on nodes after alias expansion (a 10-level alias bomb has 10**9).

The expanded size is computed on the node graph first (linear in its distinct
nodes), so a bomb is refused before any of it is expanded."""

YamlPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a node starts: 1-based line and column (characters), its source span and style."""

    line: int
    column: int
    index: int = 0
    end_index: int = 0
    style: str = ""


Span = tuple[int, int, int, int, str]
"""A :class:`Mark` as a plain tuple, the way a :class:`Document` stores it.

A document has one per node and key. Plain tuples of numbers and text are
left alone by the cyclic garbage collector, objects are not: with objects,
validating a thousand files in one process spent half its time rescanning the
marks of the documents already read."""


@dataclass(slots=True)
class Document:
    """A loaded YAML document: the plain data plus where every part of it came from.

    ``positions`` and ``key_positions`` map a data path to its :data:`Span`;
    :meth:`mark` gives it as a :class:`Mark`.
    """

    file: str
    text: str
    data: Any
    positions: dict[YamlPath, Span] = field(default_factory=dict)
    key_positions: dict[YamlPath, Span] = field(default_factory=dict)
    _lines: list[str] | None = None

    def mark(self, path: YamlPath, *, key: bool = False) -> Mark:
        """The mark of ``path`` (of its key when ``key``), or of its nearest known ancestor."""
        table = self.key_positions if key else self.positions
        probe = tuple(path)
        while probe:
            if probe in table:
                return Mark(*table[probe])
            if key and probe in self.positions:
                return Mark(*self.positions[probe])
            probe = probe[:-1]
        root = self.positions.get(())
        return Mark(*root) if root else Mark(1, 1)

    def value_at(self, path: YamlPath) -> Any:
        """The data at ``path``, or None when there is nothing there."""
        value = self.data
        for part in path:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return None
        return value

    def line_text(self, line: int) -> str:
        """The source text of a 1-based line (without its newline), or ``""``."""
        if self._lines is None:
            self._lines = self.text.splitlines()
        if 1 <= line <= len(self._lines):
            return self._lines[line - 1]
        return ""

    def locate_in_scalar(self, path: YamlPath, offset: int) -> tuple[int, int]:
        """Line and column of character ``offset`` inside the string value at ``path``.

        Exact for plain and quoted scalars written on one line without escapes;
        otherwise the scalar's own start, which is still the right line.
        """
        span = self.positions.get(tuple(path))
        if span is None:
            found = self.mark(path)
            return found.line, found.column
        mark = Mark(*span)
        raw = self.text[mark.index : mark.end_index]
        value = self.value_at(path)
        if not isinstance(value, str):
            return mark.line, mark.column
        start = raw.find(value) if value else -1
        if start < 0 or "\n" in raw[: start + offset]:
            return mark.line, mark.column
        return mark.line, mark.column + start + offset


@dataclass(slots=True)
class LoadResult:
    """The outcome of reading one file: the document (None when unreadable) and problems."""

    document: Document | None
    diagnostics: list[Diagnostic]
    text: str | None = None
    """The file's text when it could be decoded (for the source line under a syntax error)."""

    @property
    def ok(self) -> bool:
        """True when nothing of severity error was found."""
        return self.document is not None and not any(
            d.severity == "error" for d in self.diagnostics
        )


# --- scalar resolution (YAML 1.2 core schema, strict about 1.1 differences) ---

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_YAML11_BOOLS = frozenset(
    {"yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"}
    | {"y", "Y", "n", "N"}
)
_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_INT_OCT = re.compile(r"0o[0-7]+")
_INT_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+\.[0-9]*)([eE][-+]?[0-9]+)?")
_NUMBER_STARTS = frozenset("0123456789+-.")
_FLOAT_SPECIAL = {
    ".inf": float("inf"),
    "+.inf": float("inf"),
    "-.inf": float("-inf"),
    ".Inf": float("inf"),
    "-.Inf": float("-inf"),
    ".INF": float("inf"),
    "-.INF": float("-inf"),
}
# Plain scalars that YAML 1.1 (PyYAML, many tools) and 1.2 read differently.
_AMBIGUOUS = [
    (re.compile(r"[-+]?0[0-9]+"), "a leading zero makes this octal in YAML 1.1"),
    (
        re.compile(r"[-+]?[0-9][0-9_]*_[0-9_]*(\.[0-9_]*)?"),
        "YAML 1.1 reads digits with _ as a number",
    ),
    (
        re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?"),
        "YAML 1.1 reads this as a base-60 number",
    ),
    (
        re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+"),
        "YAML 1.1 reads this as a string, YAML 1.2 as a number",
    ),
    (re.compile(r"0b[01_]+"), "YAML 1.1 reads this as a binary number"),
]
_STANDARD_TAGS = {
    PLAIN_TAG,
    STR_TAG,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    MAP_TAG,
    SEQ_TAG,
}
# What an explicitly tagged scalar must resolve to.
_TAG_TYPES: dict[str, type | tuple[type, ...]] = {
    "tag:yaml.org,2002:int": int,
    "tag:yaml.org,2002:float": (int, float),
    "tag:yaml.org,2002:bool": bool,
    "tag:yaml.org,2002:null": type(None),
}


class _Abort(Exception):
    """Stop building: a limit was reached (the diagnostic is already recorded)."""


class _Builder:
    """Walks the composed node graph into plain data, recording marks and problems."""

    def __init__(self, file: str, max_nodes: int, text: str = "") -> None:
        self.file = file
        self.text = text
        self.max_nodes = max_nodes
        self.count = 0
        self.positions: dict[YamlPath, Span] = {}
        self.key_positions: dict[YamlPath, Span] = {}
        self.diagnostics: list[Diagnostic] = []

    def report(
        self,
        node: yaml.Node,
        code: str,
        message: Message,
        path: YamlPath,
        hint: Message | None = None,
    ) -> None:
        self.diagnostics.append(
            Diagnostic(
                file=self.file,
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
                severity="error",
                code=code,
                msg=message,
                path=path_to_str(path),
                hint_msg=hint,
            )
        )

    def build(self, node: yaml.Node, path: YamlPath, depth: int = 0) -> Any:
        self.count += 1
        if self.count > self.max_nodes:
            self.report(
                node,
                "PB109",
                Message("diag.loader.document_expands_more_than", max_nodes=self.max_nodes),
                path,
                Message("diag.loader.remove_anchors_aliases_name"),
            )
            raise _Abort
        if depth > MAX_DEPTH:
            self.report(
                node,
                "PB115",
                Message("diag.loader.document_nests_deeper_than", MAX_DEPTH=MAX_DEPTH),
                path,
            )
            raise _Abort
        # Written out rather than a helper: this runs once per node and per key.
        start, end = node.start_mark, node.end_mark.index
        style = getattr(node, "style", None) or ""
        self.positions[path] = (start.line + 1, start.column + 1, start.index, end, style)
        if node.tag not in _STANDARD_TAGS:
            self.report(
                node,
                "PB108",
                Message("diag.loader.tag_not_allowed_playbooks", tag=node.tag),
                path,
                Message("diag.loader.remove_tag"),
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)  # compose() makes no other kind of node
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: YamlPath, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.report(key_node, "PB113", Message("diag.loader.mapping_key_must_plain"), path)
                continue
            key = str(key_node.value)
            if key == "<<" and not key_node.style:
                self.report(
                    key_node,
                    "PB112",
                    Message("diag.loader.merge_keys_are_not"),
                    path,
                    Message("diag.loader.write_keys_out_full"),
                )
                continue
            child = (*path, key)
            if odd_indent_key(key):
                line = key_node.start_mark.line + 1
                lines = self.text.splitlines()
                found = indent_diagnostic(lines, line, self.file)
                if found is not None:
                    self.diagnostics.append(found)
            if key in out:
                first_line = self.key_positions[child][0]
                self.report(
                    key_node,
                    "PB106",
                    Message(
                        "diag.loader.duplicate_key_first_defined", key=key, first_line=first_line
                    ),
                    child,
                    Message("diag.loader.remove_one_them_yaml"),
                )
                continue
            start, end = key_node.start_mark, key_node.end_mark.index
            self.key_positions[child] = (start.line + 1, start.column + 1, start.index, end, "")
            out[key] = self.build(value_node, child, depth + 1)
        return out

    def _scalar(self, node: yaml.ScalarNode, path: YamlPath) -> Any:
        text = str(node.value)
        if node.tag == PLAIN_TAG:
            return self._plain(node, text, path)
        if node.tag == STR_TAG:  # quoted, block, `!!str` and `!` scalars are text as written
            return text
        return self._explicit(node, text, path)

    def _plain(self, node: yaml.ScalarNode, text: str, path: YamlPath) -> Any:
        if text in _NULLS:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if text in _YAML11_BOOLS:
            self.report(
                node,
                "PB107",
                Message("diag.loader.boolean_yaml_1_1", text=text),
                path,
                Message("diag.loader.write_quotes_text_true", text=text),
            )
            return text
        if text[0] not in _NUMBER_STARTS:  # most values: no number pattern can match
            return text
        if _INT.fullmatch(text):
            return self._integer(node, text, path, 10)
        if _INT_OCT.fullmatch(text):
            return self._integer(node, text[2:], path, 8)
        if _INT_HEX.fullmatch(text):
            return self._integer(node, text[2:], path, 16)
        if _FLOAT.fullmatch(text):
            return float(text)
        if text in _FLOAT_SPECIAL:
            return _FLOAT_SPECIAL[text]
        for pattern, why in _AMBIGUOUS:
            if pattern.fullmatch(text):
                self.report(
                    node,
                    "PB107",
                    Message("diag.loader.ambiguous", text=text, why=why),
                    path,
                    Message("diag.loader.write_quotes", text=text),
                )
                return text
        return text

    def _integer(self, node: yaml.ScalarNode, digits: str, path: YamlPath, base: int) -> int | None:
        """The integer written, or None (PB204) when it has more digits than any value holds.

        Decimal digits are counted before ``int()``, which refuses past 4,300 of them;
        an octal or hex integer converts at any length, and is bounded as a value.
        """
        if base == 10 and len(digits.lstrip("+-")) > MAX_DIGITS:
            value = None
        else:
            value = int(digits, base)
            if abs(value) >= 10**MAX_DIGITS:
                value = None
        if value is None:
            self.report(
                node,
                "PB204",
                Message("diag.loader.number_too_large_any"),
                path,
                Message("diag.loader.numbers_are_below_1e", MAX_DIGITS=MAX_DIGITS),
            )
        return value

    def _explicit(self, node: yaml.ScalarNode, text: str, path: YamlPath) -> Any:
        tag = node.tag
        value = self._plain(node, text, path)
        expected = _TAG_TYPES[tag]
        is_bool_mismatch = isinstance(value, bool) and tag != "tag:yaml.org,2002:bool"
        matches = isinstance(value, expected) and not is_bool_mismatch
        if matches:
            return float(value) if tag.endswith("float") else value
        self.report(
            node, "PB108", Message("diag.loader.does_not_match_tag", text=text, tag=tag), path
        )
        return None


# --- reading files ---


def _diag(
    file: str,
    code: str,
    message: Message,
    line: int = 1,
    column: int = 1,
    hint: Message | None = None,
) -> Diagnostic:
    return Diagnostic(
        file=file, line=line, column=column, severity="error", code=code, msg=message, hint_msg=hint
    )


def _decode(raw: bytes, file: str) -> tuple[str | None, list[Diagnostic]]:
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        line = raw.count(b"\n", 0, offset) + 1
        return None, [
            _diag(
                file,
                "PB103",
                Message("diag.loader.file_contains_nul_bytes"),
                line,
                hint=Message("diag.loader.right_file"),
            )
        ]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            _diag(
                file,
                "PB102",
                Message("diag.loader.file_not_valid_utf", raw=raw[exc.start], start=exc.start),
                line,
                col,
                Message("diag.loader.save_file_as_utf"),
            )
        ]
    bad = re.search(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        return None, [
            _diag(
                file,
                "PB103",
                Message("diag.loader.file_contains_control_character", ord=ord(bad.group())),
                line,
                col,
            )
        ]
    return text, []


def _oversized(root: yaml.Node, limit: int) -> tuple[yaml.Node, YamlPath] | None:
    """The smallest node whose alias-expanded size exceeds ``limit`` and its path, or None."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if depth > MAX_DEPTH:
            return 1  # the builder reports the depth itself
        sizes[id(node)] = 1  # a recursive alias counts once here; depth stops the builder
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item, depth + 1) for item in node.value)
        sizes[id(node)] = total
        return total

    if size(root, 0) <= limit:
        return None
    node = root
    path: YamlPath = ()
    while True:
        children: list[tuple[str | int, yaml.Node]] = []
        if isinstance(node, yaml.MappingNode):
            children = [(str(k.value), v) for k, v in node.value]
        elif isinstance(node, yaml.SequenceNode):
            children = list(enumerate(node.value))
        bigger = [(part, c) for part, c in children if sizes.get(id(c), 0) > limit]
        if not bigger:
            return node, path
        part, node = bigger[0]
        path = (*path, part)


def read_text(text: str, file: str = "<string>", *, max_nodes: int = MAX_NODES) -> LoadResult:
    """Compose and build ``text`` strictly. Never raises for bad input: problems are diagnostics."""
    try:
        composed = compose(text)
    except NestingError as exc:
        line, column = exc.mark.line + 1, exc.mark.column + 1
        return LoadResult(
            None,
            [_diag(file, "PB115", Message("diag.loader.too_deep", depth=MAX_DEPTH), line, column)],
        )
    except yaml.YAMLError as exc:
        if is_libyaml_nesting_refusal(exc):
            mark = exc.problem_mark  # type: ignore[attr-defined]
            message = Message("diag.loader.document_nests_deeper_than", MAX_DEPTH=MAX_DEPTH)
            return LoadResult(None, [_diag(file, "PB115", message, mark.line + 1, mark.column + 1)])
        return LoadResult(None, [syntax_diagnostic(exc, text, file)], text)
    if composed is None:
        return LoadResult(
            None,
            [
                _diag(
                    file,
                    "PB110",
                    Message("diag.loader.file_empty"),
                    hint=Message("diag.loader.playbook_starts_playbook_id"),
                )
            ],
        )
    node, aliased = composed
    builder = _Builder(file, max_nodes, text)
    # Without aliases the tree is no bigger than the text: the builder's own count suffices.
    culprit = _oversized(node, max_nodes) if aliased else None
    if culprit is not None:
        builder.count = max_nodes
        try:
            builder.build(*culprit)
        except _Abort:
            return LoadResult(None, builder.diagnostics)
    try:
        data = builder.build(node, ())
    except _Abort:
        return LoadResult(None, builder.diagnostics)
    except RecursionError:
        return LoadResult(
            None, [_diag(file, "PB115", Message("diag.loader.document_nests_too_deeply"))]
        )
    document = Document(file, text, data, builder.positions, builder.key_positions)
    return LoadResult(document, builder.diagnostics)


def read_document(
    path: str | Path, *, max_bytes: int = MAX_FILE_BYTES, display_name: str | None = None
) -> LoadResult:
    """Read a YAML file strictly: size, encoding and YAML problems come back as diagnostics."""
    name = display_name or str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        return LoadResult(
            None, [_diag(name, "PB114", Message("diag.loader.cannot_read_file", reason=reason))]
        )
    if len(raw) > max_bytes:
        return LoadResult(
            None,
            [
                _diag(
                    name,
                    "PB101",
                    Message("diag.loader.file_larger_than_kib", value=max_bytes // 1024),
                    hint=Message("diag.loader.split_check_right_file"),
                )
            ],
        )
    text, problems = _decode(raw, name)
    if text is None:
        return LoadResult(None, problems)
    return read_text(text, name)


def load_document(path: str | Path) -> Document:
    """Read a YAML file strictly, raising :class:`InputFileError` on the first error."""
    result = read_document(path)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if errors or result.document is None:
        first = errors[0]
        raise InputFileError(
            first.msg,
            hint=first.hint_msg,
            file=first.file,
            line=first.line,
            column=first.column,
            code=first.code,
        )
    return result.document


def iter_paths(data: Any, path: YamlPath = ()) -> Iterator[YamlPath]:
    """Every path in ``data``, depth first (used by tests and the position map checks)."""
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from iter_paths(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from iter_paths(value, (*path, i))
