"""KPIs, the weekly review and playbook versions over HTTP, on a real server.

Deals come in through the CRM webhook with dated histories; the expected
figures are computed here from those records in plain Python.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from api_server import KPI_PLAYBOOK, api_server  # noqa: F401  (the fixture)
from test_serve import PLAYBOOK, Server

from playbook.web import kpi_schemas, schemas

KPI_RECORDS: list[dict[str, Any]] = [
    {"id": "K-1", "owner": "rita", "stage": "won", "amount": "500", "closed_on": "2025-02-10"},
    {"id": "K-2", "owner": "rita", "stage": "won", "amount": "700", "closed_on": "2025-03-01"},
    {"id": "K-3", "owner": "rita", "stage": "lost", "amount": "90", "closed_on": "2025-01-20"},
    {"id": "K-4", "owner": "mara", "stage": "lost", "closed_on": "2025-02-02"},
    {"id": "K-5", "owner": "mara", "stage": "won", "amount": "40", "closed_on": "2025-04-02"},
    {"id": "K-6", "owner": "mara", "stage": "lead", "created_on": "2025-01-05"},
]


def _expected(first: date, last: date) -> tuple[dict[str, float], Decimal]:
    """Win rate by owner and won value over the deals closed between the two days."""
    closed = [
        r
        for r in KPI_RECORDS
        if r["stage"] in ("won", "lost") and first <= date.fromisoformat(r["closed_on"]) <= last
    ]
    owners = sorted({r["owner"] for r in closed})
    rates = {
        owner: sum(1 for r in closed if r["owner"] == owner and r["stage"] == "won")
        / sum(1 for r in closed if r["owner"] == owner)
        for owner in owners
    }
    value = sum((Decimal(r.get("amount", "0")) for r in closed if r["stage"] == "won"), Decimal())
    return rates, value


def test_kpis_of_a_quarter_by_owner_match_the_records(api_server: Server) -> None:  # noqa: F811
    """2025-Q1: win rate per owner and won value as the records say, titles in zh, typed."""
    with api_server.client("crm") as crm:
        sent = crm.post("/webhooks/crm", json={"playbook": "serve-kpi", "records": KPI_RECORDS})
    assert sent.status_code == 200, sent.text
    with api_server.client("mara") as mara:
        answer = mara.get(
            "/kpis",
            params={"playbook": "serve-kpi", "period": "2025-Q1", "now": "2025-06-01T00:00:00Z"},
        )
        wrong = mara.get("/kpis", params={"playbook": "serve-kpi", "period": "2025-Q9"})
        both = mara.get("/kpis", params={"playbook": "serve-kpi", "period": "2025", "from": "x"})
        unknown = mara.get("/kpis", params={"playbook": "nope"})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    kpi_schemas.KpiReportOut.model_validate(data)
    rates, value = _expected(date(2025, 1, 1), date(2025, 3, 31))
    found = {
        item["group"]["owner"]: item["value"] for item in data["kpis"] if item["id"] == "win_rate"
    }
    assert found == pytest.approx(rates, abs=1e-6)  # figures are rounded to 6 places
    won = [item for item in data["kpis"] if item["id"] == "won_value"]
    assert [Decimal(str(item["value"])) for item in won] == [value]
    assert {item["title"] for item in won} == {"赢单金额"}  # mara reads zh
    assert (data["period"]["from"], data["period"]["to"]) == ("2025-01-01", "2025-03-31")
    # The quarter is over at `now`: every figure is as of its end (the playbook's zone is UTC).
    assert datetime.fromisoformat(data["as_of"]) == datetime(2025, 4, 1, tzinfo=UTC)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "PB801")
    assert (both.status_code, both.json()["error"]["code"]) == (400, "PB801")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "PB063")


def test_the_weekly_review_lists_the_reps_deals(api_server: Server) -> None:  # noqa: F811
    """rita's week: every open deal of hers (made through the API), none of mara's."""
    week = datetime.now(UTC).strftime("%G-W%V")
    with api_server.client("rita") as rita:
        made = rita.post(
            "/deals", json={"playbook": "serve-test", "external_id": f"R-{week}", "fields": {}}
        )
        assert made.status_code == 201, made.text
        assert rita.post(f"/deals/R-{week}/activities", json={"kind": "call"}).status_code == 201
        answer = rita.get("/review", params={"playbook": "serve-test", "owner": "rita"})
        neither = rita.get("/review", params={"playbook": "serve-test"})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    kpi_schemas.WeeklyReviewOut.model_validate(data)
    open_refs = {
        row[0]
        for row in api_server.rows(
            "SELECT external_id FROM playbook_deals WHERE owner = 'rita'"
            " AND playbook_id = 'serve-test' AND closed_at IS NULL"
        )
    }
    assert {item["deal"] for item in data["deals"]} >= open_refs
    assert {item["owner"] for item in data["deals"]} == {"rita"}
    mine = next(item for item in data["deals"] if item["deal"] == f"R-{week}")
    assert mine["activities"] == {"call": 1}
    assert data["week"]["label"] == week
    assert (neither.status_code, neither.json()["error"]["code"]) == (422, "PB800")


V2 = PLAYBOOK.replace("version: 1", "version: 2").replace(
    'entry: ["amount > 0"]', 'entry: ["amount > 0", "has(minutes)"]'
)


def test_register_a_version_then_diff_it_with_its_impact(api_server: Server) -> None:  # noqa: F811
    """olga (ops) registers v2 (201; again: 200), an edited v2 is 409 PB064; the diff 1 → 2
    names the changed stage and counts the open deals pinned to v1."""
    offer = {"id": "DIFF-1", "stage": "Offer", "amount": "5", "offer_on": "2026-01-01"}
    with api_server.client("crm") as crm:
        sent = crm.post("/webhooks/crm", json={"playbook": "serve-test", "records": [offer]})
        assert sent.status_code == 200, sent.text
    with api_server.client("olga") as olga:
        first = olga.post("/playbooks", json={"text": V2, "file": "v2.yaml"})
        again = olga.post("/playbooks", json={"text": V2, "file": "v2.yaml"})
        edited = olga.post("/playbooks", json={"text": V2 + "# edited\n", "file": "v2.yaml"})
        diff = olga.get("/playbooks/serve-test/diff", params={"from": 1, "to": 2})
        default = olga.get("/playbooks/serve-test/diff")
        invalid = olga.post("/playbooks", json={"text": "playbook: x\nversion: one\n"})
    assert first.status_code == 201, first.text
    assert first.json() | {"diagnostics": []} == {
        "playbook": "serve-test",
        "version": 2,
        "created": True,
        "active": True,
        "diagnostics": [],
    }
    assert (again.status_code, again.json()["created"]) == (200, False)
    assert (edited.status_code, edited.json()["error"]["code"]) == (409, "PB064")
    assert diff.status_code == 200, diff.text
    data = diff.json()
    schemas.PlaybookDiffOut.model_validate(data)
    without_now = {**data, "impact": {**data["impact"], "now": None}}
    assert default.json() | {"impact": default.json()["impact"] | {"now": None}} == without_now
    assert (data["from_version"], data["to_version"]) == (1, 2)
    changes = {(c["kind"], c["area"], c["id"]) for c in data["changes"]}
    assert ("added", "entry criterion of offer", "entry[1]") in changes
    pinned_open = api_server.rows(
        "SELECT external_id, stage, fields FROM playbook_deals WHERE playbook_id = 'serve-test'"
        " AND playbook_version = 1 AND closed_at IS NULL"
    )
    failing = sorted(
        ref
        for ref, stage, fields in pinned_open
        if stage == "offer"
        and "minutes" not in (json.loads(fields) if isinstance(fields, str) else fields)
    )
    assert failing == ["DIFF-1"]
    assert data["impact"]["open_deals"] == len(pinned_open)
    assert data["impact"]["fail_entry_criteria"] == len(failing)
    assert invalid.status_code == 422
    error = invalid.json()["error"]
    assert error["code"] == "PB200"
    assert any(d["line"] == 2 and d["column"] >= 1 for d in error["diagnostics"])
    stored = api_server.rows(
        "SELECT version FROM playbook_playbooks WHERE id = 'serve-test' ORDER BY version"
    )
    assert [tuple(row) for row in stored] == [(1,), (2,)]


def test_a_yaml_upload_is_validated_and_registered_like_json(
    api_server: Server,  # noqa: F811
) -> None:
    """A raw YAML body (Content-Type: application/yaml, ?file=): 422 with every diagnostic
    at its line in zh for mara; olga registers a valid one (201); bytes that are not UTF-8: 400."""
    yaml = {"Content-Type": "application/yaml"}
    with api_server.client("mara", **yaml) as mara:
        bad = mara.post(
            "/playbooks/validate", params={"file": "坏.yaml"}, content="playbook: x\nversion: one\n"
        )
        garbled = mara.post("/playbooks/validate", content=b"playbook: \xff\n")
    assert bad.status_code == 422, bad.text
    error = bad.json()["error"]
    errors = [d for d in error["diagnostics"] if d["severity"] == "error"]
    assert (error["code"], error["message"]) == (
        "PB200",
        f"坏.yaml 不是有效的剧本（{len(errors)} 个错误）",
    )
    assert {d["file"] for d in error["diagnostics"]} == {"坏.yaml"}
    assert ("坏.yaml", 2, "version") in {(d["file"], d["line"], d["path"]) for d in errors}
    assert (garbled.status_code, garbled.json()["error"]["code"]) == (400, "PB051")
    text = KPI_PLAYBOOK.replace("version: 1", "version: 3")
    with api_server.client("olga", **yaml) as olga:
        made = olga.post("/playbooks", params={"file": "kpi-v3.yaml"}, content=text)
    assert made.status_code == 201, made.text
    assert (made.json()["playbook"], made.json()["version"]) == ("serve-kpi", 3)
    stored = api_server.rows(
        "SELECT source, path FROM playbook_playbooks WHERE id = 'serve-kpi' AND version = 3"
    )
    assert [tuple(row) for row in stored] == [(text, "kpi-v3.yaml")]


ACT_V1 = KPI_PLAYBOOK.replace("playbook: serve-kpi", "playbook: serve-act")
ACT_V2 = ACT_V1.replace("version: 1", "version: 2")


def test_an_activated_version_is_the_one_new_deals_follow(api_server: Server) -> None:  # noqa: F811
    """olga registers v1 and v2 of serve-act, activates v1: new deals are pinned to v1 and the
    list says so; an unregistered version is 404 PB614 and a rep 403 PB530, both writing
    nothing (the rep's refusal recorded)."""
    url = "/playbooks/serve-act/versions/{}/activate"
    with api_server.client("olga") as olga:
        for text in (ACT_V1, ACT_V2):
            assert olga.post("/playbooks", json={"text": text}).status_code == 201
        before = api_server.rows("SELECT COUNT(*) FROM playbook_activations")[0][0]
        missing = olga.post(url.format(7), json={"reason": "typo"})
        after_missing = api_server.rows("SELECT COUNT(*) FROM playbook_activations")[0][0]
        done = olga.post(url.format(1), json={"reason": "v2 breaks the forecast"})
        listed = olga.get("/playbooks").json()["playbooks"]
    with api_server.client("rita") as rita:
        refused = rita.post(url.format(2), json={"reason": "mine"})
        made = rita.post("/deals", json={"playbook": "serve-act", "external_id": "ACT-1"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "PB614")
    assert after_missing == before
    assert done.status_code == 200, done.text
    assert done.json() == {
        "playbook": "serve-act",
        "version": 1,
        "active": True,
        "activated_by": "olga",
        "reason": "v2 breaks the forecast",
    }
    flags = {(p["version"], p["active"]) for p in listed if p["id"] == "serve-act"}
    assert flags == {(1, True), (2, False)}
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "PB530")
    rows = api_server.rows(
        "SELECT version, activated_by, reason FROM playbook_activations"
        " WHERE playbook_id = 'serve-act' ORDER BY id"
    )
    assert [tuple(row) for row in rows] == [(1, "olga", "v2 breaks the forecast")]
    refusal = api_server.rows(
        "SELECT actor, action, code, subject FROM playbook_refusals ORDER BY id DESC LIMIT 1"
    )
    assert tuple(refusal[0]) == ("rita", "activate", "PB530", "serve-act@2")
    assert made.status_code == 201, made.text
    assert made.json()["playbook_version"] == 1
