"""The long fuzz run: millions of generated inputs through the loader and the condition language.

Usage::

    python tests/fuzz/run.py --target loader|conditions|all --inputs N --jobs J --seed S
    python tests/fuzz/run.py --target conditions --replay SEED   # one input, with its traceback

Input ``i`` of a run with ``--seed S`` is generated from the integer seed
``S * 1_000_000_000 + i`` (see ``generators.py``), so every crash is
reproduced from its seed alone. Any exception other than ``PlaybookError`` is a
crash; crashes are grouped by exception type and innermost ``src/playbook``
frame. Crashing inputs go to ``out/fuzz/<target>/<class>/`` (the first few of
each class, and ``minimal.*``: the shortest found, then shrunk). Progress every
~10 s; a summary per target at the end; exit code 1 when anything crashed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generators import ConditionInput, condition_input, playbook_text
from targets import crash_class, run_condition, run_loader, safe_name

TARGETS = ("loader", "conditions")
SEED_STRIDE = 1_000_000_000
CHUNK = 250
TIMEOUT_SECONDS = 20
KEEP_PER_CLASS = 10
SHRINK_SECONDS = 5.0


class InputTimeout(Exception):
    """One input ran longer than :data:`TIMEOUT_SECONDS` (a hang counts as a crash)."""


@dataclass
class Found:
    """The crashes of one class: how many, the smallest input, a few seeds to keep."""

    count: int = 0
    smallest: tuple[int, int] | None = None  # (size, seed)
    kept: list[int] = field(default_factory=list)

    def add(self, size: int, seed: int) -> None:
        self.count += 1
        if self.smallest is None or size < self.smallest[0]:
            self.smallest = (size, seed)
        if len(self.kept) < KEEP_PER_CLASS:
            self.kept.append(seed)

    def merge(self, other: Found) -> None:
        self.count += other.count
        if other.smallest and (self.smallest is None or other.smallest < self.smallest):
            self.smallest = other.smallest
        self.kept.extend(other.kept[: KEEP_PER_CLASS - len(self.kept)])


# --- one input -----------------------------------------------------------------------


def make_input(target: str, seed: int) -> Any:
    """The input of ``target`` for ``seed``: a playbook text or a ConditionInput."""
    return playbook_text(seed) if target == "loader" else condition_input(seed)


def run_input(target: str, case: Any, seed: int, sql_every: int) -> None:
    """Feed one input to its target; raises what the library raised (or InputTimeout)."""
    if target == "loader":
        run_loader(case)
    else:
        run_condition(case, sql=seed % sql_every == 0)


def size_of(case: Any) -> int:
    """Input size, to prefer the shortest reproducer."""
    return len(case) if isinstance(case, str) else case.size()


def _on_alarm(signum: int, frame: Any) -> None:
    raise InputTimeout(f"no answer within {TIMEOUT_SECONDS} s")


def run_chunk(target: str, seeds: range, sql_every: int) -> tuple[int, dict[str, Found]]:
    """Run the inputs of ``seeds`` (in a worker process); the crashes found, by class."""
    signal.signal(signal.SIGALRM, _on_alarm)
    found: dict[str, Found] = {}
    for seed in seeds:
        case = make_input(target, seed)
        signal.alarm(TIMEOUT_SECONDS)
        try:
            run_input(target, case, seed, sql_every)
        except Exception as exc:
            found.setdefault(crash_class(exc), Found()).add(size_of(case), seed)
        finally:
            signal.alarm(0)
    return len(seeds), found


# --- the run -------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a run of one target found."""

    target: str
    inputs: int = 0
    seconds: float = 0.0
    classes: dict[str, Found] = field(default_factory=dict)
    died: list[range] = field(default_factory=list)

    @property
    def crashes(self) -> int:
        return sum(f.count for f in self.classes.values()) + len(self.died)

    def merge(self, found: dict[str, Found]) -> None:
        for name, part in found.items():
            self.classes.setdefault(name, Found()).merge(part)


