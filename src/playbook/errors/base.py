"""The root of the error tree: :class:`PlaybookError`, its codes and HTTP statuses.

The tree itself is :mod:`playbook.errors.tree`; import both from :mod:`playbook.errors`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from playbook.i18n import Message, as_message

__all__ = ["PlaybookError"]


# The HTTP status of each class, by code (see the table above); a class not
# listed (an embedder's own, say) answers like its parent.
_HTTP_STATUS: dict[str, int] = {
    code: status
    for status, codes in {
        400: "PB050 PB051 PB550 PB700 PB801 PB802",
        401: "PB532 PB624",
        403: "PB055 PB510 PB530 PB531 PB582",
        404: "PB001 PB054 PB571 PB583 PB601 PB614 PB621 PB656 PB703",
        409: "PB064 PB503 PB540 PB581 PB602 PB605 PB920 PB940",
        412: "PB609",
        413: "PB053",
        422: (
            "PB052 PB060 PB100 PB200 PB400 PB500 PB501 PB502 PB504 PB505 PB520 PB521 PB570 PB590 "
            "PB610 PB611 PB612 PB620 PB622 PB650 PB651 PB652 PB653 PB654 PB655 "
            "PB701 PB711 PB800 PB900 PB910"
        ),
        500: "PB059 PB560 PB561 PB600",
        502: "PB702 PB710",
        503: "PB603 PB604 PB606 PB607 PB613 PB930",
        507: "PB608",
    }.items()
    for code in codes.split()
}


class PlaybookError(Exception):
    """Root of every error that playbook raises on purpose.

    ``msg`` (a :class:`~playbook.i18n.Message`) says what went wrong and what to
    do, in any language of the catalogue; ``hint_msg`` may add a did-you-mean.
    Playbook's own code always passes messages; a plain string (an embedder's
    subclass, say) is accepted and shown as it is in every language.
    ``message`` and ``hint`` are their English texts, as is ``str(error)``.
    Position attributes are set when the error comes from a file.
    """

    code: ClassVar[str] = "PB000"
    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 400

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "http_status" not in cls.__dict__ and cls.code in _HTTP_STATUS:
            cls.http_status = _HTTP_STATUS[cls.code]

    def __init__(
        self,
        message: Message | str,
        *,
        hint: Message | str | None = None,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.msg = as_message(message)
        # A plain string (an embedder's own words) is kept as it is, in every language.
        self.hint_msg = None if hint is None else as_message(hint)
        super().__init__(str(self.msg))
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.details: dict[str, Any] = dict(details or {})
        if code is not None:
            # A finer code from the same area (e.g. PB103 for a duplicate key).
            self.code = code  # type: ignore[misc]

    @property
    def message(self) -> str:
        """What went wrong and what to do, in English."""
        return self.msg.render("en")

    @property
    def hint(self) -> str | None:
        """The hint in English, or None."""
        return self.hint_in("en")

    def message_in(self, lang: str | None) -> str:
        """The message in ``lang`` (English for None or a language the catalogue lacks)."""
        return self.msg.render(lang)

    def hint_in(self, lang: str | None) -> str | None:
        """The hint in ``lang``, or None when there is none."""
        return None if self.hint_msg is None else self.hint_msg.render(lang)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt without calling __init__ (subclasses take other arguments),
        # then the attributes, code and details included, restored as they were.
        return (_restore, (type(self), self.args), self.__dict__)

    def __str__(self) -> str:
        return self.text_in("en")

    def text_in(self, lang: str | None) -> str:
        """The one-line form, ``file:line:col: CODE message (hint)``, in ``lang``."""
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += f":{self.line}"
                if self.column:
                    where += f":{self.column}"
            where += ": "
        text = f"{where}{self.code} {self.message_in(lang)}"
        hint = self.hint_in(lang)
        if hint:
            text += f" ({hint})"
        return text

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """A JSON-ready description of the error (message and hint in ``lang``).

        Keys: ``code``, ``message``, ``http_status`` and, when set, ``hint``,
        ``file``, ``line``, ``column``, ``path``, ``details``.
        """
        data: dict[str, Any] = {
            "code": self.code,
            "message": self.message_in(lang),
            "http_status": self.http_status,
        }
        hint = self.hint_in(lang)
        if hint is not None:
            data["hint"] = hint
        for key in ("file", "line", "column", "path"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.details:
            data["details"] = self.details
        return data


def _restore(cls: type[PlaybookError], args: tuple[Any, ...]) -> PlaybookError:
    error = cls.__new__(cls)
    error.args = args
    return error
