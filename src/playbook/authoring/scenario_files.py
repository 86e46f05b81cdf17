"""Scenario files: finding them, reading them strictly, checking every name in them.

A scenario file (``b2b-project-sales.test.yaml`` next to ``b2b-project-sales.yaml``)
is read with the strict loader and checked against its playbook before anything
runs: a step that names an unknown stage, field, action, role, rule or
escalation is a :class:`~playbook.errors.ScenarioError` with the file, line and
column. What a scenario file says, and how it runs, is in
:mod:`playbook.authoring.scenarios`.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from difflib import get_close_matches
from pathlib import Path
from typing import Any, NoReturn

from playbook.authoring.scenarios import (
    STEP_KINDS,
    Expectation,
    Scenario,
    ScenarioFile,
    Step,
    StepKind,
    rule_id_of,
    rule_paths,
)
from playbook.definition.loader import Document, read_document
from playbook.definition.validate import load
from playbook.errors import DealError, PathNotFoundError, ScenarioError
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.runtime.deals import DealState, as_deal
from playbook.values import coerce_fields

__all__ = ["SCENARIO_SUFFIXES", "find_scenario_files", "read_scenarios"]

SCENARIO_SUFFIXES = (".test.yaml", ".test.yml")
"""How a scenario file's name ends; the playbook is the same name without ``.test``."""

_STEP_KEYS = frozenset({*STEP_KINDS, "as", "actor", "at", "override", "evidence", "expect", "note"})
_EXPECT_KEYS = frozenset({"allowed", "reasons", "rules", "stage", "error", "fire", "levels"})
_SCENARIO_KEYS = frozenset({"name", "now", "deal", "steps"})
_DEAL_KEYS = frozenset(
    {
        "id",
        "stage",
        "fields",
        "stage_entered_at",
        "created_at",
        "last_activity_at",
        "owner",
        "team",
        "completed_actions",
    }
)
_CODE = re.compile(r"^PB\d{3}$")

_YamlPath = tuple[str | int, ...]


# --- finding and reading files ------------------------------------------------------------


def find_scenario_files(paths: Sequence[str | Path]) -> list[Path]:
    """The scenario files named in ``paths`` or found (recursively, sorted) under directories.

    Raises :class:`~playbook.errors.PathNotFoundError` for a path that does not exist.
    """
    found: dict[Path, None] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.update(
                    dict.fromkeys(Path(root) / n for n in sorted(names) if _is_scenario(n))
                )
        elif path.is_file():
            found[path] = None
        else:
            raise PathNotFoundError(
                Message("error.scenario_files.no_such_file_directory", given=given),
                hint=Message("error.scenario_files.check_path"),
                file=str(given),
            )
    return list(found)


def _is_scenario(name: str) -> bool:
    return name.endswith(SCENARIO_SUFFIXES)


def read_scenarios(path: str | Path, playbook: Playbook | None = None) -> ScenarioFile:
    """Read a scenario file strictly and check every name in it against its playbook.

    The playbook is ``playbook:`` in the file (relative to it), else the file's
    name without ``.test``; ``playbook`` given here is used instead of loading it.
    Raises :class:`~playbook.errors.ScenarioError` (with file, line and column)
    for anything the playbook does not define, and
    :class:`~playbook.errors.InvalidPlaybookError` when the playbook is not valid.
    """
    loaded = read_document(path, display_name=str(path))
    errors = [d for d in loaded.diagnostics if d.severity == "error"]
    if loaded.document is None or errors:
        first = errors[0]
        raise ScenarioError(
            Message("error.scenario_files.message", code=first.code, message=first.msg),
            file=str(path),
            line=first.line,
            column=first.column,
        )
    reader = _Reader(loaded.document)
    playbook_path = reader.playbook_path(Path(path))
    model = playbook if playbook is not None else reader.load_playbook(playbook_path)
    return reader.scenario_file(str(playbook_path), model)


