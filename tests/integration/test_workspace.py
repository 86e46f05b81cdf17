"""The web workspace over HTTP (no browser): cookies, CSRF, sessions ending, refused overrides.

The real `playbook serve` runs on a loopback port against SQLite and the
suite's PostgreSQL; people and tokens are made with the CLI; what the server
wrote is read back with plain SQL.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from workspace_site import Site, cli, prepare, serving

from playbook.store.testing import fresh_database

DEALS = tuple(f"W-{n}" for n in range(1, 9))


@dataclass
class Running:
    """A prepared store and the base URL of the server on it."""

    site: Site
    base: str

    def browser(self) -> httpx.Client:
        """A client that keeps cookies and does not follow redirects (they are asserted)."""
        return httpx.Client(base_url=self.base, timeout=60, follow_redirects=False)

    @contextlib.contextmanager
    def signed_in(self, who: str, token: str | None = None) -> Iterator[httpx.Client]:
        """A client with a session of ``who`` (with their token, or ``token``)."""
        with self.browser() as client:
            secret = token or self.site.tokens[who]
            answer = client.post("/sign-in", data={"email": self.site.emails[who], "token": secret})
            assert answer.status_code == 303, answer.text
            yield client


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """The server on a store with people rita (rep), mara (manager), otto and deals W-1…W-8."""
    folder = tmp_path_factory.mktemp(f"workspace-{request.param}")
    if request.param == "sqlite":
        site = prepare(f"sqlite:///{folder / 'store.db'}", folder, DEALS)
        with serving(site, folder) as base:
            yield Running(site, base)
        return
    admin = request.getfixturevalue("postgres_admin_url")
    with fresh_database(admin) as url:
        site = prepare(url, folder, DEALS)
        with serving(site, folder) as base:
            yield Running(site, base)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found is not None, page
    return found.group(1)


def _refusals(site: Site, action: str, code: str) -> list[str]:
    rows = site.rows(
        "SELECT actor FROM playbook_refusals WHERE action = :action AND code = :code",
        action=action,
        code=code,
    )
    return [row.actor for row in rows]


def test_sign_in_sets_an_httponly_samesite_cookie_stored_only_hashed(running: Running) -> None:
    """The cookie is HttpOnly, SameSite=Lax, not Secure over http; the store keeps its SHA-256."""
    with running.browser() as client:
        answer = client.post(
            "/sign-in",
            data={
                "email": "RITA@example.com ",
                "token": running.site.tokens["rita"],
                "next": "/inbox",
            },
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/inbox"
        header = answer.headers["set-cookie"]
        flags = [part.strip().lower() for part in header.split(";")]
        assert "httponly" in flags
        assert "samesite=lax" in flags
        assert "path=/" in flags
        assert "secure" not in flags
        secret = client.cookies["pb_session"]
        assert secret.startswith("pbs_")
        assert len(secret) >= 40
        digest = hashlib.sha256(secret.encode()).hexdigest()
        stored = running.site.rows("SELECT person, sha256 FROM playbook_sessions")
        assert ("rita", digest) in [(row.person, row.sha256) for row in stored]
        assert all(secret not in str(tuple(row)) for row in stored)
        page = client.get("/inbox")
        assert page.status_code == 200
        assert 'data-me="rita"' in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]


def test_secure_cookies_option_marks_the_cookie_secure(running: Running, tmp_path: Path) -> None:
    """`playbook serve --secure-cookies` (behind an https proxy) sends the cookie Secure."""
    with (
        serving(running.site, tmp_path, "--secure-cookies") as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        answer = client.post(
            "/sign-in",
            data={"email": "mara@example.com", "token": running.site.tokens["mara"]},
        )
    assert answer.status_code == 303
    assert "secure" in [part.strip().lower() for part in answer.headers["set-cookie"].split(";")]


def test_sign_in_with_another_persons_token_is_refused_and_recorded(running: Running) -> None:
    """rita's email with mara's token: 401 PB625, no cookie, the attempt recorded for mara."""
    before = _refusals(running.site, "sign-in", "PB625")
    with running.browser() as client:
        answer = client.post(
            "/sign-in", data={"email": "rita@example.com", "token": running.site.tokens["mara"]}
        )
        assert answer.status_code == 401
        assert 'data-code="PB625"' in answer.text
        assert "pb_session" not in client.cookies
        guessed = client.post("/sign-in", data={"email": "rita@example.com", "token": "pbt_x"})
        assert guessed.status_code == 401
    assert _refusals(running.site, "sign-in", "PB625") == [*before, "mara"]


@pytest.mark.parametrize("sent", [None, "0" * 64])
def test_a_form_without_the_sessions_csrf_token_is_refused(
    running: Running, sent: str | None
) -> None:
    """No CSRF token, or a wrong one: 403 PB055, nothing logged, the refusal recorded."""
    before = _refusals(running.site, "log", "PB055")
    form = {"kind": "call", "note": "forged"}
    if sent is not None:
        form["csrf"] = sent
    with running.signed_in("rita") as client:
        answer = client.post("/deals/W-2/log", data=form)
    assert answer.status_code == 403
    assert 'data-code="PB055"' in answer.text
    notes = running.site.rows("SELECT note FROM playbook_activities WHERE note = 'forged'")
    assert notes == []
    assert _refusals(running.site, "log", "PB055") == [*before, "rita"]


def test_a_form_from_another_origin_is_refused_even_with_the_token(running: Running) -> None:
    """A cross-site post carrying the right token (it cannot, but say it did): still 403."""
    with running.signed_in("rita") as client:
        csrf = _csrf(client.get("/deals/W-2").text)
        answer = client.post(
            "/deals/W-2/log",
            data={"csrf": csrf, "kind": "call", "note": "cross-site"},
            headers={"Origin": "https://evil.example"},
        )
        assert answer.status_code == 403
        same = client.post("/deals/W-2/log", data={"csrf": csrf, "kind": "call", "note": "ok"})
    assert same.status_code == 303
    notes = [row.note for row in running.site.rows("SELECT note FROM playbook_activities")]
    assert "ok" in notes
    assert "cross-site" not in notes


def test_a_signed_out_session_is_refused_everywhere(running: Running) -> None:
    """After sign-out the old cookie opens no page and its form is refused (and recorded)."""
    with running.signed_in("rita") as client:
        page = client.get("/deals/W-2")
        csrf, secret = _csrf(page.text), client.cookies["pb_session"]
        out = client.post("/sign-out", data={"csrf": csrf})
        assert out.status_code == 303
        assert "pb_session" not in client.cookies
    before = _refusals(running.site, "log", "PB624")
    with running.browser() as replay:
        replay.cookies.set("pb_session", secret)
        answer = replay.get("/deals/W-2")
        assert answer.status_code == 303
        assert answer.headers["location"].endswith("why=signed_out")
        posted = replay.post("/deals/W-2/log", data={"csrf": csrf, "kind": "call", "note": "late"})
        assert posted.status_code == 303
    assert _refusals(running.site, "log", "PB624") == [*before, "rita"]
    assert running.site.rows("SELECT note FROM playbook_activities WHERE note = 'late'") == []


def test_an_expired_session_is_refused(running: Running) -> None:
    """A session past its expiry (moved back in the store) sends the browser to sign in again."""
    with running.signed_in("mara") as client:
        digest = hashlib.sha256(client.cookies["pb_session"].encode()).hexdigest()
        engine_url = running.site.db_url
        past = datetime.now(UTC) - timedelta(minutes=1)
        _set_expiry(running.site, digest, past)
        answer = client.get("/inbox")
    assert engine_url
    assert answer.status_code == 303
    assert answer.headers["location"].endswith("why=expired")


def test_revoking_the_token_ends_its_sessions(running: Running) -> None:
    """`playbook tokens revoke` ends every session opened with that token, in every process."""
    url = running.site.db_url
    token = cli(url, "tokens", "create", "rita")
    with running.signed_in("rita", token) as client:
        assert client.get("/inbox").status_code == 200
        listed = cli(url, "tokens", "list", "--person", "rita")
        cli(url, "tokens", "revoke", listed.splitlines()[-1].split()[0])
        answer = client.get("/inbox")
    assert answer.status_code == 303
    assert answer.headers["location"].endswith("why=token")


def test_a_rep_may_not_override_the_attempt_is_refused_and_recorded(running: Running) -> None:
    """rita (rep) posts an override: 403 PB531, the deal stays, the refusal names her."""
    before = _refusals(running.site, "override", "PB531")
    with running.signed_in("rita") as client:
        csrf = _csrf(client.get("/deals/W-3").text)
        answer = client.post(
            "/deals/W-3/advance",
            data={"csrf": csrf, "to": "offer", "override": "1", "reason": "trust me"},
        )
    assert answer.status_code == 403
    assert 'data-code="PB531"' in answer.text
    stage = running.site.rows("SELECT stage FROM playbook_deals WHERE external_id = 'W-3'")
    assert [row.stage for row in stage] == ["lead"]
    assert _refusals(running.site, "override", "PB531") == [*before, "rita"]


def test_a_person_without_a_role_of_the_playbook_reads_but_cannot_act(running: Running) -> None:
    """otto (auditor) sees the deal, no form; a forged complete is refused and recorded (PB530)."""
    before = _refusals(running.site, "complete", "PB530")
    with running.signed_in("otto") as client:
        page = client.get("/deals/W-4")
        assert page.status_code == 200
        assert "/deals/W-4/complete" not in page.text
        answer = client.post(
            "/deals/W-4/complete",
            data={"csrf": _csrf(page.text), "action": "first_call", "evidence": "x"},
        )
    assert answer.status_code == 403
    assert _refusals(running.site, "complete", "PB530") == [*before, "otto"]


def test_a_note_is_shown_escaped(running: Running) -> None:
    """What a person typed is text on the page, never markup."""
    with running.signed_in("rita") as client:
        csrf = _csrf(client.get("/deals/W-5").text)
        note = '<script>alert("x")</script>'
        client.post("/deals/W-5/log", data={"csrf": csrf, "kind": "note", "note": note})
        page = client.get("/deals/W-5").text
    assert note not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


def _set_expiry(site: Site, digest: str, when: datetime) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(site.db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE playbook_sessions SET expires_at = :at WHERE sha256 = :digest"),
                {"at": when.replace(tzinfo=None), "digest": digest},
            )
    finally:
        engine.dispose()


def test_board_review_and_kpi_pages(running: Running) -> None:
    """The board's counts agree with the store; the review lists the team's deals; a playbook
    without KPIs gets its coded refusal (PB800) as a page, not a trace."""
    by_stage = {
        row.stage: row.n
        for row in running.site.rows(
            "SELECT stage, COUNT(*) AS n FROM playbook_deals WHERE team = 'east' GROUP BY stage"
        )
    }
    with running.signed_in("mara") as client:
        board = client.get("/board/ws-test?team=east&lang=en").text
        review = client.get("/review/ws-test?team=east").text
        report = client.get("/kpi/ws-test/report")
        missing = client.get("/board/no-such-playbook")
    counts = dict(re.findall(r'data-stage="(\w+)" data-count="(\d+)"', board))
    assert {stage: int(n) for stage, n in counts.items() if int(n)} == by_stage
    assert all(f">{ref}</a>" in review for ref in ("W-6", "W-7", "W-8"))
    assert report.status_code == 422
    assert 'data-code="PB800"' in report.text
    assert missing.status_code == 404
    assert 'data-code="PB058"' in missing.text
