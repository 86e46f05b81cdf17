"""Commands to change a playbook safely: test, paths, diff, migrate, graph, docs, init.

Exit codes: 0 done / every scenario passed, 1 a failing scenario, coverage
below ``--min-coverage``, a stale handbook, an invalid playbook or stranded
deals, 2 bad input, 3 Graphviz or the database unavailable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from playbook.cli.common import (
    command_lang,
    db_option,
    format_option,
    lang_option,
    load_playbook,
    open_store,
    parse_now,
)
from playbook.errors import MigrationError, StoreError
from playbook.i18n import Message, join, say

if TYPE_CHECKING:
    from playbook.authoring.coverage import TestReport
    from playbook.model import Playbook
    from playbook.store.repository import DealStore

__all__ = ["diff", "docs", "graph", "init", "migrate", "paths", "test_command"]

_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _now_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--now", metavar="TIME", help="The time to evaluate at, ISO 8601 (default: the clock)."
    )(command)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def _valid_playbook(path: Path) -> Playbook:
    """The playbook at ``path``; an invalid one is reported with every error (exit 2)."""
    return load_playbook(path)[0]


# --- playbook test ------------------------------------------------------------------------


@click.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json", "junit"]), default="text"
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--coverage", "show_coverage", is_flag=True, help="List what no scenario covers.")
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 100),
    metavar="PERCENT",
    help="Fail when the coverage is below PERCENT.",
)
@lang_option
def test_command(
    paths: Sequence[Path],
    output_format: str,
    output: Path | None,
    show_coverage: bool,
    min_coverage: float | None,
    lang: str | None,
) -> int:
    """Run the scenario files (*.test.yaml) in PATHS against their playbooks."""
    from playbook.authoring.coverage import junit_xml, run_tests

    report = run_tests(paths)
    spoken_by = {coverage.language for coverage in report.coverages}
    language = command_lang(lang or (spoken_by.pop() if len(spoken_by) == 1 else None))
    if output_format == "json":
        text = json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n"
    elif output_format == "junit":
        text = junit_xml(report)
    else:
        shown = show_coverage or min_coverage is not None
        text = _test_text(report, shown, min_coverage, language)
    _emit(text, output)
    if output is not None and output_format != "text":
        click.echo(_test_summary(report, language), err=True)
    return report.exit_code(min_coverage)


def _test_text(report: TestReport, coverage: bool, min_coverage: float | None, lang: str) -> str:
    lines: list[str] = []
    for result in report.results:
        scenario = result.scenario
        status = say("cli.test.pass" if result.passed else "cli.test.fail", lang)
        lines.append(f"{status} {scenario.file}:{scenario.line} {scenario.name}")
        if not result.passed:
            lines.append(f"  {scenario.file}:{result.failed_line}: {result.failure}")
            lines.append(f"    {say('cli.test.expected', lang)}: {result.expected}")
            lines.append(f"    {say('cli.test.actual', lang)}:   {result.actual}")
    if coverage:
        lines += _coverage_lines(report, min_coverage, lang)
    lines.append(_test_summary(report, lang))
    return "\n".join(lines) + "\n"


def _coverage_lines(report: TestReport, min_coverage: float | None, lang: str) -> Iterator[str]:
    yield ""
    for coverage in report.coverages:
        parts = join(
            [
                f"{say(f'cli.coverage.{name}', lang)} {done}/{total}"
                for name, (done, total) in coverage.by_category().items()
            ],
            lang,
            last=None,
        )
        percent = f"{coverage.percent:.1f}"
        yield say(
            "cli.test.coverage", lang, file=coverage.playbook_path, percent=percent, parts=parts
        )
        for item in coverage.missing:
            where = f"{coverage.playbook_path}:{item.line}"
            category = say(f"cli.coverage.{item.category}", lang)
            yield say("cli.test.not_covered", lang, where=where, category=category, id=item.id)
    total = say("cli.test.total", lang, percent=f"{report.percent:.1f}")
    if min_coverage is not None:
        verdict = say("cli.test.ok" if report.percent >= min_coverage else "cli.test.failed", lang)
        total += say("cli.test.minimum", lang, minimum=f"{min_coverage:g}", verdict=verdict)
    yield total


def _test_summary(report: TestReport, lang: str) -> str:
    return say("cli.test.summary", lang, passed=report.passed, failed=report.failed)


# --- playbook paths -----------------------------------------------------------------------


@click.command()
@click.argument("playbook_path", type=_EXISTING_FILE)
@format_option
@click.option(
    "--write",
    "write_to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the paths as a starter scenario file here.",
)
@_now_option
@lang_option
def paths(
    playbook_path: Path,
    output_format: str,
    write_to: Path | None,
    now: str | None,
    lang: str | None,
) -> int:
    """List the shortest steps that take a new deal to each stage of PLAYBOOK_PATH.

    The steps are written in the reader's language; ``--write`` gives the scenario file.
    """
    from playbook.authoring.paths import generate_paths, starter_scenarios

    playbook = _valid_playbook(playbook_path)
    language = command_lang(lang, playbook)
    at = parse_now(now)
    found = generate_paths(playbook, at)
    if output_format == "json":
        click.echo(json.dumps([p.to_dict() for p in found], ensure_ascii=False, indent=2))
    else:
        for path in found:
            route = (
                " → ".join(path.moves) if path.reached else say("cli.paths.not_reached", language)
            )
            click.echo(f"{path.stage}: {route}")
            for step in path.steps:
                click.echo(f"  {step.describe(language)}")
    if write_to is not None:
        if write_to.exists():
            from playbook.errors import TargetExistsError

            raise TargetExistsError(
                Message("error.cli_authoring.already_exists", write_to=write_to),
                hint=Message("error.cli_authoring.choose_another_file"),
            )
        relative = os.path.relpath(playbook_path.resolve(), write_to.resolve().parent)
        write_to.write_text(starter_scenarios(playbook, found, at, str(relative)), encoding="utf-8")
        click.echo(say("cli.wrote", language, file=write_to), err=True)
    return 0 if all(p.reached for p in found) else 1


# --- playbook diff ------------------------------------------------------------------------


@click.command()
@click.argument("old_path", type=_EXISTING_FILE)
@click.argument("new_path", type=_EXISTING_FILE)
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text"
)
@db_option
@_now_option
@lang_option
def diff(
    old_path: Path,
    new_path: Path,
    output_format: str,
    url: str | None,
    now: str | None,
    lang: str | None,
) -> int:
    """Show what changes from OLD_PATH to NEW_PATH and, with --db, what it does to open deals."""
    from playbook.authoring.diff import diff_playbooks, impact_on_deals
    from playbook.render.diff import render_diff

    old, new = _valid_playbook(old_path), _valid_playbook(new_path)
    language = command_lang(lang, new)
    changes = diff_playbooks(old, new)
    impact = None
    if url is not None:
        with open_store(url) as store:
            impact = impact_on_deals(old, new, store, now=parse_now(now))
    if output_format == "json":
        data = changes.to_dict() | {"impact": impact.to_dict() if impact is not None else None}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        text = render_diff(changes, impact, output_format, _shown_url(url), language)
        click.echo(text, nl=False)
    return 0


def _shown_url(url: str | None) -> str:
    if url is None:
        return ""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:  # only for display: opening the store reports a bad URL itself
        return ""
    if parsed.drivername.startswith("sqlite"):
        return Path(parsed.database or "").name
    return parsed.render_as_string(hide_password=True)


# --- playbook migrate ---------------------------------------------------------------------


@click.command()
@click.option("--from-version", type=click.IntRange(1), required=True)
@click.option("--to-version", type=click.IntRange(1), required=True)
@click.option(
    "--playbook",
    "playbook_path",
    type=_EXISTING_FILE,
    help="The new version's file (default: that version as registered in the store).",
)
@click.option("--playbook-id", help="Which playbook, when the store has several.")
@click.option("--dry-run", is_flag=True, help="Show what would move; change nothing.")
@format_option
@click.option("--actor", default="migrate", show_default=True, help="Recorded in each history.")
@click.option(
    "--as",
    "roles",
    metavar="ROLE[,ROLE]",
    help="Your role(s); one that may override gates (overrides.roles). Not for --dry-run.",
)
@db_option
@_now_option
@lang_option
def migrate(
    from_version: int,
    to_version: int,
    playbook_path: Path | None,
    playbook_id: str | None,
    dry_run: bool,
    output_format: str,
    actor: str,
    roles: str | None,
    url: str | None,
    now: str | None,
    lang: str | None,
) -> int:
    """Move the open deals pinned to --from-version onto --to-version of their playbook.

    Only roles that may override gates may migrate (refusals are recorded);
    --dry-run needs no role.
    """
    from playbook import services
    from playbook.authoring.migrate import migrate_deals
    from playbook.values import Actor

    at = parse_now(now)
    if not dry_run and not roles:
        raise click.UsageError(str(Message("cli.usage.migrate_needs_role")))
    with open_store(url) as store:
        new = _target_version(store, playbook_path, playbook_id, to_version, at)
        if not dry_run:
            who = Actor(actor, frozenset(r.strip() for r in (roles or "").split(",") if r.strip()))
            services.authorise(
                store, new, who, "migrate", now=at, subject=f"{from_version}→{to_version}"
            )
        plan = migrate_deals(store, new, from_version, now=at, actor=actor, dry_run=dry_run)
    if output_format == "json":
        click.echo(json.dumps(plan.to_dict() | {"dry_run": dry_run}, ensure_ascii=False, indent=2))
        return 0
    language = command_lang(lang, new)
    verb = say("cli.migrate.would_move" if dry_run else "cli.migrate.moved", language)
    summary = {
        "playbook": plan.playbook_id,
        "verb": verb,
        "count": f"{len(plan.moves):,}",
        "old": plan.from_version,
        "new": plan.to_version,
    }
    click.echo(say("cli.migrate.summary", language, **summary))
    for (old, new_stage), count in sorted(plan.by_stage().items()):
        click.echo(f"  {old} → {new_stage}: {count:,}")
    return 0


def _target_version(
    store: DealStore, path: Path | None, playbook_id: str | None, version: int, now: datetime
) -> Playbook:
    from playbook.definition.files import playbook_from_text

    if path is not None:
        playbook, source = load_playbook(path)
        if playbook.version != version:
            raise MigrationError(
                Message(
                    "error.cli_authoring.version_not",
                    path=path,
                    version=playbook.version,
                    version2=version,
                ),
                hint=Message("error.cli_authoring.give_file_version_migrate"),
            )
        store.register_playbook(playbook, source, path=str(path), now=now)
        return playbook
    known = [
        (pid, v)
        for pid, v in store.playbook_versions()
        if v == version and (playbook_id is None or pid == playbook_id)
    ]
    if len(known) != 1:
        raise StoreError(
            Message(
                "error.cli_authoring.store_has_playbook_at",
                count=len(known),
                version=version,
                value=Message("error.cli_authoring.with_id", playbook_id=playbook_id)
                if playbook_id
                else "",
            ),
            hint=Message("error.cli_authoring.give_new_version_file"),
        )
    text = store.playbook_source(*known[0])
    assert text is not None
    return playbook_from_text(text, f"{known[0][0]}@{version}")


# --- playbook graph -----------------------------------------------------------------------


@click.command()
@click.argument("playbook_path", type=_EXISTING_FILE)
@click.option(
    "--format", "output_format", type=click.Choice(["mermaid", "dot", "svg"]), default="mermaid"
)
@lang_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
def graph(playbook_path: Path, output_format: str, lang: str | None, output: Path | None) -> int:
    """Draw the stage graph of PLAYBOOK_PATH with guards, roles and required actions."""
    from playbook.authoring.graph import render_graph

    playbook = _valid_playbook(playbook_path)
    language = command_lang(lang, playbook)
    _emit(render_graph(playbook, output_format, language), output)  # type: ignore[arg-type]
    return 0


# --- playbook docs ------------------------------------------------------------------------


@click.command()
@click.argument("playbook_paths", nargs=-1, required=True, type=_EXISTING_FILE)
@click.option(
    "--format", "output_format", type=click.Choice(["markdown", "html"]), default="markdown"
)
@lang_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--write", is_flag=True, help="Write each handbook next to its playbook.")
@click.option("--check", is_flag=True, help="Exit 1 when a written handbook is missing or stale.")
def docs(
    playbook_paths: Sequence[Path],
    output_format: str,
    lang: str | None,
    output: Path | None,
    write: bool,
    check: bool,
) -> int:
    """Write the rep-facing handbook (SOP) of each playbook: stages, actions, KPIs, diagram.

    With --write or --check the handbook of ``NAME.yaml`` is ``NAME.handbook.md``
    (``.html``; ``NAME.handbook.LANG.md`` with --lang) next to it, unless --output
    names it. --check with --write rewrites stale handbooks and still exits 1,
    as a pre-commit hook does.
    """
    from playbook.authoring.handbook import render_handbook

    if output is not None and len(playbook_paths) > 1:
        raise click.UsageError(str(Message("cli.usage.output_one_playbook")))
    stale: list[Path] = []
    for path in playbook_paths:
        playbook = _valid_playbook(path)
        language = command_lang(lang, playbook)
        text = render_handbook(playbook, output_format, language)  # type: ignore[arg-type]
        if not (write or check):
            _emit(text, output)
            continue
        target = output or _handbook_path(path, output_format, lang)
        if _current(target) != text:
            stale.append(target)
            if write:
                target.write_text(text, encoding="utf-8")
    for target in stale:
        shown = command_lang(lang, _valid_playbook(playbook_paths[0]))
        key = "cli.docs.rewrote" if write else "cli.docs.stale"
        click.echo(say(key, shown, file=target), err=True)
    return 1 if check and stale else 0


def _handbook_path(path: Path, output_format: str, lang: str | None) -> Path:
    suffix = ".html" if output_format == "html" else ".md"
    middle = f".handbook.{lang}" if lang else ".handbook"
    return path.with_name(path.name.rsplit(".", 1)[0] + middle + suffix)


def _current(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


# --- playbook init ------------------------------------------------------------------------


@click.command()
@click.argument("name")
@click.option(
    "--template", type=click.Choice(["b2b", "smb", "cycle"]), default="b2b", show_default=True
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Where to write the files (default: here).",
)
@lang_option
def init(name: str, template: str, directory: Path, lang: str | None) -> int:
    """Start playbook NAME (NAME.yaml) and its scenario file from a sample playbook.

    It speaks the sample playbook's language (the samples are written for a Chinese team).
    """
    from playbook.authoring.scaffold import write_scaffold

    written = write_scaffold(name, template, directory)
    language = command_lang(lang, _valid_playbook(written[0]) if written else None)
    for path in written:
        click.echo(say("cli.wrote", language, file=path))
    click.echo(say("cli.init.next", language, file=f"{name}.yaml", directory=directory))
    return 0
