"""The fuzz tests import their generators and targets from this directory.

``run.py``, ``generators.py`` and ``targets.py`` are tools, not tests: their
names do not match ``test_*.py``, and ``collect_ignore`` says so outright.
"""

from __future__ import annotations

import sys
from pathlib import Path

collect_ignore = ["run.py", "generators.py", "targets.py"]

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