def fuzz(target: str, inputs: int, jobs: int, seed: int, sql_every: int) -> Outcome:
    """Run ``inputs`` inputs of ``target`` on ``jobs`` worker processes, printing progress."""
    outcome = Outcome(target)
    chunks = _chunks(seed * SEED_STRIDE, inputs)
    start = last = time.monotonic()
    with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
        running: dict[Future[tuple[int, dict[str, Found]]], range] = {}
        while True:
            while len(running) < jobs * 4 and (seeds := next(chunks, None)) is not None:
                running[pool.submit(run_chunk, target, seeds, sql_every)] = seeds
            if not running:
                break
            done, _ = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                seeds = running.pop(future)
                try:
                    count, found = future.result()
                except BrokenProcessPool:
                    outcome.died.append(seeds)
                    print(f"[{target}] a worker died in seeds {seeds.start}..{seeds.stop - 1}")
                    return _finish(outcome, start)
                outcome.inputs += count
                outcome.merge(found)
            if time.monotonic() - last >= 10:
                last = time.monotonic()
                _progress(outcome, last - start)
    return _finish(outcome, start)


def _chunks(first: int, inputs: int) -> Iterator[range]:
    for low in range(first, first + inputs, CHUNK):
        yield range(low, min(low + CHUNK, first + inputs))


def _finish(outcome: Outcome, start: float) -> Outcome:
    outcome.seconds = time.monotonic() - start
    return outcome


def _progress(outcome: Outcome, elapsed: float) -> None:
    rate = outcome.inputs / elapsed if elapsed else 0.0
    print(
        f"[{outcome.target}] {outcome.inputs:,} inputs, {rate:,.0f}/s, "
        f"{outcome.crashes:,} crashes in {len(outcome.classes)} classes",
        flush=True,
    )


# --- reporting and reproducers -------------------------------------------------------


def same_class(target: str, expected: str) -> Callable[[Any], bool]:
    """A test for the shrinker: does this input still crash with class ``expected``?"""

    def crashes(case: Any) -> bool:
        signal.alarm(TIMEOUT_SECONDS)
        try:
            run_input(target, case, 0, 1)
        except Exception as exc:
            return crash_class(exc) == expected
        finally:
            signal.alarm(0)
        return False

    return crashes


