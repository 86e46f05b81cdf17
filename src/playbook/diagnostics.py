"""Diagnostics: one problem found in a file, with its position and stable code.

The catalogue :data:`RULES` lists every code that validation can report, with a
short name and a one-line description; the docs table, the SARIF ``rules`` and
``--explain`` are generated from it, so a new code is added here first.
Formatters (text, json, github, sarif) live in :mod:`playbook.render.diagnostics`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any, Literal

from playbook.i18n import Message, as_message

__all__ = [
    "RULES",
    "Diagnostic",
    "Rule",
    "Severity",
    "closest",
    "did_you_mean",
    "path_to_str",
]

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A diagnostic code's catalogue entry."""

    code: str
    name: str
    summary: str
    severity: Severity = "error"


_CATALOGUE = """
# PB1xx: reading the file
PB101 file-too-large: The file is larger than the size limit for a playbook.
PB102 not-utf8: The file is not valid UTF-8 text.
PB103 binary-file: The file contains NUL bytes or control characters: not text.
PB104 yaml-syntax: The file is not well-formed YAML.
PB105 tab-indentation: A tab character is used for indentation; YAML needs spaces.
PB106 duplicate-key: A mapping has the same key twice; YAML loaders keep only one.
PB107 ambiguous-scalar: A plain scalar that YAML 1.1 and 1.2 read differently (yes/no/on/off, 1:30,
    010, 1_000).
PB108 unsupported-tag: An explicit YAML tag other than the standard scalar, list and map tags.
PB109 alias-limit: Anchors and aliases expand to more nodes than allowed (alias bomb).
PB110 empty-document: The file has no content.
PB111 multiple-documents: The file holds more than one YAML document.
PB112 merge-key: YAML merge keys (<<) are not supported; write the keys out.
PB113 complex-key: A mapping key that is not a plain string.
PB114 unreadable-file: The file cannot be opened or read.
PB115 too-deep: The document nests deeper than the allowed depth.
PB116 not-a-playbook: A YAML file under a directory has top-level keys but neither `playbook` nor
    `stages` (an import mapping, say): it was skipped, not checked.
# PB2xx: the JSON Schema
PB201 wrong-type: A value has the wrong type for its place in the playbook format.
PB202 unknown-key: A key that the playbook format does not define at this place.
PB203 missing-key: A required key is missing.
PB204 invalid-value: A value is outside what the format allows (enum, pattern, range).
PB205 schema-violation: A value does not match the playbook format.
# PB3xx: semantic checks
PB301 duplicate-id: Two items of the same kind share an id.
PB302 unknown-stage: A reference to a stage that is not defined.
PB303 unknown-field: A reference to a field that is not declared in `fields`.
PB304 unknown-role: A reference to a role that is not declared in `roles`.
PB305 unknown-action: A reference to a required action that is not defined.
PB306 unreachable-stage: A stage that no path of transitions reaches from the first stage.
PB307 trap-stage: An open stage from which no won or lost stage can be reached.
PB308 no-won-stage: The playbook has no stage with outcome `won`.
PB309 impossible-entry: A stage's entry criteria can never hold for the declared field types.
PB310 probability-decreases: Win probability goes down along the forward path.
PB311 escalation-levels-order: Escalation levels are not in increasing order of delay.
PB312 unused-field: A declared field that no rule uses.
PB313 unused-role: A declared role that nothing refers to.
PB314 first-stage-closed: The first stage is not an open stage.
PB315 invalid-field-spec: A field declaration whose constraints contradict each other.
PB316 kpi-incomplete: A KPI whose metric needs a parameter that is missing.
PB317 transition-from-closed: A transition leaves a won or lost stage.
PB318 invalid-calendar: A calendar with no working days or a bad date.
PB319 unsafe-sink: A notification sink refused whatever the operator allows: a `jsonl:` path
    that is absolute or leaves its folder, a URL that does not parse, a link-local or metadata
    address.
PB320 unknown-activity-kind: A reference to an activity kind that is not declared in
    `activity_kinds` (call, meeting, email, note and visit without that key).
PB321 kpi-per-member-not-additive: A KPI with a per-member target (`per: owner`) whose metric
    does not add up over members (a ratio, an average, a percentile).
PB330 table-row-shape: A decision table row whose number of cells differs from its columns,
    or a cell of a condition column that is not true, false or `-`.
PB331 table-output-type: A decision table output value of the wrong type for its declared output.
PB332 table-hit-policy: A decision table hit policy that does not fit its outputs (`collect`
    without `aggregate`, `sum` or `max` of a non-number, `priority` without an enum output).
PB333 table-overlap: Two rows of a `unique` decision table match the same deal (an example is
    given).
PB334 table-gap: A decision table declared `complete` has no row for some deal (an example is
    given).
PB335 table-unreachable-row: A row of a `first` or `priority` decision table that earlier rows
    always shadow.
PB336 derived-field-cycle: Decision tables whose derived fields read each other in a cycle.
PB337 derived-field-clash: A decision table output named like a declared field or another
    table's output.
PB350 approval-not-a-person-field: An approval step's `person_field` is neither `owner`,
    `manager` nor a declared string field.
PB351 approval-step-id-twice: Two steps of one approval share an id.
PB352 approval-escalate-without-due: An approval step escalates but has no `due` time.
# PB4xx: conditions
PB401 condition-syntax: A condition string does not parse.
PB402 condition-unknown-field: A condition names a field that is not declared.
PB403 condition-type-mismatch: A condition compares values of incompatible types.
PB404 condition-unknown-function: A condition calls a function that does not exist.
PB405 condition-bad-operator: An operator that does not apply to the field's type.
PB406 condition-bad-literal: A literal that cannot be read as the field's type.
"""
# Every code above is an error but these.
_SEVERITIES: dict[str, Severity] = {
    "PB116": "note",
    "PB310": "warning",
    "PB312": "warning",
    "PB313": "warning",
    "PB317": "warning",
}


