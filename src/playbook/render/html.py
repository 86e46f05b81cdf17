"""The KPI report as one self-contained HTML file: inline CSS and SVG, no network.

The page shows KPI cards, KPI-versus-target bars per group, the funnel, the
conversion between stages, the cycle-time distribution and the stuck deals.
Every chart is drawn here, server side, as inline SVG: the file opens offline,
in any browser, and prints. A few lines of inline script only check the
drawing: each chart gets a ``data-rendered`` attribute with the number of
marks (bars) the browser laid out with a non-empty box, and the body
``data-charts`` / ``data-charts-drawn`` (used by the browser test).
Labels are in the language asked for (``en`` or ``zh``).
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from playbook.i18n import say
from playbook.kpi.report import kpi_unit
from playbook.kpi.targets import CUMULATIVE_METRICS
from playbook.render.deals import field_rows
from playbook.render.labels import as_of_text, format_value, status_word
from playbook.render.table import display_width, group_text, target_text, value_text
from playbook.safetext import web_link
from playbook.values import playbook_zone, shown_time

if TYPE_CHECKING:
    from playbook.kpi.charts import Dashboard, FunnelStep, Histogram
    from playbook.kpi.report import KpiResult
    from playbook.kpi.review import StuckDeal
    from playbook.model import Kpi, Playbook

__all__ = ["STATUS_COLOURS", "render_html"]

STATUS_COLOURS: dict[str, str] = {
    "met": "#1a9e5f",
    "on_track": "#2f8fb3",
    "at_risk": "#e09b00",
    "missed": "#d64545",
    "no_data": "#9aa3ad",
    "none": "#3b6fd8",
}
_MAX_GROUPS = 40
_FONT = (
    "'Noto Sans CJK SC','Source Han Sans SC','WenQuanYi Micro Hei','PingFang SC',"
    "'Microsoft YaHei',system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
)


def render_html(dash: Dashboard, *, lang: str | None = None) -> str:
    """The whole report page; ``lang`` defaults to the playbook's language."""
    playbook = dash.playbook
    words = lang or playbook.language
    report = dash.report
    title = playbook.label(playbook.title, words, playbook.id)
    parts = [
        _header(dash, title, words),
        _section(
            "report.kpis_vs_target", words, _kpi_cards(dash, words) + _kpi_charts(dash, words)
        ),
        '<div class="grid">',
        _section(
            "report.funnel", words, _funnel(dash.funnel, playbook, words), "report.funnel_note"
        ),
        _section(
            "report.conversion",
            words,
            _conversion(dash.funnel, playbook, words),
            "report.conversion_note",
        ),
        "</div>",
        _section(
            "report.cycle_times", words, _histogram(dash.cycle_times, words), "report.cycle_note"
        ),
        _section("report.stuck", words, _stuck(dash.stuck, dash, words), "report.stuck_note"),
        _notes(report.notes, words),
    ]
    return _page(
        f"{say('report.report_title', words)} · {title} · {report.period.label}", words, parts
    )


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def link_html(url: str, text: str) -> str:
    """``<a href>`` to an http(s) link, opened apart and without a referrer; else ``text``.

    Only :func:`playbook.safetext.web_link` links become one: a ``javascript:``
    or ``data:`` value, say, is shown as escaped text.
    """
    safe = web_link(url)
    if safe is None:
        return _e(text)
    return (
        f'<a class="link" href="{_e(safe)}" target="_blank" rel="noopener noreferrer nofollow">'
        f"{_e(text)}</a>"
    )


def _page(title: str, lang: str, parts: Sequence[str]) -> str:
    body = "\n".join(part for part in parts if part)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{"zh-CN" if lang == "zh" else _e(lang)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f'<body data-charts="0">\n<main>\n{body}\n</main>\n<script>{_SCRIPT}</script>\n'
        "</body>\n</html>\n"
    )


