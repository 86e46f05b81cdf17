"""The ``playbook`` command line: the only place that prints or exits.

Each command parses its arguments, calls the library, renders the result and
returns an exit code. Subcommands are imported lazily so that
``playbook validate`` never pays for the database layer or the engine.

Exit codes: 0 clean/allowed, 1 problems found/blocked, 2 bad input or usage,
3 fatal (environment), 70 internal error (a bug: please report it).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from playbook.cli.common import chosen_lang, error_lang, forget_lang, print_error
from playbook.errors import PlaybookError
from playbook.i18n import say

__all__ = ["cli", "main"]

# command name -> "module:attribute", imported only when the command runs
_COMMANDS: dict[str, str] = {
    "activate": "playbook.cli.activate:activate",
    "activities": "playbook.cli.activities:activities",
    "actions": "playbook.cli.actions:actions",
    "approvals": "playbook.cli.approvals:approvals",
    "audit": "playbook.cli.audit:audit",
    "db": "playbook.cli.db:db",
    "deals": "playbook.cli.deals:deals",
    "validate": "playbook.cli.validate:validate",
    "check": "playbook.cli.check:check",
    "next": "playbook.cli.check:next_command",
    "decide": "playbook.cli.decide:decide",
    "sweep": "playbook.cli.escalations:sweep",
    "escalations": "playbook.cli.escalations:escalations",
    "worker": "playbook.cli.escalations:worker",
    "kpi": "playbook.cli.kpi:kpi",
    "review": "playbook.cli.kpi:review",
    "test": "playbook.cli.authoring:test_command",
    "paths": "playbook.cli.authoring:paths",
    "diff": "playbook.cli.authoring:diff",
    "migrate": "playbook.cli.authoring:migrate",
    "graph": "playbook.cli.authoring:graph",
    "docs": "playbook.cli.authoring:docs",
    "init": "playbook.cli.authoring:init",
    "people": "playbook.cli.people:people",
    "tokens": "playbook.cli.people:tokens",
    "serve": "playbook.cli.serve:serve",
}

INTERNAL_ERROR_EXIT = 70


def _importable(target: str) -> bool:
    return importlib.util.find_spec(target.split(":")[0]) is not None


class _LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        # A command whose module is not installed (an optional part) is not listed.
        present = {name for name, target in _COMMANDS.items() if _importable(target)}
        return sorted({*super().list_commands(ctx), *present})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="playbook", prog_name="playbook")
def cli() -> None:
    """Validate sales playbooks and enforce them on deals."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (``python -m playbook`` and the console script)."""
    args = list(sys.argv[1:] if argv is None else argv)
    forget_lang()
    try:
        result: Any = cli.main(args=args, prog_name="playbook", standalone_mode=False)
    except PlaybookError as error:
        print_error(error, error_lang())
        return error.exit_code
    except click.exceptions.Exit as stop:
        return stop.exit_code
    except click.Abort:
        click.echo(say("cli.aborted", chosen_lang()), err=True)
        return 130
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except KeyboardInterrupt:
        click.echo(say("cli.interrupted", chosen_lang()), err=True)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as error:  # the last line of defence: no traceback for users
        if os.environ.get("PLAYBOOK_DEBUG"):
            raise
        what = f"{error.__class__.__name__}: {error}"
        click.secho(say("cli.internal_error", chosen_lang(), error=what), fg="red", err=True)
        return INTERNAL_ERROR_EXIT
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point: exit with :func:`main`'s code."""
    sys.exit(main())
