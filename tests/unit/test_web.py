"""The web layer's pure parts: the OpenAPI document, languages, If-Match, error statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from playbook import errors
from playbook.i18n import Message
from playbook.web.access import preferred_language, version_of
from playbook.web.app import openapi_document
from playbook.web.problems import error_body, status_of

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_openapi_document_is_the_generated_one() -> None:
    """docs/openapi.json is current: run `make openapi` after changing the API."""
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text("utf-8"))
    assert committed == openapi_document()
    assert committed["openapi"].startswith("3.1")


def _schemas(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found += _schemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _schemas(value, f"{path}/{index}")
    return found


def test_every_schema_is_typed() -> None:
    """No empty schema and no object without its properties or the type of its values."""
    document = openapi_document()
    untyped = [
        path
        for path, node in _schemas(document["components"]["schemas"])
        if node == {}
        or (node.get("type") == "object" and not {"properties", "additionalProperties"} & set(node))
    ]
    assert untyped == []


def test_every_operation_documents_its_coded_errors() -> None:
    """Each operation lists 401 and 422 with the ErrorBody schema; the bearer scheme is declared."""
    document = openapi_document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status in ("401", "422"):
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"]["$ref"].endswith("/ErrorBody"), (method, path, status)
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9,zh;q=0.8", "en"),
        ("fr-FR, zh;q=0.5", "zh"),
        ("en;q=0.2, zh;q=0.9", "zh"),
        ("zh;q=0, en", "en"),
        ("de, fr", None),
        ("zh;q=bad, en", "en"),
        ("ZH-tw", "zh"),
    ],
)
def test_accept_language_picks_the_best_language_spoken(
    header: str | None, expected: str | None
) -> None:
    """The highest-weighted language playbook speaks; ties go to the first listed."""
    assert preferred_language(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ('"7"', 7), ('W/"7"', 7), ("12", 12), (' "3" ', 3)],
)
def test_if_match_names_a_version(header: str | None, expected: int | None) -> None:
    """The ETag forms a client may send back."""
    assert version_of(header) == expected


@pytest.mark.parametrize("header", ["soon", '"-1"', '"1.5"', "*", '"' + "9" * 30 + '"'])
def test_an_if_match_that_is_not_a_version_is_refused(header: str) -> None:
    """PB052, not a crash or a silent pass."""
    with pytest.raises(errors.InvalidBodyError):
        version_of(header)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.AuthenticationError("x"), 401),
        (errors.PermissionDeniedError("x"), 403),
        (errors.OverrideError("x"), 403),
        (errors.StaleVersionError("x"), 412),
        (errors.ConflictError("x"), 409),
        (errors.DealNotFoundError("x"), 404),
        (errors.MalformedBodyError("x"), 400),
        (errors.BodyTooLargeError("x"), 413),
        (errors.InvalidBodyError("x"), 422),
        (errors.DealFieldError("x"), 422),
        (errors.UnknownStageError("x"), 422),
        (errors.DatabaseLockedError("x"), 503),
        (errors.InternalError("x"), 500),
    ],
)
def test_each_error_class_has_its_status(error: errors.PlaybookError, status: int) -> None:
    """Subclasses before their parents: a stale If-Match is 412, not the 409 of a conflict."""
    assert status_of(error) == status


def test_an_error_body_speaks_the_request_language() -> None:
    """Message and hint in the language asked for; English without one."""
    error = errors.DealNotFoundError(
        Message("error.repository.no_deal_store", text="D-9"),
        hint=Message("error.repository.playbook_deals_list_shows"),
    )
    english = error_body(error)["error"]
    chinese = error_body(error, "zh")["error"]
    assert (english["message"], english["hint"]) == (error.message, error.hint)
    assert (chinese["message"], chinese["hint"]) == (error.message_in("zh"), error.hint_in("zh"))
    assert chinese["message"] != english["message"]
    assert any("\u4e00" <= char <= "\u9fff" for char in chinese["message"])


def test_importing_playbook_or_validating_never_loads_the_web_framework() -> None:
    """`import playbook` stays cheap and `playbook validate` does not pay for FastAPI."""
    code = (
        "import sys, playbook\n"
        "from playbook.definition.validate import validate_paths\n"
        "import playbook.cli\n"
        "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'pydantic') "
        "if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_refused_records_are_listed_in_the_request_language() -> None:
    """A refused CRM batch (PB062, 422) lists each record with its own code, in zh when asked."""
    unknown = errors.CrmRecordsError(
        Message("error.webhook.unknown_key", key="amuont"),
        hint=Message("common.did_you_mean", choice="amount"),
        code="PB061",
    )
    refused = errors.CrmRecordsError(
        Message("error.webhook.records_refused", count=1, total=3), code="PB062"
    )
    refused.records = ((2, "OPP-2", unknown),)
    body = error_body(refused, "zh")["error"]
    assert (status_of(refused), body["code"]) == (422, "PB062")
    assert body["records"] == [
        {
            "record": 2,
            "external_id": "OPP-2",
            "code": "PB061",
            "message": "导入映射中没有 'amuont' 这一列",
            "hint": "您是不是想写 'amount'？",
        }
    ]


def test_every_write_of_the_document_is_marked_with_its_gated_action() -> None:
    """x-gated comes from the writer dependency: each gated route names the action it records."""
    document = openapi_document()
    gated = {
        (method, path): operation["x-gated"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "x-gated" in operation
    }
    assert gated == {
        ("post", "/api/v1/deals"): "create",
        ("patch", "/api/v1/deals/{ref}"): "set",
        ("post", "/api/v1/deals/{ref}/advance"): "advance",
        ("post", "/api/v1/deals/{ref}/complete"): "complete",
        ("post", "/api/v1/deals/{ref}/activities"): "log",
        ("post", "/api/v1/escalations/{escalation_id}/ack"): "ack",
        ("post", "/api/v1/escalations/{escalation_id}/snooze"): "snooze",
        ("post", "/api/v1/webhooks/crm"): "upsert",
        ("post", "/api/v1/playbooks"): "register",
        ("post", "/api/v1/playbooks/{playbook_id}/versions/{version}/activate"): "activate",
        ("post", "/api/v1/deals/{ref}/approvals/{approval}/request"): "approval_request",
        ("post", "/api/v1/deals/{ref}/approvals/{approval}/grant"): "approval_grant",
        ("post", "/api/v1/deals/{ref}/approvals/{approval}/reject"): "approval_reject",
        ("post", "/api/v1/deals/{ref}/approvals/{approval}/delegate"): "approval_delegate",
    }