def _header(dash: Dashboard, title: str, lang: str) -> str:
    report = dash.report
    period = report.period
    elapsed = report.elapsed
    computed = shown_time(report.computed_at, playbook_zone(report.playbook))
    return (
        '<header class="top">'
        f'<div><div class="eyebrow">{_e(say("report.report_title", lang))}</div>'
        f"<h1>{_e(title)}</h1>"
        f'<div class="sub">{_e(say("report.period", lang))} <b>{_e(period.label)}</b> · '
        f"{period.first_day.isoformat()} – {period.last_day.isoformat()} · "
        f"{_e(as_of_text(report.as_of, period.timezone, lang))} · "
        f"{_e(say('report.generated', lang))} {_e(computed)}</div></div>"
        f'<div class="elapsed"><div class="track"><div class="fill" '
        f'style="width:{elapsed * 100:.1f}%"></div></div>'
        f"<span>{elapsed * 100:.0f}% {_e(say('report.elapsed', lang))}</span></div>"
        "</header>"
    )


def _section(key: str, lang: str, content: str, note: str | None = None) -> str:
    caption = f'<p class="note">{_e(say(note, lang))}</p>' if note else ""
    return f'<section class="card"><h2>{_e(say(key, lang))}</h2>{caption}{content}</section>'


def _notes(notes: Sequence[str], lang: str) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{_e(note)}</li>" for note in notes)
    heading = _e(say("report.notes", lang))
    return f'<section class="card notes"><h2>{heading}</h2><ul>{items}</ul></section>'


def _empty(lang: str) -> str:
    return f'<p class="empty">{_e(say("report.no_data", lang))}</p>'


# --- KPI cards and bars --------------------------------------------------------------------


def _by_kpi(dash: Dashboard) -> list[tuple[Kpi, list[KpiResult]]]:
    grouped: dict[str, tuple[Kpi, list[KpiResult]]] = {}
    for result in dash.report.results:
        grouped.setdefault(result.kpi.id, (result.kpi, []))[1].append(result)
    return list(grouped.values())


def _kpi_cards(dash: Dashboard, lang: str) -> str:
    playbook = dash.playbook
    cards = []
    for kpi, results in _by_kpi(dash):
        unit = kpi_unit(kpi)
        title = playbook.label(kpi.title, lang, kpi.id)
        first = results[0]
        if len(results) == 1:
            value = value_text(first, unit, playbook.currency, lang)
            detail = target_text(first, unit, playbook.currency, lang)
            badge = _badge(first.status, lang)
        else:
            value = _range(results, unit, playbook.currency, lang)
            detail = target_text(first, unit, playbook.currency, lang)
            badge = _tally(results, lang)
        colour = STATUS_COLOURS[(first.status if len(results) == 1 else None) or "none"]
        cards.append(
            f'<div class="kpi" style="border-top-color:{colour}">'
            f'<div class="kpi-title">{_e(title)}</div>'
            f'<div class="kpi-value">{_e(value)}</div>'
            f'<div class="kpi-target">{_e(_groups_line(results, dash.playbook, lang))}</div>'
            f'<div class="kpi-target">{_e(say("report.target", lang))}: {_e(detail or "–")}</div>'
            f"<div>{badge}</div></div>"
        )
    return f'<div class="cards">{"".join(cards)}</div>'


def _range(results: Sequence[KpiResult], unit: str, currency: str | None, lang: str) -> str:
    """The lowest and highest figure over the groups: ``47.9 – 51.4 days`` (per member for a
    per-member KPI: the figure its status judges)."""
    values = [float(r.judged) for r in results if r.judged is not None]
    if not values:
        return "–"
    low = format_value(min(values), unit, currency=currency, lang=lang)
    high = format_value(max(values), unit, currency=currency, lang=lang)
    return low if low == high else f"{low} – {high}"


def _groups_line(results: Sequence[KpiResult], playbook: Playbook, lang: str) -> str:
    if len(results) == 1:
        return group_text(results[0].group, lang, playbook)
    names = " / ".join(results[0].group)
    return f"{len(results)} × {names}"


def _badge(status: str | None, lang: str) -> str:
    colour = STATUS_COLOURS[status or "none"]
    return f'<span class="badge" style="background:{colour}">{_e(status_word(status, lang))}</span>'


