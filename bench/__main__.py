"""``python3 -m bench``: run the benchmark, print the tables, write ``docs/performance.md``.

python3 -m bench            # full run, a few minutes; writes docs/performance.md (+ .png)
python3 -m bench --quick    # smoke run, seconds; prints only (unless --output is given)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import cache, chart, dpop, http_load, inprocess, instructions, keyset, machine, micro, report, stores
from .timing import ALGORITHMS, Settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "docs" / "performance.md"
PARTS = ("micro", "inprocess", "dpop", "http", "keyset", "stores", "cache", "instructions")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: seconds, numbers meaningless")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {', '.join(PARTS)}")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS), help="for the micro benchmark")
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto", help="HTTP load generator")
    parser.add_argument("--rounds", type=int, help="override the rounds of the micro, DPoP and HTTP parts")
    parser.add_argument("--duration", type=float, help="override the seconds per HTTP measurement")
    parser.add_argument("--redis-url", help="the Redis of the stores part (default: a redis-server of its own)")
    parser.add_argument(
        "--output", type=Path, help="markdown to write (default: docs/performance.md; none with --quick)"
    )
    parser.add_argument("--no-chart", action="store_true", help="do not draw the PNG chart")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON")
    parser.add_argument("--render", type=Path, metavar="JSON", help="measure nothing: render results saved by --json")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings.quick_preset() if args.quick else Settings.full()
    settings.algorithms = tuple(name.strip() for name in args.algorithms.split(",") if name.strip())
    settings.load = args.load
    if args.rounds:
        settings.micro_rounds = settings.dpop_rounds = settings.http_rounds = args.rounds
    if args.duration:
        settings.http_duration = args.duration
    if args.redis_url:
        settings.redis_url = args.redis_url
    return settings


def run(settings: Settings, parts: Sequence[str], log: Any = sys.stderr) -> dict[str, Any]:
    """Run ``parts``; return every result with the machine description."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown part(s): {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    results: dict[str, Any] = {
        "settings": dataclasses.asdict(settings),
        "machine": machine.describe(),
        "foreign_cpu": {},
    }
    runners = {
        "micro": micro.run,
        "inprocess": inprocess.run,
        "dpop": dpop.run,
        "http": http_load.run,
        "keyset": keyset.run,
        "stores": stores.run,
        "cache": cache.run,
        "instructions": _instructions,
    }
    for part in PARTS:
        if part in parts:
            print(f"bench: running {part} …", file=log, flush=True)
            before = machine.CpuSnapshot.take()
            results[part] = runners[part](settings)
            after = machine.CpuSnapshot.take()
            results["foreign_cpu"][part] = before.foreign_share(after)
            print(f"bench: {part} took {after.wall - before.wall:.0f} s", file=log, flush=True)
    return results


def _instructions(settings: Settings) -> dict[str, Any]:
    if not settings.instructions:
        return {"skipped": "a quick run does not count instructions (minutes under valgrind)"}
    return instructions.run(settings)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    results: dict[str, Any]
    if args.render is not None:
        results = json.loads(args.render.read_text(encoding="utf-8"))
    else:
        settings = settings_from(args)
        parts = [part.strip() for part in args.parts.split(",") if part.strip()]
        results = run(settings, parts)
    if args.json is not None:  # first: a failure below must not lose minutes of measurements
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    output: Path | None = args.output or (None if results["settings"]["quick"] else DEFAULT_OUTPUT)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
    chart_name = None
    if output is not None and not args.no_chart:
        chart_path = output.with_suffix(".png")
        if chart.draw(results, chart_path):
            chart_name = chart_path.name
        else:
            print("bench: no chart (pip install matplotlib, or the bench extra)", file=sys.stderr)
    page = report.markdown(results, chart_name)
    print(page)
    if output is not None:
        output.write_text(page, encoding="utf-8")
        print(f"bench: wrote {output}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
