"""Batch scoring (`triage score`) against the raw limit: LightGBM's own predictions.

Two small models are trained in memory on synthetic cases; then, on the same
rows written to a CSV file:

* ``score_with_reasons`` — :func:`training.score.score_file` end to end (read,
  validate, build features, both models, three reasons each, write);
* ``score_without_reasons`` — the same with ``reasons=0``;
* ``lightgbm_predict`` — ``Booster.predict`` of both models on the prepared
  feature array (the raw limit of scoring without reasons);
* ``lightgbm_predict_contrib`` — ``Booster.predict(pred_contrib=True)`` of both
  models on the prepared array (LightGBM's own TreeSHAP, which reasons used
  before :mod:`models.treeshap`'s tables).

Reasons against no reasons, model by model on prepared features, for these small
models and for the models ``make demo`` trained (the champions under
``TRIAGE_HOME``, when it has run): calibrated probabilities alone, with three
reasons from the TreeSHAP tables (what reasons use), and with three reasons
from LightGBM's ``pred_contrib``, measured in alternating rounds; how often the
two give the same top three (features and signs) on cases the models never
saw, and their largest difference; the tables' build time, cached read time
and size.

Peak memory: ``triage score`` on a large file (2 M rows by default,
``TRIAGE_BENCH_SCORE_ROWS``) in a subprocess, its maximum resident set size
read from the kernel; the file is generated and deleted by the benchmark.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import best_of

ROWS = 200_000
MEMORY_ROWS = int(os.environ.get("TRIAGE_BENCH_SCORE_ROWS", 2_000_000))
THREADS = 2


def _triage(folder: Path):
    from features.synthetic import generate_cases
    from models.case_model import LoadedModel
    from models.triage import Triage
    from training.config import SearchConfig, TrainingConfig
    from training.train import fit_models

    config = TrainingConfig(
        search=SearchConfig(n_trials=2, time_budget_seconds=60), threads=THREADS
    )
    fitted = fit_models(generate_cases(30_000, seed=5).cases, config)
    models = {
        kind: LoadedModel(f"triage-{kind}", "bench", None, outcome.model)
        for kind, outcome in fitted.outcomes.items()
    }
    return Triage(stream=models["stream"], assets=models["assets"])


def _peak_rss_of_score(folder: Path, triage) -> dict[str, object]:
    """Train-free: save the models, then `triage score` them in a child process."""
    from features.synthetic import write_synthetic

    data = folder / "large.csv"
    write_synthetic(MEMORY_ROWS, data, seed=9)
    script = folder / "score_child.py"
    for kind in ("stream", "assets"):
        getattr(triage, kind).model.save(folder / kind)
    script.write_text(
        "import sys, json\n"
        "from models.case_model import CaseModel\n"
        "from models.case_model import LoadedModel\n"
        "from models.triage import Triage\n"
        "from training.score import score_file\n"
        f"m = {{k: LoadedModel(f'triage-{{k}}', 'bench', None, CaseModel.load(r'{folder}/' + k, threads={THREADS})) for k in ('stream', 'assets')}}\n"
        f"s = score_file(r'{data}', r'{folder}/large_scored.csv', triage=Triage(m['stream'], m['assets']), progress=False)\n"
        "print(json.dumps(s))\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    size = data.stat().st_size
    data.unlink()
    (folder / "large_scored.csv").unlink()
    return {
        "rows": MEMORY_ROWS,
        "input_mb": round(size / 1e6),
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(max(peak_kib, before) / 1024),
    }


REASON_ROWS = {"small": 20_000, "demo": 5_000}


def _demo_triage():
    """The champions ``make demo`` registered under ``TRIAGE_HOME``, or None."""
    from app.settings import get_settings
    from models import registry
    from models.triage import Triage

    settings = get_settings()
    embedded = settings.resolved_tracking_uri() == f"sqlite:///{settings.mlflow_db}"
    if embedded and not settings.mlflow_db.exists():
        return None  # no store to ask: do not create an empty one
    registry.configure_mlflow(settings)
    try:
        return Triage.from_registry(threads=THREADS)
    except LookupError:
        return None


def _reasons_against_none(triage, rows: int, seed: int) -> dict[str, object]:
    """Throughput with reasons ÷ without, model by model; the tables' agreement with LightGBM."""
    from features.synthetic import generate_cases
    from models.treeshap import ShapTables, tables_for, top_reasons_agreement

    cases = generate_cases(rows, seed=seed).cases
    models = [triage.stream.model, triage.assets.model]
    features = [np.ascontiguousarray(model.features(cases)) for model in models]
    built = {}
    with tempfile.TemporaryDirectory(prefix="bench-tables-") as cache:
        for kind, model in zip(("stream", "assets"), models, strict=True):
            started = time.perf_counter()
            built_tables = ShapTables.of(model.booster)
            build = time.perf_counter() - started
            tables_for(model.booster, cache=Path(cache))  # built again, and written
            started = time.perf_counter()
            tables_for(model.booster, cache=Path(cache))
            read = time.perf_counter() - started
            built[kind] = {
                "build_seconds": round(build, 2),
                "cached_read_seconds": round(read, 3),
                "megabytes": round(built_tables.nbytes / 1e6, 1),
                "groups": len(built_tables.groups.all_ones),
                "leaves_per_case": len(built_tables.path_leaves.value),
            }
            model._tables = built_tables  # what a worker holds after its warm-up
    for model, X in zip(models, features, strict=True):
        model.predict_features(X[:10], reasons=3)  # compiled (or read from Numba's cache)

    def none():
        for model, X in zip(models, features, strict=True):
            model.predict_features(X, reasons=0)

    def from_tables():
        for model, X in zip(models, features, strict=True):
            model.predict_features(X, reasons=3)

    def lightgbm():
        for model, X in zip(models, features, strict=True):
            contributions = model.contributions(X, exact="lightgbm")
            model.calibrator.probability(contributions.sum(axis=1))
            model.explainer.explain(X, contributions, k=3)

    variants = {"none": none, "tables": from_tables, "lightgbm": lightgbm}
    seconds = {name: float("inf") for name in variants}
    for _ in range(2):  # alternating rounds: the machine's load falls on all alike
        for name, function in variants.items():
            seconds[name] = min(seconds[name], best_of(1, function))
    agreement: dict[str, object] = {}
    for kind, model, X in zip(("stream", "assets"), models, features, strict=True):
        reference = model.contributions(X, exact="lightgbm")
        ours = model.contributions(X)
        agreement[kind] = {
            "top-3 agreement (features and signs)": top_reasons_agreement(
                ours, reference, n_features=X.shape[1]
            ),
            "largest difference": float(np.abs(ours - reference).max()),
        }
    return {
        "trees": {
            kind: m.booster.num_trees()
            for kind, m in zip(("stream", "assets"), models, strict=True)
        },
        "rows": rows,
        "ratios": {
            "reasons from tables / no reasons, rows/s": seconds["none"] / seconds["tables"],
            "reasons from pred_contrib / no reasons, rows/s": seconds["none"] / seconds["lightgbm"],
            "reasons from tables / reasons from pred_contrib, rows/s": seconds["lightgbm"]
            / seconds["tables"],
        },
        "tables vs pred_contrib": agreement,
        "tables": built,
        "rows_per_second": {k: round(rows / v) for k, v in seconds.items()},
    }


