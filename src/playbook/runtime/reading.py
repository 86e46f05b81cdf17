"""Reading deals for decisions: only what a decision reads, each value once.

:func:`~playbook.runtime.deals.as_deal` converts and checks a whole deal: the
right call before storing one, and far more than a decision needs (converting
a deal cost more than deciding on it). A :class:`DealReader`, built once per
engine, instead makes a :class:`DealView`: the names are checked at once (unknown
keys, undeclared fields, the id, the pin and the stage), and a gate then asks
the view for the values of the fields it reads (:meth:`DealView.values`), which
are converted then, once per view, and only those. A developer's own dataclass,
attrs or Pydantic class is laid out once per class (which attributes are deal
keys and which are fields, checked once) and read with ``operator.attrgetter``.

The same errors as ``as_deal`` are raised, only for what is read: a wrong value
in a field that no rule of the move reads does not stop a decision on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from operator import attrgetter
from typing import Any

from playbook.conditions.codegen import build_function
from playbook.model import Playbook
from playbook.runtime.approval_state import ApprovalEvent, read_events
from playbook.runtime.deals import (
    _DEAL_KEYS,
    ActionRecord,
    DealLike,
    DealState,
    _bad_stage,
    _check_pin,
    _deal_id,
    _from_mapping,
    _layout,
    _mapping,
    _optional_time,
    _records,
    _unknown_keys,
    as_deal,
    deal_mapping,
)
from playbook.values import (
    check_unknown_fields,
    coerce_fields,
    field_converters,
    playbook_zone,
)

__all__ = ["DealReader", "DealView", "FieldReader", "field_reader", "read_deal"]

FieldReader = Callable[[Mapping[str, Any]], dict[str, Any]]
"""Converts some fields of a deal's raw values to their declared types (:func:`field_reader`)."""


def field_reader(playbook: Playbook, names: Iterable[str]) -> FieldReader:
    """A function that converts only the values of ``names`` found in a deal's raw values.

    It does what :func:`~playbook.values.coerce_fields` does for those names
    (same converters, same errors) without looking at any other key. Names the
    playbook does not declare are skipped (conditions name declared fields
    only); a missing key and ``None`` are both left out of the result. It is one
    generated function, a few lines per name (a loop cost as much as the reading).
    """
    converters = field_converters(playbook)
    chosen = [name for name in sorted(names) if name in converters]
    bound: dict[str, object] = {"_tz": playbook_zone(playbook)}
    lines = ["def read(raw):", "    get = raw.get", "    out = {}"]
    for index, name in enumerate(chosen):
        bound[f"_n{index}"], bound[f"_c{index}"] = name, converters[name]
        lines += [
            f"    value = get(_n{index})",
            "    if value is not None:",
            f"        out[_n{index}] = _c{index}(value, _tz)",
        ]
    lines.append("    return out\n")
    return build_function("\n".join(lines), bound, "read")  # type: ignore[no-any-return]


_Builder = Callable[[object], dict[str, Any]]
# A declared class: the function that reads it into the JSON form, and whether its names
# are all checked already (False when its values sit in a `fields` attribute).
_Layout = tuple[_Builder, bool]
_LAYOUTS_PER_READER = 64
_UNKNOWN: Any = object()


def _getter(names: tuple[str, ...]) -> Callable[[object], Any]:
    """A C-level getter of ``names`` that always returns a tuple (attrgetter of one does not)."""
    if len(names) == 1:
        name = names[0]
        return lambda obj: (getattr(obj, name),)
    if not names:
        return lambda obj: ()
    return attrgetter(*names)


def _builder(keys: tuple[str, ...], names: tuple[str, ...] | None) -> _Builder:
    """One generated function that reads an object's ``keys`` (and its field attributes
    ``names``, under ``"fields"``) into a dict; every name is bound, none written."""
    bound: dict[str, object] = {"_g0": _getter(keys), "_g1": _getter(names or ())}
    items = []
    for index, key in enumerate(keys):
        bound[f"_k{index}"] = key
        items.append(f"_k{index}: k[{index}]")
    if names is not None:
        bound["_f"] = "fields"
        bound.update({f"_n{index}": name for index, name in enumerate(names)})
        inner = ", ".join(f"_n{index}: f[{index}]" for index in range(len(names)))
        items.append(f"_f: {{{inner}}}")
    source = (
        f"def build(obj):\n    k = _g0(obj)\n    f = _g1(obj)\n    return {{{', '.join(items)}}}\n"
    )
    return build_function(source, bound, "build")  # type: ignore[no-any-return]


class DealReader:
    """Reads deals of one playbook for decisions; build once (the engine does) and share.

    ``strict=False`` reads deals that carry undeclared field names instead of
    refusing them. Thread-safe: what it learns (class layouts) is stored whole.
    """

    def __init__(self, playbook: Playbook, *, strict: bool = True) -> None:
        self.playbook = playbook
        self.strict = strict
        self.stages = frozenset(stage.id for stage in playbook.stages)
        self.declared = frozenset(playbook.fields)
        self.tz = playbook_zone(playbook)
        self._layouts: dict[type, _Layout | None] = {}

    def read(self, obj: DealLike) -> DealState | DealView:
        """``obj`` ready for a decision: a ``DealState`` as is (checked), anything else as a
        :class:`DealView`. Raises what :func:`~playbook.runtime.deals.as_deal` raises for
        bad names, a bad id, pin or stage; values are checked when read."""
        kind = type(obj)
        if kind is dict:
            return DealView(obj, self)  # type: ignore[arg-type]
        if kind is DealState:
            return as_deal(obj, self.playbook)
        layout = self._layouts.get(kind, _UNKNOWN)
        if layout is _UNKNOWN:
            layout = self._learn(kind)
        if layout is None:
            return DealView(deal_mapping(obj, self.playbook, strict=self.strict), self, True)
        build, checked = layout
        return DealView(build(obj), self, checked)

    def _learn(self, kind: type) -> _Layout | None:
        layout: _Layout | None = None
        if not issubclass(kind, Mapping) and not callable(getattr(kind, "deal_form", None)):
            found = _layout(kind, self.playbook, self.strict)  # checks the names once
            if found is not None:
                keys, names = found
                layout = (_builder(keys, names), names is not None)
        if len(self._layouts) < _LAYOUTS_PER_READER:
            self._layouts[kind] = layout
        return layout


