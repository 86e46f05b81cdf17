"""Every error and diagnostic speaks every language of the catalogue.

Messages are catalogue keys (:class:`playbook.i18n.Message`), never sentences
written at the raise site: a source scan keeps it that way. Errors keep their
English ``message`` and ``str()`` (callers match them), tell their text in any
language, carry an HTTP status for embedders, and survive pickling.
"""

from __future__ import annotations

import ast
import copy
import inspect
import pickle
import re
import string
from pathlib import Path
from typing import Any

import pytest

from playbook import errors
from playbook.diagnostics import Diagnostic
from playbook.errors import InvalidPlaybookError, MoveBlockedError, PlaybookError
from playbook.i18n import LANGUAGES, Items, Message, Translated, catalogue, say

SRC = Path(__file__).resolve().parents[2] / "src" / "playbook"

# Raised with a sentence of their own, on purpose: programming errors (a bug in
# the caller's code, never a user's input) and Python protocols.
INTERNAL = {
    ("__init__.py", "AttributeError"),  # module __getattr__ of the lazy public API
    ("i18n/message.py", "AttributeError"),  # messages are immutable
    ("i18n/texts.py", "KeyError"),  # a key our code names is missing: a bug
    ("conditions/visit.py", "TypeError"),  # a visitor handed something not a condition
    ("runtime/engine.py", "AssertionError"),
    ("values.py", "TypeError"),
    ("pipeline.py", "AssertionError"),  # FrozenMap is read-only (a Python protocol)
    ("runtime/calendar.py", "ValueError"),  # next_working_day(count < 1)
    ("render/kpi_formats.py", "ValueError"),  # html without its dashboard
    ("store/exporter.py", "ValueError"),  # a format the CLI's choices never pass
    ("store/models.py", "ValueError"),  # a naive datetime handed to the ORM
    ("store/testing.py", "RuntimeError"),  # the test suite's throwaway PostgreSQL
    ("escalation/sinks.py", "OSError"),  # wrapped into a NotificationError at once
    # PyYAML's own exception: its words are shown as PyYAML writes every syntax error.
    ("definition/yaml_compose.py", "ComposerError"),
}
ERROR_CLASSES = [
    cls for cls in vars(errors).values() if inspect.isclass(cls) and issubclass(cls, PlaybookError)
]
# Calls that take a message (and a hint): the error classes, Diagnostic and the
# helpers that build them.
MESSAGE_TAKERS = {cls.__name__ for cls in ERROR_CLASSES} | {"Diagnostic"}
MESSAGE_KEYWORDS = {"message", "hint", "msg", "hint_msg"}
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,}")


def _sources() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(SRC.rglob("*.py"))
    ]


def _is_text(node: ast.AST | None) -> bool:
    """A sentence written in place: a string literal, an f-string, or a sum with one."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_text(node.left) or _is_text(node.right)
    if isinstance(node, ast.IfExp):
        return _is_text(node.body) or _is_text(node.orelse)
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(node.value)
    return isinstance(node, ast.JoinedStr)


def _name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _message_argument(call: ast.Call) -> ast.expr | None:
    """The first argument that is not a code (``problem("PB401", message, ...)``)."""
    for arg in call.args:
        if not _is_code(arg):
            return arg
    return None


def _is_code(node: ast.AST) -> bool:
    """A diagnostic's code or severity is data, not a sentence."""
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"PB\d{3}|error|warning|note", node.value) is not None
    )


def test_no_exception_is_raised_with_a_sentence_written_in_place() -> None:
    """``raise XError("...")`` / ``raise XError(f"...")`` nowhere, but for the internal ones."""
    found = []
    for name, tree in _sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            call = node.exc
            if (name, _name(call)) not in INTERNAL and _is_text(_message_argument(call)):
                found.append(f"{name}:{node.lineno}: raise {_name(call)}(...)")
    assert found == []


