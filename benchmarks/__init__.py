"""Speed benchmarks, run by ``make bench`` (``python -m benchmarks``).

Each ``bench_<name>.py`` module exposes ``run() -> dict``.  Machines are shared
and noisy, so a benchmark reports *ratios* against a baseline measured in the
same run (the raw limit: LightGBM's own ``Booster.predict``), from the median or
the best of repeated runs (each module says which), never absolute times alone.  The runner writes one JSON per
benchmark to ``benchmarks/results/<name>.json`` (git-ignored).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(repeat: int, function: Callable[[], object]) -> float:
    """Seconds of the fastest of ``repeat`` calls: the least disturbed by other load."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best
