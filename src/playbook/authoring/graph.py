"""Stage diagrams: Mermaid, Graphviz DOT, and SVG through Graphviz.

Each stage is a box with its title, id, win probability, entry criteria and
required actions (with the responsible role); each allowed move is an arrow
labelled with its title, the roles that may make it and its guard. Moves to a
``lost`` stage are dashed, won stages green, lost stages red. Mermaid and DOT
are text and need nothing installed; SVG runs Graphviz's ``dot``.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from typing import Literal

from playbook.errors import GraphvizError
from playbook.i18n import Message, join, say
from playbook.model import Playbook, Stage, Transition

__all__ = ["GraphFormat", "dot_available", "render_graph", "to_dot", "to_mermaid", "to_svg"]

GraphFormat = Literal["mermaid", "dot", "svg"]

_FILL = {"open": "#ffffff", "won": "#d9f2d9", "lost": "#f9dada"}
_TIMEOUT_S = 60


def render_graph(playbook: Playbook, fmt: GraphFormat, lang: str | None = None) -> str:
    """The stage graph of ``playbook`` in ``fmt``, labels in ``lang`` (default: its language).

    Raises :class:`~playbook.errors.GraphvizError` for ``svg`` when Graphviz is
    missing or fails.
    """
    if fmt == "mermaid":
        return to_mermaid(playbook, lang)
    if fmt == "dot":
        return to_dot(playbook, lang)
    return to_svg(playbook, lang)


def stage_lines(playbook: Playbook, stage: Stage, lang: str | None) -> list[str]:
    """What a stage box says: title, id and probability, entry criteria, required actions."""
    lang = lang or playbook.language
    title = playbook.label(stage.title, lang, stage.id)
    head = f"{title} ({stage.id})"
    if stage.probability is not None:
        head += f" · {stage.probability:.0%}"
    lines = [head]
    lines += [say("graph.entry", lang, condition=item.condition.text) for item in stage.entry]
    for action in stage.actions:
        if action.optional:
            continue
        role = "/".join(_role(playbook, r, lang) for r in action.roles)
        role = role or say("common.anyone", lang)
        when = say("graph.if", lang, condition=action.when.text) if action.when else ""
        due = f", {action.due.words(lang)}" if action.due is not None else ""
        lines.append(f"☐ {playbook.label(action.title, lang, action.id)} [{role}{due}]{when}")
    return lines


def _role(playbook: Playbook, role_id: str, lang: str | None) -> str:
    role = playbook.roles.get(role_id)
    return playbook.label(role.title if role is not None else None, lang, role_id)


def _roles(playbook: Playbook, ids: Iterable[str], lang: str | None) -> str:
    return join([_role(playbook, r, lang) for r in ids], lang, last=None)


def move_label(playbook: Playbook, move: Transition, lang: str | None) -> str:
    """What an arrow says: its title, who may make it, its guard and the rules on it."""
    lang = lang or playbook.language
    parts: list[str] = []
    if move.title is not None:
        parts.append(playbook.label(move.title, lang))
    if move.roles is not None:
        parts.append(say("graph.roles", lang, roles=_roles(playbook, move.roles, lang)))
    if move.guard is not None:
        parts.append(say("graph.when", lang, condition=move.guard.text))
    for rule in playbook.rules_for(move.source, move.target):
        limit = say("graph.only", lang, roles=_roles(playbook, rule.roles, lang))
        parts.append(limit + (say("graph.if", lang, condition=rule.when.text) if rule.when else ""))
    return say("list.clause", lang).join(parts)


def _moves(playbook: Playbook) -> Iterator[tuple[Transition, bool]]:
    """Every allowed move and whether it goes to a lost stage."""
    for move in playbook.transitions:
        target = playbook.stage(move.target)
        yield move, target is not None and target.outcome == "lost"


# --- Mermaid ------------------------------------------------------------------------------


def to_mermaid(playbook: Playbook, lang: str | None = None) -> str:
    """A Mermaid ``flowchart`` of the stage graph (renders in GitHub and GitLab markdown)."""
    out = ["flowchart LR"]
    for stage in playbook.stages:
        label = "<br/>".join(_mermaid_text(line) for line in stage_lines(playbook, stage, lang))
        out.append(f'  {stage.id}["{label}"]')
    for move, to_lost in _moves(playbook):
        arrow = "-.->" if to_lost else "-->"
        label = move_label(playbook, move, lang)
        text = f'|"{_mermaid_text(label)}"|' if label else ""
        out.append(f"  {move.source} {arrow}{text} {move.target}")
    out.append("  classDef won fill:#d9f2d9,stroke:#2e7d32")
    out.append("  classDef lost fill:#f9dada,stroke:#c62828")
    for outcome in ("won", "lost"):
        ids = [s.id for s in playbook.stages if s.outcome == outcome]
        if ids:
            out.append(f"  class {','.join(ids)} {outcome}")
    return "\n".join(out) + "\n"


def _mermaid_text(text: str) -> str:
    # Mermaid reads entity codes inside quoted labels; these characters would end or
    # confuse the label otherwise.
    for raw, code in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(raw, code)
    return text


# --- Graphviz -----------------------------------------------------------------------------


def to_dot(playbook: Playbook, lang: str | None = None) -> str:
    """A Graphviz DOT digraph of the stage graph (``dot -Tsvg`` draws it)."""
    out = [
        f"digraph {_dot_id(playbook.id)} {{",
        '  graph [rankdir=LR, fontname="Noto Sans CJK SC,sans-serif"];',
        '  node [shape=box, style="rounded,filled", fontname="Noto Sans CJK SC,sans-serif", '
        "fontsize=10];",
        '  edge [fontname="Noto Sans CJK SC,sans-serif", fontsize=9];',
    ]
    for stage in playbook.stages:
        label = "".join(_dot_text(line) + "\\l" for line in stage_lines(playbook, stage, lang))
        out.append(f'  {_dot_id(stage.id)} [label="{label}", fillcolor="{_FILL[stage.outcome]}"];')
    for move, to_lost in _moves(playbook):
        attributes = [f'label="{_dot_text(move_label(playbook, move, lang))}"']
        if to_lost:
            attributes.append('style=dashed, color="#999999"')
        out.append(f"  {_dot_id(move.source)} -> {_dot_id(move.target)} [{', '.join(attributes)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_id(name: str) -> str:
    return '"' + _dot_text(name) + '"'


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def dot_available() -> bool:
    """True when Graphviz's ``dot`` is on the PATH."""
    return shutil.which("dot") is not None


