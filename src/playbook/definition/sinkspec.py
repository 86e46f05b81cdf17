"""What can be said of a notification sink's spec from its text alone.

A playbook's ``notifications`` map names to sink specs (``jsonl:PATH``,
``webhook:URL``, ``smtp://HOST...``). Whether a webhook's host is allowed, or
which environment variables may be read, is the operator's decision when the
sweep runs (:mod:`playbook.escalation.policy`); but some specs are wrong
whatever the operator says, and ``playbook validate`` reports them with their
line: a ``jsonl:`` path that is absolute or leaves its folder, a URL that does
not parse, and a literal link-local or cloud-metadata address.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from pathlib import PurePosixPath, PureWindowsPath

from playbook.i18n import Items, Message

__all__ = [
    "ALWAYS_REFUSED_NETWORKS",
    "CHAT_KINDS",
    "always_refused",
    "jsonl_path_problem",
    "secret_problem",
    "spec_problem",
    "split_spec",
    "url_problem",
]

ALWAYS_REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "169.254.0.0/16",  # IPv4 link-local: cloud metadata (169.254.169.254) lives here
        "fe80::/10",  # IPv6 link-local
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "0.0.0.0/8",  # "this network": reaches the host itself on some systems
        "::/128",
        "224.0.0.0/4",  # multicast
        "ff00::/8",
    )
)
"""Addresses no notification may reach, whatever the operator allows."""

METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "metadata.internal"})
_RELATIVE = Message("diag.sinkspec.relative")
_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_SECRET = re.compile(r"[?&]secret=([^&#]*)")


CHAT_KINDS = ("wecom", "dingtalk", "feishu", "teams")
"""The chat services a sink spec may name (``dingtalk:URL``...)."""


def split_spec(spec: str) -> tuple[str, str]:
    """(kind, rest) of a spec: ``jsonl``, ``webhook``, a chat kind, ``smtp``, ``console``
    or ``unknown``."""
    body = spec.strip()
    if body == "console":
        return "console", ""
    for kind in CHAT_KINDS:
        if body.startswith(kind + ":"):
            return kind, body[len(kind) + 1 :]
    if body.startswith("jsonl:"):
        return "jsonl", body[len("jsonl:") :]
    if body.startswith("webhook:"):
        return "webhook", body[len("webhook:") :]
    if body.startswith(("http://", "https://")):
        return "webhook", body
    if body.startswith("email:"):
        body = body[len("email:") :]
    if body.startswith(("smtp://", "smtps://")):
        return "smtp", body
    return "unknown", body


def always_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` is link-local, metadata, multicast or unspecified."""
    mapped = getattr(address, "ipv4_mapped", None)
    candidate = mapped if mapped is not None else address
    return any(
        candidate in net for net in ALWAYS_REFUSED_NETWORKS if net.version == candidate.version
    )


def jsonl_path_problem(path: str) -> Message | None:
    """Why a ``jsonl:`` path of a playbook is refused, or None: it must stay in its folder."""
    if not path.strip():
        return Message("diag.sinkspec.jsonl_sink_names_no")
    if "\x00" in path:
        return Message("diag.sinkspec.jsonl_path_holds_nul")
    if path.startswith("~"):
        return Message("diag.sinkspec.jsonl_path_starts_give", path=path)
    for flavour in (PurePosixPath(path), PureWindowsPath(path)):
        if flavour.is_absolute() or flavour.drive or flavour.root:
            return Message("diag.sinkspec.jsonl_path_absolute", path=path, relative=_RELATIVE)
        if ".." in flavour.parts:
            return Message("diag.sinkspec.jsonl_path_climbs_out", path=path)
    return None


def url_problem(url: str, schemes: tuple[str, ...]) -> Message | None:
    """Why a sink URL is wrong whatever the operator allows, or None."""
    if _VARIABLE.match(url.strip()):
        return None  # the whole URL comes from the environment: the sweep checks it
    if _VARIABLE.search(url.split("?", 1)[0].split("#", 1)[0].partition("://")[2].split("/", 1)[0]):
        return None  # the host comes from the environment: the sweep checks it
    try:
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port
    except ValueError as error:
        return Message("diag.sinkspec.not_url", url=url, error=error)
    if parsed.scheme not in schemes:
        return Message(
            "diag.sinkspec.must_start", url=url, names=Items([s + "://" for s in schemes], "or")
        )
    host = parsed.hostname
    if not host:
        return Message("diag.sinkspec.names_no_host", url=url)
    if any(ch.isspace() for ch in url) or "\x00" in url:
        return Message("diag.sinkspec.holds_white_space_nul", url=url)
    if port == 0:
        return Message("diag.sinkspec.names_port_0", url=url)
    if parsed.username or parsed.password:
        return Message("diag.sinkspec.carries_credentials_url_put", url=url)
    if host.rstrip(".").lower() in METADATA_NAMES:
        return Message("diag.sinkspec.names_cloud_metadata_service", url=url)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if always_refused(address):
        return Message("diag.sinkspec.names_link_local_metadata", url=url, address=address)
    return None


def secret_problem(url: str) -> Message | None:
    """Why a chat sink's ``secret=`` is refused in a playbook: it must be a ``${NAME}``."""
    for value in _SECRET.findall(url.split("#", 1)[0]):
        if not _VARIABLE.fullmatch(urllib.parse.unquote(value).strip()):
            return Message("diag.sinkspec.secret_in_text")
    return None


def spec_problem(spec: str) -> Message | None:
    """Why a playbook's sink spec is refused from its text alone, or None."""
    kind, rest = split_spec(spec)
    if kind == "jsonl":
        return jsonl_path_problem(rest)
    if kind == "webhook":
        return url_problem(rest, ("https", "http"))
    if kind in CHAT_KINDS:
        return url_problem(rest, ("https", "http")) or secret_problem(rest)
    if kind == "smtp":
        return url_problem(rest, ("smtp", "smtps"))
    return None
