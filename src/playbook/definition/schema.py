"""The bundled JSON Schema of the playbook format, and its errors as positioned diagnostics.

:func:`validate_schema` checks a loaded :class:`~playbook.definition.loader.Document`
against ``playbook/schemas/playbook.schema.json`` and turns every error into a
:class:`~playbook.diagnostics.Diagnostic` that points at the key or value at
fault, with a message for the person who wrote the file:

=========  ==================================================================
``PB201``  a value of the wrong type (text where a list is expected, ...)
``PB202``  a key the format does not define at that place (with a did-you-mean)
``PB203``  a required key is missing (pointing at the mapping that lacks it)
``PB204``  a value outside what the format allows (enum, pattern, range, size)
``PB205``  anything else the schema refuses
=========  ==================================================================

Validation is the costly step of ``playbook validate``. When the optional
``jsonschema_rs`` package is installed it answers "valid?" in a fraction of a
millisecond, and ``jsonschema`` (slower, and ~0.1 s to import, but whose error
objects carry the details) is imported only for a document that has errors.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from playbook.definition.loader import Document, YamlPath
from playbook.definition.report import positioned
from playbook.diagnostics import Diagnostic, closest, path_to_str
from playbook.i18n import Items, Message, Translated, say

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

__all__ = ["SCHEMA_ID", "load_schema", "schema_text", "validate_schema"]

SCHEMA_ID = "https://playbook.dev/schemas/playbook-1.schema.json"

_SINK_PATTERN = (
    "^(console|jsonl:.+|(webhook:|wecom:|dingtalk:|feishu:|teams:)?"
    "(https?://|\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}).*|(email:)?smtp://.+)$"
)

PATTERN_WORDS = {
    "^[a-z][a-z0-9_]*$": Message("diag.schema.pattern.id"),
    "^[a-z][a-z0-9_-]*$": Message("diag.schema.pattern.id_dash"),
    "^([a-z][a-z0-9_]*|\\*)$": Message("diag.schema.pattern.stage_or_star"),
    "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$": Message("diag.schema.pattern.language"),
    "^[A-Z]{3}$": Message("diag.schema.pattern.currency"),
    "^([01][0-9]|2[0-3]):[0-5][0-9]$": Message("diag.schema.pattern.time_of_day"),
    _SINK_PATTERN: Message("diag.schema.pattern.sink"),
}
"""Every ``pattern`` of the schema, in words (a test keeps the two in step)."""

_TYPE_WORDS = {
    name: Message(f"diag.schema.type.{name}")
    for name in ("string", "number", "integer", "boolean", "array", "object", "null")
}
# When the keys a mapping may have depend on one of its values, the message names it.
_DISCRIMINATORS = {"type": "diag.schema.field_of_type", "metric": "diag.schema.kpi_with_metric"}
# Of the diagnostics at one path, the first kind in this order is reported.
_PRIORITY = {"PB201": 0, "PB203": 1, "PB202": 2, "PB204": 3, "PB205": 4}
_BOUNDS = {
    "minimum": Message("diag.schema.bound.at_least"),
    "maximum": Message("diag.schema.bound.at_most"),
    "exclusiveMinimum": Message("diag.schema.bound.more_than"),
    "exclusiveMaximum": Message("diag.schema.bound.less_than"),
}
_COUNTED = {"minItems": "item", "maxItems": "item", "minLength": "character"}


@functools.cache
def schema_text() -> str:
    """The bundled schema file, exactly as shipped in the package."""
    return files("playbook").joinpath("schemas", "playbook.schema.json").read_text("utf-8")


@functools.cache
def load_schema() -> dict[str, Any]:
    """The bundled JSON Schema (2020-12) of the playbook format, parsed once (do not mutate)."""
    schema: dict[str, Any] = json.loads(schema_text())
    return schema


def validate_schema(document: Document) -> list[Diagnostic]:
    """Every schema error of ``document``, one diagnostic per data path, sorted by position.

    Returns an empty list when the document matches the playbook format; never
    raises for bad input.
    """
    is_valid = _fast_check()
    if is_valid is not None and is_valid(document.data):
        return []
    describer = _Describer(document)
    found = [
        diagnostic
        for error in _validator().iter_errors(document.data)
        for diagnostic in describer.describe(error)
    ]
    return _deduplicated(found)


@functools.cache
def _fast_check() -> Callable[[Any], bool] | None:
    """``is_valid`` of the Rust validator when it is installed, else None."""
    try:
        import jsonschema_rs  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    validator = jsonschema_rs.Draft202012Validator(load_schema(), validate_formats=False)
    check: Callable[[Any], bool] = validator.is_valid
    return check


@functools.cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema())


def _deduplicated(found: Iterable[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per path (the most telling), and none that another one explains.

    Nothing is reported inside a key that is itself wrong, and a missing key is
    not reported when a misspelt key in the same mapping is the reason for it.
    """
    best: dict[str, Diagnostic] = {}
    for diagnostic in sorted(found, key=_telling):
        best.setdefault(diagnostic.path, diagnostic)
    bad_keys = tuple(
        f"{d.path}{sep}" for d in best.values() if d.extra.get("bad_key") for sep in ".["
    )
    misspelt = {(d.extra["mapping"], d.extra["meant"]) for d in best.values() if "meant" in d.extra}
    kept = [
        d
        for d in best.values()
        if not d.path.startswith(bad_keys)
        and not any(
            (d.extra.get("mapping"), name) in misspelt for name in d.extra.get("missing", ())
        )
    ]
    # The extras served the choice above; they are no business of the caller.
    return [dataclasses.replace(d, extra={}) for d in sorted(kept, key=Diagnostic.sort_key)]


