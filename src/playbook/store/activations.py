"""Which registered version of a playbook new deals follow, chosen by hand and recorded.

Every activation is a row of ``playbook_activations`` (who, when, why); the
latest row of a playbook names its active version. A playbook never activated
keeps the rule stores had before: its highest registered version is active.
Nothing here is cached: every read asks the database, so every process sees
an activation on its next request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from playbook.errors import VersionNotRegisteredError
from playbook.i18n import Message
from playbook.store.db import Database
from playbook.store.models import PlaybookActivation, PlaybookRecord
from playbook.values import require_now

__all__ = ["activate", "active_version"]


def active_version(session: Session, playbook_id: str) -> int | None:
    """The version activated last for ``playbook_id``, else its highest registered one, or None."""
    chosen = session.scalar(
        select(PlaybookActivation.version)
        .where(PlaybookActivation.playbook_id == playbook_id)
        .order_by(PlaybookActivation.id.desc())
        .limit(1)
    )
    if chosen is not None:
        return int(chosen)
    highest = session.scalar(
        select(func.max(PlaybookRecord.version)).where(PlaybookRecord.id == playbook_id)
    )
    return None if highest is None else int(highest)


def activate(
    database: Database, playbook_id: str, version: int, *, actor: str, reason: str, now: datetime
) -> None:
    """Make the registered ``playbook_id@version`` the active one, recording who, when and why.

    Raises :class:`~playbook.errors.VersionNotRegisteredError` (and writes
    nothing) when the store has no such version.
    """
    at = require_now(now)
    with database.transaction(write=True) as session:
        if session.get(PlaybookRecord, (playbook_id, version)) is None:
            known = session.scalars(
                select(PlaybookRecord.version)
                .where(PlaybookRecord.id == playbook_id)
                .order_by(PlaybookRecord.version)
            ).all()
            name = f"{playbook_id}@{version}"
            raise VersionNotRegisteredError(
                Message("error.repository.version_not_registered", name=name),
                hint=Message(
                    "error.repository.register_before_activating",
                    names=[f"{playbook_id}@{v}" for v in known] or "-",
                ),
                details={"playbook": playbook_id, "version": version, "registered": list(known)},
            )
        session.add(
            PlaybookActivation(
                playbook_id=playbook_id,
                version=version,
                activated_at=at,
                activated_by=actor,
                reason=reason,
            )
        )