def test_no_error_or_diagnostic_is_made_with_a_plain_string() -> None:
    """Every PlaybookError and Diagnostic built in the library gets a Message, hint included."""
    found = []
    for name, tree in _sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _name(node) in MESSAGE_TAKERS):
                continue
            positional = node.args[5:6] + node.args[7:8] if _name(node) == "Diagnostic" else []
            given = [
                *(positional or node.args[:1]),
                *(kw.value for kw in node.keywords if kw.arg in MESSAGE_KEYWORDS),
            ]
            if any(_is_text(arg) for arg in given):
                found.append(f"{name}:{node.lineno}: {_name(node)}(...)")
    assert found == []


def test_the_scan_sees_the_raise_sites() -> None:
    """The scans above look at real code: hundreds of messages are catalogue keys."""
    keys = [
        node
        for _, tree in _sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _name(node) == "Message"
    ]
    assert len(keys) > 500


@pytest.mark.parametrize("area", ["error", "diag"])
def test_every_error_and_diagnostic_key_has_every_language(area: str) -> None:
    """The new areas are complete: en and zh, same placeholders, no English left in zh."""
    texts = {key: t for key, t in catalogue().items() if key.startswith(f"{area}.")}
    assert len(texts) > 200
    for key, by_lang in texts.items():
        assert tuple(by_lang) == LANGUAGES, key
        names = [_placeholders(by_lang[lang]) for lang in LANGUAGES]
        assert all(n == names[0] for n in names), key


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


# Words a Chinese message keeps as they are: the playbook format's keys, option
# names, commands, codes and formats (what the user types), never English prose.
_KEPT_WORDS = """
    playbook playbooks validate migrate paths write deals advance list status open db init
    upgrade head fields stages stage transitions allow outcome won lost has len contains not
    and or true false null in not_in all any required field op value enum yes off kpis metric
    escalations escalation levels fire sweep scenarios steps expect now as allowed error name
    completed_actions evidence at by version from from_version json jsonl csv console webhook
    smtp smtps starttls mermaid dot svg format apt get install brew graphviz utc datetime actor
    frozenset sales_rep override dealstate iso week team owner reason until period utf cny eur
    tls http https url host port addr file path spec env prefix gb18030 excel delimiter mapping
    external_id column values entry budget_known solution competitors abb amount weekdays
    holidays extra_holidays docs embedding md kpis image retry strict pip playbook_db
    playbook_busy_timeout_ms playbook_sink_allow_env playbook_webhook_hosts playbook_jsonl_dir
    playbook_allow_private_sinks playbook_smtp_host example com crm sales mail ops yyyy mm dd
    hh manager region api postgresql sqlite psycopg user dbname test yaml yml tab the lines nul
    ascii kib iana asia shanghai europe berlin where tag anchors name id type max_digits
    max_depth fullwidth max_scan_days first_year last_year head_revision name_limit date passed
    notify roles role key keys log cli date_passed encoding start end export host1 join kpi
    migrations sink secret wecom dingtalk feishu teams
    per count sum won_value won_deals field_aggregate stage_entries activity_count
    pipeline_value weighted_pipeline strptime async await def event deal asyncio
    run_coroutine_threadsafe updated keep_newer date_formats keep clear on_empty set people
    register pipeline failures etag create tokens token authorization bearer openapi match
    content
    alembic_version playbook_alembic_version playbook_ playbook_db_schema schema database
    from_connection connection engine begin
    tables inputs outputs rows hit unique first priority collect aggregate complete integer
    number decimal max
"""
KEPT = frozenset(_KEPT_WORDS.split())
# Codes, ISO weeks and times are typed as they are too: PB530, W52, T09.
CODE = re.compile(r"(pb\d{3}|w\d{2}|t\d{2})")


