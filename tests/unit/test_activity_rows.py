"""Reading activity rows: durations, phone numbers, keys, and the activity mapping's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbook.errors import ActivityMappingError, PresetNotFoundError
from playbook.store.activity_mapping import read_activity_mapping
from playbook.store.activity_rows import match_value, read_duration, read_raw


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("185", 185),
        ("３:２０", 200),
        ("3:20", 200),
        ("1:02:03", 3723),
        ("3分20秒", 200),
        ("３分２０秒", 200),
        ("45秒", 45),
        ("1小时2分", 3720),
        ("2分钟", 120),
        (" 60 ", 60),
    ],
)
def test_durations_in_every_written_form(text: str, seconds: int) -> None:
    assert read_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "3:", "分秒", "1.5", "-3"])
def test_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        read_duration(text)
    assert str(caught.value) == text


@pytest.mark.parametrize(
    ("text", "how", "expected"),
    [
        ("+86 138-0013-8001", "phone", "13800138001"),
        ("0086 13800138001", "phone", "13800138001"),
        ("１３８００１３８００１", "phone", "13800138001"),
        ("021-6215-0003", "phone", "02162150003"),
        ("8613800138001", "phone", "13800138001"),
        ("  Zhang Wei ", "text", "zhang wei"),
        ("ＡＢＣ公司", "text", "abc公司"),
    ],
)
def test_values_are_compared_in_one_form(text: str, how: str, expected: str) -> None:
    assert match_value(text, how) == expected


def _mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_row_without_an_id_is_keyed_by_all_its_cells(tmp_path: Path) -> None:
    mapping = read_activity_mapping(
        _mapping(tmp_path, "deal: {external_id: 商机}\nkind: call\nat: 时间\n")
    )
    header = ["商机", "时间", "备注"]
    resolved = mapping.resolve(header)
    one = read_raw(mapping, resolved, header, 2, {"商机": "D-1", "时间": "2026-11-01", "备注": "a"})
    same = read_raw(
        mapping, resolved, header, 9, {"商机": "D-1", "时间": "2026-11-01", "备注": "a"}
    )
    other = read_raw(
        mapping, resolved, header, 3, {"商机": "D-1", "时间": "2026-11-01", "备注": "b"}
    )
    assert one.key == same.key
    assert one.key != other.key
    assert one.key.startswith("sha256:")


def test_full_width_headers_match_the_mapping(tmp_path: Path) -> None:
    mapping = read_activity_mapping(
        _mapping(tmp_path, "id: ID\ndeal: {external_id: 编号}\nkind: call\nat: 时间(本地)\n")
    )
    assert mapping.resolve(["ID", "编号", "时间（本地）"])["时间(本地)"] == "时间（本地）"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("deal: {external_id: a}\nkind: call\n", 1),  # no at:
        ("deal: {external_id: a}\nkind: call\nat: t\nwhen: x\n", 4),  # unknown key
        ("deal: {column: a}\nkind: call\nat: t\n", 1),  # a matcher without field:
        ("deal: {column: a, field: f, match: fuzzy}\nkind: call\nat: t\n", 1),
    ],
)
def test_a_bad_activity_mapping_is_pb655_at_its_line(tmp_path: Path, text: str, line: int) -> None:
    with pytest.raises(ActivityMappingError) as caught:
        read_activity_mapping(_mapping(tmp_path, text))
    assert caught.value.code == "PB655"
    assert caught.value.line == line


def test_a_column_the_file_lacks_is_pb655_with_a_did_you_mean(tmp_path: Path) -> None:
    mapping = read_activity_mapping(
        _mapping(tmp_path, "deal: {external_id: 商机编号}\nkind: call\nat: 时间\n")
    )
    with pytest.raises(ActivityMappingError) as caught:
        mapping.resolve(["商机编码", "时间"])
    assert caught.value.line == 1
    assert "商机编码" in (caught.value.hint or "")


def test_an_unknown_preset_is_pb656() -> None:
    with pytest.raises(PresetNotFoundError):
        read_activity_mapping("preset:nope")
