"""``playbook validate``: check playbook files and report every problem found.

Exit codes: 0 clean, 1 problems found (errors, or warnings with ``--strict``),
2 a usage error (an unknown option, a path that does not exist).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from playbook.cli.common import command_lang, lang_option
from playbook.i18n import Message, counted, join, say

if TYPE_CHECKING:
    from playbook.definition.validate import FileResult, ValidationReport
    from playbook.model import Playbook

__all__ = ["render", "summarize", "validate"]

FORMATS = ("text", "json", "github", "sarif")


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="How to report: text for people; json, github (Actions annotations) or sarif for tools.",
)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too, not only on errors.")
@click.option(
    "--summary", is_flag=True, help="Describe each valid playbook: stages, roles, KPIs..."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the report to this file instead of the standard output.",
)
@lang_option
def validate(
    paths: Sequence[str],
    output_format: str,
    strict: bool,
    summary: bool,
    output: Path | None,
    lang: str | None,
) -> int:
    """Check playbook files (or the *.yaml files under directories) against the format.

    Every problem is reported with its file, line and column. Scenario files
    (*.test.yaml) and hidden directories are skipped.
    """
    from playbook.definition.validate import validate_paths

    report = validate_paths(paths)
    shared = _shared_playbook(report)
    # --lang (or $PLAYBOOK_LANG), else the language the files declare, valid or not.
    language = command_lang(lang or (None if shared else report.language), shared)
    color = output is None and _wants_color(sys.stdout)
    text = render(report, output_format, color=color, lang=language)
    summaries = summarize(report, language) if summary else ""
    if output_format == "text":
        text = summaries + text
    elif summaries:
        click.echo(summaries, err=True, nl=False)
    if output is None:
        click.echo(text, nl=False, color=color)
    else:
        _write(output, text)
    return report.exit_code(strict)


def _write(output: Path, text: str) -> None:
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise click.BadParameter(
            str(Message("cli.usage.cannot_write", output=output, reason=reason)),
            param_hint="--output",
        ) from error


def _wants_color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def _shared_playbook(report: ValidationReport) -> Playbook | None:
    """A valid playbook whose language every valid one shares (None: none, or mixed)."""
    valid = [f.playbook for f in report.files if f.playbook is not None]
    return valid[0] if valid and len({p.language for p in valid}) == 1 else None


def render(
    report: ValidationReport, output_format: str, *, color: bool = False, lang: str | None = None
) -> str:
    """The report in one of :data:`FORMATS` (the text summary line in ``lang``)."""
    from playbook import __version__
    from playbook.render import diagnostics as formats

    found = report.diagnostics
    lang = lang or report.language  # a Chinese playbook's problems are told in Chinese
    if output_format == "json":
        return formats.format_json(found, len(report.files), report.skipped, lang)
    if output_format == "github":
        return formats.format_github(found, lang)
    if output_format == "sarif":
        return formats.format_sarif(found, len(report.files), __version__, report.skipped, lang)
    return formats.format_text(found, report.sources, color, report.skipped, lang)


def summarize(report: ValidationReport, lang: str | None = None) -> str:
    """A few lines on each valid playbook of ``report``: what a reviewer wants to see first.

    In ``lang``; without it, each in its playbook's language.
    """
    return "".join(_summary(f, f.playbook, lang) + "\n" for f in report.files if f.playbook)


def _summary(result: FileResult, playbook: Playbook, lang: str | None) -> str:
    lang = command_lang(lang, playbook)
    won = say("outcome.won", lang)
    forward = [
        f"{s.id} ({won})" if s.outcome == "won" else s.id
        for s in playbook.stages
        if s.outcome != "lost"
    ]
    lost = join([s.id for s in playbook.stages if s.outcome == "lost"], lang, last=None)
    path = " → ".join(forward) + (say("cli.summary.lost", lang, stages=lost) if lost else "")
    numbers = {
        "field": len(playbook.fields),
        "role": len(playbook.roles),
        "action": sum(len(s.actions) for s in playbook.stages),
        "kpi": len(playbook.kpis),
        "escalation": len(playbook.escalations),
    }
    counts = join([counted(f"cli.count.{k}", n, lang) for k, n in numbers.items()], lang, None)
    title = playbook.label(playbook.title, lang)
    return (
        f"{playbook.id} v{playbook.version}: {title}  ({result.path})\n"
        f"  {say('cli.summary.stages', lang, path=path)}\n"
        f"  {counts}\n"
    )
