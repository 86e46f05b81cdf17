"""The HTML report in a real headless Chromium: charts drawn, no console error, a screenshot.

Needs the ``chromium`` binary (Debian package ``chromium``). Without it the
tests are skipped with a message, except under ``PLAYBOOK_REQUIRE_TOOLS=1``
(set by CI), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import EXAMPLE
from playbook.cli import cli

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,2000",
)
CHARTS = ("win_rate", "cycle_to_won", "won_revenue", "funnel", "conversion", "cycle_times")


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("PLAYBOOK_REQUIRE_TOOLS") == "1":
        pytest.fail("chromium is required (PLAYBOOK_REQUIRE_TOOLS=1) but was not found")
    pytest.skip("chromium not found: install the Debian package `chromium` to run this test")


def _deals_csv(path: Path) -> None:
    """Sixty opportunities in the Maven layout, with engage and close dates in 2017."""
    rng = random.Random(5)
    teams = {"王伟": "李娜,华东", "Ann Lee": "李娜,华东", "Bo Chen": "Carl Ma,West"}
    lines = [
        "opportunity_id,sales_agent,manager,regional_office,account,sector,product,deal_stage,"
        "engage_date,close_date,close_value"
    ]
    for n in range(60):
        stage = rng.choice(["Prospecting", "Engaging", "Won", "Won", "Lost"])
        engaged = date(2017, 1, 1) + timedelta(days=rng.randrange(300))
        closed = engaged + timedelta(days=rng.randrange(1, 90))
        agent = rng.choice(list(teams))
        lines.append(
            f"X{n:03d},{agent},{teams[agent]},Acme,retail,GTX Basic,{stage},"
            f"{'' if stage == 'Prospecting' else engaged.isoformat()},"
            f"{closed.isoformat() if stage in ('Won', 'Lost') else ''},"
            f"{rng.randrange(100, 5000) if stage == 'Won' else ''}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example's KPI report in English and Chinese, by owner, over 2017."""
    folder = tmp_path_factory.mktemp("html")
    mapping = (EXAMPLE / "mapping.yaml").read_text(encoding="utf-8").split("\njoin:")[0]
    (folder / "mapping.yaml").write_text(mapping, encoding="utf-8")
    _deals_csv(folder / "deals.csv")
    url = f"sqlite:///{folder / 'kpi.db'}"
    runner = CliRunner()
    playbook = str(EXAMPLE / "playbook.yaml")
    steps = [
        ["db", "init", "--db", url],
        [
            "deals",
            "import",
            str(folder / "deals.csv"),
            "--playbook",
            playbook,
            "--mapping",
            str(folder / "mapping.yaml"),
            "--db",
            url,
            "--now",
            "2018-01-10T00:00:00+00:00",
        ],
    ]
    out = {}
    for lang in ("en", "zh"):
        out[lang] = folder / f"report-{lang}.html"
        steps.append(
            ["kpi", "--playbook", playbook, "--db", url, "--period", "2017", "--by", "owner",
             "--format", "html", "--lang", lang, "--output", str(out[lang]),
             "--now", "2018-01-10T00:00:00+00:00"]
        )  # fmt: skip
    for args in steps:
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_is_self_contained(reports: dict[str, Path], lang: str) -> None:
    """One file: no script, style, image or font fetched from anywhere; labels in the language."""
    page = reports[lang].read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page
    assert "url(" not in page
    assert ("赢单率" in page) == (lang == "zh")
    assert ("Win rate" in page) == (lang == "en")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_charts_render_in_chromium(reports: dict[str, Path], lang: str, tmp_path: Path) -> None:
    """Chromium lays out every chart with non-empty bars, logs no console error, and takes a
    screenshot of the page."""
    browser = _chromium()
    page = reports[lang].resolve().as_uri()
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr",
         "--v=0", "--dump-dom", page],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body is not None
    charts = int(re.search(r'data-charts="(\d+)"', body.group(0)).group(1))  # type: ignore[union-attr]
    drawn = int(re.search(r'data-charts-drawn="(\d+)"', body.group(0)).group(1))  # type: ignore[union-attr]
    assert charts == drawn >= len(CHARTS)
    rendered = dict(re.findall(r'data-chart="([^"]+)"[^>]*data-rendered="(\d+)"', dom.stdout))
    for name in CHARTS:
        assert int(rendered[name]) > 0, name
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "rror" in line or "Uncaught" in line], console
    shot = tmp_path / f"report-{lang}.png"
    subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}", page],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 30_000  # a blank 1400x2000 page compresses to a few KB