@pytest.mark.parametrize("key", sorted(k for k in catalogue() if k.startswith(("error.", "diag."))))
def test_chinese_texts_keep_no_english_prose(key: str) -> None:
    """Outside placeholders, a zh text holds no English word but what the user types."""
    zh = catalogue()[key]["zh"]
    literal = "".join(text for text, _, _, _ in string.Formatter().parse(zh))
    if literal.strip() in ("", "{text}"):
        return
    words = {w.lower() for w in WORD.findall(literal) if not CODE.fullmatch(w.lower())}
    assert words <= KEPT, (key, sorted(words - KEPT))


SAMPLES: list[PlaybookError] = [
    errors.DealNotFoundError(
        Message("error.repository.no_deal_store", text="D-9"),
        hint=Message("error.repository.playbook_deals_list_shows"),
    ),
    errors.PermissionDeniedError(
        Message(
            "error.services.may_not_deals",
            id="ann",
            names=["sales_rep"],
            action="advance",
            key="smb@1",
        ),
        hint=Message("error.services.roles_may", allowed=Items(["manager", "admin"], "or")),
    ),
    errors.DatabaseLockedError(
        Message(
            "error.db.driver_refused",
            what=Message("error.db.locked"),
            url="sqlite:///x.db",
            reason="database is locked",
        ),
        hint=Message("error.db.locked_hint"),
    ),
    errors.PeriodError(
        Message("error.periods.not_period", text="2017-Q5"),
        hint=Message("error.periods.write_year_2017_quarter"),
    ),
    errors.ConditionError(
        Message("diag.typecheck.unknown_field", name="amout"),
        hint=Message("common.did_you_mean", choice="amount"),
        code="PB402",
    ),
]


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: e.code)
def test_errors_render_in_chinese_without_english_prose(error: PlaybookError) -> None:
    """The zh text of an error holds its values and Chinese words, no English sentence."""
    zh = f"{error.message_in('zh')} {error.hint_in('zh')}"
    assert re.search(r"[\u4e00-\u9fff]", zh)
    values = [
        "D-9",
        "ann",
        "sales_rep",
        "advance",
        "smb@1",
        "manager",
        "admin",
        "sqlite:///x.db",
        "database is locked",
        "2017-Q5",
        "amout",
        "amount",
    ]
    for value in values:
        zh = zh.replace(value, "")
    words = {w.lower() for w in WORD.findall(zh) if not CODE.fullmatch(w.lower())}
    assert words <= KEPT, sorted(words - KEPT)
    assert error.message_in("zh") != error.message  # English stays English


def test_english_stays_the_default() -> None:
    """``message``, ``hint`` and ``str()`` are English, as before; message_in(None) too."""
    error = SAMPLES[0]
    assert error.message == "no deal 'D-9' in the store"
    assert error.message_in(None) == error.message_in("fr") == error.message
    assert str(error) == f"PB601 {error.message} ({error.hint})"
    assert error.to_dict("zh")["message"] == error.message_in("zh")
    assert error.to_dict()["http_status"] == 404


def test_a_plain_string_is_still_accepted_and_shown_as_it_is() -> None:
    """An embedder's own PlaybookError("...") keeps working, the same text in every language."""
    error = errors.StoreError("the archive is offline", hint="try later")
    assert (error.message, error.hint) == ("the archive is offline", "try later")
    assert error.message_in("zh") == "the archive is offline"


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_class_has_an_http_status(cls: type[PlaybookError]) -> None:
    """A status an embedding server can answer with, in the 4xx/5xx ranges."""
    assert cls.http_status in {400, 401, 403, 404, 409, 412, 413, 422, 500, 502, 503, 507}


def _instance(cls: type[PlaybookError]) -> PlaybookError:
    message = Message("error.deals.unknown_deal_key", unknown="stagee")
    extra: dict[str, Any] = {
        "hint": Message("common.did_you_mean", choice="stage"),
        "file": "deal.json",
        "line": 3,
        "details": {"key": "stagee", "known": ["id", "stage"]},
    }
    if cls is InvalidPlaybookError:
        found = Diagnostic("p.yaml", 1, 1, "error", "PB202", Message("diag.schema.the_playbook"))
        return cls(message, [found], **extra)
    if cls is MoveBlockedError:
        return cls(message, _Decision(), **extra)
    if cls is errors.HookFailedError:
        return cls(message, deal="D-1", result=None, failures=[ValueError("x")], **extra)
    return cls(message, **extra)


