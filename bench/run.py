"""Run the benchmarks: ``python bench/run.py SCENARIO [--quick] [--json] [--reps N]``.

Scenarios are modules of this folder (``pipeline``, ``latency``, ``memory``, ``crawl``, ``enrich``, ``api_submit``,
``api_read``, ``dashboard_pages``, ``scale``), each with ``async def run(quick: bool, reps: int) -> dict``: our
figure, the baseline's figure measured in the same invocation (runs alternated, medians) and their ratio
(``api_read`` has a target instead of a baseline: the worst p95 of its routes against 50 ms). ``all`` runs
every scenario, each in a process of its own. Benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import machine

SCENARIOS = ("pipeline", "latency", "enrich", "crawl", "memory", "api_submit", "api_read", "dashboard_pages", "scale")


def available() -> list[str]:
    here = Path(__file__).parent
    return [name for name in SCENARIOS if (here / f"{name}.py").exists()]


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"{'scenario':<14} {'unit':<12} {'ours':>12} {'baseline':>12} {'ratio':>8}  notes")
    for r in results:
        print(
            f"{r['scenario']:<14} {r['unit']:<12} {r['ours']:>12} {r['baseline']:>12} {r['ratio']:>8}  "
            f"{r.get('notes', '')}"
        )
        for sub in r.get("rows", []):
            print(
                f"  {sub['name']:<12} {sub['unit']:<12} {sub['ours']:>12} {sub['baseline']:>12} "
                f"{sub['ratio']:>8}  {sub.get('notes', '')}"
            )


def run_alone(name: str, quick: bool, reps: int) -> dict[str, Any]:
    """One scenario in a process of its own, as ``python bench/run.py NAME --json`` runs it: a scenario run
    after others in the same process would inherit their heap (and the garbage collector's work on it)."""
    command = [sys.executable, __file__, name, "--json", "--reps", str(reps), *(["--quick"] if quick else [])]
    done = subprocess.run(command, stdout=subprocess.PIPE, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, not a measurement)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each side (default 3)")
    args = parser.parse_args()
    names = available() if args.scenario == "all" else [args.scenario]
    missing = [n for n in names if n not in available()]
    if missing:
        print(f"bench: scenario {missing[0]!r} is not available in this checkout", file=sys.stderr)
        return 2
    results = []
    for name in names:
        if args.scenario == "all":
            results.append(run_alone(name, args.quick, args.reps))
        else:
            module = importlib.import_module(name)
            results.append(await module.run(quick=args.quick, reps=max(args.reps, 1)))
    if args.json:
        doc: dict[str, Any] = results[0] if len(results) == 1 else {"results": results}
        doc = {**doc, "machine": machine()}
        print(json.dumps(doc, indent=2))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
