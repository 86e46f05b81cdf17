"""Reading files to import: refusing unusable files early, mappings, row conversion, history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from playbook.definition.files import playbook_from_text
from playbook.errors import ImportFileError, ImportRowError, MappingError
from playbook.model import Playbook
from playbook.store.importer import ImportedDeal, read_rows
from playbook.store.mapping import read_mapping

PLAYBOOK = """\
playbook: pipeline
version: 1
title: Pipeline
timezone: Asia/Shanghai
fields:
  value: {type: decimal, min: 0}
  seats: {type: integer}
  urgent: {type: boolean}
  tags: {type: list}
  product: {type: enum, values: [GTX Pro, MG Special]}
stages:
  - {id: prospecting, title: Prospecting}
  - {id: engaging, title: Engaging}
  - {id: won, title: Won, outcome: won}
  - {id: lost, title: Lost, outcome: lost}
"""

MAPPING = """\
external_id: id
owner: agent
stage:
  column: deal_stage
  values: {Prospecting: prospecting, Engaging: engaging, Won: won, Lost: lost}
stage_dates: {engaging: engage_date, won: close_date, lost: close_date}
fields:
  value: close_value
  product: {column: product, values: {GTXPro: GTX Pro}}
"""

HEADER = "id,agent,product,deal_stage,engage_date,close_date,close_value\n"


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    """A four-stage pipeline in Shanghai time."""
    return playbook_from_text(PLAYBOOK)


def _rows(
    playbook: Playbook, tmp_path: Path, body: str, mapping: str | None = MAPPING
) -> list[ImportedDeal | ImportRowError]:
    data = tmp_path / "deals.csv"
    data.write_bytes(body.encode())
    chosen = None
    if mapping is not None:
        (tmp_path / "map.yaml").write_text(mapping, encoding="utf-8")
        chosen = read_mapping(tmp_path / "map.yaml")
    return list(read_rows(playbook, data, chosen)[1])


def _day(text: str) -> datetime:
    """Midnight of ``text`` in Shanghai, in UTC."""
    return datetime.fromisoformat(f"{text}T00:00:00+08:00").astimezone(UTC)


@pytest.mark.parametrize(
    ("line", "stage", "history"),
    [
        ("A,ann,GTXPro,Prospecting,,,", "prospecting", [("prospecting", None)]),
        (
            "B,ann,GTXPro,Engaging,2016-10-20,,",
            "engaging",
            [("prospecting", "2016-10-20"), ("engaging", "2016-10-20")],
        ),
        (
            "C,ann,GTXPro,Won,2016-10-20,2017-03-01,1054",
            "won",
            [("prospecting", "2016-10-20"), ("engaging", "2016-10-20"), ("won", "2017-03-01")],
        ),
        (
            "D,ann,GTXPro,Lost,,2017-03-01,0",
            "lost",
            [("prospecting", "2017-03-01"), ("lost", "2017-03-01")],
        ),
    ],
)
def test_history_follows_the_dates(
    playbook: Playbook, tmp_path: Path, line: str, stage: str, history: list[tuple[str, str | None]]
) -> None:
    """Each stage on the way is entered at its date column; no dates means undated."""
    (deal,) = _rows(playbook, tmp_path, HEADER + line + "\n")
    assert isinstance(deal, ImportedDeal)
    assert deal.stage == stage
    assert [(s, None if at is None else at) for s, at in deal.history] == [
        (s, None if day is None else _day(day)) for s, day in history
    ]
    assert deal.fields["product"] == "GTX Pro"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("A,ann,GTXPro,Closed,,,", "'Closed' is not a stage"),
        ("A,ann,GTXPro,Won,2017-03-01,2016-01-01,5", "before the stage before it"),
        ("A,ann,GTXPro,Won,20/10/2016,2017-03-01,5", "'20/10/2016' is not a date"),
        ("A,ann,GTXPro,Won,2016-10-20,2017-03-01,lots", "close_value"),
        ("A,ann,GTXPro,Won,2016-10-20,2017-03-01,-5", "at least 0"),
        ("A,ann,Other,Won,2016-10-20,2017-03-01,5", "not one of"),
        (",ann,GTXPro,Won,2016-10-20,2017-03-01,5", "no external id"),
        ("A,ann,GTXPro,Won", "4 cells, the header has 7"),
    ],
)
def test_bad_rows_say_why(playbook: Playbook, tmp_path: Path, line: str, reason: str) -> None:
    """A bad row becomes an ImportRowError (PB612) with its line number and reason."""
    (error,) = _rows(playbook, tmp_path, HEADER + line + "\n")
    assert isinstance(error, ImportRowError)
    assert error.line == 2
    assert reason in error.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "is empty"),
        (b"\x00\x01\x02binary", "NUL bytes"),
        (b"id;stage;value\n1;lead;3\n", "delimiter: ';'"),
        (b"id\tstage\n1\tlead\n", "delimiter: '\\t'"),
        ("id,阶段\n".encode("gb18030") + b"1,\xb0\xa1\n", "not utf-8-sig text"),
        (b"x" * 70_000, "no line break"),
        (b"id,,stage\n", "has no name"),
        (b"id,stage,id\n", "twice"),
    ],
)
def test_unusable_files_are_refused_before_reading_rows(
    playbook: Playbook, tmp_path: Path, body: bytes, message: str
) -> None:
    """Binary, wrongly encoded or delimited files and bad headers raise ImportFileError."""
    data = tmp_path / "deals.csv"
    data.write_bytes(body)
    with pytest.raises(ImportFileError) as refused:
        read_rows(playbook, data)
    assert refused.value.code == "PB610"
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("mapping", "message", "hint"),
    [
        (
            MAPPING.replace("value: close_value", "valeu: close_value"),
            "no field 'valeu'",
            "'value'",
        ),
        (MAPPING.replace("value: close_value", "value: close_valeu"), "no column", "'close_value'"),
        (MAPPING.replace("Won: won", "Won: wonn"), "no stage 'wonn'", "'won'"),
        (MAPPING.replace("{GTXPro: GTX Pro}", "{GTXPro: GTX Prof}"), "not a value", "'GTX Pro'"),
        (MAPPING + "stage_dates_x: 1\n", "unknown mapping key", "'stage_dates'"),
        (MAPPING + "on_empty: clean\n", "keep or clear", "'clear'"),
        (
            MAPPING.replace("value: close_value", "value: {column: close_value, on_empty: kep}"),
            "keep or clear",
            "'keep'",
        ),
        (
            MAPPING.replace("value: close_value", "value: {column: close_value, keep_newer: true}"),
            "no `updated:` column",
            "updated",
        ),
        (MAPPING + "last_activity: {column: agent, kind: cal}\n", "no activity kind", "'call'"),
        (MAPPING + "date_formats: [iso, YYYY/MM/DD]\n", "strptime", ""),
    ],
)
def test_mappings_naming_unknown_things_are_refused(
    playbook: Playbook, tmp_path: Path, mapping: str, message: str, hint: str
) -> None:
    """Unknown fields, columns, stages and enum values raise MappingError with a did-you-mean."""
    with pytest.raises(MappingError) as refused:
        _rows(playbook, tmp_path, HEADER, mapping)
    assert refused.value.code == "PB611"
    assert message in refused.value.message
    assert hint in (refused.value.hint or "")
    assert refused.value.line is not None
    assert refused.value.line > 0


@pytest.mark.parametrize(
    ("cell", "field", "expected"),
    [
        ("1,200", "seats", 1200),
        ("yes", "urgent", True),
        ("否", "urgent", False),
        ("a; b;", "tags", ["a", "b"]),
        ("1,054.50", "value", "1054.50"),
    ],
)
def test_cells_are_read_as_their_field_type(
    playbook: Playbook, tmp_path: Path, cell: str, field: str, expected: object
) -> None:
    """Text cells become integers, booleans (also in Chinese), lists and exact decimals."""
    body = f'id,stage,{field}\nA,prospecting,"{cell}"\n'
    (deal,) = _rows(playbook, tmp_path, body, mapping=None)
    assert isinstance(deal, ImportedDeal)
    assert deal.fields[field] == expected


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("deals.jsonl", '{"id": "A", "stage": "engaging", "fields": {"value": "3.50"}}\n'),
        ("deals.json", '[{"id": "A", "stage": "engaging", "value": 3.5}]'),
    ],
)
def test_json_and_json_lines_are_read(
    playbook: Playbook, tmp_path: Path, name: str, body: str
) -> None:
    """JSON arrays and JSON Lines work with the default mapping, nested fields included."""
    data = tmp_path / name
    data.write_text(body, encoding="utf-8")
    (deal,) = read_rows(playbook, data)[1]
    assert isinstance(deal, ImportedDeal)
    assert (deal.external_id, deal.stage, deal.fields["value"]) == (
        "A",
        "engaging",
        "3.5" if name.endswith("json") else "3.50",
    )


def test_file_without_id_column_needs_a_mapping(playbook: Playbook, tmp_path: Path) -> None:
    """Without an id column a re-import could not find its deals: MappingError."""
    data = tmp_path / "deals.csv"
    data.write_text("stage,value\nwon,3\n", encoding="utf-8")
    with pytest.raises(MappingError, match="no external_id or id column"):
        read_rows(playbook, data)
