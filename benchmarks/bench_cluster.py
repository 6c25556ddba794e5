"""`triage score --cluster` against the single process, on the same cases.

Two small models are trained in memory (one LightGBM thread per scoring
call, as on a cluster worker); the same synthetic cases are written as one
CSV file and as ``PARTS`` CSV files.  Two ``LocalCluster``s of single-threaded
worker processes, one of 1 worker and one of 2, are started once and warmed up
(a worker's first task imports the scoring stack); then, in alternating
rounds, with three reasons and without:

* ``single`` — :func:`training.score.score_file` on the one file (today's path);
* ``dask_1_worker_file`` — :func:`training.cluster_score.score_on_cluster` on
  the one file with 1 worker: **Dask's overhead** is this ÷ ``single``;
* ``dask_1_worker_parts`` / ``dask_2_workers_parts`` — the parts with 1 and 2
  workers: **scaling** is the second ÷ the first (2.0 would be perfect), and
  each worker's throughput is rows/s ÷ workers.

The best of the rounds is kept (the least disturbed by other load).  On a
2-core machine the 2-worker cluster has no core left for the client and the
scheduler, so its scaling is a lower bound.  ``TRIAGE_BENCH_CLUSTER_ROWS``
(200,000) sets the size, ``TRIAGE_BENCH_CLUSTER_ROUNDS`` (2) the rounds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROWS = int(os.environ.get("TRIAGE_BENCH_CLUSTER_ROWS", 200_000))
ROUNDS = int(os.environ.get("TRIAGE_BENCH_CLUSTER_ROUNDS", 2))
PARTS = 8


def _triage():
    from features.synthetic import generate_cases
    from models.case_model import LoadedModel
    from models.triage import Triage
    from training.config import SearchConfig, TrainingConfig
    from training.train import fit_models

    config = TrainingConfig(search=SearchConfig(n_trials=2, time_budget_seconds=60), threads=2)
    fitted = fit_models(generate_cases(30_000, seed=5).cases, config)
    for outcome in fitted.outcomes.values():
        outcome.model.threads = 1  # as on a worker: the parallelism is the tasks'
    models = {
        kind: LoadedModel(f"triage-{kind}", "bench", None, outcome.model)
        for kind, outcome in fitted.outcomes.items()
    }
    return Triage(stream=models["stream"], assets=models["assets"])


def _write_cases(folder: Path) -> tuple[Path, Path]:
    """The cases as one CSV file and as ``PARTS`` files of consecutive rows."""
    import pandas as pd

    from features.synthetic import write_synthetic

    whole = folder / "cases.csv"
    write_synthetic(ROWS, whole, seed=8)
    text = pd.read_csv(whole, dtype=str, keep_default_na=False)
    parts = folder / "parts"
    parts.mkdir()
    size = -(-ROWS // PARTS)
    for i in range(PARTS):
        text.iloc[i * size : (i + 1) * size].to_csv(parts / f"part-{i}.csv", index=False)
    return whole, parts


def run() -> dict[str, object]:
    """Rows per second of the single process and of 1 and 2 Dask workers, same cases."""
    from distributed import Client, LocalCluster

    from training.cluster_score import score_on_cluster
    from training.score import score_file

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as scratch:
        folder = Path(scratch)
        triage = _triage()
        whole, parts = _write_cases(folder)
        out = folder / "out"

        def on(client: Client, data: Path, reasons: int) -> Callable[[], object]:
            def score() -> object:
                shutil.rmtree(out, ignore_errors=True)
                return score_on_cluster(
                    str(data), out, client=client, reasons=reasons, triage=triage, progress=False
                )

            return score

        def single(reasons: int) -> Callable[[], object]:
            return lambda: score_file(
                whole, folder / "one.parquet", reasons=reasons, triage=triage, progress=False
            )

        clusters = [
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            for n in (1, 2)
        ]
        try:
            one, two = (Client(cluster) for cluster in clusters)
            for client in (one, two):  # a worker's first task imports the scoring stack
                on(client, parts, 0)()
            runs: dict[str, Callable[[], object]] = {}
            for reasons, label in ((3, "with_reasons"), (0, "without_reasons")):
                runs |= {
                    f"single {label}": single(reasons),
                    f"dask_1_worker_file {label}": on(one, whole, reasons),
                    f"dask_1_worker_parts {label}": on(one, parts, reasons),
                    f"dask_2_workers_parts {label}": on(two, parts, reasons),
                }
            seconds = {name: float("inf") for name in runs}
            for _ in range(ROUNDS):  # alternating, so a burst of load hits every one alike
                for name, function in runs.items():
                    started = time.perf_counter()
                    function()
                    seconds[name] = min(seconds[name], time.perf_counter() - started)
            for client in (one, two):
                client.close()
        finally:
            for cluster in clusters:
                cluster.close()
    rows_per_second = {name: round(ROWS / s) for name, s in seconds.items()}
    ratios: dict[str, float] = {}
    per_worker: dict[str, int] = {}
    for label in ("with_reasons", "without_reasons"):
        ratios[f"dask 1 worker / single process, same file, seconds, {label}"] = (
            seconds[f"dask_1_worker_file {label}"] / seconds[f"single {label}"]
        )
        ratios[f"2 workers / 1 worker, {PARTS} files, rows/s, {label}"] = (
            seconds[f"dask_1_worker_parts {label}"] / seconds[f"dask_2_workers_parts {label}"]
        )
        per_worker[f"1 worker, {label}"] = rows_per_second[f"dask_1_worker_parts {label}"]
        per_worker[f"2 workers, {label}"] = rows_per_second[f"dask_2_workers_parts {label}"] // 2
    return {
        "ratios": ratios,
        "rows": ROWS,
        "parts": PARTS,
        "rounds": ROUNDS,
        "cores": len(os.sched_getaffinity(0)),
        "rows_per_second": rows_per_second,
        "rows_per_second_per_worker": per_worker,
        "note": "best of alternating rounds; the machine may be shared with other work",
    }
