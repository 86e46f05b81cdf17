"""Alembic environment of the deal store, run only through :mod:`playbook.store.schema`.

The caller passes an open connection in ``config.attributes["connection"]``
and the store's schema (or None) in ``config.attributes["schema"]``; no
``alembic.ini`` and no URL in a file. The revision is kept in the store's own
version table, ``playbook_alembic_version`` (``config.attributes["version_table"]``
may name another, which only the tests of the old layout do). Revisions name
their tables without a schema; on a store with one, the connection's
``search_path`` is that schema while they run (set by the caller). Each
revision runs in its own transaction (PostgreSQL rolls a failed one back
whole; on SQLite batch mode rebuilds tables instead of ALTERing them), so an
interrupted upgrade leaves the database at the last completed revision and
``playbook db upgrade`` can carry on from there.
"""

from __future__ import annotations

from alembic import context

from playbook.store.layout import VERSION_TABLE
from playbook.store.models import Base

attributes = context.config.attributes
schema = attributes.get("schema")
connection = attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=attributes.get("version_table", VERSION_TABLE),
    version_table_schema=schema,
    transaction_per_migration=True,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
