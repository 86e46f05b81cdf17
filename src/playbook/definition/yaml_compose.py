"""Compose YAML text into a node graph without recursion, on libyaml's events.

libyaml's own composer recurses in C once per nesting level and crashes the
interpreter on a few hundred kilobytes of ``[[[[``; PyYAML's pure-Python one
is ~10x slower. :func:`compose` reads the parser's events (libyaml's
``CParser`` when present) and builds the nodes with an explicit stack, bounded
by :data:`MAX_DEPTH`. Turning nodes into data is :mod:`playbook.definition.loader`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import ComposerError

from playbook.conditions.limits import MAX_DEPTH as CONDITION_DEPTH

try:  # libyaml is ~10x faster and keeps character columns
    from yaml._yaml import CParser as _Parser  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - pure-Python fallback
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


__all__ = [
    "MAP_TAG",
    "MAX_DEPTH",
    "PLAIN_TAG",
    "SEQ_TAG",
    "STR_TAG",
    "NestingError",
    "compose",
    "is_libyaml_nesting_refusal",
]

MAX_DEPTH = CONDITION_DEPTH
"""The deepest nesting of collections a document may have (the same as a condition's)."""

PLAIN_TAG = "?"  # YAML's non-specific tag of an untagged plain scalar: resolved by the builder
STR_TAG = "tag:yaml.org,2002:str"
SEQ_TAG = "tag:yaml.org,2002:seq"
MAP_TAG = "tag:yaml.org,2002:map"


def is_libyaml_nesting_refusal(exc: yaml.YAMLError) -> bool:
    """Whether libyaml itself refused the nesting depth (as bundled since PyYAML 6.0.4).

    Its scanner looks ahead for simple keys, so on ``a: [[[[...`` it can refuse
    the depth before our composer has counted :data:`MAX_DEPTH` levels; the
    refusal is the same mistake and gets the same code.
    """
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    return mark is not None and isinstance(problem, str) and "maximum nesting depth" in problem


class NestingError(yaml.YAMLError):
    """The document nests collections deeper than :data:`MAX_DEPTH`."""

    def __init__(self, mark: Any) -> None:
        super().__init__(f"the document nests deeper than {MAX_DEPTH} levels")
        self.mark = mark


@dataclass(slots=True)
class _OpenCollection:
    """A collection being filled by :func:`compose`; ``key`` waits for its value."""

    node: yaml.SequenceNode | yaml.MappingNode
    key: yaml.Node | None = None

    def add(self, child: yaml.Node) -> None:
        if isinstance(self.node, yaml.SequenceNode):
            self.node.value.append(child)
        elif self.key is None:
            self.key = child
        else:
            self.node.value.append((self.key, child))
            self.key = None


def compose(text: str) -> tuple[yaml.Node, bool] | None:
    """The single document of ``text`` as a node graph, and whether it uses aliases.

    None when the text has no content.

    Composed here, without recursion, rather than by libyaml's composer: that
    one recurses in C once per nesting level and crashes the interpreter on a
    few hundred kilobytes of ``[[[[``. Plain scalars keep the tag ``?`` so that
    the loader's builder resolves them and an explicit ``!!str 1`` stays text.
    """
    parser: Any = _Parser(text)  # libyaml's CParser: its stubs do not describe events
    try:
        parser.get_event()  # stream start
        if parser.check_event(yaml.StreamEndEvent):
            return None
        parser.get_event()  # document start
        root, aliased = _compose_document(parser)
        parser.get_event()  # document end
        if not parser.check_event(yaml.StreamEndEvent):
            extra = parser.get_event()
            raise ComposerError(
                "expected a single document in the stream",
                root.start_mark,
                "but found another document",
                extra.start_mark,
            )
        return root, aliased
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose is not None:
            dispose()


def _compose_document(parser: Any) -> tuple[yaml.Node, bool]:
    # The hot loop of reading a file: dispatch on the exact event type.
    anchors: dict[str, yaml.Node] = {}
    stack: list[_OpenCollection] = []
    aliased = False
    next_event = parser.get_event
    while True:
        event = next_event()
        kind = type(event)
        if kind is yaml.ScalarEvent:
            node: yaml.Node = _scalar_node(event)
            if event.anchor is not None:
                anchors[event.anchor] = node
        elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
            node = stack.pop().node
            node.end_mark = event.end_mark
        elif kind is yaml.AliasEvent:
            if event.anchor not in anchors:
                where: Any = event.start_mark
                raise ComposerError(None, None, "found undefined alias", where)
            node, aliased = anchors[event.anchor], True
        else:
            if len(stack) >= MAX_DEPTH:
                raise NestingError(event.start_mark)
            collection = _collection_node(event)
            if event.anchor is not None:
                anchors[event.anchor] = collection
            stack.append(_OpenCollection(collection))
            continue
        if not stack:
            return node, aliased
        stack[-1].add(node)


def _scalar_node(event: Any) -> yaml.ScalarNode:
    """A node for a scalar event; plain untagged scalars get :data:`PLAIN_TAG`."""
    tag = event.tag
    if tag is None:
        tag = PLAIN_TAG if event.implicit[0] else STR_TAG
    elif tag == "!":  # the non-specific tag: text
        tag = STR_TAG
    return yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)


def _collection_node(event: Any) -> yaml.SequenceNode | yaml.MappingNode:
    """A node for a collection-start event, with the standard tag when none is given."""
    tag, start = event.tag, event.start_mark
    if isinstance(event, yaml.SequenceStartEvent):
        return yaml.SequenceNode(SEQ_TAG if tag in (None, "!") else tag, [], start, None)
    return yaml.MappingNode(MAP_TAG if tag in (None, "!") else tag, [], start, None)
