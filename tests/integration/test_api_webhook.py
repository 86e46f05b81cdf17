"""The CRM webhook (`POST /api/v1/webhooks/crm`) on a real server, SQLite and PostgreSQL.

Records go through the mapping the server was started with (tests/integration/
api_server.py): what is stored is read back with plain SQL and compared with
what the records say; a refused batch writes nothing.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from api_server import api_server  # noqa: F401  (the fixture)
from test_serve import Server

_counter = iter(range(1, 1_000_000))


def _id() -> str:
    return f"CRM-{next(_counter)}-{time.monotonic_ns()}"


def _send(server: Server, records: list[dict[str, Any]], who: str = "crm", **headers: str) -> Any:
    with server.client(who, **headers) as client:
        return client.post("/webhooks/crm", json={"playbook": "serve-test", "records": records})


def _stored(server: Server, ref: str) -> dict[str, Any]:
    rows = server.rows(
        "SELECT stage, owner, fields, version, updated_by FROM playbook_deals"
        " WHERE external_id = :r",
        r=ref,
    )
    assert len(rows) == 1, (ref, rows)
    stage, owner, fields, version, updated_by = rows[0]
    fields = json.loads(fields) if isinstance(fields, str) else fields
    return {
        "stage": stage,
        "owner": owner,
        "fields": fields,
        "version": version,
        "updated_by": updated_by,
    }


def _history(server: Server, ref: str) -> list[tuple[str | None, str, str, str | None]]:
    rows = server.rows(
        "SELECT c.from_stage, c.to_stage, c.actor, c.source FROM playbook_stage_changes c"
        " JOIN playbook_deals d ON d.id = c.deal_id WHERE d.external_id = :r"
        " ORDER BY c.deal_version",
        r=ref,
    )
    return [tuple(row) for row in rows]


def _count(server: Server) -> int:
    return len(server.rows("SELECT id FROM playbook_deals"))


def test_a_batch_creates_deals_as_the_mapping_says_and_again_changes_nothing(
    api_server: Server,  # noqa: F811
) -> None:
    """Two records: created with their stage path, owner and typed fields; sent twice: unchanged."""
    first, second = _id(), _id()
    records = [
        {"id": first, "owner": "rita", "stage": "Lead", "amount": "1200.50", "notes": "intro"},
        {
            "id": second,
            "owner": "mara",
            "stage": "Offer",
            "amount": 300,
            "created_on": "2026-01-05",
            "offer_on": "2026-02-01",
        },
    ]
    answer = _send(api_server, records)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert (data["created"], data["updated"], data["unchanged"]) == (2, 0, 0)
    assert [(d["external_id"], d["action"], d["stages"]) for d in data["deals"]] == [
        (first, "create", ["lead"]),
        (second, "create", ["lead", "offer"]),
    ]
    one, two = _stored(api_server, first), _stored(api_server, second)
    assert (one["stage"], one["owner"], one["updated_by"]) == ("lead", "rita", "crm")
    assert Decimal(one["fields"]["amount"]) == Decimal("1200.50")
    assert one["fields"]["minutes"] == "intro"
    assert (two["stage"], two["owner"]) == ("offer", "mara")
    assert Decimal(two["fields"]["amount"]) == Decimal(300)
    assert _history(api_server, second) == [
        (None, "lead", "crm", "webhook"),
        ("lead", "offer", "crm", "webhook"),
    ]

    again = _send(api_server, records)
    assert again.status_code == 200, again.text
    assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (
        0,
        0,
        2,
    )
    assert _stored(api_server, first) == one
    assert _stored(api_server, second) == two


def test_an_update_keeps_empty_cells_and_a_value_a_person_set_later(
    api_server: Server,  # noqa: F811
) -> None:
    """on_empty keep: a missing or empty amount stays; keep_newer: rita's minutes stand
    against a record changed before she wrote them, and give way to a later one."""
    ref = _id()
    assert _send(api_server, [{"id": ref, "stage": "Lead", "amount": "10"}]).status_code == 200
    with api_server.client("rita") as rita:
        patched = rita.patch(f"/deals/{ref}", json={"fields": {"minutes": "rita's notes"}})
    assert patched.status_code == 200, patched.text
    older = _send(
        api_server,
        [{"id": ref, "stage": "Lead", "amount": "", "notes": "crm", "modified_at": "2020-01-01"}],
    )
    assert older.status_code == 200, older.text
    assert older.json()["deals"][0]["action"] == "unchanged", older.json()
    stored = _stored(api_server, ref)
    assert stored["fields"]["minutes"] == "rita's notes"
    assert Decimal(stored["fields"]["amount"]) == Decimal(10)
    newer = _send(
        api_server, [{"id": ref, "stage": "Lead", "notes": "crm", "modified_at": "2099-01-01"}]
    )
    assert newer.status_code == 200, newer.text
    assert (newer.json()["deals"][0]["action"], newer.json()["deals"][0]["set"]) == (
        "update",
        ["minutes"],
    )
    assert _stored(api_server, ref)["fields"]["minutes"] == "crm"


def test_a_refused_record_refuses_the_batch_and_writes_nothing(
    api_server: Server,  # noqa: F811
) -> None:
    """A misspelt column (did-you-mean) and a bad amount: 422 PB062, each record with its own
    code, in the caller's language; the good record of the batch is not written either."""
    good, misspelt, bad = _id(), _id(), _id()
    before = _count(api_server)
    answer = _send(
        api_server,
        [
            {"id": good, "stage": "Lead"},
            {"id": misspelt, "stage": "Lead", "amuont": "5"},
            {"id": bad, "stage": "Lead", "amount": "lots"},
        ],
        **{"Accept-Language": "zh"},
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "PB062"
    problems = [(r["record"], r["external_id"], r["code"]) for r in error["records"]]
    assert problems == [(2, misspelt, "PB061"), (3, bad, "PB612")]
    assert "amount" in error["records"][0]["hint"]  # did you mean 'amount'?
    assert "您是不是想写" in error["records"][0]["hint"]
    assert _count(api_server) == before
    assert api_server.rows("SELECT id FROM playbook_deals WHERE external_id = :r", r=good) == []


def test_a_history_that_disagrees_rolls_back_the_whole_batch(
    api_server: Server,  # noqa: F811
) -> None:
    """A deal moved to lost by the CRM, then sent as Offer: refused by the writer (PB612),
    and the new deal sent with it is rolled back."""
    moved, fresh = _id(), _id()
    assert _send(api_server, [{"id": moved, "stage": "Lost"}]).status_code == 200
    before = _count(api_server)
    answer = _send(
        api_server,
        [{"id": fresh, "stage": "Lead"}, {"id": moved, "stage": "Offer", "offer_on": "2026-03-01"}],
    )
    assert answer.status_code == 422, answer.text
    assert [(r["record"], r["code"]) for r in answer.json()["error"]["records"]] == [(2, "PB612")]
    assert _count(api_server) == before
    assert _stored(api_server, moved)["stage"] == "lost"


def test_a_playbook_without_a_mapping_is_pb060(api_server: Server) -> None:  # noqa: F811
    """No mapping configured for the playbook: 422 PB060 naming the configured ones."""
    with api_server.client("crm") as crm:
        answer = crm.post("/webhooks/crm", json={"playbook": "nope", "records": [{"id": "1"}]})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "PB060"
    assert error["details"]["configured"] == ["serve-kpi", "serve-test"]
