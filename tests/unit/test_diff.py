"""Structural diff of two versions of a playbook."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbook.authoring.diff import diff_playbooks, migrated_stage
from playbook.definition.validate import load
from playbook.errors import DiffError
from playbook.render.diff import render_diff

REPO = Path(__file__).resolve().parents[2]
MAVEN = REPO / "examples" / "maven-crm"


def test_maven_v2_changes() -> None:
    """The example's version 2: each change is listed with what changed in it."""
    diff = diff_playbooks(load(MAVEN / "playbook.yaml"), load(MAVEN / "playbook-v2.yaml"))
    found = {(c.kind, c.area, c.id): c.details for c in diff.changes}
    assert (
        found.items()
        >= {
            ("changed", "version", "maven-crm"): ("1 → 2",),
            ("changed", "stage", "engaging"): ("probability 0.4 → 0.5",),
            ("added", "entry criterion of engaging", "account_known"): ("condition has(account)",),
            ("added", "action of engaging", "product_demo"): (
                "role sales_agent",
                "due 10 working days",
            ),
            ("added", "escalation", "idle_prospect"): (
                "trigger since_last_activity 14 days",
                "stages prospecting",
                "levels owner after 0 days",
            ),
        }.items()
    )
    assert len(found) == 5


@pytest.mark.parametrize(
    ("old_text", "new_text", "expected"),
    [
        (
            "entry: ['amount > 0']",
            "entry: ['amount > 10']",
            ("changed", "entry criterion of b", "entry[0]"),
        ),
        ("entry: ['amount > 0']", "entry: []", ("removed", "entry criterion of b", "entry[0]")),
        ("probability: 0.5", "probability: 0.6", ("changed", "stage", "b")),
        ("outcome: open", "roles: [rep]", ("changed", "stage", "b")),
    ],
)
def test_stage_changes(
    make_playbook, old_text: str, new_text: str, expected: tuple[str, ...]
) -> None:  # type: ignore[no-untyped-def]
    """Criteria and stage attributes are compared one by one."""
    template = """
    playbook: p
    version: {version}
    title: P
    roles: {{rep: {{title: Rep}}}}
    fields: {{amount: {{type: decimal}}}}
    stages:
      - {{id: a, title: A}}
      - {{id: b, title: B, {extra}}}
      - {{id: won, title: Won, outcome: won}}
    """
    old = make_playbook(template.format(version=1, extra=old_text))
    new = make_playbook(template.format(version=2, extra=new_text))
    kinds = {(c.kind, c.area, c.id) for c in diff_playbooks(old, new).changes}
    assert expected in kinds


def test_different_playbooks_cannot_be_compared() -> None:
    """Two playbook ids: a DiffError naming both."""
    with pytest.raises(DiffError) as caught:
        diff_playbooks(
            load(REPO / "playbooks" / "b2b-project-sales.yaml"), load(MAVEN / "playbook.yaml")
        )
    assert caught.value.details == {"old": "b2b-project-sales", "new": "maven-crm"}


def test_migrated_stage_follows_the_declared_mapping(make_playbook) -> None:  # type: ignore[no-untyped-def]
    """A deal's stage maps through the new version's migration, else keeps its id."""
    old = make_playbook("""
    playbook: p
    version: 1
    title: P
    stages: [{id: a, title: A}, {id: old_q, title: Q}, {id: won, title: W, outcome: won}]
    """)
    new = make_playbook("""
    playbook: p
    version: 2
    title: P
    stages: [{id: a, title: A}, {id: new_q, title: New Q}, {id: won, title: W, outcome: won}]
    migrations: [{from: 1, stages: {old_q: new_q}}]
    """)
    assert [migrated_stage(old, new, s) for s in ("a", "old_q", "won", "gone")] == [
        "a",
        "new_q",
        "won",
        None,
    ]


def test_markdown_is_a_table() -> None:
    """The markdown form is a table of changes, one row each, ready for a pull request."""
    diff = diff_playbooks(load(MAVEN / "playbook.yaml"), load(MAVEN / "playbook-v2.yaml"))
    text = render_diff(diff, None, "markdown")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + len(diff.changes)
    assert "| + | action of engaging `product_demo` |" in text


def test_notification_sinks_are_compared_without_their_secrets() -> None:
    """Sinks added, removed and changed; a webhook shows its host, never its path or query."""
    from playbook.definition.validate import load_text

    base = (MAVEN / "playbook.yaml").read_text(encoding="utf-8")
    old = load_text(
        base + "\nnotifications:\n  audit: jsonl:a.jsonl\n"
        "  chat: https://hooks.slack.com/services/T1/B2/old-secret\n"
    )
    new = load_text(
        base.replace("version: 1", "version: 2", 1)
        + "\nnotifications:\n  chat: webhook:https://hooks.slack.com/services/T1/B2/new-secret\n"
        "  mail: smtp://mail.example.com:25?from=a@example.com&to=b@example.com\n"
    )
    found = {(c.kind, c.area, c.id): c.details for c in diff_playbooks(old, new).changes}
    assert found[("removed", "notification sink", "audit")] == ()
    assert found[("changed", "notification sink", "chat")] == (
        "sink https://hooks.slack.com/… → webhook:https://hooks.slack.com/…",
    )
    # SMTP credentials come from the environment: the addresses are what a reviewer checks.
    assert found[("added", "notification sink", "mail")] == (
        "sink smtp://mail.example.com:25?from=a@example.com&to=b@example.com",
    )
    assert "secret" not in render_diff(diff_playbooks(old, new), None, "markdown")