class _Decision:
    """A picklable stand-in with the BlockedMove shape."""

    allowed = False
    deal_id = "D-1"
    from_stage = "lead"
    to_stage = "won"
    codes = ("PB541",)

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        return {"deal_id": self.deal_id}


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("clone", [lambda e: pickle.loads(pickle.dumps(e)), copy.deepcopy])
def test_every_error_survives_pickling_and_deep_copies(
    cls: type[PlaybookError], clone: Any
) -> None:
    """Code, message (in every language), hint, position and details come back intact."""
    error = _instance(cls)
    copied = clone(error)
    assert type(copied) is cls
    assert (copied.code, copied.message, copied.hint) == (error.code, error.message, error.hint)
    assert copied.message_in("zh") == error.message_in("zh")
    assert (copied.file, copied.line, copied.details) == (error.file, error.line, error.details)
    assert str(copied) == str(error)


def test_a_finer_code_survives_pickling() -> None:
    """An instance's own code (PB103 in the PB100 class, say) is kept."""
    error = errors.InputFileError(Message("diag.loader.file_empty"), code="PB110")
    assert pickle.loads(pickle.dumps(error)).code == "PB110"


def test_messages_are_immutable_values() -> None:
    """Equal by key and values, hashable, picklable; lists are frozen; no attribute can change."""
    message = Message("error.deals.stages", names=["lead", "won"])
    assert message == pickle.loads(pickle.dumps(message)) == copy.deepcopy(message)
    assert hash(message) == hash(Message("error.deals.stages", names=("lead", "won")))
    with pytest.raises(AttributeError):
        message.key = "other"  # type: ignore[misc]
    assert message.render("en") == "stages: lead, won"
    assert message.render("zh") == "阶段：lead、won"
    assert str(message) == message.render("en")


def test_nested_messages_and_items_render_in_the_same_language() -> None:
    """A message inside a message, and Items, follow the outer language."""
    inner = Message("error.db.locked")
    outer = Message("error.db.driver_refused", what=inner, url="u", reason="r")
    assert outer.render("en") == "the database is locked by another writer (u): r"
    assert outer.render("zh") == f"{say('error.db.locked', 'zh')}（u）：r"
    roles = Items(["a", "b", "c"], "or")
    assert (
        Message("error.engine.may_override_reason", names=roles).render("zh").startswith("a、b或c")
    )


def test_a_blocked_move_tells_its_reasons_in_the_same_language() -> None:
    """Reasons written in each language (Translated) join as clauses: ``; `` or ``，``."""
    reasons = Items(
        [Translated({"en": "needs budget", "zh": "需要预算"}), Translated({"en": "b", "zh": "乙"})],
        "clause",
    )
    message = Message(
        "error.engine.deal_cannot_move_from",
        deal_id="D-1",
        from_stage="lead",
        to_stage="won",
        summary=reasons,
    )
    assert message.render("en") == "deal 'D-1' cannot move from 'lead' to 'won': needs budget; b"
    assert message.render("zh") == "商机 'D-1' 不能从 'lead' 推进到 'won'：需要预算，乙"
    assert pickle.loads(pickle.dumps(message)) == message == copy.deepcopy(message)


def test_a_subclass_of_ones_own_answers_like_its_parent_or_as_it_says() -> None:
    """An embedder's error class inherits the status of its parent unless it sets its own."""

    class ArchiveMissing(errors.DealNotFoundError):
        code = "XY001"

    class ArchiveBusy(errors.StoreError):
        code = "XY002"
        http_status = 429

    assert (ArchiveMissing.http_status, ArchiveBusy.http_status) == (404, 429)