def _parse_catalogue(text: str) -> list[Rule]:
    """The rules of a catalogue: ``CODE name: summary`` lines, indented lines continuing one."""
    entries: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith(" "):
            entries[-1][2] += " " + line.strip()
        elif line and not line.startswith("#"):
            code, rest = line.split(" ", 1)
            name, summary = rest.split(": ", 1)
            entries.append([code, name, summary])
    return [
        Rule(code, name, summary, _SEVERITIES.get(code, "error")) for code, name, summary in entries
    ]


RULES: dict[str, Rule] = {rule.code: rule for rule in _parse_catalogue(_CATALOGUE)}


def path_to_str(path: tuple[str | int, ...]) -> str:
    """Render a data path as ``stages[2].entry[0]`` (``""`` for the root)."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif out:
            out.append(f".{part}")
        else:
            out.append(part)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem at one place in one file. Lines and columns are 1-based, in characters.

    ``msg`` and ``hint_msg`` are catalogue messages, shown in any language with
    :meth:`message_in` and :meth:`hint_in`; ``message`` and ``hint`` are English.
    Playbook's own code always passes messages; a plain string (an embedder's
    own check, say) is accepted and shown as it is in every language.
    """

    file: str
    line: int
    column: int
    severity: Severity
    code: str
    msg: Message | str
    path: str = ""
    hint_msg: Message | str | None = None
    end_column: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        # A plain string (an embedder's own words) is shown as it is, in every language.
        if not isinstance(self.msg, Message):
            object.__setattr__(self, "msg", as_message(self.msg))
        if self.hint_msg is not None and not isinstance(self.hint_msg, Message):
            object.__setattr__(self, "hint_msg", as_message(self.hint_msg))

    @property
    def message(self) -> str:
        """What is wrong and what to do, in English."""
        return self.message_in("en")

    @property
    def hint(self) -> str | None:
        """The hint in English, or None."""
        return self.hint_in("en")

    def message_in(self, lang: str | None) -> str:
        """The message in ``lang`` (English for None or a language the catalogue lacks)."""
        return as_message(self.msg).render(lang)

    def hint_in(self, lang: str | None) -> str | None:
        """The hint in ``lang``, or None when there is none."""
        return None if self.hint_msg is None else as_message(self.hint_msg).render(lang)

    @property
    def rule(self) -> Rule:
        """The catalogue entry of this diagnostic's code."""
        return RULES.get(self.code) or Rule(self.code, "unknown", self.message, self.severity)

    def sort_key(self) -> tuple[str, int, int, str]:
        """Order by file, then position, then code."""
        return (self.file, self.line, self.column, self.code)

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """The JSON form (file, line, column, severity, code, message, path, hint) in ``lang``."""
        data: dict[str, Any] = {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message_in(lang),
            "path": self.path,
        }
        hint = self.hint_in(lang)
        if hint:
            data["hint"] = hint
        return data


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` was most likely meant to be (a typo, a case slip), or None."""
    options = sorted(set(choices))
    found = get_close_matches(word, options, n=1, cutoff=0.6)
    found = found or [c for c in options if c.lower() == word.lower()]
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> Message | None:
    """A ``did you mean 'x'?`` hint for a misspelt ``word``, or None when nothing is close."""
    found = closest(word, choices)
    return Message("common.did_you_mean", choice=found) if found else None
