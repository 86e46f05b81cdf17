"""One HTTP POST to a checked address: what webhook and chat sinks share.

The host is resolved and checked by the operator's
:class:`~playbook.escalation.policy.SinkPolicy` before each attempt, the
request goes to the checked address (no second lookup a DNS rebinding could
change), TLS still checks the host's name, redirects are never followed, and
at most :data:`ANSWER_LIMIT` bytes of the answer are read.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from playbook.errors import NotificationError
from playbook.escalation.policy import Address, SinkPolicy

__all__ = ["ANSWER_LIMIT", "USER_AGENT", "Answer", "http_outcome", "post", "safe_url"]

USER_AGENT = "playbook-escalations/1"
ANSWER_LIMIT = 64 * 1024
"""The most of an answer that is read."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What one POST came to: an HTTP answer, or ``error`` (and whether to try again)."""

    status: int = 0
    reason: str = ""
    body: bytes = b""
    headers: Mapping[str, str] | None = None
    error: str = ""
    retry: bool = False

    def header(self, name: str) -> str | None:
        """An answer header (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in (self.headers or {}).items() if k.lower() == wanted), None)


def post(
    sink: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    policy: SinkPolicy,
    timeout: float,
) -> Answer:
    """POST ``body`` to ``url`` once; a refusal, timeout or broken answer is an ``error``."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or ""
    secure = parsed.scheme == "https"
    port = parsed.port or (443 if secure else 80)
    try:
        addresses = policy.addresses(sink, host, port)
    except NotificationError as refused:
        return Answer(error=refused.message)
    path = urllib.parse.urlunsplit(("", "", parsed.path or "/", parsed.query, ""))
    sent = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    sent.update(headers)
    try:
        return _pinned_post(host, port, addresses, secure, path, body, sent, timeout)
    except TimeoutError:
        return Answer(error=f"no answer within {timeout:g} s", retry=True)
    except (http.client.HTTPException, ValueError) as error:
        return Answer(error=f"a broken answer: {type(error).__name__}: {error}", retry=True)
    except (ssl.SSLError, OSError) as error:
        return Answer(error=f"cannot connect: {type(error).__name__}: {error}", retry=True)


def http_outcome(answer: Answer) -> tuple[bool, str]:
    """(worth retrying, error text) of an HTTP answer: 2xx is success, 5xx and 429 retried."""
    status = answer.status
    if 200 <= status < 300:
        return False, ""
    if 300 <= status < 400:
        where = urllib.parse.urlsplit(answer.header("Location") or "").hostname or "?"
        return False, f"HTTP {status}: redirected to {where}, which is not followed"
    return status >= 500 or status == 429, f"HTTP {status} {answer.reason}"


def _pinned_post(
    host: str,
    port: int,
    addresses: Sequence[Address],
    secure: bool,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
) -> Answer:
    """POST to the first address that answers; the Host header and TLS name stay ``host``."""
    error: OSError | None = None
    for address in addresses:
        connection = _PinnedConnection(host, port, str(address), secure, timeout)
        try:
            connection.request("POST", path, body=body, headers=dict(headers))
            answer = connection.getresponse()
            data = answer.read(ANSWER_LIMIT)
            if answer.length and len(data) < ANSWER_LIMIT:
                raise http.client.IncompleteRead(data, answer.length)  # closed mid-answer
            return Answer(answer.status, answer.reason, data, dict(answer.getheaders()))
        except ConnectionRefusedError as refused:
            error = refused
        finally:
            connection.close()
    raise error or OSError(f"no address of {host} could be reached")


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to a checked address, speaking to ``host`` (Host header, SNI)."""

    def __init__(self, host: str, port: int, address: str, secure: bool, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address
        self._secure = secure

    def connect(self) -> None:
        """Connect to the pinned address (never a second lookup), with TLS for https."""
        sock = socket.create_connection((self._address, self.port), self.timeout)
        if self._secure:
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


def safe_url(url: str) -> str:
    """The URL without its path and query, which often hold a secret token (Slack hooks)."""
    parsed = urllib.parse.urlsplit(url)
    return (
        f"{parsed.scheme}://{parsed.hostname or ''}{':' + str(parsed.port) if parsed.port else ''}"
    )
