"""`triage score --cluster` against the single process, on the same cases.

Two small models are trained in memory (at most 400 rounds each, whatever the
machine's load; one LightGBM thread per scoring call, as on a cluster worker); the same synthetic cases are written as one
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

Beside the wall-clock figures, the workers' CPU seconds of each Dask variant
(``process_time`` of every worker process, before and after) give rows per
worker CPU-second: what a worker with a core of its own scores, which the
load of other work on a shared machine leaves nearly untouched.

**Rows with reasons**: ``TRIAGE_BENCH_CLUSTER_REASON_ROWS`` (all
``TRIAGE_BENCH_CLUSTER_ROWS``, 200,000, by default) of the cases are scored with
three reasons, all of them without.  Reasons come from the TreeSHAP tables
(:mod:`models.treeshap`), about the cost of a prediction, so the whole
benchmark takes a few minutes; a smaller number shortens it on a busy
machine.  Each variant keeps a worker busy far longer than a task's fixed
costs, which is what the ratios compare.  A line per variant and round
goes to stderr as it finishes.

The best of the rounds is kept (the least disturbed by other load).  On a
2-core machine the 2-worker cluster has no core left for the client and the
scheduler, so its scaling is a lower bound.  ``TRIAGE_BENCH_CLUSTER_ROUNDS``
(2) sets the rounds.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROWS = int(os.environ.get("TRIAGE_BENCH_CLUSTER_ROWS", 200_000))
REASON_ROWS = min(ROWS, int(os.environ.get("TRIAGE_BENCH_CLUSTER_REASON_ROWS", ROWS)))
ROUNDS = int(os.environ.get("TRIAGE_BENCH_CLUSTER_ROUNDS", 2))
PARTS = 8
#: Each reasons setting: its label, reasons per probability, and the rows it scores.
MODES = (("with_reasons", 3, REASON_ROWS), ("without_reasons", 0, ROWS))


def _say(message: str) -> None:
    print(f"  cluster: {message}", file=sys.stderr, flush=True)


def _triage():
    from features.synthetic import generate_cases
    from models.case_model import LoadedModel
    from models.triage import Triage
    from training.config import SearchConfig, TrainingConfig
    from training.train import fit_models

    # Rounds capped, budget ample: the trees (what a row's scoring costs) must not
    # depend on how loaded the machine was while training, as a spent budget's would.
    search = SearchConfig(n_trials=2, time_budget_seconds=600, max_rounds=400)
    config = TrainingConfig(search=search, threads=2)
    fitted = fit_models(generate_cases(30_000, seed=5).cases, config)
    for outcome in fitted.outcomes.values():
        outcome.model.threads = 1  # as on a worker: the parallelism is the tasks'
    models = {
        kind: LoadedModel(f"triage-{kind}", "bench", None, outcome.model)
        for kind, outcome in fitted.outcomes.items()
    }
    return Triage(stream=models["stream"], assets=models["assets"])


def _write_cases(folder: Path, rows: int, text) -> tuple[Path, Path]:
    """The first ``rows`` cases as one CSV file and as ``PARTS`` files of consecutive rows."""
    folder.mkdir()
    whole = folder / "cases.csv"
    text.iloc[:rows].to_csv(whole, index=False)
    parts = folder / "parts"
    parts.mkdir()
    size = -(-rows // PARTS)
    for i in range(PARTS):
        text.iloc[i * size : min((i + 1) * size, rows)].to_csv(parts / f"part-{i}.csv", index=False)
    return whole, parts


def run() -> dict[str, object]:
    """Rows per second of the single process and of 1 and 2 Dask workers, same cases."""
    import logging

    import pandas as pd
    from distributed import Client, LocalCluster

    from features.synthetic import write_synthetic
    from training.cluster_score import score_on_cluster
    from training.score import score_file

    # The clusters' start and stop are logged at INFO: they would bury the progress lines.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as scratch:
        folder = Path(scratch)
        _say("training two small models on 30,000 cases")
        triage = _triage()
        _say(f"writing {ROWS:,} cases")
        write_synthetic(ROWS, folder / "all.csv", seed=8)
        text = pd.read_csv(folder / "all.csv", dtype=str, keep_default_na=False)
        data = {label: _write_cases(folder / label, rows, text) for label, _, rows in MODES}
        out = folder / "out"

        def on(client: Client, path: Path, reasons: int) -> Callable[[], float | None]:
            def score() -> float | None:
                shutil.rmtree(out, ignore_errors=True)
                before = client.run(time.process_time)
                score_on_cluster(
                    str(path), out, client=client, reasons=reasons, triage=triage, progress=False
                )
                after = client.run(time.process_time)
                return sum(after[w] - before[w] for w in after)  # the workers' CPU seconds

            return score

        def single(path: Path, reasons: int) -> Callable[[], float | None]:
            def score() -> None:
                score_file(
                    path, folder / "one.parquet", reasons=reasons, triage=triage, progress=False
                )

            return score

        _say("starting LocalClusters of 1 and 2 workers")
        clusters = [
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            for n in (1, 2)
        ]
        try:
            one, two = (Client(cluster) for cluster in clusters)
            for client in (one, two):  # a worker's first task imports the scoring stack
                on(client, data["with_reasons"][1], 0)()
            runs: dict[str, tuple[int, Callable[[], float | None]]] = {}
            for label, reasons, rows in MODES:
                whole, parts = data[label]
                runs |= {
                    f"single {label}": (rows, single(whole, reasons)),
                    f"dask_1_worker_file {label}": (rows, on(one, whole, reasons)),
                    f"dask_1_worker_parts {label}": (rows, on(one, parts, reasons)),
                    f"dask_2_workers_parts {label}": (rows, on(two, parts, reasons)),
                }
            seconds = {name: float("inf") for name in runs}
            cpu: dict[str, float] = {}
            for round_ in range(1, ROUNDS + 1):  # alternating: a burst of load hits all alike
                for name, (rows, function) in runs.items():
                    started = time.perf_counter()
                    used = function()
                    took = time.perf_counter() - started
                    seconds[name] = min(seconds[name], took)
                    if used is not None:
                        cpu[name] = min(cpu.get(name, float("inf")), used)
                    _say(
                        f"round {round_}/{ROUNDS} {name}: {rows:,} rows in {took:.1f} s "
                        f"({rows / took:,.0f} rows/s)"
                        + ("" if used is None else f", workers' CPU {used:.1f} s")
                    )
            for client in (one, two):
                client.close()
        finally:
            for cluster in clusters:
                cluster.close()
    rows_per_second = {name: round(runs[name][0] / s) for name, s in seconds.items()}
    ratios: dict[str, float] = {}
    per_worker: dict[str, int] = {}
    for label, _, _ in MODES:
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
        "rows": {label: rows for label, _, rows in MODES},
        "parts": PARTS,
        "rounds": ROUNDS,
        "cores": len(os.sched_getaffinity(0)),
        "trees": {
            kind: model.model.booster.num_trees()
            for kind, model in (("stream", triage.stream), ("assets", triage.assets))
        },
        "rows_per_second": rows_per_second,
        "rows_per_second_per_worker": per_worker,
        # What a worker with a core of its own would do: robust to a shared machine's load.
        "rows_per_worker_cpu_second": {
            name: round(runs[name][0] / used) for name, used in cpu.items()
        },
        "note": "best of alternating rounds; rows scored with and without reasons in rows; "
        "the machine may be shared with other work",
    }
