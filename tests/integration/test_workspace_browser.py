"""The web workspace in a real headless Chromium, driven by Playwright, against `playbook serve`.

A rep signs in, opens a blocked deal, reads why in Chinese, completes the
action and moves the deal; a manager overrides the next gate with a reason
and acknowledges an escalation; both sign out. Runs on SQLite and on the
suite's PostgreSQL. Playwright drives the Debian ``chromium`` (its own browser
builds are never downloaded); without it (or without playwright) the test is
skipped with a message, except under ``PLAYBOOK_REQUIRE_TOOLS=1`` (set by
CI), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workspace_site import Site, prepare, serving

from playbook.i18n import say
from playbook.store.testing import fresh_database


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        found = None
    if found:
        return found
    if os.environ.get("PLAYBOOK_REQUIRE_TOOLS") == "1":
        pytest.fail("chromium and playwright are required (PLAYBOOK_REQUIRE_TOOLS=1) but missing")
    pytest.skip("chromium or playwright not found: install the Debian package `chromium` and "
                "the dev extra (make sync-dev) to run this test")  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def site_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Site, str]]:
    """A served store with W-1 (the flow's deal) and W-2 (whose escalation is acknowledged)."""
    if request.param == "sqlite":
        site = prepare(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, ("W-1", "W-2"))
        with serving(site, tmp_path) as base:
            yield site, base
        return
    admin = request.getfixturevalue("postgres_admin_url")
    with fresh_database(admin) as url:
        site = prepare(url, tmp_path, ("W-1", "W-2"))
        with serving(site, tmp_path) as base:
            yield site, base


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium (the Debian binary) under Playwright."""
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


def _sign_in(page: Any, base: str, site: Site, who: str) -> None:
    page.goto(f"{base}/sign-in?lang=zh")
    page.fill("input[name=email]", site.emails[who])
    page.fill("input[name=token]", site.tokens[who])
    page.click("form#sign-in button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert page.get_attribute("span.me", "data-me") == who


def _sign_out(page: Any, base: str) -> None:
    page.click("#sign-out")
    page.wait_for_url(f"{base}/sign-in")
    page.goto(f"{base}/inbox")
    assert "/sign-in" in page.url


def test_rep_and_manager_work_a_deal_in_the_browser(
    site_url: tuple[Site, str], browser: Any
) -> None:
    """Blocked in Chinese → action done → moved; manager overrides, acks; both sign out."""
    site, base = site_url
    errors: list[str] = []
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))

    _sign_in(page, base, site, "rita")
    cookie = next(c for c in context.cookies() if c["name"] == "pb_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("pb_session") == -1  # no script reads it

    page.goto(f"{base}/deals/W-1")
    reasons = page.locator(".move[data-to=offer] .reasons li").all_inner_texts()
    assert reasons == [say("reason.PB545", "zh", action="首次通话", roles="销售代表")]
    assert page.inner_text(".stage") == "线索"

    page.fill("[data-action=first_call] input[name=evidence]", "客户确认了需求")
    page.click("[data-action=first_call] button[type=submit]")
    page.wait_for_selector(".notice.done[data-done=complete]")
    page.click(".move[data-to=offer] button.advance")
    page.wait_for_selector(".notice.done[data-done=advance]")
    assert page.get_attribute(".stage", "data-stage") == "offer"
    assert page.locator(".move[data-to=contract] form.override").count() == 0  # a rep may not
    _sign_out(page, base)

    _sign_in(page, base, site, "mara")
    page.goto(f"{base}/deals/W-1")
    page.fill(".move[data-to=contract] form.override input[name=reason]", "董事会已批准")
    page.click(".move[data-to=contract] form.override button[type=submit]")
    page.wait_for_selector(".notice.done[data-done=override]")
    assert page.get_attribute(".stage", "data-stage") == "contract"

    page.goto(f"{base}/inbox?scope=team")
    card = page.locator(".escalation", has=page.locator("a", has_text="W-2"))
    card.locator("form.ack input[name=reason]").fill("已电话跟进")
    card.locator("form.ack button[type=submit]").click()
    page.wait_for_selector(".notice.done[data-done=ack]")
    _sign_out(page, base)
    context.close()

    moves = site.rows(
        "SELECT c.to_stage, c.actor, c.override_reason FROM playbook_stage_changes c "
        "JOIN playbook_deals d ON d.id = c.deal_id WHERE d.external_id = 'W-1' "
        "ORDER BY c.deal_version"
    )
    assert [tuple(row) for row in moves][1:] == [
        ("offer", "rita", None),
        ("contract", "mara", "董事会已批准"),
    ]
    acked = site.rows(
        "SELECT e.status, e.acked_by, e.ack_reason FROM playbook_escalations e "
        "JOIN playbook_deals d ON d.id = e.deal_id WHERE d.external_id = 'W-2'"
    )
    assert [tuple(row) for row in acked] == [("acked", "mara", "已电话跟进")]
    live = site.rows("SELECT COUNT(*) FROM playbook_sessions WHERE revoked_at IS NULL")
    assert live[0][0] == 0
    assert errors == []