def _tally(results: Sequence[KpiResult], lang: str) -> str:
    counts: dict[str | None, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    order = ("met", "on_track", "at_risk", "missed", "no_data", None)
    return " ".join(
        f'<span class="badge" style="background:{STATUS_COLOURS[status or "none"]}">'
        f"{counts[status]} {_e(status_word(status, lang))}</span>"
        for status in order
        if status in counts
    )


def _kpi_charts(dash: Dashboard, lang: str) -> str:
    charts = []
    for kpi, results in _by_kpi(dash):
        title = dash.playbook.label(kpi.title, lang, kpi.id)
        pace = dash.report.elapsed if kpi.metric in CUMULATIVE_METRICS else 1.0
        body = _kpi_bars(kpi, results, dash.playbook, lang, pace)
        charts.append(
            f'<figure class="chart-box"><figcaption>{_e(title)}</figcaption>{body}</figure>'
        )
    return f'<div class="grid">{"".join(charts)}</div>'


def _kpi_bars(
    kpi: Kpi, results: Sequence[KpiResult], playbook: Playbook, lang: str, pace: float
) -> str:
    # A per-member KPI draws its per-member figure: the one its target and status are for.
    shown = [result for result in results if result.judged is not None][:_MAX_GROUPS]
    missing = [result for result in results if result.judged is None]
    if not shown:
        return _empty(lang)
    unit = kpi_unit(kpi)
    bounds = [b for r in shown for b in (r.target_min, r.target_max) if b is not None]
    top = max([float(r.judged or 0) for r in shown] + bounds + [1e-9]) * 1.12
    label_w, bar_w, row_h = 170, 280, 24
    width, height = label_w + bar_w + 130, row_h * len(shown) + 28
    marks = []
    for i, result in enumerate(shown):
        y = 8 + i * row_h
        value = float(result.judged or 0)
        w = max(1.5, bar_w * value / top) if value > 0 else 1.5
        colour = STATUS_COLOURS[result.status or "none"]
        label = (
            group_text(result.group, lang, playbook) if result.group else say("report.all", lang)
        )
        text = value_text(result, unit, playbook.currency, lang)
        marks.append(
            f'<text x="{label_w - 8}" y="{y + 15}" class="lbl" text-anchor="end">'
            f"{_e(_short(_values_only(label), 26))}<title>{_e(label)}</title></text>"
            + _mark(
                (label_w, y + 3, f"{w:.1f}", row_h - 8, 3, colour),
                f"{label}: {text} ({status_word(result.status, lang)}, n={result.n})",
            )
            + f'<text x="{width - 4}" y="{y + 15}" class="val" text-anchor="end">{_e(text)}</text>'
        )
    for bound in sorted(set(bounds)):
        x = label_w + bar_w * bound / top
        marks.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="2" y2="{height - 18}" class="target"/>'
            f'<text x="{x:.1f}" y="{height - 4}" class="tick" text-anchor="middle">'
            f"{_e(say('report.target', lang))} "
            f"{_e(format_value(bound, unit, currency=playbook.currency, lang=lang))}</text>"
        )
    if pace < 1.0 and shown[0].target_min is not None:
        # In a running period a cumulative figure is judged against the linear pace.
        x = label_w + bar_w * shown[0].target_min * pace / top
        marks.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="2" y2="{height - 18}" class="pace"/>'
            f'<text x="{x:.1f}" y="{height - 4}" class="tick" text-anchor="end">'
            f"{_e(say('report.pace', lang))}</text>"
        )
    extra = ""
    if missing:
        names = ", ".join(_values_only(group_text(r.group, lang, playbook)) for r in missing[:12])
        extra = f'<p class="note">{_e(say("report.no_data", lang))}: {_e(names)}</p>'
    return _svg(width, height, "".join(marks), kpi.id) + extra


def _values_only(label: str) -> str:
    """``region=Central, manager=X`` shown as ``Central · X`` inside a chart."""
    return " · ".join(part.split("=", 1)[-1] for part in label.split(", "))


def _short(text: str, width: int) -> str:
    if display_width(text) <= width:
        return text
    out = ""
    for ch in text:
        if display_width(out + ch) > width - 1:
            break
        out += ch
    return out + "…"


