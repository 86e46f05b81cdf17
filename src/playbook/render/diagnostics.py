"""Diagnostics rendered for people (text) and for tools (JSON, GitHub annotations, SARIF).

Each formatter takes diagnostics in the order to show them and returns the
whole output as one string; none prints. Messages, hints and the summary are
written in ``lang`` (English for None), any language of :mod:`playbook.i18n`;
codes, files and JSON keys stay as they are. Columns in diagnostics count
characters; the text format turns them into terminal cells so that the caret
sits under the right character in lines with Chinese (double-width) text.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from playbook.definition.loader import Document
from playbook.diagnostics import RULES, Diagnostic, Rule, Severity
from playbook.i18n import counted, join, say

__all__ = [
    "DOCS_URL",
    "SARIF_SCHEMA",
    "format_github",
    "format_json",
    "format_sarif",
    "format_text",
    "summary_line",
]

DOCS_URL = "https://playbook.dev/docs/diagnostics"
"""Where each code is explained; a code's anchor is its lowercase id (``#pb202``)."""

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_COLORS = {"error": "31", "warning": "33", "note": "36"}
_GITHUB_LEVELS = {"error": "error", "warning": "warning", "note": "notice"}
_SARIF_LEVELS = {"error": "error", "warning": "warning", "note": "note"}


# --- text -------------------------------------------------------------------------


def format_text(
    diagnostics: Sequence[Diagnostic],
    sources: Mapping[str, Document | str],
    color: bool = False,
    skipped: Collection[str] = (),
    lang: str | None = None,
) -> str:
    """Compiler-style text: a heading, the source line, a caret and a hint per diagnostic.

    ``sources`` holds the text (or document) of every file that was checked;
    the closing summary line counts them (in ``lang``), and the ``skipped``
    files apart. ANSI colours only when ``color``. The severity word is in
    ``lang`` too (``错误``, ``警告``): this format is for people; the machine
    formats keep the English tokens.
    """
    paint = _Painter(color)
    blocks = [_text_block(d, sources.get(d.file), paint, lang) for d in diagnostics]
    files = len({*sources, *(d.file for d in diagnostics)} - set(skipped))
    blocks.append(paint.bold(summary_line(diagnostics, files, len(skipped), lang)))
    return "\n".join(blocks) + "\n"


def summary_line(
    diagnostics: Sequence[Diagnostic], files: int, skipped: int = 0, lang: str | None = None
) -> str:
    """``N errors, M warnings in K files`` (notes, and files skipped, only when there are some).

    In ``lang`` (English by default).
    """
    counts = Counter(d.severity for d in diagnostics)
    parts = [_plural(counts["error"], "error", lang), _plural(counts["warning"], "warning", lang)]
    if counts["note"]:
        parts.append(_plural(counts["note"], "note", lang))
    shown = join(parts, lang, last=None)
    line = say("cli.validate.summary", lang, counts=shown, files=_plural(files, "file", lang))
    if skipped:
        line += say("cli.validate.skipped", lang, count=_plural(skipped, "other_yaml", lang))
    return line


def _plural(count: int, noun: str, lang: str | None) -> str:
    return counted(f"cli.count.{noun}", count, lang)


class _Painter:
    """ANSI styling that is a no-op when colour is off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        return self.paint(text, "1")

    def severity(self, severity: Severity, lang: str | None) -> str:
        word = say(f"diag.render.severity.{severity}", lang)
        return self.paint(word, f"1;{_COLORS.get(severity, '0')}")


def _text_block(
    diagnostic: Diagnostic, source: Document | str | None, paint: _Painter, lang: str | None
) -> str:
    d = diagnostic
    heading = (
        f"{paint.bold(f'{d.file}:{d.line}:{d.column}:')} "
        f"{paint.severity(d.severity, lang)} {paint.bold(d.code)} {d.message_in(lang)}"
    )
    lines = [heading, *_snippet(d, _source_line(source, d.line), paint)]
    hint = d.hint_in(lang)
    if hint:
        lines.append(f"  {paint.paint(say('diag.render.hint', lang), '1;36')} {hint}")
    return "\n".join(lines)


def _with_hint(d: Diagnostic, lang: str | None) -> str:
    """The message, and the hint on a line of its own, for the tools' formats."""
    hint = d.hint_in(lang)
    message = d.message_in(lang)
    return f"{message}\n{say('diag.render.hint', lang)} {hint}" if hint else message


def _source_line(source: Document | str | None, line: int) -> str | None:
    if isinstance(source, Document):
        text = source.line_text(line)
        return text if text or source.text else None
    if isinstance(source, str):
        lines = source.splitlines()
        return lines[line - 1] if 1 <= line <= len(lines) else None
    return None


