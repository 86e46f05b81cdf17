"""How fast is `playbook validate`? Two figures, each against a baseline measured in the same run.

(a) ``playbook validate playbooks/`` on the sample playbooks, as a subprocess:
    the median wall time of 5 runs, against the startup of ``python -c pass``.
(b) 1,000 playbook files (copies of the samples with different ids) validated
    in one process, against merely ``yaml.safe_load``-ing the same files.

Then the imports of the validate path that take the longest (``-X importtime``).
``main()`` returns 1 when a figure misses its target.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TARGET_SAMPLES_S = 0.5
TARGET_THOUSAND_S = 10.0
COPIES = 1000
RUNS = 5


def _samples() -> list[Path]:
    """The sample playbooks; the valid examples when the samples are not there."""
    from playbook.definition.validate import find_playbooks  # scenario files are not playbooks

    found = [Path(p) for p in find_playbooks([REPO / "playbooks"])]
    return found or [Path(p) for p in find_playbooks([REPO / "tests" / "examples" / "valid"])]


def _median_wall_time(command: Sequence[str], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _write_copies(samples: list[Path], folder: Path, count: int) -> list[Path]:
    """``count`` files cycling through the samples, each with its own playbook id."""
    texts = [path.read_text(encoding="utf-8") for path in samples]
    written = []
    for n in range(count):
        text = re.sub(
            r"^playbook: *(\S+)", rf"playbook: \g<1>-copy-{n}", texts[n % len(texts)], flags=re.M
        )
        path = folder / f"copy-{n:04d}.yaml"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _report(name: str, seconds: float, target: float, baseline: float, what: str) -> bool:
    print(f"{name} {seconds:.3f} (target < {target:g}; {seconds / baseline:.1f}x {what})")
    return seconds < target


def samples_figure(samples: list[Path]) -> bool:
    """(a): the command on the sample folder, against interpreter startup."""
    folder = samples[0].parent
    command = [sys.executable, "-m", "playbook", "validate", str(folder)]
    check = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if check.returncode != 0:
        print(f"warning: {folder} does not validate cleanly:\n{check.stdout}{check.stderr}")
    startup = _median_wall_time([sys.executable, "-c", "pass"])
    seconds = _median_wall_time(command)
    print(f"python.startup_median_s {startup:.3f}")
    name = f"validate.{len(samples)}_samples_median_s"
    return _report(name, seconds, TARGET_SAMPLES_S, startup, "python startup")


def thousand_figure(samples: list[Path]) -> bool:
    """(b): 1,000 files in one process, against yaml.safe_load of the same files."""
    from playbook.definition.validate import validate_paths

    with tempfile.TemporaryDirectory() as folder:
        paths = _write_copies(samples, Path(folder), COPIES)
        baseline = _timed(lambda: [yaml.safe_load(p.read_text(encoding="utf-8")) for p in paths])
        validate_paths(paths[:1])  # the first call pays for building the validators
        started = time.perf_counter()
        report = validate_paths([folder])
        seconds = time.perf_counter() - started
    if report.counts["error"]:
        print(f"warning: the copies have {report.counts['error']} errors")
    print(f"yaml.safe_load_{COPIES}_files_s {baseline:.3f}")
    name = f"validate.{COPIES}_files_in_process_s"
    return _report(name, seconds, TARGET_THOUSAND_S, baseline, "yaml.safe_load")


def slowest_imports(samples: list[Path], top: int = 10) -> list[tuple[str, float]]:
    """The modules whose import (with what they import) took longest on the validate path."""
    command = [sys.executable, "-X", "importtime", "-m", "playbook", "validate", str(samples[0])]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    found: list[tuple[str, float]] = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if match and len(match.group(2)) <= 3:  # top-level imports and their direct children
            found.append((match.group(3), int(match.group(1)) / 1000))
    return sorted(found, key=lambda item: -item[1])[:top]


def main() -> int:
    """Print the figures, one per line; 1 when a target is missed."""
    samples = _samples()
    if not samples:
        print("no sample playbooks found")
        return 1
    met = [samples_figure(samples), thousand_figure(samples)]
    for module, milliseconds in slowest_imports(samples):
        print(f"import.{module}_ms {milliseconds:.1f}")
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
