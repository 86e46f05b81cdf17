"""``playbook init``: a new playbook and its scenario file, started from a sample.

The templates are the sample playbooks shipped in the package
(``playbook/templates``, byte for byte the files of the repository's
``playbooks/`` folder): ``b2b`` (project sales), ``smb`` (inbound funnel with
nurture) and ``cycle`` (seven stages with KPIs). The copy gets the new id and
version 1 (older versions' migrations do not apply to it), its scenario file
points at it, and the result is validated before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from playbook.definition.validate import validate_text
from playbook.errors import PlaybookError, TargetExistsError
from playbook.i18n import Message

__all__ = ["TEMPLATES", "Scaffold", "render_scaffold", "write_scaffold"]

TEMPLATES: dict[str, str] = {
    "b2b": "b2b-project-sales",
    "smb": "smb-standard-funnel",
    "cycle": "sales-cycle-kpis",
}
"""Template name -> the sample playbook it copies."""

_ID = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class Scaffold:
    """The two files ``playbook init`` writes: the playbook and its scenario file."""

    playbook_name: str
    playbook_text: str
    scenarios_name: str
    scenarios_text: str


def render_scaffold(name: str, template: str = "b2b") -> Scaffold:
    """The texts of playbook ``name`` and its scenario file, from ``template``.

    Raises :class:`~playbook.errors.PlaybookError` for a name that is not a
    playbook id or an unknown template.
    """
    if not _ID.match(name):
        raise PlaybookError(
            Message("error.scaffold.not_playbook_id", name=name),
            hint=Message("error.scaffold.use_lowercase_letters_digits"),
        )
    sample = TEMPLATES.get(template)
    if sample is None:
        raise PlaybookError(
            Message("error.scaffold.unknown_template", template=template),
            hint=Message("error.scaffold.use_one", names=TEMPLATES),
        )
    playbook = _renamed(_template(f"{sample}.yaml"), name)
    scenarios = _template(f"{sample}.test.yaml").replace(
        f"playbook: {sample}.yaml", f"playbook: {name}.yaml"
    )
    checked = validate_text(playbook, f"{name}.yaml")
    assert checked.ok, checked.diagnostics  # the templates are tested to stay valid
    return Scaffold(f"{name}.yaml", playbook, f"{name}.test.yaml", scenarios)


def write_scaffold(name: str, template: str, directory: Path) -> list[Path]:
    """Write ``NAME.yaml`` and ``NAME.test.yaml`` into ``directory``; return their paths.

    Raises :class:`~playbook.errors.TargetExistsError` (before writing anything)
    when either file exists.
    """
    scaffold = render_scaffold(name, template)
    targets = [
        (directory / scaffold.playbook_name, scaffold.playbook_text),
        (directory / scaffold.scenarios_name, scaffold.scenarios_text),
    ]
    for path, _ in targets:
        if path.exists():
            raise TargetExistsError(
                Message("error.scaffold.already_exists", path=path),
                hint=Message("error.scaffold.choose_another_name_remove"),
            )
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in targets:
        path.write_text(text, encoding="utf-8")
    return [path for path, _ in targets]


def _template(file: str) -> str:
    return resources.files("playbook").joinpath("templates", file).read_text(encoding="utf-8")


def _renamed(text: str, name: str) -> str:
    text = re.sub(r"^playbook: .*$", f"playbook: {name}", text, count=1, flags=re.M)
    text = re.sub(r"^version: \d+$", "version: 1", text, count=1, flags=re.M)
    return _without_migrations(text)


def _without_migrations(text: str) -> str:
    """The text without its top-level ``migrations`` section and the comment just above it."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("migrations:")), None)
    if start is None:
        return text
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " #-"):
        end += 1
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    return "".join(lines[:start] + lines[end:]).rstrip("\n") + "\n"
