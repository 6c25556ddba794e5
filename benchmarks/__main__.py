"""Run the benchmarks: ``python -m benchmarks [NAME ...]``.

Discovers the ``bench_*.py`` modules of this package, runs those whose name
contains one of the given words (all when none is given), prints each result
and writes it to ``benchmarks/results/<name>.json``.  A result listing
``failed_properties`` (a correctness check of the soak, not a speed target)
makes the exit code 1, once every chosen benchmark has run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

from app.files import write_atomically

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = PACKAGE_DIR / "results"


def discover() -> list[str]:
    """Short names of the benchmarks (``bench_features.py`` → ``features``), sorted."""
    return sorted(
        module.name.removeprefix("bench_")
        for module in pkgutil.iter_modules([str(PACKAGE_DIR)])
        if module.name.startswith("bench_")
    )


def format_result(result: dict) -> str:
    """Human-readable lines: ratios first (``a / b = 4.2×``), then the other entries."""
    lines = [f"  {label} = {value:.3g}×" for label, value in result.get("ratios", {}).items()]
    for key, value in result.items():
        if key == "ratios":
            continue
        if isinstance(value, dict):
            lines.append(f"  {key}:")
            lines += [f"    {k}: {_number(v)}" for k, v in value.items()]
        else:
            lines.append(f"  {key}: {_number(value)}")
    return "\n".join(lines)


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_json(path: Path, result: dict[str, object]) -> None:
    """Write ``result`` atomically: a reader never sees half a file."""
    write_atomically(path, json.dumps(result, indent=2, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help="run only benchmarks whose name contains one")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="JSON folder")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    chosen = [n for n in available if not args.names or any(w in n for w in args.names)]
    if not chosen:
        print(f"no benchmark matches {args.names}; available: {available}", file=sys.stderr)
        return 2
    failed: list[str] = []
    for name in chosen:
        module = importlib.import_module(f"{__package__ or 'benchmarks'}.bench_{name}")
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        result = module.run()
        result["wall_seconds"] = round(time.perf_counter() - started, 1)
        print(format_result(result), flush=True)
        path = args.results / f"{name}.json"
        write_json(path, result)
        print(f"  -> {path}", flush=True)
        failed += [f"{name}: {p}" for p in result.get("failed_properties", [])]
    if failed:
        print("FAILED:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