_UNREAD: Any = object()


class DealView:
    """A deal read lazily for a decision: what :meth:`Engine.check` works on.

    Names are checked when the view is made (by its :class:`DealReader`: unknown
    keys, undeclared fields; here the id, the pin and the stage). A gate reads
    the values of its fields with :meth:`values`, converted on first read;
    :attr:`fields` converts every field, :attr:`completed_actions` and
    :attr:`stage_entered_at` are read on first use; each once per view. It
    raises the errors of :func:`~playbook.runtime.deals.as_deal`, only later;
    :meth:`state` gives the full, checked :class:`DealState`.
    """

    __slots__ = (
        "_done",
        "_entered",
        "_fields",
        "_partial",
        "_raw",
        "_read",
        "_reader",
        "id",
        "stage",
    )

    def __init__(self, raw: Mapping[str, Any], reader: DealReader, checked: bool = False) -> None:
        # One function for every check of the names: this runs once per decision.
        if not checked:  # the keys and field names (a reader that checked them says so)
            if not raw.keys() <= _DEAL_KEYS:
                _unknown_keys(raw)
            fields = raw.get("fields")
            if (
                reader.strict
                and fields is not None
                and (type(fields) is dict or isinstance(fields, Mapping))
                and not fields.keys() <= reader.declared
            ):
                check_unknown_fields(reader.playbook, fields)
        deal_id = raw.get("id")
        if type(deal_id) is not str or not deal_id:
            deal_id = _deal_id(deal_id)
        pinned_id, pinned_version = raw.get("playbook"), raw.get("playbook_version")
        if pinned_id is not None or pinned_version is not None:
            _check_pin(deal_id, pinned_id, pinned_version, reader.playbook)
        stage = raw.get("stage")
        if type(stage) is not str or stage not in reader.stages:
            _bad_stage(deal_id, stage, reader.playbook)
        self.id: str = deal_id
        self.stage: str = str(stage)
        self._raw, self._reader = raw, reader
        self._fields = self._done = self._entered = _UNREAD
        self._read: Any = _UNREAD
        self._partial: Mapping[str, Any] = self._fields

    @property
    def playbook_id(self) -> str:
        """The id of the playbook the deal was read for."""
        return self._reader.playbook.id

    @property
    def playbook_version(self) -> int:
        """The version of the playbook the deal was read for."""
        return self._reader.playbook.version

    def values(self, read: FieldReader | None) -> Mapping[str, Any]:
        """The values ``read`` converts (a gate's fields), converted on first call per reader;
        every field (:attr:`fields`) when ``read`` is None or every field was read already."""
        if self._read is read:
            return self._partial
        if read is None or self._fields is not _UNREAD:
            return self.fields
        raw = self._raw.get("fields")
        partial = read(raw if type(raw) is dict else _mapping(raw, "fields", self.id))
        self._read, self._partial = read, partial
        return partial

    @property
    def fields(self) -> Mapping[str, Any]:
        """Every field value, converted to its declared type on first read."""
        if self._fields is _UNREAD:
            raw = _mapping(self._raw.get("fields"), "fields", self.id)
            # Names were checked when the view was made.
            self._fields = coerce_fields(self._reader.playbook, raw, strict=False)
        return self._fields  # type: ignore[no-any-return]

    @property
    def completed_actions(self) -> Mapping[str, ActionRecord]:
        """The actions done in the current visit of the stage, read on first use."""
        if self._done is _UNREAD:
            reader = self._reader
            raw = self._raw.get("completed_actions")
            self._done = _records(raw, reader.playbook, self.stage, self.id, reader.tz)
        return self._done  # type: ignore[no-any-return]

    @property
    def stage_entered_at(self) -> datetime | None:
        """When the deal entered its stage (aware UTC), read on first use."""
        if self._entered is _UNREAD:
            self._entered = _optional_time(self._raw, "stage_entered_at", self._reader.tz)
        return self._entered  # type: ignore[no-any-return]

    @property
    def approvals(self) -> tuple[ApprovalEvent, ...]:
        """The deal's approval events (read on each use: only gates with approvals ask)."""
        return read_events(self._raw.get("approvals"), self.id)

    def state(self) -> DealState:
        """The whole deal, every value read and checked."""
        reader = self._reader
        return _from_mapping(self._raw, reader.playbook, strict=reader.strict)


def read_deal(obj: DealLike, playbook: Playbook, *, strict: bool = True) -> DealState | DealView:
    """``obj`` ready for a decision (see :meth:`DealReader.read`; an engine keeps its reader)."""
    return DealReader(playbook, strict=strict).read(obj)