def to_svg(playbook: Playbook, lang: str | None = None) -> str:
    """The stage graph as SVG, drawn by Graphviz's ``dot``.

    Raises :class:`~playbook.errors.GraphvizError` when ``dot`` is not installed
    or fails on the input.
    """
    return run_dot(to_dot(playbook, lang), "svg")


def run_dot(source: str, output: str = "svg") -> str:
    """Run ``dot -T<output>`` on ``source`` and return what it writes.

    Raises :class:`~playbook.errors.GraphvizError` when ``dot`` is missing or
    rejects the input (its message included).
    """
    program = shutil.which("dot")
    if program is None:
        raise GraphvizError(
            Message("error.graph.graphviz_not_installed_dot"),
            hint=Message("error.graph.install_graphviz_apt_get"),
        )
    try:
        done = subprocess.run(  # noqa: S603 (a fixed program; the DOT text goes to stdin)
            [program, f"-T{output}"],
            input=source,
            capture_output=True,
            text=True,
            check=False,
            timeout=_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GraphvizError(Message("error.graph.graphviz_could_not_run", error=error)) from error
    if done.returncode != 0:
        raise GraphvizError(
            Message("error.graph.graphviz_rejected_diagram", strip=done.stderr.strip()),
            details={"returncode": done.returncode},
        )
    return done.stdout


_BOX_W, _BOX_H, _GAP, _PER_ROW, _PAD = 168, 54, 36, 4, 16
_STROKE = {"open": "#4a6fa5", "won": "#2e7d32", "lost": "#c62828"}


def to_inline_svg(playbook: Playbook, lang: str | None = None) -> str:
    """A self-contained SVG of the stage path, drawn here (no Graphviz, no script).

    Open and won stages follow the forward order in rows of four, lost stages
    sit on the last row; arrows join consecutive forward stages. The output is
    deterministic, so a generated handbook is the same on every machine.
    """
    path = [s for s in playbook.stages if s.outcome != "lost"]
    lost = [s for s in playbook.stages if s.outcome == "lost"]
    rows = [path[i : i + _PER_ROW] for i in range(0, len(path), _PER_ROW)] + (
        [lost] if lost else []
    )
    width = _PAD * 2 + _PER_ROW * _BOX_W + (_PER_ROW - 1) * _GAP
    height = _PAD * 2 + len(rows) * _BOX_H + (len(rows) - 1) * _GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" font-family="sans-serif" font-size="13">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    places: dict[str, tuple[int, int]] = {}
    for r, row in enumerate(rows):
        for c, stage in enumerate(row):
            x, y = _PAD + c * (_BOX_W + _GAP), _PAD + r * (_BOX_H + _GAP)
            places[stage.id] = (x, y)
            parts.append(_svg_box(playbook, stage, x, y, lang))
    for before, after in itertools.pairwise(path):
        parts.append(_svg_arrow(places[before.id], places[after.id]))
    parts.append("</svg>")
    return "\n".join(parts)


def _svg_box(playbook: Playbook, stage: Stage, x: int, y: int, lang: str | None) -> str:
    title = _svg_escape(_fit(playbook.label(stage.title, lang, stage.id), _BOX_W - 16))
    sub = stage.id + (f" · {stage.probability:.0%}" if stage.probability is not None else "")
    return (
        f'<g><rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="8" '
        f'fill="{_FILL[stage.outcome]}" stroke="{_STROKE[stage.outcome]}" stroke-width="1.5"/>'
        f'<text x="{x + _BOX_W // 2}" y="{y + 23}" text-anchor="middle" font-weight="bold">'
        f"{title}</text>"
        f'<text x="{x + _BOX_W // 2}" y="{y + 42}" text-anchor="middle" fill="#555" '
        f'font-size="11">{_svg_escape(_fit(sub, _BOX_W - 16))}</text></g>'
    )


def _svg_arrow(start: tuple[int, int], end: tuple[int, int]) -> str:
    (x1, y1), (x2, y2) = start, end
    if y1 == y2:  # same row: left to right
        points = f"{x1 + _BOX_W},{y1 + _BOX_H // 2} {x2},{y2 + _BOX_H // 2}"
    else:  # wrap to the next row: down, back left, down
        mid = y1 + _BOX_H + _GAP // 2
        points = (
            f"{x1 + _BOX_W // 2},{y1 + _BOX_H} {x1 + _BOX_W // 2},{mid} "
            f"{x2 + _BOX_W // 2},{mid} {x2 + _BOX_W // 2},{y2}"
        )
    return (
        f'<polyline points="{points}" fill="none" stroke="#555" stroke-width="1.5" '
        'marker-end="url(#arrow)"/>'
    )


def _fit(text: str, width_px: int) -> str:
    """``text`` cut with an ellipsis to about ``width_px`` (wide characters count double)."""
    used, out = 0.0, list[str]()
    for char in text:
        used += 13.0 if ord(char) > 0x2E7F else 7.2
        if used > width_px:
            return "".join(out).rstrip() + "…"
        out.append(char)
    return text


def _svg_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
