"""Property-based testing of every endpoint with schemathesis, against a real `playbook serve`.

The OpenAPI document is read from the running server (the one committed as
docs/openapi.json, see test_serve); schemathesis generates requests from it
for every operation, signed with a valid token of an operator who also holds
the playbook's roles, and checks that no answer is a 500 and that every
answer (2xx and coded errors alike) matches its documented schema, status
code and content type. SQLite only, to keep it under a minute: the
PostgreSQL paths are exercised by the other API tests. ``PLAYBOOK_FUZZ_EXAMPLES``
raises the number of examples per operation for a longer run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_server import _serving
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_serve import Server, _cli

EXAMPLES = int(os.environ.get("PLAYBOOK_FUZZ_EXAMPLES", "10"))
KNOWN = {"ref": "FUZZ-1", "playbook_id": "serve-test"}
"""Path parameters that name something stored (the deal is made by the fixture)."""
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The API test server on SQLite, with ``root``: ops and every role of its playbooks."""
    folder = tmp_path_factory.mktemp("fuzz")
    from api_server import KPI_MAPPING, KPI_PLAYBOOK, MAPPING, PEOPLE
    from test_serve import PLAYBOOK

    (folder / "playbooks").mkdir()
    (folder / "playbooks" / "serve-test.yaml").write_text(PLAYBOOK, "utf-8")
    (folder / "playbooks" / "serve-kpi.yaml").write_text(KPI_PLAYBOOK, "utf-8")
    people = PEOPLE + "- {name: root, roles: [ops, integration, rep, manager]}\n"
    (folder / "people.yaml").write_text(people, "utf-8")
    (folder / "mapping.yaml").write_text(MAPPING, "utf-8")
    (folder / "kpi-mapping.yaml").write_text(KPI_MAPPING, "utf-8")
    url = f"sqlite:///{folder / 'store.db'}"
    for server in _serving(folder, url):
        server.tokens["root"] = _cli(url, "tokens", "create", "root")
        with server.client("root") as root:
            made = root.post("/deals", json={"playbook": "serve-test", "external_id": "FUZZ-1"})
            assert made.status_code == 201, made.text
        yield server


@pytest.fixture(scope="module")
def api_schema(fuzzed_server: Server) -> Any:
    """The OpenAPI document the server serves, loaded by schemathesis."""
    return schemathesis.openapi.from_url(fuzzed_server.base + "/api/v1/openapi.json")


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation of the OpenAPI document."""
    from playbook.web.app import openapi_document

    return [
        (method.upper(), path)
        for path, operations in openapi_document()["paths"].items()
        for method in operations
    ]


# One pytest test per operation, each running hypothesis over schemathesis's strategy
# (schemathesis's own pytest loader, from_fixture, fails on pytest 9: no `_nodeid`).
@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_answers_its_schema_and_never_500(
    api_schema: Any, fuzzed_server: Server, method: str, path: str
) -> None:
    """Generated requests: no 500; status, content type and body as the document says."""
    headers = {"Authorization": f"Bearer {fuzzed_server.tokens['root']}"}
    operation = api_schema[path][method]
    known = {name: value for name, value in KNOWN.items() if "{" + name + "}" in path}
    cases = operation.as_strategy()
    if known:  # random refs are mostly 404: half the cases name a stored deal or playbook
        cases = cases | operation.as_strategy(path_parameters=known)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def call(case: Any) -> None:
        case.call_and_validate(base_url=fuzzed_server.base, headers=headers, checks=CHECKS)

    call()


def test_the_fuzzed_document_is_the_committed_one(fuzzed_server: Server) -> None:
    """What is fuzzed is docs/openapi.json (so every documented endpoint is covered)."""
    import json

    import httpx

    committed = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())
    served = httpx.get(fuzzed_server.base + "/api/v1/openapi.json", timeout=30).json()
    assert served == committed