def shrink(text: str, still_crashes: Callable[[str], bool], budget: float) -> str:
    """Greedy delta debugging: drop chunks of lines, then of characters, while it still crashes."""
    deadline = time.monotonic() + budget
    for split in (str.splitlines, list):
        parts: list[str] = list(split(text))  # type: ignore[operator]
        joiner = "\n" if split is str.splitlines else ""
        size = max(len(parts) // 2, 1)
        while size >= 1 and time.monotonic() < deadline:
            i, removed = 0, False
            while i < len(parts) and time.monotonic() < deadline:
                trial = parts[:i] + parts[i + size :]
                candidate = joiner.join(trial) + ("\n" if joiner and text.endswith("\n") else "")
                if trial and still_crashes(candidate):
                    parts, removed = trial, True
                else:
                    i += size
            if not removed:
                size //= 2
        text = joiner.join(parts) + ("\n" if joiner and text.endswith("\n") else "")
    return text


def minimal(target: str, name: str, seed: int) -> tuple[str, str]:
    """The smallest input of a class, shrunk when it is text; and how it reads (form, tz)."""
    case = make_input(target, seed)
    check = same_class(target, name)
    if target == "loader":
        return shrink(case, check, SHRINK_SECONDS), ""
    assert isinstance(case, ConditionInput)
    tz = f"tz={case.tz}"
    if not isinstance(case.source, str):
        return case.describe(), f"structured form, {tz}"

    def condition_crashes(text: str) -> bool:
        return check(ConditionInput(text, case.tz, case.seed))

    return shrink(case.source, condition_crashes, SHRINK_SECONDS), f"string form, {tz}"


def write_reproducers(outcome: Outcome, out: Path) -> dict[str, tuple[str, str]]:
    """Write the kept inputs and the minimal one of each class; return the minimal ones."""
    minimals: dict[str, tuple[str, str]] = {}
    suffix = ".yaml" if outcome.target == "loader" else ".txt"
    for name, found in sorted(outcome.classes.items()):
        folder = out / outcome.target / safe_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        for seed in found.kept:
            case = make_input(outcome.target, seed)
            text = case if isinstance(case, str) else _condition_file(case)
            (folder / f"seed-{seed}{suffix}").write_text(text, encoding="utf-8", errors="replace")
        assert found.smallest is not None
        text, how = minimal(outcome.target, name, found.smallest[1])
        minimals[name] = (text, how)
        (folder / f"minimal{suffix}").write_text(text, encoding="utf-8", errors="replace")
    return minimals


def _condition_file(case: ConditionInput) -> str:
    form = "string" if isinstance(case.source, str) else "structured"
    return (
        f"# replay: python tests/fuzz/run.py --target conditions --replay {case.seed}\n"
        f"# form: {form}; tz: {case.tz}\n{case.describe()}\n"
    )


def report(outcome: Outcome, minimals: dict[str, tuple[str, str]]) -> None:
    """Print the summary of one target: throughput, then each crash class with its reproducer."""
    rate = outcome.inputs / outcome.seconds if outcome.seconds else 0.0
    print(f"\n== {outcome.target}: {outcome.inputs:,} inputs in {outcome.seconds:,.1f} s")
    print(f"   {rate:,.0f} inputs/s, {outcome.crashes:,} crashes in {len(outcome.classes)} classes")
    for name, found in sorted(outcome.classes.items(), key=lambda item: -item[1].count):
        text, how = minimals.get(name, ("", ""))
        assert found.smallest is not None
        shown = text if len(text) <= 300 else text[:300] + f"... ({len(text):,} characters)"
        where = f"smallest: seed {found.smallest[1]}" + (f", {how}" if how else "")
        print(f"\n  {found.count:>8,}  {name}  ({where})")
        print("            " + repr(shown))
    for seeds in outcome.died:
        print(f"\n  a worker died in seeds {seeds.start}..{seeds.stop - 1}")


def replay(target: str, seed: int) -> int:
    """Run one input in this process and print it and its traceback; 1 when it crashes."""
    case = make_input(target, seed)
    print(case if isinstance(case, str) else _condition_file(case))
    try:
        run_input(target, case, seed, 1)
    except Exception as exc:
        traceback.print_exception(exc, limit=-25)
        print(f"\ncrash class: {crash_class(exc)}")
        return 1
    print("no crash")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run each target, report; 1 when anything crashed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=(*TARGETS, "all"), default="all")
    parser.add_argument("--inputs", type=int, default=1_000_000, help="inputs per target")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sql-every", type=int, default=10, help="compile the SQL of one input in N (conditions)"
    )
    parser.add_argument("--out", type=Path, default=Path("out/fuzz"))
    parser.add_argument("--replay", type=int, metavar="SEED", help="run one input and show it")
    args = parser.parse_args(argv)
    targets = TARGETS if args.target == "all" else (args.target,)
    if args.replay is not None:
        return replay(targets[0], args.replay)
    crashed = False
    for target in targets:
        print(
            f"[{target}] {args.inputs:,} inputs, {args.jobs} workers, seed {args.seed}", flush=True
        )
        outcome = fuzz(target, args.inputs, args.jobs, args.seed, args.sql_every)
        signal.signal(signal.SIGALRM, _on_alarm)
        minimals = write_reproducers(outcome, args.out)
        report(outcome, minimals)
        crashed = crashed or outcome.crashes > 0
    if crashed:
        print(f"\ncrashing inputs written under {args.out}/")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
