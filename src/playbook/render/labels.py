"""The words of the KPI and review reports, in English and Chinese, and number formats.

Figures are formatted by their unit: ratios as percentages, days with one
decimal, money with thousands separators and the playbook's currency, counts
as integers.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LANGUAGES", "format_value", "say", "status_word", "unit_of"]

LANGUAGES: tuple[str, ...] = ("en", "zh")

_WORDS: Mapping[str, Mapping[str, str]] = {
    "kpi": {"en": "KPI", "zh": "指标"},
    "group": {"en": "Group", "zh": "分组"},
    "all": {"en": "all", "zh": "全部"},
    "none": {"en": "(none)", "zh": "（无）"},
    "value": {"en": "Value", "zh": "数值"},
    "target": {"en": "Target", "zh": "目标"},
    "pace": {"en": "pace", "zh": "进度线"},
    "gap": {"en": "Gap", "zh": "差距"},
    "status": {"en": "Status", "zh": "状态"},
    "n": {"en": "N", "zh": "样本"},
    "met": {"en": "met", "zh": "达成"},
    "on_track": {"en": "on track", "zh": "进度正常"},
    "at_risk": {"en": "at risk", "zh": "有风险"},
    "missed": {"en": "missed", "zh": "未达成"},
    "no_data": {"en": "no data", "zh": "无数据"},
    "no_target": {"en": "no target", "zh": "无目标"},
    "period": {"en": "Period", "zh": "周期"},
    "elapsed": {"en": "elapsed", "zh": "已过"},
    "report_title": {"en": "Sales KPI report", "zh": "销售指标报告"},
    "generated": {"en": "Computed at", "zh": "计算时间"},
    "kpis_vs_target": {"en": "KPIs against target", "zh": "指标与目标对比"},
    "funnel": {"en": "Funnel", "zh": "销售漏斗"},
    "funnel_note": {
        "en": "Deals entering each stage in the period",
        "zh": "本周期内进入各阶段的商机数",
    },
    "conversion": {"en": "Stage conversion", "zh": "阶段转化率"},
    "conversion_note": {
        "en": "Of the deals that entered a stage in the period, the share that reached the next",
        "zh": "本周期内进入某阶段的商机中，推进到下一阶段的比例",
    },
    "cycle_times": {"en": "Cycle time to won", "zh": "赢单周期分布"},
    "cycle_note": {
        "en": "Days from the first stage to won, deals won in the period",
        "zh": "本周期内赢单商机从首阶段到赢单的天数",
    },
    "days": {"en": "days", "zh": "天"},
    "deals": {"en": "deals", "zh": "个商机"},
    "median": {"en": "median", "zh": "中位数"},
    "mean": {"en": "mean", "zh": "平均"},
    "stuck": {"en": "Stuck deals", "zh": "停滞商机"},
    "stuck_note": {
        "en": "Open deals longest in their current stage",
        "zh": "在当前阶段停留最久的未结商机",
    },
    "deal": {"en": "Deal", "zh": "商机"},
    "owner": {"en": "Owner", "zh": "负责人"},
    "team": {"en": "Team", "zh": "团队"},
    "manager": {"en": "Manager", "zh": "经理"},
    "region": {"en": "Region", "zh": "区域"},
    "stage": {"en": "Stage", "zh": "阶段"},
    "days_in_stage": {"en": "Days in stage", "zh": "停留天数"},
    "since_activity": {"en": "Days since activity", "zh": "距上次跟进天数"},
    "escalations": {"en": "Escalations", "zh": "升级提醒"},
    "open_escalations": {"en": "open escalations", "zh": "个未处理升级"},
    "no_deals": {"en": "No deal to show.", "zh": "没有可显示的商机。"},
    "notes": {"en": "Notes", "zh": "说明"},
    "summary": {"en": "Summary", "zh": "概览"},
    "review_title": {"en": "Weekly funnel review", "zh": "每周漏斗复盘"},
    "open_deals": {"en": "open deals", "zh": "个未结商机"},
    "moved": {"en": "moved", "zh": "推进"},
    "won": {"en": "won", "zh": "赢单"},
    "lost": {"en": "lost", "zh": "输单"},
    "idle": {"en": "idle this week", "zh": "本周无跟进"},
    "activities": {"en": "activities", "zh": "次跟进"},
    "this_week": {"en": "This week", "zh": "本周"},
    "missing": {"en": "Missing for next stage", "zh": "进入下一阶段还缺"},
    "nothing": {"en": "nothing logged", "zh": "无记录"},
    "closed_this_week": {"en": "Closed this week", "zh": "本周结案"},
}

_UNITS: Mapping[str, str] = {
    "conversion": "ratio",
    "win_rate": "ratio",
    "field_ratio": "ratio",
    "cycle_time": "days",
    "time_in_stage": "days",
    "pipeline_value": "money",
    "weighted_pipeline": "money",
    "won_value": "money",
}


def say(key: str, lang: str | None = "en") -> str:
    """The word ``key`` in ``lang`` (``en`` or ``zh``), English for other languages."""
    words = _WORDS[key]
    return words.get(lang or "en") or words["en"]


def status_word(status: str | None, lang: str | None = "en") -> str:
    """The status as shown to people; ``no target`` for None."""
    return say(status or "no_target", lang)


def unit_of(metric: str, unit: str | None, aggregate: str | None = None) -> str:
    """The display unit of a KPI: its ``unit``, else the metric's natural one."""
    if unit:
        return unit
    if metric == "field_aggregate":
        return "count" if aggregate == "count" else "score"
    return _UNITS.get(metric, "count")


def format_value(
    value: float | None, unit: str, *, currency: str | None = None, lang: str | None = "en"
) -> str:
    """A figure for people: ``63.1%``, ``57.3 days``, ``1,234,567 USD``, ``42``; ``–`` for None."""
    if value is None:
        return "–"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "days":
        return f"{value:,.1f} {say('days', lang)}" if lang != "zh" else f"{value:,.1f} 天"
    if unit == "money":
        amount = f"{value:,.0f}"
        return f"{amount} {currency}" if currency else amount
    if unit == "score":
        return f"{value:,.2f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
