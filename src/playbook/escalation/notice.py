"""What a sink is given to deliver: a notification, and the card chat services show of it.

A :class:`Notification` carries a stable delivery id, a one-paragraph ``text``
and the escalation as a JSON-ready mapping (what the console, JSON Lines,
webhook and email sinks send). Chat services (WeCom, DingTalk, Feishu, Teams)
show a :class:`ChatCard` instead: a title, labelled facts (the deal's name and
amount, its stage's title, the reason, who is told) and the path of the deal's
page in the web workspace, all already in the playbook's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from playbook.i18n import say
from playbook.model import Playbook
from playbook.safetext import printable

__all__ = ["DEAL_PAGE", "CardFacts", "ChatCard", "Notification", "chat_card", "money"]

DEAL_PAGE = "/deals/{id}"
"""The web workspace's page of a deal (by the store's number), under the operator's base URL."""

NAME_FIELD = "name"
AMOUNT_FIELD = "amount"


@dataclass(frozen=True, slots=True)
class ChatCard:
    """A notification as a chat message shows it, in one language.

    ``facts`` are (label, value) pairs; ``deal_path`` is the deal's page under
    the operator's base URL (``/deals/7``), turned into a link by the sink when
    it knows that base URL.
    """

    title: str
    facts: tuple[tuple[str, str], ...]
    message: str = ""
    deal_path: str = ""
    link_label: str = ""
    lang: str = "en"

    def fact(self, label: str, value: str) -> str:
        """``label: value`` in the card's language (a full-width colon in Chinese)."""
        return say("escalation.chat.fact", self.lang, label=label, value=value)


@dataclass(frozen=True, slots=True)
class Notification:
    """One escalation to tell people about: a stable delivery id, a text and the structure."""

    delivery_id: str
    text: str
    escalation: Mapping[str, Any]
    subject: str = ""
    card: ChatCard | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON body sent to webhooks and written to files."""
        return {"id": self.delivery_id, "text": self.text, "escalation": dict(self.escalation)}

    def chat_card(self) -> ChatCard:
        """The card chat sinks show: the one prepared by the outbox, else one from the text."""
        if self.card is not None:
            return self.card
        title, _, rest = self.text.partition("\n")
        return ChatCard(title=self.subject or title, facts=(), message=rest.strip())


@dataclass(frozen=True, slots=True)
class CardFacts:
    """What the outbox knows of an escalation for its card, before words are chosen."""

    deal_id: int
    deal: str
    fields: Mapping[str, Any]
    stage: str
    reason: str
    people: str


def chat_card(
    playbook: Playbook, facts: CardFacts, title: str, message: str, lang: str
) -> ChatCard:
    """The card of one escalation in ``lang``: deal (name and id), amount, stage, reason, people.

    The deal's name is its ``name`` field and its amount its ``amount`` field,
    when the playbook declares them and the deal has them filled in.
    """
    name = _field_text(playbook, facts.fields, NAME_FIELD)
    deal = f"{name} ({facts.deal})" if name and name != facts.deal else facts.deal
    rows = [(say("escalation.chat.deal", lang), deal)]
    amount = _amount(playbook, facts.fields)
    if amount:
        rows.append((say("escalation.chat.amount", lang), amount))
    stage = playbook.stage(facts.stage)
    rows.append(
        (
            say("escalation.chat.stage", lang),
            playbook.label(stage.title if stage else None, lang, facts.stage),
        )
    )
    rows.append((say("escalation.chat.reason", lang), facts.reason))
    if facts.people:
        rows.append((say("escalation.chat.notify", lang), facts.people))
    return ChatCard(
        title=title,
        facts=tuple((label, _one_line(value)) for label, value in rows),
        message=_one_line(message),
        deal_path=DEAL_PAGE.format(id=facts.deal_id),
        link_label=say("escalation.chat.open_deal", lang),
        lang=lang,
    )


def money(value: Any, currency: str | None) -> str:
    """``1,200,000.00 CNY``: two decimals, thousands separated; '' for what is no number."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    if not number.is_finite():
        return ""
    text = f"{number:,.2f}"
    return f"{text} {currency}" if currency else text


def _amount(playbook: Playbook, fields: Mapping[str, Any]) -> str:
    spec = playbook.fields.get(AMOUNT_FIELD)
    value = fields.get(AMOUNT_FIELD)
    if spec is None or spec.kind not in ("decimal", "number", "integer") or value is None:
        return ""
    return money(value, playbook.currency)


def _field_text(playbook: Playbook, fields: Mapping[str, Any], field_id: str) -> str:
    value = fields.get(field_id)
    if field_id not in playbook.fields or value in (None, ""):
        return ""
    return _one_line(str(value))


def _one_line(text: str) -> str:
    """``text`` on one line, without control characters (a field value may hold anything)."""
    return " ".join(printable(text).split())
