"""Reading people to import from a file: CSV, JSON, JSON Lines (as deal imports) or YAML.

Columns (keys) are those of :data:`~playbook.store.people.PERSON_FIELDS`;
``roles`` is a list in JSON and YAML, and in a CSV cell role ids separated by
spaces, commas, semicolons or ``|``. Every row is checked before anything is
written: the first bad row refuses the file, naming its line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from playbook.definition.loader import read_document
from playbook.errors import ImportFileError, PersonError
from playbook.i18n import Message
from playbook.store.people import PersonRecord, person_record
from playbook.store.sources import open_source

__all__ = ["read_people"]

_YAML = (".yaml", ".yml")


def read_people(path: str | Path) -> list[PersonRecord]:
    """Every person in the file at ``path``, checked; raises on the first unusable row.

    Raises :class:`~playbook.errors.ImportFileError` for a file that cannot be
    read at all and :class:`~playbook.errors.PersonError` (with the line) for a bad row.
    """
    file = Path(path)
    if file.suffix.lower() in _YAML:
        return _yaml_people(file)
    people: list[PersonRecord] = []
    for row in open_source(file):
        if isinstance(row, Exception):
            raise row
        people.append(_checked(row.values, file, row.number))
    return people


def _yaml_people(file: Path) -> list[PersonRecord]:
    loaded = read_document(file)
    if loaded.document is None or not loaded.ok:
        first = loaded.diagnostics[0] if loaded.diagnostics else None
        raise ImportFileError(
            Message("error.people.not_yaml", file=str(file))
            if first is None
            else Message("error.people.not_yaml_because", file=str(file), problem=first.msg),
            file=str(file),
            line=first.line if first else None,
        )
    data = loaded.document.data
    prefix: tuple[str | int, ...] = ()
    if isinstance(data, dict) and isinstance(data.get("people"), list):
        data, prefix = data["people"], ("people",)
    if not isinstance(data, list):
        raise ImportFileError(
            Message("error.people.file_not_list", file=str(file)),
            file=str(file),
        )
    people = []
    for index, item in enumerate(data):
        line = loaded.document.mark((*prefix, index)).line
        if not isinstance(item, dict):
            raise PersonError(Message("error.people.not_mapping"), file=str(file), line=line)
        people.append(_checked(item, file, line))
    return people


def _checked(values: Mapping[str, Any], file: Path, line: int) -> PersonRecord:
    try:
        return person_record(values)
    except PersonError as error:
        error.file, error.line = str(file), line
        raise