def _mark(box: tuple[object, object, object, object, int, str], tip: str) -> str:
    """A bar the page's script counts (class ``mark``): ``box`` is its x, y, width, height
    (as written), corner radius and fill; ``tip`` its tooltip."""
    x, y, width, height, radius, fill = box
    return (
        f'<rect class="mark" x="{x}" y="{y}" width="{width}" height="{height}" rx="{radius}" '
        f'fill="{fill}"><title>{_e(tip)}</title></rect>'
    )


def _svg(width: int, height: int, body: str, name: str) -> str:
    return (
        f'<svg class="chart" data-chart="{_e(name)}" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


# --- funnel, conversion, cycle times -------------------------------------------------------


def _funnel(steps: Sequence[FunnelStep], playbook: Playbook, lang: str) -> str:
    if not steps or not any(step.entered for step in steps):
        return _empty(lang)
    biggest = max(step.entered for step in steps) or 1
    width, row_h, middle = 560, 46, 340
    marks = []
    for i, step in enumerate(steps):
        y = 6 + i * row_h
        w = max(2.0, 400 * step.entered / biggest)
        name = playbook.label(step.stage.title, lang, step.stage.id)
        shade = "#1a9e5f" if step.stage.outcome == "won" else _blue(i, len(steps))
        marks.append(
            f'<text x="8" y="{y + 24}" class="lbl">{_e(_short(name, 18))}</text>'
            + _mark(
                (f"{middle - w / 2:.1f}", y, f"{w:.1f}", row_h - 10, 4, shade),
                f"{name}: {step.entered:,}",
            )
            + f'<text x="{middle}" y="{y + 23}" class="inbar" text-anchor="middle">'
            f"{step.entered:,}</text>"
        )
    return _svg(width, 6 + row_h * len(steps), "".join(marks), "funnel")


def _blue(index: int, count: int) -> str:
    # From a deep to a light blue down the funnel.
    share = index / max(1, count - 1)
    red, green, blue = (int(a + (b - a) * share) for a, b in ((31, 96), (78, 150), (160, 220)))
    return f"#{red:02x}{green:02x}{blue:02x}"


def _conversion(steps: Sequence[FunnelStep], playbook: Playbook, lang: str) -> str:
    pairs = [(a, b) for a, b in itertools.pairwise(steps) if a.conversion is not None]
    if not pairs:
        return _empty(lang)
    width, row_h, label_w, bar_w = 560, 40, 210, 270
    marks = []
    for i, (step, following) in enumerate(pairs):
        y = 6 + i * row_h
        rate = float(step.conversion or 0)
        name = (
            f"{playbook.label(step.stage.title, lang, step.stage.id)} → "
            f"{playbook.label(following.stage.title, lang, following.stage.id)}"
        )
        marks.append(
            f'<text x="{label_w - 8}" y="{y + 20}" class="lbl" text-anchor="end">'
            f"{_e(_short(name, 30))}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="{row_h - 14}" rx="4" '
            'class="rail"/>'
            + _mark(
                (label_w, y + 4, f"{max(2.0, bar_w * rate):.1f}", row_h - 14, 4, "#3b6fd8"),
                f"{name}: {rate * 100:.1f}%",
            )
            + f'<text x="{label_w + bar_w + 8}" y="{y + 20}" class="val">{rate * 100:.1f}%</text>'
        )
    return _svg(width, 6 + row_h * len(pairs), "".join(marks), "conversion")


def _histogram(hist: Histogram, lang: str) -> str:
    if not hist.n or not hist.counts:
        return _empty(lang)
    width, height, left, bottom = 1100, 260, 50, 40
    plot_w, plot_h = width - left - 20, height - bottom - 20
    slot = plot_w / len(hist.counts)
    tallest = max(hist.counts) or 1
    marks = [
        f'<line x1="{left}" x2="{width - 20}" y1="{20 + plot_h}" y2="{20 + plot_h}" class="axis"/>'
    ]
    for i, count in enumerate(hist.counts):
        h = plot_h * count / tallest
        x = left + i * slot
        low, high = i * hist.width, (i + 1) * hist.width
        bar_top, bar_h = 20 + plot_h - max(h, 1), max(h, 1)
        box = (f"{x + 3:.1f}", f"{bar_top:.1f}", f"{slot - 6:.1f}", f"{bar_h:.1f}", 3, "#3b6fd8")
        marks.append(
            _mark(box, f"{low}–{high} {say('unit.days', lang)}: {count:,}")
            + f'<text x="{x + slot / 2:.1f}" y="{20 + plot_h - h - 5:.1f}" class="tick" '
            f'text-anchor="middle">{count:,}</text>'
            f'<text x="{x + slot / 2:.1f}" y="{height - 18}" class="tick" text-anchor="middle">'
            f"{low}–{high}</text>"
        )
    if hist.median is not None:
        x = left + plot_w * float(hist.median) / (len(hist.counts) * hist.width)
        marks.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="14" y2="{20 + plot_h}" class="target"/>'
            f'<text x="{x + 4:.1f}" y="12" class="tick">{_e(say("report.median", lang))} '
            f"{float(hist.median):.0f} {_e(say('unit.days', lang))}</text>"
        )
    caption = (
        f'<p class="note">{hist.n:,} {_e(say("report.deals", lang))} · '
        f"{_e(say('report.mean', lang))} "
        f"{float(hist.mean or 0):.1f} · {_e(say('report.median', lang))} "
        f"{float(hist.median or 0):.1f} {_e(say('unit.days', lang))}</p>"
    )
    axis = (
        f'<text x="{width - 20}" y="{height - 2}" class="tick" text-anchor="end">'
        f"{_e(say('unit.days', lang))}</text>"
    )
    return _svg(width, height, "".join(marks) + axis, "cycle_times") + caption


