"""A :class:`~playbook.model.Playbook` from a file or a text, read and checked strictly.

Deals are pinned to a playbook version; the store keeps each version's text
(see :meth:`~playbook.store.repository.DealStore.register_playbook`) and
:mod:`playbook.services` rebuilds the model from it with the same strict
reading and checks as ``playbook validate``.
"""

from __future__ import annotations

from pathlib import Path

from playbook.definition.validate import load_text
from playbook.errors import InputFileError
from playbook.i18n import Message
from playbook.model import Playbook

__all__ = ["playbook_from_file", "playbook_from_text"]


def playbook_from_text(text: str, file: str = "<playbook>") -> Playbook:
    """The playbook written in ``text``; raises InvalidPlaybookError listing every error."""
    return load_text(text, file)


def playbook_from_file(path: str | Path) -> tuple[Playbook, str]:
    """The playbook in the file at ``path`` and its text (for registering in the store)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(
            Message("diag.files.cannot_read_playbook", path=path, error=error),
            file=str(path),
            code="PB114",
        ) from error
    return playbook_from_text(text, str(path)), text
