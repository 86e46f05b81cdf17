"""People and API tokens in the store, on SQLite and PostgreSQL.

Tokens are checked against an independent SHA-256 of the secret the CLI would
print: the store keeps the digest, never the secret.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from playbook.errors import AuthenticationError, PersonError, PersonNotFoundError, TokenError
from playbook.store.db import Database
from playbook.store.people import (
    add_person,
    get_person,
    import_people,
    list_people,
    person_record,
    remove_person,
    set_person,
)
from playbook.store.people_file import read_people
from playbook.store.tokens import authenticate, create_token, list_tokens, revoke_token

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _add(database: Database, name: str, roles: str, **more: str) -> None:
    add_person(database, person_record({"name": name, "roles": roles, **more}), now=NOW)


def test_people_are_added_changed_listed_and_removed(database: Database) -> None:
    """Email is lower-cased and unique; set changes only what it names; remove takes tokens too."""
    _add(database, "rita", "rep", email="Rita@Example.com", team="east", language="zh")
    _add(database, "mara", "manager rep", team="east")
    with pytest.raises(PersonError, match="already the email of 'rita'"):
        _add(database, "rita2", "rep", email="rita@example.com")
    with pytest.raises(PersonError, match="already on record"):
        _add(database, "rita", "rep")
    changed = set_person(database, "rita", {"team": "west", "language": None}, now=NOW)
    assert (changed.team, changed.language, changed.email) == ("west", None, "rita@example.com")
    assert [p.name for p in list_people(database, role="manager")] == ["mara"]
    assert [p.name for p in list_people(database, team="east")] == ["mara"]
    create_token(database, "rita", now=NOW)
    remove_person(database, "rita")
    with pytest.raises(PersonNotFoundError):
        get_person(database, "rita")
    assert list_tokens(database, person="rita") == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": "x", "email": "not-an-email"}, "not an email address"),
        ({"name": "x", "roles": "Sales Rep!"}, "is not a role id"),
        ({"name": "x", "language": "fr"}, "unknown language"),
        ({"name": "x", "manager": "x"}, "their own manager"),
        ({"name": " "}, "needs a name"),
        ({"name": "x", "tema": "east"}, "did you mean 'team'"),
    ],
)
def test_bad_person_values_are_refused(values: dict[str, str], message: str) -> None:
    """Each bad value is a PersonError (PB620) saying what is wrong."""
    with pytest.raises(PersonError) as caught:
        person_record(values)
    assert message in str(caught.value)
    assert caught.value.code == "PB620"


def test_an_import_is_all_or_nothing(database: Database, tmp_path: Path) -> None:
    """A CSV with a clash on its last row changes nobody; a good file adds and updates."""
    _add(database, "ann", "rep", email="ann@example.com")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email,roles\nbob,bob@example.com,rep\ncat,ANN@example.com,rep\n", "utf-8")
    with pytest.raises(PersonError, match="already the email of 'ann'"):
        import_people(database, read_people(bad), now=NOW)
    assert [p.name for p in list_people(database)] == ["ann"]
    good = tmp_path / "good.yaml"
    good.write_text("people:\n  - {name: ann, roles: [rep, manager]}\n  - {name: bob}\n", "utf-8")
    assert import_people(database, read_people(good), now=NOW) == (1, 1)
    assert get_person(database, "ann").roles == ("manager", "rep")


def test_a_bad_row_of_a_people_file_names_its_line(tmp_path: Path) -> None:
    """The YAML line of the bad entry, and the CSV line of the bad row."""
    yaml_file = tmp_path / "p.yaml"
    yaml_file.write_text("- {name: a}\n- {name: b, language: fr}\n", "utf-8")
    with pytest.raises(PersonError) as caught:
        read_people(yaml_file)
    assert caught.value.line == 2
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("name,email\na,a@x.io\nb,nope\n", "utf-8")
    with pytest.raises(PersonError) as caught:
        read_people(csv_file)
    assert caught.value.line == 3


def test_tokens_are_stored_hashed_and_checked_at_every_request(database: Database) -> None:
    """Only sha256(secret) is kept; scopes narrow the roles; revoked and expired are refused."""
    _add(database, "mara", "manager rep")
    secret, info = create_token(database, "mara", now=NOW, scopes=("rep",))
    stored = database.engine.connect()
    try:
        digests = [row[0] for row in stored.execute(text("SELECT sha256 FROM playbook_api_tokens"))]
        everything = str(list(stored.execute(text("SELECT * FROM playbook_api_tokens"))))
    finally:
        stored.close()
    assert digests == [hashlib.sha256(secret.encode()).hexdigest()]
    assert secret not in everything
    assert secret[12:] not in everything
    assert secret.startswith("pbt_")
    assert len(secret) == 4 + 43
    assert authenticate(database, secret, now=NOW).roles == ("rep",)

    set_person(database, "mara", {"roles": "manager"}, now=NOW)  # rep taken away
    assert authenticate(database, secret, now=NOW).roles == ()

    reasons = {}
    for label, presented, at in (
        ("missing", None, NOW),
        ("unknown", secret + "x", NOW),
    ):
        with pytest.raises(AuthenticationError) as caught:
            authenticate(database, presented, now=at)
        reasons[label] = caught.value.details["reason"]
    later, _ = create_token(database, "mara", now=NOW, expires_in=timedelta(days=1))
    assert authenticate(database, later, now=NOW + timedelta(hours=23)).person.name == "mara"
    with pytest.raises(AuthenticationError) as caught:
        authenticate(database, later, now=NOW + timedelta(days=1))
    reasons["expired"] = caught.value.details["reason"]
    revoke_token(database, info.id, now=NOW)
    with pytest.raises(AuthenticationError) as caught:
        authenticate(database, secret, now=NOW)
    reasons["revoked"] = caught.value.details["reason"]
    assert reasons == {
        "missing": "missing",
        "unknown": "unknown",
        "expired": "expired",
        "revoked": "revoked",
    }
    assert caught.value.code == "PB532"


def test_a_token_cannot_carry_a_role_its_person_does_not_hold(database: Database) -> None:
    """PB622, naming the role; nothing is stored."""
    _add(database, "rita", "rep")
    with pytest.raises(TokenError, match="does not hold the role"):
        create_token(database, "rita", now=NOW, scopes=("manager",))
    assert list_tokens(database) == []
    with pytest.raises(PersonNotFoundError):
        create_token(database, "nobody", now=NOW)
