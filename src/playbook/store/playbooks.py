"""Building a :class:`~playbook.model.Playbook` from its text, as the store keeps it.

Deals are pinned to a playbook version; the store keeps each version's text
(see :meth:`~playbook.store.repository.DealStore.register_playbook`) and
rebuilds the model from it with the same strict reading and checks as
``playbook validate``.
"""

from __future__ import annotations

from pathlib import Path

from playbook.checks import check_document
from playbook.errors import InputFileError, InvalidPlaybookError
from playbook.loader import read_text
from playbook.model import Playbook
from playbook.schema import validate_schema

__all__ = ["playbook_from_file", "playbook_from_text"]


def playbook_from_text(text: str, file: str = "<playbook>") -> Playbook:
    """The playbook written in ``text``; raises InvalidPlaybookError listing every error."""
    loaded = read_text(text, file)
    problems = [d for d in loaded.diagnostics if d.severity == "error"]
    if loaded.document is not None and not problems:
        problems = validate_schema(loaded.document)
        if not problems:
            playbook, found = check_document(loaded.document)
            problems = [d for d in found if d.severity == "error"]
            if playbook is not None and not problems:
                return playbook
    first = problems[0] if problems else None
    raise InvalidPlaybookError(
        f"{file} is not a valid playbook"
        + (f": {first.code} {first.message} (line {first.line})" if first else ""),
        problems,
        file=file,
        hint=f"run `playbook validate {file}` to see every problem",
    )


def playbook_from_file(path: str | Path) -> tuple[Playbook, str]:
    """The playbook in the file at ``path`` and its text (for registering in the store)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(
            f"cannot read the playbook {path}: {error}", file=str(path), code="PB114"
        ) from error
    return playbook_from_text(text, str(path)), text