def _stuck(stuck: Sequence[StuckDeal], dash: Dashboard, lang: str) -> str:
    if not stuck:
        return f'<p class="empty">{_e(say("report.no_deals", lang))}</p>'
    playbook = dash.playbook
    longest = max(item.days_in_stage for item in stuck) or 1
    value_title = (
        playbook.label(playbook.fields[dash.value_field].title, lang, dash.value_field)
        if dash.value_field
        else say("report.value", lang)
    )
    heads = ["deal", "owner", "stage", "days_in_stage", "since_activity"]
    heads = [f"report.{key}" for key in heads]
    head = "".join(f"<th>{_e(say(key, lang))}</th>" for key in heads)
    head += f"<th>{_e(value_title)}</th><th>{_e(say('report.escalations', lang))}</th>"
    rows = []
    for item in stuck:
        share = 100 * item.days_in_stage / longest
        since = "–" if item.days_since_activity is None else f"{item.days_since_activity:,.0f}"
        value = format_value(item.value, "money", currency=playbook.currency, lang=lang)
        flag = f'<span class="flag">{item.escalations}</span>' if item.escalations else ""
        rows.append(
            f"<tr><td>{_e(item.deal.ref)}{_links(item, playbook, lang)}</td>"
            f"<td>{_e(item.deal.owner or '–')}</td>"
            f"<td>{_e(playbook.label(item.stage.title, lang, item.stage.id))}</td>"
            f'<td class="num"><div class="days"><div class="daybar" style="width:{share:.0f}%">'
            f"</div><span>{item.days_in_stage:,.0f}</span></div></td>"
            f'<td class="num">{since}</td><td class="num">{_e(value)}</td><td>{flag}</td></tr>'
        )
    return (
        f'<table class="stuck"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _links(item: StuckDeal, playbook: Playbook, lang: str) -> str:
    """The deal's links (``format: url`` fields: evidence on a drive, say), by field title."""
    rows = [row for row in field_rows(item.deal.fields, playbook, lang) if row.link]
    return "".join(f" · {link_html(row.link or '', row.title)}" for row in rows)


_CSS = (
    """
*{box-sizing:border-box}
body{margin:0;background:#f3f5f9;color:#1d2433;font-family:FONT;font-size:14px;line-height:1.45}
main{max-width:1240px;margin:0 auto;padding:28px 28px 48px}
header.top{display:flex;justify-content:space-between;align-items:flex-end;gap:24px;
 background:linear-gradient(120deg,#1f3d7a,#2f6fde);color:#fff;border-radius:14px;
 padding:26px 30px;margin-bottom:22px;box-shadow:0 6px 18px rgba(31,61,122,.25)}
.eyebrow{text-transform:uppercase;letter-spacing:.08em;font-size:12px;opacity:.8}
h1{margin:4px 0 6px;font-size:26px;font-weight:650}
.sub{opacity:.9}
.elapsed{min-width:220px;text-align:right;font-size:13px}
.track{height:8px;background:rgba(255,255,255,.25);border-radius:4px;overflow:hidden;margin-bottom:6px}
.fill{height:100%;background:#fff;border-radius:4px}
section.card{background:#fff;border-radius:12px;padding:20px 22px;margin-bottom:20px;
 box-shadow:0 1px 3px rgba(16,24,40,.08),0 1px 2px rgba(16,24,40,.04)}
h2{font-size:17px;margin:0 0 4px;font-weight:650}
p.note{color:#667085;margin:0 0 12px;font-size:13px}
p.empty{color:#98a2b3;font-style:italic;margin:16px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:20px}
.grid>section.card{margin-bottom:0}
.grid+section.card,.grid+.grid{margin-top:20px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:14px;
 margin:14px 0 18px}
.kpi{border:1px solid #e4e7ec;border-top:4px solid #3b6fd8;border-radius:10px;padding:12px 14px}
.kpi-title{color:#475467;font-size:13px;font-weight:600}
.kpi-value{font-size:21px;font-weight:700;margin:4px 0 0}
.kpi-target{color:#667085;font-size:12px;margin-bottom:8px}
.badge{display:inline-block;color:#fff;border-radius:999px;padding:1px 9px;font-size:12px;
 font-weight:600;margin:0 4px 4px 0}
figure.chart-box{margin:0;border:1px solid #eef0f4;border-radius:10px;padding:12px 12px 6px}
figcaption{font-weight:600;margin-bottom:6px;color:#344054}
svg.chart{display:block;max-width:100%;height:auto;font-family:FONT}
svg .lbl{font-size:12px;fill:#344054}
svg .val{font-size:12px;fill:#1d2433;font-weight:600}
svg .tick{font-size:11px;fill:#667085}
svg .inbar{font-size:13px;fill:#fff;font-weight:700}
svg .target{stroke:#1d2433;stroke-width:1.5;stroke-dasharray:4 3}
svg .axis{stroke:#d0d5dd}
svg .pace{stroke:#98a2b3;stroke-width:1.5;stroke-dasharray:2 3}
svg .rail{fill:#eef2f8}
table.stuck{width:100%;border-collapse:collapse;font-size:13px}
table.stuck th{text-align:left;color:#667085;font-weight:600;border-bottom:1px solid #e4e7ec;
 padding:8px 10px}
table.stuck td{border-bottom:1px solid #f0f2f5;padding:7px 10px}
table.stuck tr:hover td{background:#f8fafc}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.days{position:relative;min-width:110px;height:20px}
.daybar{position:absolute;left:0;top:3px;bottom:3px;background:#fde2e1;border-radius:3px}
.days span{position:relative;padding-right:4px}
a.link{color:#2f6fde;text-decoration:none;font-size:12px}a.link:hover{text-decoration:underline}
.flag{display:inline-block;background:#d64545;color:#fff;border-radius:999px;padding:0 8px;
 font-size:12px}
.notes ul{margin:6px 0 0;padding-left:20px;color:#475467}
@media print{body{background:#fff}header.top{box-shadow:none}
 section.card{box-shadow:none;border:1px solid #e4e7ec}}
"""
).replace("FONT", _FONT)

_SCRIPT = """
(function () {
  var charts = document.querySelectorAll('svg.chart');
  var drawn = 0;
  charts.forEach(function (svg) {
    var visible = 0;
    svg.querySelectorAll('.mark').forEach(function (mark) {
      var box = mark.getBBox();
      if (box.width > 0 && box.height > 0) { visible += 1; }
    });
    svg.setAttribute('data-rendered', String(visible));
    if (visible > 0) { drawn += 1; }
  });
  document.body.setAttribute('data-charts', String(charts.length));
  document.body.setAttribute('data-charts-drawn', String(drawn));
})();
"""