def run() -> dict[str, object]:
    """Rows per second of batch scoring and of LightGBM on the same rows; peak memory."""
    from features.load import load_cases
    from features.synthetic import write_synthetic
    from training.score import score_file

    with tempfile.TemporaryDirectory(prefix="bench-score-") as scratch:
        folder = Path(scratch)
        triage = _triage(folder)
        data = folder / "cases.csv"
        write_synthetic(ROWS, data, seed=8)
        frame = load_cases(data)
        X = triage.stream.model.features(frame)
        boosters = [triage.stream.model.booster, triage.assets.model.booster]

        def predict():
            for booster in boosters:
                booster.predict(X, raw_score=True, num_threads=THREADS)

        def predict_contrib():
            for booster in boosters:
                booster.predict(X, pred_contrib=True, num_threads=THREADS)

        timings = {
            "lightgbm_predict": best_of(3, predict),
            "lightgbm_predict_contrib": best_of(2, predict_contrib),
            "score_without_reasons": best_of(
                3,
                lambda: score_file(
                    data, folder / "a.csv", reasons=0, triage=triage, progress=False
                ),
            ),
            "score_with_reasons": best_of(
                2, lambda: score_file(data, folder / "b.csv", triage=triage, progress=False)
            ),
        }
        rows_per_second = {k: round(ROWS / v) for k, v in timings.items()}
        reasons: dict[str, object] = {
            "small": _reasons_against_none(triage, REASON_ROWS["small"], seed=11)
        }
        demo = _demo_triage()
        reasons["demo"] = (
            _reasons_against_none(demo, REASON_ROWS["demo"], seed=12)
            if demo is not None
            else "no champions under TRIAGE_HOME: run `make demo` first"
        )
        memory = _peak_rss_of_score(folder, triage) if MEMORY_ROWS else {}
    ratios = {
        "score_with_reasons / score_without_reasons, rows/s": timings["score_without_reasons"]
        / timings["score_with_reasons"],
        "score_with_reasons / lightgbm_predict_contrib, rows/s": timings["lightgbm_predict_contrib"]
        / timings["score_with_reasons"],
        "score_without_reasons / lightgbm_predict, rows/s": timings["lightgbm_predict"]
        / timings["score_without_reasons"],
        "score_with_reasons / lightgbm_predict, rows/s": timings["lightgbm_predict"]
        / timings["score_with_reasons"],
    }
    for size, measured in reasons.items():
        if isinstance(measured, dict):
            ratios |= {f"{size} models: {k}": v for k, v in measured.pop("ratios").items()}
    return {
        "ratios": ratios,
        "reasons": reasons,
        "rows": ROWS,
        "threads": THREADS,
        "trees": {
            kind: getattr(triage, kind).model.booster.num_trees() for kind in ("stream", "assets")
        },
        "rows_per_second": rows_per_second,
        "memory": memory,
        "note": "ratios are throughput ÷ throughput (1.0 = as fast as LightGBM alone)",
        "rss_check": "peak RSS of the child process, whole file streamed in 50k-row chunks (score_file default)",
        "numpy": np.__version__,
    }