def _telling(diagnostic: Diagnostic) -> tuple[bool, int]:
    """Sort key: a malformed key first (it explains its value), then by kind of problem."""
    return (not diagnostic.extra.get("bad_key"), _PRIORITY.get(diagnostic.code, len(_PRIORITY)))


def _close(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` was most likely meant to be, or None."""
    options = list(choices)
    if word[::-1] in options:  # => for >=
        return word[::-1]
    return closest(word, options)


@functools.cache
def _property_names() -> frozenset[str]:
    """Every key the format defines somewhere."""
    names: set[str] = set()
    pending: list[Any] = [load_schema()]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            names.update(node.get("properties", {}))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class _Failure:
    """One schema error, with the loosely typed parts of jsonschema's error made plain."""

    keyword: str
    expected: Any  # the keyword's value in the schema
    instance: Any
    schema: Mapping[str, Any]
    path: YamlPath
    error: ValidationError

    @classmethod
    def of(cls, error: ValidationError) -> _Failure:
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        return cls(
            str(error.validator),
            error.validator_value,
            error.instance,
            schema,
            tuple(error.absolute_path),
            error,
        )

    @property
    def where(self) -> str | Message:
        """The path in words for messages."""
        return path_to_str(self.path) or Message("diag.schema.the_playbook")


def _describe_value(value: Any) -> str | Message:
    if value is None:
        return Message("diag.schema.type.null")
    if isinstance(value, bool):
        return _plain_text(value)
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return Message("diag.literals.the_text", text=shown)
    if isinstance(value, int | float):
        return Message("diag.literals.the_number", number=value)
    return Message(
        "diag.schema.type.array" if isinstance(value, list) else "diag.schema.type.object"
    )


def _plain_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _expected(types: Sequence[str]) -> Items:
    return Items([_TYPE_WORDS.get(name, name) for name in types], "or")


def _listed(words: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(w) for w in words)  # joined with the reader's comma


def _quoted(names: Iterable[Any]) -> Items:
    return Items([f"'{name}'" for name in names])


def _key_about(name: str, key_schema: Mapping[str, Any]) -> Message | None:
    """The schema's description of a key, as a hint in the reader's language.

    The English text is ``description``; the Chinese one sits beside it as
    ``x-description-zh`` (JSON Schema ignores unknown keywords). Without one, a
    Chinese reader gets a generic hint rather than English.
    """
    about = key_schema.get("description")
    if not about:
        return None
    about_zh = key_schema.get("x-description-zh") or say("diag.schema.key_about", "zh", name=name)
    return Message("common.text", text=Translated({"en": about, "zh": about_zh}))


def _pattern_words(pattern: Any) -> Message:
    return PATTERN_WORDS.get(str(pattern)) or Message("diag.schema.pattern.other", pattern=pattern)


class _Describer:
    """Turns jsonschema errors into diagnostics positioned in one document."""

    def __init__(self, document: Document) -> None:
        self.document = document
        # ``extra`` carries what :func:`_deduplicated` needs to drop the diagnostics
        # that one explains.
        self.at = functools.partial(positioned, document)

    def describe(self, error: ValidationError) -> Iterator[Diagnostic]:
        """The diagnostics of one error (several for several unknown keys)."""
        failure = _Failure.of(error)
        if "propertyNames" in error.relative_schema_path:
            yield self._bad_key(failure)
            return
        handler = _HANDLERS.get(failure.keyword, _Describer._other)
        yield from handler(self, failure)

    def _bad_key(self, failure: _Failure) -> Diagnostic:
        """A key refused by ``propertyNames``: not allowed with its siblings, or malformed."""
        name = str(failure.instance)
        key_path = (*failure.path, name)
        if failure.keyword == "enum":
            allowed = list(failure.expected)
            message = Message(
                "diag.schema.key_not_allowed",
                name=name,
                mapping_kind=self._mapping_kind(failure, allowed),
            )
            # A key the format knows elsewhere is no typo: list what fits here instead.
            meant = None if name in _property_names() else _close(name, allowed)
            return self._unknown_key(key_path, message, meant, allowed)
        hint = self._comma_hint(key_path) if self.document.value_at(key_path) is None else None
        words = _pattern_words(failure.expected)
        message = Message("diag.schema.key_not", name=name, where=failure.where, words=words)
        return self.at(key_path, "PB204", message, hint=hint, key=True, extra={"bad_key": True})

    def _unknown_key(
        self, key_path: YamlPath, message: Message, meant: str | None, allowed: Sequence[str]
    ) -> Diagnostic:
        hint = (
            Message("diag.schema.did_you_mean", meant=meant)
            if meant
            else Message("diag.schema.allowed_here", listed=_listed(allowed))
        )
        extra = {"mapping": path_to_str(key_path[:-1]), "meant": meant} if meant else {}
        return self.at(key_path, "PB202", message, hint=hint, key=True, extra=extra)

    def _comma_hint(self, path: YamlPath) -> Message | None:
        """For an empty value in a ``{...}`` mapping: the comma that most likely made it."""
        parent = self.document.mark(path[:-1])
        if self.document.text[parent.index : parent.index + 1] != "{":
            return None
        return Message("diag.schema.comma_starts_key")

    def _mapping_kind(self, failure: _Failure, allowed: Sequence[str]) -> str | Message:
        mapping = self.document.value_at(failure.path)
        if not isinstance(mapping, Mapping):
            return failure.where
        for key, words in _DISCRIMINATORS.items():
            if key in allowed and isinstance(mapping.get(key), str):
                return Message(words, where=failure.where, value=mapping[key])
        present = [k for k in allowed if k in mapping]
        if not present:
            return failure.where
        return Message("diag.schema.together_with", where=failure.where, keys=_quoted(present))

    # --- one handler per schema keyword -------------------------------------------

    def _type(self, failure: _Failure) -> Iterator[Diagnostic]:
        types = [failure.expected] if isinstance(failure.expected, str) else failure.expected
        hint = None
        if failure.instance is None:
            hint = self._comma_hint(failure.path) if failure.path else None
            hint = hint or Message("diag.schema.value_missing_write_one")
        elif "string" in types and isinstance(failure.instance, bool | int | float):
            hint = Message(
                "diag.schema.put_quotes_make_text", plain_text=_plain_text(failure.instance)
            )
        found = _describe_value(failure.instance)
        message = Message(
            "diag.schema.should_not", where=failure.where, expected=_expected(types), found=found
        )
        yield self.at(failure.path, "PB201", message, hint=hint)

    def _required(self, failure: _Failure) -> Iterator[Diagnostic]:
        properties = failure.schema.get("properties", {})
        for name in failure.expected:
            if isinstance(failure.instance, Mapping) and name not in failure.instance:
                message = Message("diag.schema.needs_key", where=failure.where, name=name)
                hint = _key_about(name, properties.get(name, {}))
                missing = self._missing(failure.path, message, [name], hint)
                yield dataclasses.replace(missing, path=path_to_str((*failure.path, name)))

    def _missing(
        self, path: YamlPath, message: Message, names: Sequence[str], hint: Message | None = None
    ) -> Diagnostic:
        extra = {"mapping": path_to_str(path), "missing": tuple(names)}
        return self.at(path, "PB203", message, hint=hint, key=True, extra=extra)

    def _additional_properties(self, failure: _Failure) -> Iterator[Diagnostic]:
        known = list(failure.schema.get("properties", {}))
        patterns = list(failure.schema.get("patternProperties", {}))
        for name in failure.instance:
            if name in known or any(re.search(p, name) for p in patterns):
                continue
            message = Message("diag.schema.unknown_key", name=name, where=failure.where)
            yield self._unknown_key((*failure.path, name), message, _close(name, known), known)

    def _enum(self, failure: _Failure) -> Iterator[Diagnostic]:
        allowed = [str(a) for a in failure.expected]
        value = failure.instance
        shown = repr(value) if isinstance(value, str) else _describe_value(value)
        message = Message(
            "diag.schema.which_not_one", where=failure.where, shown=shown, listed=_listed(allowed)
        )
        meant = _close(value, allowed) if isinstance(value, str) else None
        yield self.at(
            failure.path,
            "PB204",
            message,
            hint=Message("diag.schema.did_you_mean", meant=meant) if meant else None,
        )

    def _const(self, failure: _Failure) -> Iterator[Diagnostic]:
        yield self.at(
            failure.path,
            "PB204",
            Message("diag.schema.must", where=failure.where, expected=failure.expected),
        )

    def _pattern(self, failure: _Failure) -> Iterator[Diagnostic]:
        words = _pattern_words(failure.expected)
        message = Message(
            "diag.schema.should_not_2", where=failure.where, words=words, instance=failure.instance
        )
        yield self.at(failure.path, "PB204", message)

    def _bound(self, failure: _Failure) -> Iterator[Diagnostic]:
        relation = _BOUNDS[failure.keyword]
        message = Message(
            "diag.schema.but_must",
            where=failure.where,
            instance=failure.instance,
            relation=relation,
            expected=failure.expected,
        )
        yield self.at(failure.path, "PB204", message)

    def _size(self, failure: _Failure) -> Iterator[Diagnostic]:
        limit = failure.expected
        if failure.keyword == "minLength" and limit == 1:
            yield self.at(
                failure.path, "PB204", Message("diag.schema.must_not_empty", where=failure.where)
            )
            return
        what = _COUNTED.get(failure.keyword, "key")
        many = _BOUNDS["minimum" if failure.keyword.startswith("min") else "maximum"]
        noun = Message(f"diag.schema.noun.{what}_{'one' if limit == 1 else 'many'}")
        message = Message(
            "diag.schema.needs", where=failure.where, many=many, limit=limit, what=noun
        )
        yield self.at(failure.path, "PB204", message)

    def _key_count(self, failure: _Failure) -> Iterator[Diagnostic]:
        known = list(failure.schema.get("properties", {}))
        if failure.keyword == "minProperties" and known:
            message = Message(
                "diag.schema.needs_one_keys", where=failure.where, listed=_listed(known)
            )
            yield self._missing(failure.path, message, known)
        elif failure.keyword == "maxProperties" and failure.expected == 1:
            message = Message(
                "diag.schema.takes_one_key_not",
                where=failure.where,
                quoted=_quoted(failure.instance),
            )
            yield self.at(failure.path, "PB204", message, hint=Message("diag.schema.keep_one_them"))
        else:
            yield from self._size(failure)

    def _unique_items(self, failure: _Failure) -> Iterator[Diagnostic]:
        items = list(failure.instance)
        repeated = next((x for i, x in enumerate(items) if x in items[:i]), None)
        message = Message(
            "diag.schema.lists_more_than_once", where=failure.where, repeated=repeated
        )
        yield self.at(failure.path, "PB204", message, hint=Message("diag.schema.remove_repetition"))

    def _alternatives(self, failure: _Failure) -> Iterator[Diagnostic]:
        """``anyOf``/``oneOf``: "needs one of the keys", or the best match inside."""
        context = list(failure.error.context or ())
        if context and all(e.validator == "required" for e in context):
            names = [name for e in context for name in _Failure.of(e).expected]
            message = Message(
                "diag.schema.needs_one_keys", where=failure.where, listed=_listed(names)
            )
            yield self._missing(failure.path, message, names)
            return
        from jsonschema.exceptions import best_match

        inner = best_match(context)
        if inner is None:
            yield from self._other(failure)
        else:
            yield from self.describe(inner)

    def _not(self, failure: _Failure) -> Iterator[Diagnostic]:
        refused = failure.expected
        if isinstance(refused, Mapping) and list(refused) == ["required"]:
            message = Message(
                "diag.schema.cannot_have_both",
                where=failure.where,
                quoted=_quoted(refused["required"]),
            )
            yield self.at(failure.path, "PB205", message, hint=Message("diag.schema.keep_one_them"))
        else:
            yield from self._other(failure)

    def _other(self, failure: _Failure) -> Iterator[Diagnostic]:
        yield self.at(
            failure.path,
            "PB205",
            Message("diag.schema.message", where=failure.where, message=failure.error.message),
        )


_HANDLERS: dict[str, Callable[[_Describer, _Failure], Iterator[Diagnostic]]] = {
    "type": _Describer._type,
    "required": _Describer._required,
    "additionalProperties": _Describer._additional_properties,
    "enum": _Describer._enum,
    "const": _Describer._const,
    "pattern": _Describer._pattern,
    **dict.fromkeys(_BOUNDS, _Describer._bound),
    **dict.fromkeys(["minItems", "maxItems", "minLength", "maxLength"], _Describer._size),
    **dict.fromkeys(["minProperties", "maxProperties"], _Describer._key_count),
    "uniqueItems": _Describer._unique_items,
    **dict.fromkeys(["anyOf", "oneOf"], _Describer._alternatives),
    "not": _Describer._not,
}
