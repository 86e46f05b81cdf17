"""Alembic environment of the deal store, run only through :mod:`playbook.store.schema`.

The caller passes an open connection in ``config.attributes["connection"]``;
no ``alembic.ini`` and no URL in a file. Each revision runs in its own
transaction (PostgreSQL rolls a failed one back whole; on SQLite batch mode
rebuilds tables instead of ALTERing them), so an interrupted upgrade leaves
the database at the last completed revision and ``playbook db upgrade`` can
carry on from there.
"""

from __future__ import annotations

from alembic import context

from playbook.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    transaction_per_migration=True,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
