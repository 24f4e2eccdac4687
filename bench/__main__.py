"""Run the benchmarks: ``python -m bench [--json] [--strict] [name ...]``.

Each benchmark runs in a fresh process of its own (``python -m bench.<module> --json``), so the memory
figures of one are not polluted by another; their figures are collected into one table
(figure | value | target | ok) or, with ``--json``, one JSON object. Progress goes to stderr.
``python -m bench --list`` lists the benchmarks. Without names, every benchmark of the full run runs.
The exit status is 1 if a benchmark failed to run (or, with ``--strict``, missed a target), else 0.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.registry import BENCHMARKS, target_for

ROOT = Path(__file__).resolve().parent.parent


def run_one(name: str) -> tuple[dict[str, Any], str | None]:
    """(figures, error) of one benchmark, run in its own process; its progress is passed through to stderr."""
    module = BENCHMARKS[name].module
    process = subprocess.Popen([sys.executable, "-m", module, "--json"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None and process.stdout is not None
    tail: collections.deque[str] = collections.deque(maxlen=30)
    for line in process.stderr:
        tail.append(line.rstrip("\n"))
        print(line, end="", file=sys.stderr, flush=True)
    out = process.stdout.read()
    status = process.wait()
    lines = [line for line in out.splitlines() if line.strip()]
    if status != 0 or not lines:
        last = next((line for line in reversed(tail) if line.strip()), "")
        return {}, f"exit {status}: {last}"
    try:
        return json.loads(lines[-1]), None
    except json.JSONDecodeError as error:
        return {}, f"unreadable output: {error}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="name", help=f"benchmarks to run: {', '.join(BENCHMARKS)}")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args()
    if args.list:
        for name, spec in BENCHMARKS.items():
            print(f"{name:18} {spec.title}{'' if spec.in_full_run else ' (not in the full run)'}")
        return
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = args.names or [name for name, spec in BENCHMARKS.items() if spec.in_full_run]

    figures: dict[str, Any] = {}
    failed = False
    began = time.perf_counter()
    for name in names:
        print(f"== {name}: {BENCHMARKS[name].title}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        result, error = run_one(name)
        print(f"== {name}: {time.perf_counter() - started:.1f} s{'' if error is None else ' FAILED ' + error}",
              file=sys.stderr, flush=True)
        figures.update(result)
        if error is not None:
            figures[f"{name}_error"] = error
            failed = True
    print(f"== all: {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)

    if args.json:
        print(json.dumps(figures))
    else:
        from bench.common import print_table

        print_table(figures)
    missed = [name for name, value in figures.items()
              if (target := target_for(name)) is not None and isinstance(value, (int, float)) and not target.met(value)]
    if failed or (args.strict and missed):
        sys.exit(1)


if __name__ == "__main__":
    main()
