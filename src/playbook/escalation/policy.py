"""What the operator allows notification sinks to do: the playbook proposes, the operator disposes.

Playbooks are text that anyone with write access to the playbook repository
changes; the person who runs ``sweep``, ``worker`` or ``serve`` (the operator)
decides, through the environment or options, what their sinks may reach:

- ``PLAYBOOK_SINK_ENV_PREFIX``: a ``${NAME}`` in a playbook's sink must start
  with it (default ``PLAYBOOK_SINK_``);
- ``PLAYBOOK_SINK_ALLOW_ENV``: further variables playbooks may read (comma list);
- ``PLAYBOOK_WEBHOOK_HOSTS``: the hosts a playbook's webhooks may reach
  (``hooks.example.com,*.example.com``; default: any public host);
- ``PLAYBOOK_ALLOW_PRIVATE_SINKS=1``: loopback and private addresses allowed
  (default: refused);
- ``PLAYBOOK_JSONL_DIR``: the folder a playbook's ``jsonl:`` paths live in
  (default: the current folder);
- ``PLAYBOOK_SMTP_HOST``: the one host the SMTP credentials are sent to
  (default: none, so no login).

Link-local and cloud-metadata addresses (``169.254.169.254``) are refused
always. A webhook's host is resolved and every address checked before the
request, and the request goes to the checked address (no second lookup a DNS
rebinding could change). Redirects are never followed. SMTP credentials
(``PLAYBOOK_SMTP_USER``/``PASSWORD``) are sent only to ``PLAYBOOK_SMTP_HOST``
and only over TLS (``smtps://`` or ``starttls=1``).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbook.definition.sinkspec import always_refused, jsonl_path_problem
from playbook.errors import EscalationError, NotificationError
from playbook.i18n import Message

__all__ = ["DEFAULT_ENV_PREFIX", "Address", "SinkPolicy"]

DEFAULT_ENV_PREFIX = "PLAYBOOK_SINK_"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Resolver = Callable[[str, int], list[Address]]


def _resolve(host: str, port: int) -> list[Address]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


@dataclass(frozen=True, slots=True)
class SinkPolicy:
    """The operator's rules for sinks; see the module docstring for each one."""

    env_prefix: str = DEFAULT_ENV_PREFIX
    allowed_env: frozenset[str] = frozenset()
    webhook_hosts: tuple[str, ...] = ()
    allow_private: bool = False
    jsonl_dir: Path | None = None
    smtp_host: str | None = None
    resolver: _Resolver = field(default=_resolve, repr=False, compare=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> SinkPolicy:
        """The policy the environment sets (``os.environ`` by default); ``overrides`` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "env_prefix": env.get("PLAYBOOK_SINK_ENV_PREFIX", DEFAULT_ENV_PREFIX),
            "allowed_env": frozenset(_items(env.get("PLAYBOOK_SINK_ALLOW_ENV", ""))),
            "webhook_hosts": tuple(
                h.lower() for h in _items(env.get("PLAYBOOK_WEBHOOK_HOSTS", ""))
            ),
            "allow_private": env.get("PLAYBOOK_ALLOW_PRIVATE_SINKS", "") in ("1", "true", "yes"),
            "jsonl_dir": Path(env["PLAYBOOK_JSONL_DIR"]) if env.get("PLAYBOOK_JSONL_DIR") else None,
            "smtp_host": (env.get("PLAYBOOK_SMTP_HOST") or "").strip().lower() or None,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    def check_variable(self, sink: str, variable: str) -> None:
        """Refuse a ``${variable}`` the operator does not let playbooks read."""
        prefix_ok = bool(self.env_prefix) and variable.startswith(self.env_prefix)
        if prefix_ok or variable in self.allowed_env:
            return
        raise EscalationError(
            Message("error.policy.playbook_sink_reads_environment", sink=sink, variable=variable),
            hint=Message(
                "error.policy.name_let_operator_allow",
                env_prefix=self.env_prefix,
                variable=variable,
            ),
            details={"sink": sink, "variable": variable},
        )

    def jsonl_path(self, sink: str, path: str) -> Path:
        """The file a playbook's ``jsonl:`` path names, inside the JSON Lines folder."""
        problem = jsonl_path_problem(path)
        folder = (self.jsonl_dir or Path.cwd()).resolve()
        target = (folder / path).resolve() if problem is None else None
        if target is not None and not target.is_relative_to(folder):
            problem = Message("error.policy.jsonl_leads_out", path=path, folder=folder)
        if problem is not None or target is None:
            raise EscalationError(
                Message("error.policy.sink", sink=sink, problem=problem),
                hint=Message("error.policy.json_lines_files_live"),
                details={"sink": sink},
            )
        return target

    def check_host(self, sink: str, host: str) -> None:
        """Refuse a webhook host outside ``webhook_hosts`` (when the operator set any)."""
        name = host.rstrip(".").lower()
        if not self.webhook_hosts or any(fnmatch.fnmatchcase(name, p) for p in self.webhook_hosts):
            return
        raise EscalationError(
            Message("error.policy.sink_posts_which_not", sink=sink, name=name),
            hint=Message("error.policy.operator_allows_hosts_playbook"),
            details={"sink": sink, "host": name},
        )

    def addresses(self, sink: str, host: str, port: int) -> list[Address]:
        """The checked addresses to connect to for ``host``; a refusal is a failed delivery."""
        try:
            found = self.resolver(host, port)
        except (OSError, UnicodeError, ValueError) as error:
            raise NotificationError(
                Message("error.policy.sink_cannot_resolve", sink=sink, host=host, error=error),
                hint=Message("error.policy.delivery_stays_outbox_next"),
                details={"sink": sink},
            ) from error
        refused = [a for a in found if not self.address_allowed(a)]
        if refused or not found:
            raise NotificationError(
                Message(
                    "error.policy.sink_resolves_which_notifications",
                    sink=sink,
                    host=host,
                    value=refused[0] if refused else "nothing",
                ),
                hint=Message("error.policy.private_loopback_addresses_need"),
                details={"sink": sink, "host": host},
            )
        return found

    def address_allowed(self, address: Address) -> bool:
        """Never link-local/metadata; loopback and private only when the operator allows."""
        if always_refused(address):
            return False
        mapped = getattr(address, "ipv4_mapped", None)
        candidate = mapped if mapped is not None else address
        if candidate.is_global:
            return True
        return self.allow_private and (candidate.is_private or candidate.is_loopback)

    def smtp_login(
        self, sink: str, host: str, tls: bool, environ: Mapping[str, str]
    ) -> tuple[str, str] | None:
        """The credentials to log in with on ``host``, or None; refused where they do not belong."""
        user = environ.get("PLAYBOOK_SMTP_USER")
        if not user:
            return None
        name = host.rstrip(".").lower()
        if self.smtp_host is None or name != self.smtp_host:
            raise EscalationError(
                Message(
                    "error.policy.sink_would_send_smtp",
                    sink=sink,
                    name=name,
                    value=self.smtp_host or "no host (PLAYBOOK_SMTP_HOST is unset)",
                ),
                hint=Message("error.policy.set_playbook_smtp_host"),
                details={"sink": sink, "host": name},
            )
        if not tls:
            raise EscalationError(
                Message("error.policy.sink_would_send_smtp_2", sink=sink, name=name),
                hint=Message("error.policy.use_smtps_host_add"),
                details={"sink": sink, "host": name},
            )
        return user, environ.get("PLAYBOOK_SMTP_PASSWORD", "")


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
