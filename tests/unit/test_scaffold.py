"""``playbook init``: templates are the samples, and what it writes validates and passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbook.authoring.coverage import run_tests
from playbook.authoring.scaffold import TEMPLATES, render_scaffold, write_scaffold
from playbook.definition.validate import load
from playbook.errors import PlaybookError, TargetExistsError

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = REPO / "src" / "playbook" / "templates"


@pytest.mark.parametrize("sample", sorted(TEMPLATES.values()))
@pytest.mark.parametrize("suffix", [".yaml", ".test.yaml"])
def test_templates_are_the_samples(sample: str, suffix: str) -> None:
    """The copies shipped in the package are byte for byte the repository's sample files."""
    shipped = (TEMPLATE_DIR / f"{sample}{suffix}").read_bytes()
    assert shipped == (REPO / "playbooks" / f"{sample}{suffix}").read_bytes()


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_scaffold_validates_and_its_scenarios_pass(tmp_path: Path, template: str) -> None:
    """The new playbook has the new id, version 1, no migrations; its scenarios cover it all."""
    written = write_scaffold("acme-sales", template, tmp_path)
    assert [p.name for p in written] == ["acme-sales.yaml", "acme-sales.test.yaml"]
    playbook = load(written[0])
    assert (playbook.id, playbook.version, playbook.migrations) == ("acme-sales", 1, ())
    report = run_tests([tmp_path])
    assert report.failed == 0
    assert report.percent == 100.0


def test_existing_files_are_not_overwritten(tmp_path: Path) -> None:
    """A second init with the same name writes nothing and says which file exists."""
    write_scaffold("acme", "smb", tmp_path)
    before = (tmp_path / "acme.yaml").read_text(encoding="utf-8")
    with pytest.raises(TargetExistsError):
        write_scaffold("acme", "b2b", tmp_path)
    assert (tmp_path / "acme.yaml").read_text(encoding="utf-8") == before


@pytest.mark.parametrize(("name", "template"), [("Acme Sales", "b2b"), ("acme", "enterprise")])
def test_bad_names_and_templates(name: str, template: str) -> None:
    """A name that is not a playbook id, or an unknown template, is refused."""
    with pytest.raises(PlaybookError):
        render_scaffold(name, template)
