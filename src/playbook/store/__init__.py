"""The deal store: deals, their full history and the playbook versions they follow.

SQLite (a file, the default) or PostgreSQL, through SQLAlchemy; the schema is
managed by the Alembic migrations in ``playbook/store/migrations``.

- :func:`open_database` (:mod:`.db`) opens a store by URL and checks its schema;
  :func:`upgrade` (:mod:`.schema`) creates or upgrades it.
- :class:`DealStore` (:mod:`.repository`) reads deals and persists what the
  engine decides, with optimistic locking.
- :func:`import_deals` (:mod:`.importer`) and :func:`export_deals` (:mod:`.exporter`)
  move deals in and out of CSV, JSON and JSON Lines files.
- :func:`column_for` and :func:`where` (:mod:`.fields`) run conditions in SQL.
"""

from __future__ import annotations

from playbook.store.db import DEFAULT_URL, Database, database_url, open_database
from playbook.store.exporter import export_deals
from playbook.store.importer import ImportReport, import_deals
from playbook.store.mapping import ImportMapping, read_mapping
from playbook.store.repository import DealStore, HistoryEntry, StoredDeal
from playbook.store.schema import upgrade

__all__ = [
    "DEFAULT_URL",
    "Database",
    "DealStore",
    "HistoryEntry",
    "ImportMapping",
    "ImportReport",
    "StoredDeal",
    "database_url",
    "export_deals",
    "import_deals",
    "open_database",
    "read_mapping",
    "upgrade",
]
