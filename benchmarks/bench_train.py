"""`triage train` end to end: seconds against the number of cases (60 k, 200 k, 1 M).

For each size, synthetic cases with their truth are written to a CSV file (not
timed), then ``triage train --data … --truth … --results …`` runs in a child
process with a fresh ``TRIAGE_HOME`` and the default budget (240 s for search
and final fits): what a court runs, reading the file, building features,
searching, fitting, calibrating, evaluating, drawing the cards and registering
both models in MLflow.

Reported per size: wall seconds and CPU seconds (user + system of the child,
from the kernel — on a shared machine wall time grows with other jobs' load,
CPU time much less), and per model the test AUC, log loss, calibration error,
the gap to the Bayes limit, the trees and the final learning rate.  The ratios
are the curve's shape: time at each size over time at the smallest.

``TRIAGE_BENCH_TRAIN_SIZES`` (comma-separated case counts, default
``60000,200000,1000000``) picks the sizes.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_SIZES = (60_000, 200_000, 1_000_000)
SEED = 1  # the demo's


def train_sizes(text: str | None) -> tuple[int, ...]:
    """Case counts from ``TRIAGE_BENCH_TRAIN_SIZES`` ("60000,200000"), the defaults when unset."""
    if not text or not text.strip():
        return DEFAULT_SIZES
    try:
        sizes = tuple(int(part) for part in text.replace("_", "").split(",") if part.strip())
    except ValueError:
        raise ValueError(
            f"TRIAGE_BENCH_TRAIN_SIZES must be case counts separated by commas, got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"TRIAGE_BENCH_TRAIN_SIZES must be positive case counts, got {text!r}")
    return sizes


def size_label(n: int) -> str:
    """A case count as the curve names it: ``60 k``, ``200 k``, ``1 M``, ``1.5 k``, ``999``."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % (size // 10) == 0:
            return f"{n / size:g} {unit}"
    return f"{n:,}"


def curve_line(sizes: tuple[int, ...], rows: list[dict[str, Any]]) -> str:
    """The curve in one line: ``training seconds at 60 k / 200 k / 1 M: 250 / 255 / 262 wall, …``."""
    labels = " / ".join(size_label(n) for n in sizes)
    wall = " / ".join(f"{row['wall_seconds']:.0f}" for row in rows)
    cpu = " / ".join(f"{row['cpu_seconds']:.0f}" for row in rows)
    return f"training seconds at {labels}: {wall} wall, {cpu} CPU"


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train_once(n: int, folder: Path) -> dict[str, Any]:
    """Generate ``n`` cases, then time ``triage train`` on them in a child process."""
    from features.synthetic import write_synthetic

    cases, truth, results = folder / "cases.csv", folder / "truth.csv", folder / "results.json"
    write_synthetic(n, cases, truth, seed=SEED)
    environment = os.environ | {"TRIAGE_HOME": str(folder / "home")}
    command = [sys.executable, "-m", "app.cli", "train", "--data", str(cases)]
    command += ["--truth", str(truth), "--results", str(results)]
    # Extra `triage train` options (e.g. a small budget when only the plumbing is tested).
    command += shlex.split(os.environ.get("TRIAGE_BENCH_TRAIN_ARGS", ""))
    cpu_before, started = _children_cpu_seconds(), time.perf_counter()
    subprocess.run(command, env=environment, check=True, capture_output=True)
    wall = time.perf_counter() - started
    cpu = _children_cpu_seconds() - cpu_before
    summary = json.loads(results.read_text(encoding="utf-8"))
    row: dict[str, Any] = {
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "training_seconds": summary["seconds"],
    }
    for kind, model in summary["models"].items():
        test = model["test"]
        ours, bayes = test["model"], test.get("bayes_limit", {})
        row[f"{kind}_auc"] = round(ours["auc"], 4)
        row[f"{kind}_log_loss"] = round(ours["log_loss"], 4)
        row[f"{kind}_ece"] = round(ours["ece"], 4)
        if bayes:
            gap = (ours["log_loss"] - bayes["log_loss"]) / bayes["log_loss"] * 100
            row[f"{kind}_log_loss_gap_pct"] = round(gap, 2)
        row[f"{kind}_trees"] = model["trees"]
        row[f"{kind}_learning_rate"] = model["learning_rate"]
    return row


def run() -> dict:
    """Train at each size and return the curve (see the module docstring)."""
    sizes = train_sizes(os.environ.get("TRIAGE_BENCH_TRAIN_SIZES"))
    curve: dict[str, dict[str, Any]] = {}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="triage-bench-train-") as scratch:
            curve[f"{n:,} cases"] = train_once(n, Path(scratch))
        row = curve[f"{n:,} cases"]
        print(
            f"  {n:>9,} cases: {row['wall_seconds']:6.1f} s wall, {row['cpu_seconds']:6.1f} s CPU",
            flush=True,
        )
    print("  " + curve_line(sizes, [curve[f"{n:,} cases"] for n in sizes]), flush=True)
    first = next(iter(curve))
    ratios = {}
    for label, row in list(curve.items())[1:]:
        for clock in ("wall", "cpu"):
            seconds, smallest = row[f"{clock}_seconds"], curve[first][f"{clock}_seconds"]
            ratios[f"{label} / {first}, {clock} time"] = round(seconds / max(smallest, 1e-9), 2)
    return {
        "ratios": ratios,
        **curve,
        "setup": {
            "budget": "default (TrainingConfig)",
            "extra_train_args": os.environ.get("TRIAGE_BENCH_TRAIN_ARGS", ""),
            "cpus": os.cpu_count(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(set by triage: PASSIVE)"),
            "note": "wall time on a shared machine grows with other jobs; CPU time less so",
        },
    }
