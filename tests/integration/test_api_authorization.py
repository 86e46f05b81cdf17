"""Every gated endpoint, enumerated from the OpenAPI document, refuses and records the refusal.

An operation is gated when the document marks it ``x-gated`` (the action its
refusals are recorded as). Every operation that is not a GET must be gated or
listed in :data:`UNGATED` (writes nothing), and every gated one must have a
body in :data:`BODIES`: a new endpoint cannot be left out of this sweep.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_server import KPI_PLAYBOOK, api_server  # noqa: F401  (the fixture)
from test_serve import Server, _cli, _new_deal

from playbook.web.app import openapi_document

UNGATED = {
    ("POST", "/api/v1/deals/{ref}/check"): "a decision for the caller; writes nothing",
    ("POST", "/api/v1/playbooks/validate"): "validates a text; registers nothing",
}
"""Operations other than GET that are not gated, and why."""

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/deals"): {"playbook": "serve-test", "external_id": "{new}"},
    ("PATCH", "/api/v1/deals/{ref}"): {"fields": {"amount": "5"}},
    ("POST", "/api/v1/deals/{ref}/advance"): {"to": "lost"},
    ("POST", "/api/v1/deals/{ref}/complete"): {"action": "first_call", "evidence": "x"},
    ("POST", "/api/v1/deals/{ref}/activities"): {"kind": "note", "note": "x"},
    ("POST", "/api/v1/escalations/{escalation_id}/ack"): {"reason": "seen"},
    ("POST", "/api/v1/escalations/{escalation_id}/snooze"): {"until": "{until}", "reason": "x"},
    ("POST", "/api/v1/webhooks/crm"): {
        "playbook": "serve-test",
        "records": [{"id": "{new}", "stage": "Lead"}],
    },
    ("POST", "/api/v1/playbooks"): {"text": KPI_PLAYBOOK.replace("version: 1", "version: 9")},
    ("POST", "/api/v1/deals/{ref}/approvals/{approval}/request"): {"reason": "big order"},
    ("POST", "/api/v1/deals/{ref}/approvals/{approval}/grant"): {"reason": "fine"},
    ("POST", "/api/v1/deals/{ref}/approvals/{approval}/reject"): {"reason": "too cheap"},
    ("POST", "/api/v1/deals/{ref}/approvals/{approval}/delegate"): {"to": "rita", "reason": "away"},
    ("POST", "/api/v1/playbooks/{playbook_id}/versions/{version}/activate"): {"reason": "x"},
}
"""A body each gated operation would accept from someone allowed."""


def _gated() -> list[tuple[str, str, str]]:
    """(method, path, action) of every operation marked x-gated in the OpenAPI document."""
    found = []
    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            if "x-gated" in operation:
                found.append((method.upper(), path, str(operation["x-gated"])))
    return found


GATED = _gated()


def test_every_write_is_gated_or_says_why_not() -> None:
    """Each non-GET operation is gated or in UNGATED; each gated one has a body to send."""
    document = openapi_document()
    writes = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method != "get"
    }
    gated = {(method, path) for method, path, _ in GATED}
    assert writes - gated == set(UNGATED)
    assert gated == set(BODIES)
    assert len(GATED) >= 9


CREDENTIALS = [
    (None, 401, "PB532", "?"),
    ("revoked", 401, "PB532", "rita"),
    ("expired", 401, "PB532", "rita"),
    ("otto", 403, "PB530", "otto"),
]
"""Who calls, the status and code expected, and the actor the refusal records."""


@pytest.fixture(scope="module")
def targets(api_server: Server) -> dict[str, str]:  # noqa: F811
    """A deal of rita's with an open escalation (a sweep a week on): its ref and the id."""
    ref = _new_deal(api_server)["external_id"]
    later = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    playbook = str(api_server.folder / "playbooks" / "serve-test.yaml")
    _cli(api_server.db_url, "sweep", "--playbook", playbook, "--now", later)
    with api_server.client("rita") as rita:
        found = rita.get("/escalations", params={"deal": ref, "status": "open"}).json()
    assert len(found["escalations"]) == 1, found
    return {
        "ref": ref,
        "escalation_id": str(found["escalations"][0]["id"]),
        "approval": "big",
        "playbook_id": "serve-test",
        "version": "1",
    }


