"""Validate playbook files: read strictly, check the schema, then the semantic rules.

:func:`validate_paths` is the library side of ``playbook validate``: it finds
the playbook files under the paths given, runs :func:`validate_file` on each
and gathers every diagnostic into one :class:`ValidationReport`. Nothing here
prints; the report says which exit code the command should end with.

:func:`load` is the same pipeline for a program that wants the model of one
playbook (``playbook.load``): it returns the :class:`~playbook.model.Playbook`
or raises :class:`~playbook.errors.InvalidPlaybookError` with every error.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from playbook._collector import collector_paused
from playbook.definition.build import build
from playbook.definition.lint import lint
from playbook.definition.loader import Document, LoadResult, read_document, read_text
from playbook.definition.report import Reporter
from playbook.definition.schema import validate_schema
from playbook.diagnostics import Diagnostic, Severity
from playbook.errors import InvalidPlaybookError, PathNotFoundError
from playbook.i18n import Message
from playbook.model import Playbook

__all__ = [
    "PLAYBOOK_SUFFIXES",
    "FileResult",
    "ValidationReport",
    "check_document",
    "find_playbooks",
    "is_playbook_like",
    "load",
    "load_text",
    "validate_file",
    "validate_paths",
    "validate_text",
]

PLAYBOOK_SUFFIXES = (".yaml", ".yml")
_SCENARIO_SUFFIXES = (".test.yaml", ".test.yml")


@dataclass(frozen=True, slots=True)
class FileResult:
    """The outcome for one file: its document (None when unreadable), problems, and model.

    ``playbook`` is set only when the file has no error: it is what the engine would use.
    """

    path: str
    document: Document | None
    diagnostics: tuple[Diagnostic, ...]
    playbook: Playbook | None
    text: str = ""
    """The file's text when it was read but not composed (a YAML syntax error)."""

    @property
    def ok(self) -> bool:
        """True when the file has no error (warnings allowed)."""
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def language(self) -> str | None:
        """The ``language:`` the file declares (even when invalid), or None."""
        data = self.document.data if self.document is not None else None
        declared = data.get("language") if isinstance(data, Mapping) else None
        return declared if isinstance(declared, str) else None


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Every file checked, in order, and what was found in them.

    ``skipped`` lists the YAML files found under a directory that are plainly
    not playbooks (see :func:`validate_paths`); each has a ``PB116`` note
    among the :attr:`diagnostics`.
    """

    files: tuple[FileResult, ...]
    skipped: tuple[str, ...] = ()

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """All diagnostics, sorted by file, line, column and code."""
        return sorted(self._all(), key=Diagnostic.sort_key)

    @property
    def counts(self) -> Mapping[Severity, int]:
        """How many diagnostics of each severity (``error``, ``warning``, ``note``)."""
        found = Counter(d.severity for d in self._all())
        return {"error": found["error"], "warning": found["warning"], "note": found["note"]}

    def _all(self) -> Iterator[Diagnostic]:
        for result in self.files:
            yield from result.diagnostics
        yield from map(_skipped, self.skipped)

    @property
    def language(self) -> str | None:
        """The language every file checked declares, or None when they differ or say none.

        Diagnostics are shown in it: a Chinese playbook's problems in Chinese.
        """
        declared = {f.language for f in self.files}
        return declared.pop() if len(declared) == 1 else None

    @property
    def sources(self) -> dict[str, Document | str]:
        """The document of each file checked (its text when it did not parse, ``""`` when it
        could not be read)."""
        return {f.path: f.document if f.document is not None else f.text for f in self.files}

    def exit_code(self, strict: bool = False) -> int:
        """0 when clean, 1 when there are errors (or, when ``strict``, warnings)."""
        counts = self.counts
        if counts["error"] or (strict and counts["warning"]):
            return 1
        return 0


def validate_paths(paths: Sequence[str | Path]) -> ValidationReport:
    """Validate every playbook file named in ``paths`` or found under the directories among them.

    A YAML file found under a directory that reads cleanly as a mapping with
    neither a ``playbook`` nor a ``stages`` key (an import mapping or a CI
    configuration kept next to the playbooks) is not a playbook: it is
    skipped with a ``PB116`` note. Anything else is checked, so a broken
    playbook is never passed over; a file named explicitly is always checked.

    Raises :class:`PathNotFoundError` (exit code 2) for a path that does not
    exist, before reading any file, and for a directory without any playbook file.
    """
    checked: list[FileResult] = []
    skipped: list[str] = []
    groups = _expanded(paths)
    named = {str(path) for path in paths if not Path(path).is_dir()}
    with collector_paused():
        for given, files in groups:
            taken = 0
            for file in files:
                loaded = read_document(file, display_name=file)
                if given is not None and file not in named and not is_playbook_like(loaded):
                    skipped.append(file)
                    continue
                checked.append(_checked(file, loaded))
                taken += 1
            if given is not None and not taken:
                raise _no_playbooks(given, len(files))
    return ValidationReport(tuple(checked), tuple(skipped))


def is_playbook_like(loaded: LoadResult) -> bool:
    """False only for a clean YAML mapping with keys but neither ``playbook`` nor ``stages``."""
    if not loaded.ok or loaded.document is None:
        return True
    data = loaded.document.data
    return not isinstance(data, dict) or not data or bool(_PLAYBOOK_KEYS & data.keys())


_PLAYBOOK_KEYS = frozenset({"playbook", "stages"})


def _skipped(file: str) -> Diagnostic:
    return Diagnostic(
        file=file,
        line=1,
        column=1,
        severity="note",
        code="PB116",
        msg=Message("diag.validate.skipped_not_playbook_no"),
        hint_msg=Message("diag.validate.name_file_check_anyway", file=file),
    )


def find_playbooks(paths: Sequence[str | Path]) -> list[str]:
    """The YAML files to look at, each once, in the order given; directories expand sorted.

    Under a directory: ``*.yaml`` and ``*.yml``, recursively, except scenario
    files (``*.test.yaml``) and anything inside a hidden directory. A file
    named explicitly is always taken, whatever its name. (:func:`validate_paths`
    then skips those found under a directory that are plainly not playbooks.)
    """
    found: dict[str, None] = {}
    for _given, files in _expanded(paths):
        found.update(dict.fromkeys(files))
    return list(found)


def _expanded(paths: Sequence[str | Path]) -> list[tuple[str | None, list[str]]]:
    """Each directory of ``paths`` with its YAML files, each file named alone with None.

    Every file is listed once, where it first appears. Raises
    :class:`PathNotFoundError` for a missing path or a directory without YAML files.
    """
    seen: set[str] = set()
    groups: list[tuple[str | None, list[str]]] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            inside = list(_playbooks_under(path))
            if not inside:
                raise _no_playbooks(str(given), 0)
            groups.append((str(given), [file for file in inside if file not in seen]))
            seen.update(inside)
        elif path.exists():
            if str(given) not in seen:
                groups.append((None, [str(given)]))
                seen.add(str(given))
        else:
            raise PathNotFoundError(
                Message("diag.validate.no_such_file_directory", given=given),
                hint=Message("diag.validate.check_path"),
                file=str(given),
            )
    return groups


def _no_playbooks(directory: str, others: int) -> PathNotFoundError:
    passed = Message("diag.validate.others_skipped", others=others) if others else ""
    return PathNotFoundError(
        Message("diag.validate.no_playbook_files_yaml", directory=directory, passed=passed),
        hint=Message("diag.validate.name_files_directory_holds"),
        file=directory,
    )


def _playbooks_under(directory: Path) -> Iterator[str]:
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.endswith(PLAYBOOK_SUFFIXES) and not name.endswith(_SCENARIO_SUFFIXES):
                yield os.path.join(root, name)


def load(path: str | Path) -> Playbook:
    """The model of the playbook file at ``path``, ready for the engine.

    Raises :class:`InvalidPlaybookError` (exit code 2) carrying every error
    diagnostic when the file is not a valid playbook; warnings do not stop it.
    """
    return _model_of(validate_file(path))


def load_text(text: str, file: str = "<playbook>") -> Playbook:
    """:func:`load` for a playbook already in memory; ``file`` names it in messages."""
    return _model_of(validate_text(text, file))


def _model_of(result: FileResult) -> Playbook:
    if result.playbook is not None:
        return result.playbook
    errors = [d for d in result.diagnostics if d.severity == "error"]
    first = errors[0]
    raise InvalidPlaybookError(
        Message(
            "diag.validate.not_valid_playbook_line",
            path=result.path,
            code=first.code,
            message=first.msg,
            line=first.line,
            column=first.column,
        ),
        errors,
        file=result.path,
        line=first.line,
        column=first.column,
        hint=Message("diag.validate.run_playbook_validate_see", path=result.path),
        details={"language": result.language} if result.language else None,
    )


def validate_file(path: str | Path) -> FileResult:
    """Read one file strictly, check it against the schema, then run the semantic checks.

    The semantic checks run only on a document that matches the schema: they
    rely on its shape. ``playbook`` is the built model when no error was found.
    """
    return _checked(str(path), read_document(path, display_name=str(path)))


def validate_text(text: str, file: str = "<playbook>") -> FileResult:
    """:func:`validate_file` for a playbook already in memory; ``file`` names it in diagnostics."""
    return _checked(file, read_text(text, file))


def _checked(name: str, loaded: LoadResult) -> FileResult:
    diagnostics = list(loaded.diagnostics)
    document = loaded.document
    playbook = None
    if document is not None:
        # One problem per place: a value the loader refused (and read as null) is not
        # also reported by the schema as missing.
        refused = {(d.line, d.column, d.path) for d in diagnostics if d.severity == "error"}
        schema_problems = validate_schema(document)
        diagnostics.extend(d for d in schema_problems if (d.line, d.column, d.path) not in refused)
        if not schema_problems:
            playbook, found = check_document(document)
            diagnostics.extend(found)
    diagnostics.sort(key=Diagnostic.sort_key)
    if any(d.severity == "error" for d in diagnostics):
        playbook = None
    return FileResult(name, document, tuple(diagnostics), playbook, loaded.text or "")


def check_document(document: Document) -> tuple[Playbook | None, list[Diagnostic]]:
    """Build the playbook model from a schema-valid document and run the lint passes.

    Returns the model (None when an error prevents building one, or any error
    was found) and every diagnostic, errors and warnings, sorted by position.
    """
    reporter = Reporter(document)
    built = build(document, reporter)
    lint(built, reporter)
    diagnostics = sorted(reporter.diagnostics, key=Diagnostic.sort_key)
    if any(d.severity == "error" for d in diagnostics):
        return None, diagnostics
    return built.playbook, diagnostics
