"""Write a deterministic demo pipeline for playbooks/b2b-project-sales.yaml.

`make demo` imports it into an SQLite file so that the sweep, the KPI table
and the HTML report have a realistic team to show: eight reps in two teams,
about 300 project deals created between June and November 2026, each with
the dates it entered its stages. The same seed always gives the same file.

Usage: python examples/demo/generate.py [OUTPUT.csv] [--deals N]
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import date, timedelta
from pathlib import Path

STAGES = [
    "lead_identification",
    "initial_contact",
    "needs_analysis",
    "solution",
    "quote_negotiation",
    "contract",
    "delivery",
]
# rep: (team, manager, region)
TEAM = {
    "李娜": ("east", "王伟", "华东"),
    "张磊": ("east", "王伟", "华东"),
    "陈静": ("east", "王伟", "华东"),
    "刘洋": ("east", "王伟", "华东"),
    "赵敏": ("south", "周强", "华南"),
    "黄涛": ("south", "周强", "华南"),
    "吴霞": ("south", "周强", "华南"),
    "孙鹏": ("south", "周强", "华南"),
}
INDUSTRIES = ["manufacturing", "energy", "chemicals", "automotive", "electronics"]
TIERS = ["key", "normal", "potential"]
DECISION_MAKERS = ["王总", "刘总工", "陈厂长", "赵处长", "杨经理", "Mr. Schmidt"]
LOST_REASONS = ["price", "technology", "relationship", "budget_cut", "no_decision"]
TODAY = date(2026, 11, 20)
COLUMNS = [
    "deal_id",
    "owner",
    "team",
    "manager",
    "region",
    "stage",
    "created",
    *[f"{stage}_at" for stage in STAGES[1:]],
    "lost_at",
    "amount",
    "industry",
    "customer_tier",
    "budget_confirmed",
    "decision_maker",
    "expected_close",
    "lost_reason",
]


def _deal(number: int, rng: random.Random) -> dict[str, str]:
    owner = rng.choice(list(TEAM))
    team, manager, region = TEAM[owner]
    created = date(2026, 6, 1) + timedelta(days=rng.randrange(0, 170))
    row: dict[str, str] = dict.fromkeys(COLUMNS, "")
    row.update(
        deal_id=f"DEMO-{number:04d}",
        owner=owner,
        team=team,
        manager=manager,
        region=region,
        created=created.isoformat(),
        amount=str(rng.choice([80, 150, 300, 600, 900, 1200, 2500, 4800]) * 1000),
        industry=rng.choice(INDUSTRIES),
        customer_tier=rng.choice(TIERS),
        decision_maker=rng.choice(DECISION_MAKERS),
        budget_confirmed=rng.choice(["yes", "no"]),
        expected_close=(created + timedelta(days=rng.randrange(90, 360))).isoformat(),
    )
    reached, day = 0, created
    for index in range(1, len(STAGES)):
        step = timedelta(days=rng.randrange(5, 40))
        if day + step > TODAY or rng.random() < 0.22:
            break
        day += step
        reached = index
        row[f"{STAGES[index]}_at"] = day.isoformat()
    row["stage"] = STAGES[reached]
    if reached < len(STAGES) - 1 and rng.random() < 0.3 and day + timedelta(days=7) <= TODAY:
        row["stage"] = "lost"
        row["lost_at"] = (day + timedelta(days=rng.randrange(1, 8))).isoformat()
        row["lost_reason"] = rng.choice(LOST_REASONS)
    return row


def main() -> int:
    """Write the CSV and print where it went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default="out/demo/deals.csv")
    parser.add_argument("--deals", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261120)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for number in range(1, args.deals + 1):
            writer.writerow(_deal(number, rng))
    print(f"wrote {args.deals} demo deals to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
