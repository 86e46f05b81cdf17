"""Writes export.csv: a CRM export of 60 opportunities as a Chinese ops team gets it.

Run once to regenerate (deterministic). Two teams (华东 / 华南), six reps; dates
in three spellings (2026/3/5, 2026年3月5日, and Excel serial numbers for the
creation date); deals that skipped stages (no 方案报价日期 but a 商务谈判日期);
won deals that moved on to after-sales (售后服务) keeping their 签约日期; lost
deals; a column the mapping does not use (备注).
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

HEADER = [
    "商机编号",
    "客户名称",
    "销售",
    "团队",
    "阶段",
    "创建日期",
    "初步接触日期",
    "方案报价日期",
    "商务谈判日期",
    "签约日期",
    "售后日期",
    "输单日期",
    "合同金额",
    "审批单号",
    "最后跟进日期",
    "更新时间",
    "备注",
]
REPS = {
    "张伟": "华东",
    "王芳": "华东",
    "李娜": "华东",
    "刘洋": "华南",
    "陈静": "华南",
    "杨磊": "华南",
}
OPEN = ["线索", "初步接触", "方案报价", "商务谈判"]
DATE_COLUMNS = ["初步接触日期", "方案报价日期", "商务谈判日期"]


def spell(day: date, style: int) -> str:
    if style == 0:
        return f"{day.year}/{day.month}/{day.day}"
    return f"{day.year}年{day.month}月{day.day}日"


def excel(day: date) -> str:
    return str((day - date(1899, 12, 30)).days)


def main() -> None:
    rng = random.Random(20260915)
    rows = []
    for number in range(1, 61):
        rep = rng.choice(sorted(REPS))
        created = date(2025, 11, 1) + timedelta(days=rng.randrange(0, 330))
        style = rng.randrange(2)
        kind = rng.choices(["open", "won", "after", "lost"], weights=[4, 3, 2, 3])[0]
        reached = rng.randrange(1, 4) if kind == "open" else 3
        row = dict.fromkeys(HEADER, "")
        row.update(商机编号=f"OPP-{number:04d}", 客户名称=f"客户{number}", 销售=rep, 团队=REPS[rep])
        row["创建日期"] = excel(created)
        day = created
        for index, column in enumerate(DATE_COLUMNS[:reached], start=1):
            day += timedelta(days=rng.randrange(2, 25))
            skipped = column == "方案报价日期" and rng.random() < 0.3
            if not skipped:
                row[column] = spell(day, style)
            last_open = OPEN[index]
        if kind == "lost":
            # lost somewhere along the way: keep the dates up to a random stage
            keep = rng.randrange(0, 4)
            for column in DATE_COLUMNS[keep:]:
                row[column] = ""
            day += timedelta(days=rng.randrange(1, 20))
            row["输单日期"] = spell(day, style)
            row["阶段"] = "输单"
        elif kind in ("won", "after"):
            day += timedelta(days=rng.randrange(3, 30))
            row["签约日期"] = spell(day, style)
            row["合同金额"] = f"{rng.randrange(20, 500) * 1000:,}"
            row["审批单号"] = f"SP-{number:04d}"
            row["阶段"] = "已签约"
            if kind == "after":
                day += timedelta(days=rng.randrange(5, 40))
                row["售后日期"] = spell(day, style)
                row["阶段"] = "售后服务"
        else:
            row["阶段"] = last_open
        follow = day + timedelta(days=rng.randrange(0, 10))
        row["最后跟进日期"] = follow.isoformat()
        row["更新时间"] = (follow + timedelta(days=1)).isoformat() + "T18:00:00"
        row["备注"] = rng.choice(["", "老客户转介绍", "展会获客", "需要总部审批"])
        rows.append(row)
    with (Path(__file__).parent / "export.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
