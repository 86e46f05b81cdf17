"""Screenshots of the web workspace on the demo database, for the README (``make screenshots``).

Runs after ``make demo``: imports the demo's people, makes a one-day API token
for the manager 王伟 and one for the rep 李娜, starts ``playbook serve`` on a
free loopback port, and has Playwright drive the Debian ``chromium`` (never a
downloaded browser) to take three PNGs: the pipeline board, a blocked deal's
page in Chinese and the escalations inbox. The tokens are revoked afterwards.

    python scripts/screenshots.py [--db sqlite:///out/demo/demo.db] [--out docs/img]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

PLAYBOOK = "b2b-project-sales"
WIDTH, HEIGHT = 1360, 900


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite:///out/demo/demo.db")
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    options = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found: install the Debian package `chromium`", file=sys.stderr)
        return 2
    _playbook("people", "import", "examples/demo/people.yaml", "--db", options.db)
    tokens = {who: _token(options.db, who) for who in ("王伟", "李娜")}
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 (our own command line)
        [sys.executable, "-m", "playbook", "serve", "--db", options.db, "--playbooks",
         "playbooks", "--port", str(port)],
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base, server)
        options.out.mkdir(parents=True, exist_ok=True)
        _shoot(chromium, base, tokens, _blocked_deal(options.db), options.out)
    finally:
        server.terminate()
        server.wait(timeout=30)
        for who in tokens:
            _revoke_last(options.db, who)
    return 0


def _shoot(chromium: str, base: str, tokens: dict[str, str], deal: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        rep = _signed_in(browser, base, "li.na@example.com", tokens["李娜"], "zh")
        rep.goto(f"{base}/deals/{deal}?lang=zh")
        rep.screenshot(path=str(out / "workspace-deal-zh.png"), full_page=True)
        manager = _signed_in(browser, base, "wang.wei@example.com", tokens["王伟"], "zh")
        manager.goto(f"{base}/board/{PLAYBOOK}?team=east")
        manager.screenshot(path=str(out / "workspace-board.png"))
        manager.goto(f"{base}/inbox?scope=team")
        manager.screenshot(path=str(out / "workspace-inbox.png"))
        browser.close()


def _signed_in(browser: object, base: str, email: str, token: str, lang: str) -> object:
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": WIDTH, "height": HEIGHT}, locale="zh-CN"
    )
    page = context.new_page()
    page.goto(f"{base}/sign-in?lang={lang}")
    page.fill("input[name=email]", email)
    page.fill("input[name=token]", token)
    page.click("form#sign-in button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def _blocked_deal(db: str) -> str:
    """李娜's open deal in the first stage that has been there longest (its gates block it)."""
    engine = create_engine(db)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT external_id FROM playbook_deals WHERE owner = '李娜' "
                    "AND closed_at IS NULL ORDER BY stage_entered_at LIMIT 1"
                )
            ).one()
    finally:
        engine.dispose()
    return str(row[0])


def _playbook(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 (our own command line)
        [sys.executable, "-m", "playbook", *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _token(db: str, who: str) -> str:
    return _playbook("tokens", "create", who, "--expires", "1", "--db", db)


def _revoke_last(db: str, who: str) -> None:
    listed = _playbook("tokens", "list", "--person", who, "--db", db)
    _playbook("tokens", "revoke", listed.splitlines()[-1].split()[0], "--db", db)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"playbook serve stopped with exit code {server.returncode}")
        try:
            httpx.get(f"{base}/sign-in", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.3)
    raise SystemExit("playbook serve did not answer within 60 s")


if __name__ == "__main__":
    sys.exit(main())
