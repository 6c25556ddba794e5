"""Speed benchmarks, run by ``make bench`` (``python -m benchmarks``).

Each ``bench_<name>.py`` module exposes ``run() -> dict``.  Machines are shared
and noisy, so a benchmark reports *ratios* against a baseline measured in the
same run (the raw limit: LightGBM's own ``Booster.predict``), from the median or
the best of repeated runs (each module says which), never absolute times alone.  The runner writes one JSON per
benchmark to ``benchmarks/results/<name>.json`` (git-ignored).
"""
