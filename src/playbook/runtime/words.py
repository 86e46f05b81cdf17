"""How the engine speaks: the playbook's labels and the catalogue's sentences, per language.

Reasons name stages, roles, fields and actions by their titles in the
playbook, in the language of the message; the sentences around them come
from :mod:`playbook.i18n`. Everything here runs when an engine is built,
never during a decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import tzinfo

from playbook.i18n import LANGUAGES, join, say
from playbook.model import Playbook, Stage, Text
from playbook.values import FrozenMap

__all__ = ["Words", "sentences"]


class Words:
    """The labels of one playbook in every language, and the timezone its times are shown in."""

    def __init__(self, playbook: Playbook, tz: tzinfo) -> None:
        self.playbook = playbook
        self.tz = tz

    def label(self, text: Text | None, lang: str, fallback: str) -> str:
        """``text`` in ``lang`` (English reads English first), or ``fallback`` without one."""
        if text is None:
            return fallback
        return text.get(lang, "en" if lang == "en" else self.playbook.language)

    def titles(self, text: Text | None, fallback: str) -> Mapping[str, str]:
        """``text`` in every language, read-only."""
        return FrozenMap({lang: self.label(text, lang, fallback) for lang in LANGUAGES})

    def stage(self, stage: Stage, lang: str) -> str:
        """The stage's title in ``lang``, its id without one."""
        return self.label(stage.title, lang, stage.id)

    def roles(self, ids: Iterable[str], lang: str) -> str:
        """The roles' titles as alternatives (``Sales rep or Manager``); ``anyone`` for none."""
        names = [self.label(self._role_title(rid), lang, rid) for rid in ids]
        return join(names, lang, last="or") if names else say("common.anyone", lang)

    def fields(self, ids: Iterable[str], lang: str) -> str:
        """The fields' titles as a list (``Amount and Budget``)."""
        specs = self.playbook.fields
        names = [self.label(specs[f].title if f in specs else None, lang, f) for f in ids]
        return join(names, lang)

    def _role_title(self, role_id: str) -> Text | None:
        role = self.playbook.roles.get(role_id)
        return role.title if role is not None else None


def sentences(key: str, **fills: Callable[[str], str]) -> Mapping[str, str]:
    """The catalogue's sentence ``key`` in every language, each placeholder filled per language."""
    return FrozenMap(
        {lang: say(key, lang, **{k: fill(lang) for k, fill in fills.items()}) for lang in LANGUAGES}
    )