class _Reader:
    """Turns a scenario document into the model, failing at the first unknown name."""

    def __init__(self, document: Document) -> None:
        self.doc = document
        self.file = document.file

    def fail(
        self, path: _YamlPath, message: Message, hint: Message | None = None, *, key: bool = False
    ) -> NoReturn:
        mark = self.doc.mark(path, key=key)
        raise ScenarioError(message, hint=hint, file=self.file, line=mark.line, column=mark.column)

    def line(self, path: _YamlPath) -> int:
        return self.doc.mark(path).line

    def playbook_path(self, path: Path) -> Path:
        data = self.doc.data
        if not isinstance(data, Mapping):
            self.fail((), Message("error.scenario_files.scenario_file_mapping_playbook"))
        named = data.get("playbook")
        if named is None:
            stem = path.name
            for suffix in SCENARIO_SUFFIXES:
                stem = stem.removesuffix(suffix)
            return path.with_name(stem + ".yaml")
        if not isinstance(named, str):
            self.fail(("playbook",), Message("error.scenario_files.playbook_path_playbook_file"))
        return path.parent / named

    def load_playbook(self, path: Path) -> Playbook:
        if not path.is_file():
            self.fail(
                ("playbook",),
                Message("error.scenario_files.playbook_does_not_exist", path=path),
                Message("error.scenario_files.name_playbook"),
            )
        return load(path)

    def scenario_file(self, playbook_path: str, playbook: Playbook) -> ScenarioFile:
        data = self.doc.data
        self._keys((), data, frozenset({"playbook", "scenarios"}))
        items = data.get("scenarios")
        if not isinstance(items, list) or not items:
            self.fail(("scenarios",), Message("error.scenario_files.scenarios_must_non_empty"))
        known = _Names(playbook)
        scenarios = tuple(
            self._scenario(("scenarios", i), raw, playbook, known) for i, raw in enumerate(items)
        )
        return ScenarioFile(self.file, playbook_path, playbook, scenarios)

    def _keys(self, path: _YamlPath, raw: Any, allowed: frozenset[str]) -> None:
        if not isinstance(raw, Mapping):
            self.fail(path, Message("error.scenario_files.expected_mapping_here"))
        for key in raw:
            if key not in allowed:
                self.fail(
                    (*path, key),
                    Message("error.scenario_files.unknown_key", key=key),
                    _did_you_mean(key, allowed),
                    key=True,
                )

    def _scenario(self, path: _YamlPath, raw: Any, playbook: Playbook, known: _Names) -> Scenario:
        self._keys(path, raw, _SCENARIO_KEYS)
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            self.fail(path, Message("error.scenario_files.every_scenario_needs_name"))
        now = self._time((*path, "now"), raw.get("now"), playbook, required=True)
        assert now is not None
        deal = self._deal((*path, "deal"), raw.get("deal") or {}, playbook, known, now, name)
        steps_raw = raw.get("steps")
        if not isinstance(steps_raw, list) or not steps_raw:
            self.fail((*path, "steps"), Message("error.scenario_files.steps_must_non_empty"))
        steps = tuple(
            self._step((*path, "steps", i), item, playbook, known)
            for i, item in enumerate(steps_raw)
        )
        return Scenario(name, self.file, self.line(path), deal, now, steps)

    def _time(
        self, path: _YamlPath, raw: Any, playbook: Playbook, *, required: bool = False
    ) -> datetime | None:
        if raw is None:
            if required:
                self.fail(path, Message("error.scenario_files.scenario_needs_now_time"))
            return None
        if not isinstance(raw, str):
            self.fail(
                path,
                Message("error.scenario_files.not_time", raw=raw),
                Message("error.scenario_files.write_iso_8601_2026"),
            )
        try:
            return _parse_time(raw, playbook)
        except ValueError:
            self.fail(
                path,
                Message("error.scenario_files.not_time", raw=raw),
                Message("error.scenario_files.write_iso_8601_2026"),
            )
        raise AssertionError  # pragma: no cover

    def _deal(
        self,
        path: _YamlPath,
        raw: Any,
        playbook: Playbook,
        known: _Names,
        now: datetime,
        name: str,
    ) -> DealState:
        self._keys(path, raw, _DEAL_KEYS)
        stage = raw.get("stage", playbook.first_stage.id)
        known.stage((*path, "stage"), stage, self)
        fields = raw.get("fields") or {}
        self._fields((*path, "fields"), fields, playbook, known)
        done = raw.get("completed_actions") or []
        if not isinstance(done, list):
            self.fail(
                (*path, "completed_actions"),
                Message("error.scenario_files.completed_actions_list_action"),
            )
        for i, action in enumerate(done):
            known.action((*path, "completed_actions", i), action, self, stage=stage)
        times = {}
        for key in ("stage_entered_at", "created_at", "last_activity_at"):
            moment = self._time((*path, key), raw.get(key), playbook)
            times[key] = moment or now
        record = {
            "id": str(raw.get("id") or _slug(name)),
            "stage": stage,
            "fields": dict(fields),
            "completed_actions": list(done),
            "owner": raw.get("owner", "owner"),
            "team": raw.get("team"),
            **times,
        }
        try:
            return as_deal(record, playbook)
        except DealError as error:
            self.fail(
                path,
                Message("error.scenario_files.deal_not_valid", message=error.msg),
                error.hint_msg,
            )
        raise AssertionError  # pragma: no cover

    def _fields(
        self, path: _YamlPath, raw: Any, playbook: Playbook, known: _Names
    ) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            self.fail(path, Message("error.scenario_files.field_values_are_mapping"))
        for key, value in raw.items():
            known.field((*path, key), key, self)
            try:
                coerce_fields(playbook, {key: value})
            except DealError as error:
                self.fail((*path, key), error.msg, error.hint_msg)
        return dict(raw)

    def _step(self, path: _YamlPath, raw: Any, playbook: Playbook, known: _Names) -> Step:
        self._keys(path, raw, _STEP_KEYS)
        kinds = [kind for kind in STEP_KINDS if kind in raw]
        if len(kinds) != 1:
            self.fail(path, Message("error.scenario_files.step_has_exactly_one", names=STEP_KINDS))
        kind = kinds[0]
        target = self._target((*path, kind), kind, raw[kind], playbook, known)
        roles = self._roles((*path, "as"), raw.get("as"), known)
        if kind in ("advance", "complete") and roles is None:
            self.fail(path, Message("error.scenario_files.step_needs_as_role", kind=kind))
        expect = None
        if "expect" in raw:
            expect = self._expect((*path, "expect"), raw["expect"], kind, known)
        elif kind in ("check", "sweep"):
            self.fail(path, Message("error.scenario_files.step_needs_expect_what", kind=kind))
        override = raw.get("override")
        if override is not None and kind != "advance":
            self.fail((*path, "override"), Message("error.scenario_files.only_advance_step_can"))
        return Step(
            kind,
            target,
            self.line(path),
            self._time((*path, "at"), raw.get("at"), playbook),
            roles,
            str(raw.get("actor") or "tester"),
            None if override is None else str(override),
            raw.get("evidence"),
            expect,
        )

    def _target(
        self, path: _YamlPath, kind: StepKind, raw: Any, playbook: Playbook, known: _Names
    ) -> Any:
        if kind in ("check", "advance"):
            known.stage(path, raw, self)
            return raw
        if kind == "complete":
            known.action(path, raw, self)
            return raw
        if kind == "set":
            return self._fields(path, raw, playbook, known)
        if kind == "log":
            # The playbook's own kinds (the built-in ones when it declares none), as `deals log`.
            if raw not in playbook.activity_ids:
                self.fail(
                    path,
                    Message("error.scenario_files.unknown_activity", raw=raw),
                    Message("error.scenario_files.log_one", names=playbook.activity_ids),
                )
            return raw
        return self._time(path, raw, playbook, required=True)

    def _roles(self, path: _YamlPath, raw: Any, known: _Names) -> tuple[str, ...] | None:
        if raw is None:
            return None
        roles = [raw] if isinstance(raw, str) else raw
        if not isinstance(roles, list) or not roles:
            self.fail(path, Message("error.scenario_files.as_role_id_list"))
        for i, role in enumerate(roles):
            known.role(path if isinstance(raw, str) else (*path, i), role, self)
        return tuple(roles)

    def _expect(self, path: _YamlPath, raw: Any, kind: StepKind, known: _Names) -> Expectation:
        self._keys(path, raw, _EXPECT_KEYS)
        allowed = raw.get("allowed")
        if allowed is not None and not isinstance(allowed, bool):
            self.fail((*path, "allowed"), Message("error.scenario_files.allowed_true_false"))
        about_escalations = "fire" in raw or "levels" in raw
        if kind == "sweep" and not about_escalations:
            self.fail(path, Message("error.scenario_files.sweep_expects_fire_optionally"))
        if kind != "sweep" and about_escalations:
            self.fail(path, Message("error.scenario_files.only_sweep_step_expects"))
        reasons = self._codes((*path, "reasons"), raw.get("reasons"))
        error = raw.get("error")
        if error is not None and not (isinstance(error, str) and _CODE.match(error)):
            self.fail((*path, "error"), Message("error.scenario_files.error_code_such_as"))
        rules = self._list((*path, "rules"), raw.get("rules"))
        for i, rule in enumerate(rules or ()):
            known.rule((*path, "rules", i), rule, self)
        stage = raw.get("stage")
        if stage is not None:
            known.stage((*path, "stage"), stage, self)
        fire = self._list((*path, "fire"), raw.get("fire"))
        for i, rule_id in enumerate(fire or ()):
            known.escalation((*path, "fire", i), rule_id, self)
        levels = raw.get("levels")
        if levels is not None:
            if not isinstance(levels, Mapping):
                self.fail(
                    (*path, "levels"), Message("error.scenario_files.levels_maps_escalation_ids")
                )
            for key, count in levels.items():
                known.escalation((*path, "levels", key), key, self)
                if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                    self.fail(
                        (*path, "levels", key),
                        Message("error.scenario_files.number_levels_integer_0"),
                    )
        return Expectation(allowed, reasons, rules, stage, error, fire, levels)

    def _codes(self, path: _YamlPath, raw: Any) -> tuple[str, ...] | None:
        codes = self._list(path, raw)
        for i, code in enumerate(codes or ()):
            if not _CODE.match(code):
                self.fail(
                    (*path, i), Message("error.scenario_files.not_reason_code_such", code=code)
                )
        return codes

    def _list(self, path: _YamlPath, raw: Any) -> tuple[str, ...] | None:
        if raw is None:
            return None
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            self.fail(path, Message("error.scenario_files.expected_list_text"))
        return tuple(raw)


