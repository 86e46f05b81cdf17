"""How a KPI report shares its work: temporary tables, merged queries, and the inline fallback.

A report builds the unit rows several KPIs read (closings, open deals, cycle
times, stays) once, as temporary tables, and measures the KPIs that read the
same rows with the same groups in one query. These tests check that none of
this changes a figure: a read-only session (no temporary tables allowed)
computes the same figures inline, each KPI measured alone equals its line in
the full report, and a report leaves no table behind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text
from test_kpi_metrics import GROUPINGS, KPI_PLAYBOOK, assert_agree, generate

from playbook.definition.files import playbook_from_text
from playbook.errors import DatabaseReadOnlyError
from playbook.kpi.charts import cycle_time_histogram
from playbook.kpi.metrics import compute_kpis
from playbook.kpi.periods import parse_period
from playbook.model import Playbook
from playbook.store.db import Database, open_database

NOW = datetime(2018, 3, 1, tzinfo=UTC)
PERIOD = parse_period("2017-Q3", "Asia/Shanghai")


@pytest.fixture
def generated(database: Database) -> tuple[Database, Playbook]:
    """A store with 300 generated deals of the KPI test playbook and 40 of another one."""
    generate(database, "kpi-test", 300, seed=21)
    generate(database, "other", 40, seed=22)
    return database, playbook_from_text(KPI_PLAYBOOK, "kpi-test.yaml")


def _read_only(database: Database) -> Database:
    """The same store opened again in sessions that cannot write, not even temporary tables."""
    url = database.engine.url
    if database.dialect == "postgresql":
        options = {"options": "-c default_transaction_read_only=on"}
        return open_database(url.update_query_dict(options).render_as_string(False))
    reader = open_database(url.render_as_string(False))

    def _query_only(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA query_only = ON")

    event.listen(reader.engine, "connect", _query_only)
    reader.dispose()  # the connection opened by the ping predates the listener
    return reader


def test_a_read_only_session_computes_the_same_figures_inline(
    generated: tuple[Database, Playbook],
) -> None:
    """Where temporary tables are refused, the shared unit rows are computed inside each query,
    and every figure still equals the plain-Python reference."""
    database, playbook = generated
    reader = _read_only(database)
    try:
        with (
            reader.engine.connect() as connection,
            pytest.raises(DatabaseReadOnlyError, match="read"),
        ):
            connection.execute(text("CREATE TEMPORARY TABLE probe (x INTEGER)"))
        assert assert_agree(reader, playbook, PERIOD, GROUPINGS) > 50
    finally:
        reader.dispose()


@pytest.mark.parametrize("by", [(), ("owner",), ("manager", "region")], ids=str)
def test_each_kpi_alone_equals_its_lines_in_the_full_report(
    generated: tuple[Database, Playbook], by: tuple[str, ...]
) -> None:
    """KPIs measured together (one query per unit rows, groups and filter) give exactly the
    figures each gives when it is measured alone."""
    database, playbook = generated
    report = compute_kpis(database, playbook, PERIOD, now=NOW, by=by)
    for kpi in playbook.kpis:
        alone = compute_kpis(database, playbook, PERIOD, now=NOW, by=by, kpi_ids=[kpi.id])
        together = [r.to_dict() for r in report.for_kpi(kpi.id) if r.n]
        assert [r.to_dict() for r in alone.results if r.n] == together, kpi.id


def test_reports_leave_no_temporary_table_behind(generated: tuple[Database, Playbook]) -> None:
    """Reports run one after the other on the same pooled connections, and afterwards no
    temporary table is left in the session."""
    database, playbook = generated
    first = compute_kpis(database, playbook, PERIOD, now=NOW)
    cycle_time_histogram(database, playbook, PERIOD)
    second = compute_kpis(database, playbook, PERIOD, now=NOW)
    assert first.to_dict() == second.to_dict()
    listing = (
        "SELECT count(*) FROM pg_tables WHERE schemaname LIKE 'pg_temp%'"
        if database.dialect == "postgresql"
        else "SELECT count(*) FROM sqlite_temp_master"
    )
    with database.engine.connect() as connection:
        assert connection.execute(text(listing)).scalar_one() == 0
