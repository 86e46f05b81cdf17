"""``playbook check`` and ``playbook next``: ask the engine about one deal, without a database.

``check`` prints whether a deal may move to a stage and every reason it may
not; ``next`` prints what the deal's owner must do next. Both read the deal
from a JSON file (the form documented in ``docs/embedding.md``; ``-`` reads
standard input) and never touch the deal store.

Exit codes: ``check`` 0 allowed, 1 blocked; both 2 on bad input (a playbook
that does not validate, a deal that is not valid JSON or does not fit the
playbook, an unknown stage or role).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from playbook.cli.common import (
    chosen_lang,
    command_lang,
    lang_option,
    load_playbook,
    options,
    parse_actor,
    parse_now,
    playbook_option,
    print_error,
)
from playbook.errors import DealError, PlaybookError
from playbook.i18n import Message, join, say

if TYPE_CHECKING:
    from playbook.model import Playbook
    from playbook.runtime.deals import DealState
    from playbook.runtime.decisions import Decision, NextSteps, Reason
    from playbook.runtime.engine import Engine
    from playbook.values import Actor

__all__ = [
    "check",
    "deal_option",
    "fail",
    "load_deal_file",
    "next_command",
    "parse_actor",
    "parse_now",
    "render_decision",
    "render_next_steps",
]

FORMATS = ("text", "json")


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What both commands read before asking the engine anything."""

    engine: Engine
    deal: Any
    now: datetime
    lang: str


# --- the commands ------------------------------------------------------------------------


deal_option = click.option(
    "--deal",
    "deal_path",
    required=True,
    type=click.Path(allow_dash=True, dir_okay=False, path_type=Path),
    help="The deal as JSON (see docs/embedding.md); - reads standard input.",
)
"""``--deal FILE``: the deal as JSON (``-``: standard input), for the commands without a store."""

_common = options(
    playbook_option("The playbook file (YAML).", required=True),
    deal_option,
    click.option(
        "--as",
        "roles",
        metavar="ROLE[,ROLE]",
        help="The roles of who asks; without it, role rules are not checked.",
    ),
    click.option("--actor", "actor_id", default="cli", show_default=True, help="Who asks."),
    click.option(
        "--now",
        metavar="ISO",
        help="The time to decide at (default: now); without an offset, in the playbook's timezone.",
    ),
    click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        default="text",
        show_default=True,
    ),
    lang_option,
)
"""The options ``check`` and ``next`` share."""


def _asking(command: Callable[..., int]) -> Callable[..., int]:
    """Hand ``command`` the shared options read into one :class:`_Inputs`; bad input exits 2."""

    @functools.wraps(command)
    def run(
        *,
        playbook_path: Path,
        deal_path: Path,
        roles: str | None,
        actor_id: str,
        now: str | None,
        output_format: str,
        lang: str | None,
        **own: Any,
    ) -> int:
        inputs: _Inputs | None = None
        try:
            inputs = _read_inputs(playbook_path, deal_path, now, lang)
            actor = parse_actor(actor_id, roles)
            return command(inputs, actor, output_format, **own)
        except _Reported as stop:
            return stop.exit_code
        except PlaybookError as error:
            # Once the playbook is read, its language (or --lang) tells the error too.
            return _fail(error, output_format, inputs.lang if inputs is not None else chosen_lang())

    return run


@click.command("check")
@_common
@click.option("--to", "to_stage", required=True, metavar="STAGE", help="The target stage.")
@_asking
def check(inputs: _Inputs, actor: Actor, output_format: str, to_stage: str) -> int:
    """Say whether a deal may move to a stage, and every reason it may not.

    Exit 0 when the move is allowed, 1 when it is blocked, 2 on bad input.
    """
    decision = inputs.engine.check(inputs.deal, to_stage, actor=actor, now=inputs.now)
    text = render_decision(decision, inputs.engine.playbook, output_format, inputs.lang, actor)
    click.echo(text, nl=False)
    return 0 if decision.allowed else 1


@click.command("next")
@_common
@_asking
def next_command(inputs: _Inputs, actor: Actor, output_format: str) -> int:
    """Say what the owner of a deal must do next: open actions, missing fields, moves.

    Exit 0, or 2 on bad input.
    """
    steps = inputs.engine.next_steps(inputs.deal, now=inputs.now, actor=actor)
    click.echo(render_next_steps(steps, inputs.engine, output_format, inputs.lang), nl=False)
    return 0


# --- reading the inputs ------------------------------------------------------------------


