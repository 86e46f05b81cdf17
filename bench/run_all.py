"""Run every benchmark under bench/: the ``main()`` of each ``bench/*.py``, alphabetically.

Each script gets a header line; the exit status is non-zero when any script
returns non-zero or raises.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _run(script: Path) -> int:
    spec = importlib.util.spec_from_file_location(f"bench_{script.stem}", script)
    if spec is None or spec.loader is None:
        print(f"cannot load {script.name}")
        return 1
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        result = module.main()
    except Exception:  # a broken benchmark must not stop the others
        traceback.print_exc()
        return 1
    return result if isinstance(result, int) else 0


def main() -> int:
    """Run each benchmark; 1 when any of them failed."""
    failed = []
    for script in sorted(HERE.glob("*.py")):
        if script.name == Path(__file__).name:
            continue
        print(f"== {script.name}", flush=True)
        if _run(script) != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