def _filled(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _filled(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, names) for item in value]
    if isinstance(value, str) and value in ("{new}", "{until}"):
        return names[value.strip("{}")]
    return value


def _snapshot(server: Server) -> dict[str, list[Any]]:
    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in server.rows(sql)]

    return {
        "deals": rows("SELECT id, version, stage FROM playbook_deals ORDER BY id"),
        "escalations": rows("SELECT id, status FROM playbook_escalations ORDER BY id"),
        "playbooks": rows("SELECT id, version FROM playbook_playbooks ORDER BY id, version"),
        "approvals": rows("SELECT id FROM playbook_approval_events ORDER BY id"),
        "refusals": rows("SELECT actor, action, code FROM playbook_refusals ORDER BY id"),
        "activations": rows("SELECT playbook_id, version FROM playbook_activations ORDER BY id"),
    }


def _call(
    server: Server, targets: dict[str, str], method: str, path: str, who: str | None
) -> tuple[Any, dict[str, list[Any]], dict[str, list[Any]]]:
    names = {
        "new": f"AUTH-{time.monotonic_ns()}",
        "until": (datetime.now(UTC) + timedelta(days=5)).isoformat(),
    }
    url = path.removeprefix("/api/v1").format(**targets)
    before = _snapshot(server)
    with server.client(who) as client:
        answer = client.request(method, url, json=_filled(BODIES[(method, path)], names))
    return answer, before, _snapshot(server)


@pytest.mark.parametrize(("who", "status", "code", "recorded_as"), CREDENTIALS)
@pytest.mark.parametrize(("method", "path", "action"), GATED)
def test_gated_endpoints_refuse_and_record(
    api_server: Server,  # noqa: F811
    targets: dict[str, str],
    method: str,
    path: str,
    action: str,
    who: str | None,
    status: int,
    code: str,
    recorded_as: str,
) -> None:
    """No token, a revoked or expired one, no role allowing it: refused, recorded, none written."""
    answer, before, after = _call(api_server, targets, method, path, who)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert "Traceback" not in answer.text
    if status == 401:
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    for table in ("deals", "escalations", "playbooks", "approvals", "activations"):
        assert after[table] == before[table], table
    new = after["refusals"][len(before["refusals"]) :]
    assert new == [(recorded_as, action, code)]


ADMIN_ONLY = [(m, p, a) for m, p, a in GATED if a in ("upsert", "register", "activate")]


@pytest.mark.parametrize(("method", "path", "action"), ADMIN_ONLY)
def test_a_rep_may_not_feed_records_or_register_playbooks(
    api_server: Server,  # noqa: F811
    targets: dict[str, str],
    method: str,
    path: str,
    action: str,
) -> None:
    """rita holds a role of the playbook, not integration/ops/admin: 403 PB530, recorded."""
    answer, before, after = _call(api_server, targets, method, path, "rita")
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert error["code"] == "PB530"
    assert set(error["details"]["allowed_roles"]) <= {"integration", "ops", "admin"}
    assert after["deals"] == before["deals"]
    assert after["playbooks"] == before["playbooks"]
    assert after["activations"] == before["activations"]
    assert after["refusals"][len(before["refusals"]) :] == [("rita", action, "PB530")]


def test_the_allowed_roles_pass_the_same_bodies(
    api_server: Server,  # noqa: F811
    targets: dict[str, str],
) -> None:
    """The bodies of the sweep are accepted from someone allowed (the sweep tests the gate)."""
    allowed = {"upsert": "crm", "register": "olga", "activate": "olga"}
    for method, path, action in ADMIN_ONLY:
        answer, _, _ = _call(api_server, targets, method, path, allowed[action])
        assert answer.status_code in (200, 201), (path, answer.text)