class _Reported(Exception):
    """The problem has been printed already; stop with this exit code."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(exit_code)
        self.exit_code = exit_code


def _read_inputs(
    playbook_path: Path, deal_path: Path, now: str | None, lang: str | None
) -> _Inputs:
    from playbook.runtime.deals import as_deal
    from playbook.runtime.engine import Engine

    model = _load_playbook(playbook_path)
    language = command_lang(lang, model)
    engine = Engine(model)
    # Read and check the deal here, so that a bad deal is reported before anything else.
    deal = as_deal(_read_deal(deal_path), model)
    return _Inputs(engine, deal, parse_now(now, engine.calendar.timezone), language)


def _load_playbook(path: Path) -> Playbook:
    return load_playbook(path)[0]


def _read_deal(path: Path) -> Any:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DealError(
            Message("error.cli_check.cannot_read_deal_file", error=error), file=str(path)
        ) from error
    try:
        # Decimal keeps money exact: 0.1 stays 0.1, not 0.1000000000000000055...
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise DealError(
            Message("error.cli_check.deal_not_valid_json", msg=error.msg),
            file=str(path),
            line=error.lineno,
            column=error.colno,
            hint=Message("error.cli_check.see_deal_json_form"),
        ) from error


def load_deal_file(playbook_path: Path, deal_path: Path) -> tuple[Playbook, DealState]:
    """The playbook at ``playbook_path`` and the deal of the JSON file ``deal_path``, checked."""
    from playbook.runtime.deals import as_deal

    model = _load_playbook(playbook_path)
    return model, as_deal(_read_deal(deal_path), model)


def fail(error: PlaybookError, output_format: str, lang: str | None) -> int:
    """Print ``error`` (as JSON or text in ``lang``) and return its exit code."""
    return _fail(error, output_format, lang)


def _fail(error: PlaybookError, output_format: str, lang: str | None) -> int:
    if output_format == "json":
        click.echo(json.dumps({"error": error.to_dict(lang)}, ensure_ascii=False, indent=2))
    else:
        print_error(error, lang)
    return error.exit_code


# --- rendering ---------------------------------------------------------------------------


def render_decision(
    decision: Decision,
    model: Playbook,
    output_format: str,
    lang: str,
    actor: Actor | None = None,
) -> str:
    """The decision as JSON, or as readable text in ``lang``."""
    if output_format == "json":
        data = {
            "playbook": model.key,
            "actor": actor.to_dict() if actor is not None else None,
            "roles_checked": actor is not None,
            **decision.to_dict(lang),
        }
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    verdict = say("cli.allowed" if decision.allowed else "cli.blocked", lang)
    lines = [f"{decision.deal_id}: {decision.from_stage} → {decision.to_stage}  {verdict}"]
    for reason in decision.reasons:
        lines.extend(_reason_lines(reason, model, lang))
    if decision.overridable:
        lines.append(say("cli.overridable", lang, roles=", ".join(model.override_roles)))
    if actor is None:
        lines.append(say("cli.no_roles", lang))
    return "\n".join(lines) + "\n"


def _reason_lines(reason: Reason, model: Playbook, lang: str) -> list[str]:
    where = f"{model.source}:{reason.line}" if model.source and reason.line else ""
    lines = [
        f"  ✗ {reason.code} {reason.text(lang)}",
        f"      {say('cli.rule', lang)}: {reason.rule}" + (f" ({where})" if where else ""),
    ]
    if reason.failed:
        lines.append(f"      {say('cli.failed', lang)}: {', '.join(reason.failed)}")
    if reason.values:
        shown = ", ".join(f"{k} = {_shown(v, lang, model, k)}" for k, v in reason.values.items())
        lines.append(f"      {say('cli.values', lang)}: {shown}")
    return lines


def _shown(value: Any, lang: str, model: Playbook, field_id: str) -> str:
    """A field's value as the reader reads it: an enum value by its title, else as JSON."""
    from playbook.values import is_empty, to_json_value

    if is_empty(value):
        return say("cli.empty", lang)
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return str(value)
    spec = model.fields.get(field_id)
    if spec is not None and spec.value_titles:
        return model.value_label(field_id, value, lang)
    return json.dumps(to_json_value(value), ensure_ascii=False)


def render_next_steps(steps: NextSteps, engine: Engine, output_format: str, lang: str) -> str:
    """The next steps as JSON, or as readable text in ``lang``."""
    model = engine.playbook
    if output_format == "json":
        data = {"playbook": model.key, **steps.to_dict(lang)}
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    stage = model.stage(steps.stage)
    title = model.label(stage.title if stage else None, lang, steps.stage)
    lines = [say("cli.in_stage", lang, deal=steps.deal_id, stage=f"{title} ({steps.stage})")]
    lines.extend(_action_lines(steps, engine, lang))
    for missing in steps.missing_for_next:
        lines.append(say("cli.missing", lang, stage=missing.titles[lang]))
        if missing.fields:
            names = ", ".join(_field_name(model, name, lang) for name in missing.fields)
            lines.append("  " + say("cli.fill_in", lang, fields=names))
        lines.extend(f"  - {reason.code} {reason.text(lang)}" for reason in missing.failing)
    lines.extend(_move_lines(steps, lang))
    return "\n".join(lines) + "\n"


def _field_name(model: Playbook, name: str, lang: str) -> str:
    spec = model.fields.get(name)
    title = model.label(spec.title if spec else None, lang, name)
    return title if title == name else f"{title} ({name})"


def _action_lines(steps: NextSteps, engine: Engine, lang: str) -> list[str]:
    if not steps.open_actions:
        return [say("cli.no_open_actions", lang)]
    from playbook.runtime.decisions import format_local_time

    lines = [say("cli.open_actions", lang)]
    for item in steps.open_actions:
        roles = join([_role_name(engine.playbook, r, lang) for r in item.action.roles], lang, None)
        line = f"  - {item.titles[lang]} [{item.action.id}] ({roles})"
        if item.due is not None:
            due = format_local_time(item.due, engine.calendar.timezone)
            line += "  " + say("cli.overdue" if item.overdue else "cli.due", lang, due=due)
        lines.append(line)
    return lines


def _role_name(model: Playbook, role_id: str, lang: str) -> str:
    role = model.roles.get(role_id)
    return model.label(role.title if role is not None else None, lang, role_id)


def _move_lines(steps: NextSteps, lang: str) -> list[str]:
    if not steps.available:
        return [say("cli.no_moves", lang)]
    lines = [say("cli.moves", lang)]
    for move in steps.available:
        mark = "✓" if move.allowed else "✗"
        codes = sorted({reason.code for reason in move.reasons})
        line = f"  {mark} {move.target} ({move.titles[lang]})"
        lines.append(line + (f"  {' '.join(codes)}" if codes else ""))
    return lines
