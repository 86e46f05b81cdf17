"""Every user-visible sentence, label and list separator, in English and Chinese.

:func:`say` reads one text of the catalogue (:mod:`playbook.i18n.texts`);
:class:`Message` is a text not yet rendered, a key and its values, that errors
and diagnostics carry so that the reader's language is picked when they are
shown (:mod:`playbook.i18n.message`).

A leaf: imports nothing from the project, so that every layer, down to
:mod:`playbook.errors` and :mod:`playbook.diagnostics`, may use it.
"""

from __future__ import annotations

from playbook.i18n.message import Items, Message, Translated, as_message
from playbook.i18n.texts import (
    AREAS,
    LANGUAGES,
    area_messages,
    catalogue,
    counted,
    join,
    say,
    spoken,
)

__all__ = [
    "AREAS",
    "LANGUAGES",
    "Items",
    "Message",
    "Translated",
    "area_messages",
    "as_message",
    "catalogue",
    "counted",
    "join",
    "say",
    "spoken",
]