class _Names:
    """The names a scenario may use, from its playbook, with did-you-mean errors."""

    def __init__(self, playbook: Playbook) -> None:
        self.playbook = playbook
        self.stages = [s.id for s in playbook.stages]
        self.actions = {a.id: s.id for s in playbook.stages for a in s.actions}
        self.rules = rule_paths(playbook)
        self.rule_ids = {rule_id_of(rule) for rule in self.rules}
        self.escalations = [e.id for e in playbook.escalations]

    def stage(self, path: _YamlPath, value: Any, reader: _Reader) -> None:
        if value not in self.stages:
            reader.fail(
                path,
                Message("error.scenario_files.unknown_stage", value=value),
                _did_you_mean(value, self.stages),
            )

    def field(self, path: _YamlPath, value: Any, reader: _Reader) -> None:
        if value not in self.playbook.fields:
            reader.fail(
                path,
                Message("error.scenario_files.unknown_field", value=value),
                _did_you_mean(value, self.playbook.fields),
                key=True,
            )

    def role(self, path: _YamlPath, value: Any, reader: _Reader) -> None:
        if value not in self.playbook.roles:
            reader.fail(
                path,
                Message("error.scenario_files.unknown_role", value=value),
                _did_you_mean(value, self.playbook.roles),
            )

    def action(
        self, path: _YamlPath, value: Any, reader: _Reader, stage: str | None = None
    ) -> None:
        if value not in self.actions:
            reader.fail(
                path,
                Message("error.scenario_files.unknown_action", value=value),
                _did_you_mean(value, self.actions),
            )
        if stage is not None and self.actions[value] != stage:
            reader.fail(
                path,
                Message(
                    "error.scenario_files.action_belongs_stage",
                    value=value,
                    actions=self.actions[value],
                ),
            )

    def rule(self, path: _YamlPath, value: str, reader: _Reader) -> None:
        if value not in self.rules and value not in self.rule_ids:
            reader.fail(
                path,
                Message("error.scenario_files.unknown_rule", value=value),
                _did_you_mean(value, [*self.rules, *self.rule_ids])
                or Message("error.scenario_files.rules_are_paths_such"),
            )

    def escalation(self, path: _YamlPath, value: Any, reader: _Reader) -> None:
        if value not in self.escalations:
            reader.fail(
                path,
                Message("error.scenario_files.unknown_escalation_rule", value=value),
                _did_you_mean(value, self.escalations),
            )


# --- small helpers ------------------------------------------------------------------------


def _parse_time(text: str, playbook: Playbook) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(playbook.timezone))
    return moment.astimezone(UTC)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:60] or "deal"


def _did_you_mean(name: Any, candidates: Iterable[str]) -> Message | None:
    close = get_close_matches(str(name), list(candidates), n=1, cutoff=0.6)
    return Message("common.did_you_mean", choice=close[0]) if close else None