def _snippet(diagnostic: Diagnostic, text: str | None, paint: _Painter) -> list[str]:
    """The source line and a caret line under the diagnostic's column."""
    if text is None or not text.strip():
        return []
    shown = text.replace("\t", " ")  # one cell per tab keeps the caret arithmetic simple
    start = max(diagnostic.column - 1, 0)
    end = diagnostic.end_column - 1 if diagnostic.end_column else start + 1
    pad = _cells(shown[:start])
    width = max(_cells(shown[start:end]), 1)
    gutter = str(diagnostic.line)
    marker = "^" + "~" * (width - 1)
    return [
        f" {gutter} | {shown}",
        f" {' ' * len(gutter)} | {' ' * pad}{paint.paint(marker, '1;32')}",
    ]


def _cells(text: str) -> int:
    """Terminal cells taken by ``text``: East Asian wide characters take two, marks none."""
    return sum(_cell_width(ch) for ch in text)


def _cell_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


# --- JSON -------------------------------------------------------------------------


def format_json(
    diagnostics: Sequence[Diagnostic],
    files_checked: int,
    skipped: Sequence[str] = (),
    lang: str | None = None,
) -> str:
    """``{"files_checked": N, "files_skipped": [...], "diagnostics": [...]}``.

    Each diagnostic has file, line, column, severity, code, message, path (and
    hint when there is one); ``files_skipped`` names the YAML files found under
    a directory that are not playbooks. UTF-8, not escaped.
    """
    document = {
        "files_checked": files_checked,
        "files_skipped": list(skipped),
        "diagnostics": [d.to_dict(lang) for d in diagnostics],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


# --- GitHub workflow commands -----------------------------------------------------


def format_github(diagnostics: Sequence[Diagnostic], lang: str | None = None) -> str:
    """One ``::error file=…,line=…,col=…,title=CODE::message`` line per diagnostic.

    GitHub Actions shows them as annotations on the pull request. Warnings are
    ``::warning``, notes ``::notice``; the hint follows the message on a new line.
    """
    return "".join(_github_line(d, lang) + "\n" for d in diagnostics)


def _github_line(d: Diagnostic, lang: str | None) -> str:
    properties = {"file": d.file, "line": d.line, "col": d.column}
    if d.end_column:
        properties["endColumn"] = d.end_column
    properties["title"] = d.code
    rendered = ",".join(
        f"{key}={_escape_property(str(value))}" for key, value in properties.items()
    )
    text = _with_hint(d, lang)
    return f"::{_GITHUB_LEVELS.get(d.severity, 'error')} {rendered}::{_escape_data(text)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


# --- SARIF 2.1.0 ------------------------------------------------------------------


def format_sarif(
    diagnostics: Sequence[Diagnostic],
    files_checked: int,
    tool_version: str,
    skipped: Sequence[str] = (),
    lang: str | None = None,
) -> str:
    """A SARIF 2.1.0 log with one run: every rule of the catalogue, a result per diagnostic.

    File locations are relative POSIX URIs when the file is under the current
    directory; columns are Unicode code points, like the diagnostics'.
    ``files_checked`` and the ``skipped`` files are recorded in the run's properties.
    """
    rules = _sarif_rules(diagnostics)
    index = {rule.code: i for i, rule in enumerate(rules)}
    artifacts = sorted({d.file for d in diagnostics})
    artifact_index = {file: i for i, file in enumerate(artifacts)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "playbook",
                "version": tool_version,
                "informationUri": DOCS_URL,
                "rules": [_sarif_rule(rule) for rule in rules],
            }
        },
        "columnKind": "unicodeCodePoints",
        "artifacts": [{"location": {"uri": _uri(file)}} for file in artifacts],
        "results": [
            _sarif_result(d, index[d.code], artifact_index[d.file], lang) for d in diagnostics
        ],
        "properties": {"filesChecked": files_checked, "filesSkipped": list(skipped)},
    }
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, ensure_ascii=False, indent=2) + "\n"


def _sarif_rules(diagnostics: Sequence[Diagnostic]) -> list[Rule]:
    """The catalogue, plus any code a diagnostic uses that the catalogue lacks."""
    rules = list(RULES.values())
    extra = {d.code: d.rule for d in diagnostics if d.code not in RULES}
    return rules + [extra[code] for code in sorted(extra)]


def _sarif_rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "defaultConfiguration": {"level": _SARIF_LEVELS.get(rule.severity, "error")},
        "helpUri": f"{DOCS_URL}#{rule.code.lower()}",
    }


def _sarif_result(
    d: Diagnostic, rule_index: int, artifact_index: int, lang: str | None
) -> dict[str, Any]:
    region: dict[str, int] = {"startLine": d.line, "startColumn": d.column}
    if d.end_column:
        region["endColumn"] = d.end_column
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(d.file), "index": artifact_index},
            "region": region,
        }
    }
    if d.path:
        location["logicalLocations"] = [{"fullyQualifiedName": d.path, "kind": "member"}]
    text = _with_hint(d, lang)
    return {
        "ruleId": d.code,
        "ruleIndex": rule_index,
        "level": _SARIF_LEVELS.get(d.severity, "error"),
        "message": {"text": text},
        "locations": [location],
    }


def _uri(file: str) -> str:
    """A relative POSIX URI for a file under the current directory, else a file: URI."""
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return path.as_uri()
    return quote(PurePath(path).as_posix())
