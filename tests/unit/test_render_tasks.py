"""Open required actions as CSV in each board's layout, and as JSON."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, datetime

import pytest

from playbook.render.tasks import BOARDS, tasks_csv, tasks_json
from playbook.tasks import OpenTask

TASK = OpenTask(
    deal="D-1",
    deal_id=1,
    playbook="acme",
    stage="proposal",
    stage_title="方案报价",
    action="send_quote",
    title="=发送报价",  # a formula-looking title must not reach a spreadsheet as one
    role="sales_rep",
    role_title="销售代表",
    person="wang",
    email="wang@example.com",
    due=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
    overdue=False,
    timezone="Asia/Shanghai",
    link="http://x/api/v1/deals/D-1",
)


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_trello_layout() -> None:
    (row,) = _rows(tasks_csv([TASK], "zh", "trello"))
    assert list(row) == list(BOARDS["trello"][0])
    assert row["Card Name"] == "D-1：=发送报价"
    assert row["List Name"] == "方案报价"
    assert row["Labels"] == "销售代表"
    assert row["Members"] == "wang@example.com"
    assert row["Due Date"] == "2026-11-25T18:00:00+08:00"
    assert row["Card Description"].splitlines()[-1] == "http://x/api/v1/deals/D-1"
    assert "2026-11-25 18:00 +08:00" in row["Card Description"]


def test_asana_layout_dates_on_the_playbook_clock() -> None:
    late = dataclasses.replace(TASK, due=datetime(2026, 11, 25, 17, 0, tzinfo=UTC))
    (row,) = _rows(tasks_csv([late], "en", "asana"))
    assert list(row) == list(BOARDS["asana"][0])
    assert row["Due Date"] == "11/26/2026"  # 01:00 the next day in Shanghai
    assert row["Assignee"] == "wang@example.com"
    assert row["Section/Column"] == "方案报价"


def test_plain_layout_neutralises_formulas() -> None:
    (row,) = _rows(tasks_csv([TASK], "en"))
    assert row["title"] == "'=发送报价"
    assert row["due"] == "2026-11-25T18:00:00+08:00"
    assert row["overdue"] == "false"


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_no_tasks_is_a_header_only(board: str) -> None:
    assert tasks_csv([], "en", board).splitlines() == [",".join(BOARDS[board][0])]


def test_json_has_local_and_utc_due_times() -> None:
    (item,) = json.loads(tasks_json([TASK]))["actions"]
    assert item["due"] == "2026-11-25T18:00:00+08:00"
    assert item["due_utc"] == "2026-11-25T10:00:00+00:00"
    assert item["person"] == "wang"
