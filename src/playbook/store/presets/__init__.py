"""Ready import mappings for the exports of common CRMs, shipped with playbook.

``--mapping preset:zoho`` (or ``--preset zoho``) reads ``zoho.yaml`` from this
package. Each preset is an ordinary mapping file (see docs/store.md) written
for the stage and field ids of the ``smb-standard-funnel`` template; for
another playbook, copy the file and edit its ``stage.values`` and ``fields``
tables. docs/crm-mapping.md lists them with the columns each one reads.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from playbook.errors import PresetNotFoundError
from playbook.i18n import Message

__all__ = ["PRESET_PREFIX", "preset_names", "preset_path"]

PRESET_PREFIX = "preset:"
"""How a mapping argument names a shipped preset: ``preset:zoho``."""


def preset_names() -> list[str]:
    """The names of the shipped presets, sorted."""
    folder = resources.files(__name__)
    return sorted(
        item.name.removesuffix(".yaml") for item in folder.iterdir() if item.name.endswith(".yaml")
    )


def preset_path(text: str) -> Path:
    """The file of ``preset:NAME`` (or ``NAME``); PresetNotFoundError for an unknown name."""
    name = text.removeprefix(PRESET_PREFIX).strip()
    if name not in preset_names():
        raise PresetNotFoundError(
            Message("error.presets.unknown_preset", name=name),
            hint=Message("error.presets.known_presets", names=preset_names()),
            details={"preset": name, "presets": preset_names()},
        )
    return Path(str(resources.files(__name__).joinpath(f"{name}.yaml")))
