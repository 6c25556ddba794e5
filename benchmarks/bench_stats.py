"""The dashboard's aggregations (:mod:`serving.stats`) on a decision log of a million decisions.

A SQLite decision log is filled with synthetic decisions (1,000,000 by
default, ``TRIAGE_BENCH_STATS_ROWS``) shaped like the service's: ~2 kB rows
with the case's features and six reasons as JSON, courts of very different
sizes, two model versions one after the other and a shadow challenger for the
later part.  The rows go in with one ``executemany`` before the indexes are
built (what ``DecisionLog.create`` adds to an existing log).

Each aggregate is timed (best of three, warm cache) on the whole log and on
the selections the dashboard's filters make: one province, one of the
busiest courts, the last 30 days.  Ratios are against two baselines of the
same run: ``SELECT COUNT(*)`` and ``SUM(p_assets)`` over every decision (the
least any aggregate that reads each decision can cost).

The write side: the dashboard's indexes cost the service something on every
logged decision, measured as rows per second through ``DecisionLog.write``
in commits of 100 decisions, with and without them.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from benchmarks import best_of

ROWS = int(os.environ.get("TRIAGE_BENCH_STATS_ROWS", 1_000_000))
DAYS = 180
REPEAT = 3
WRITE_ROWS = 20_000
WRITE_BATCH = 100
DASHBOARD_INDEXES = ("ix_decisions_dashboard", "ix_decisions_province_dashboard")


def _reason_pool() -> list[str]:
    """Reason JSON fragments as the service writes them (``json.dumps``, up to the effect)."""
    from features.builder import FEATURE_LABELS

    pool = []
    for feature, (zh, en) in FEATURE_LABELS.items():
        for key, zh_word, en_word in (
            ("none", "无", "no"),
            ("some", "有", "some"),
            ("many", "多", "many"),
        ):
            reason = {"code": f"{feature}:{key}", "zh": f"{zh_word}{zh}", "en": f"{en_word} {en}"}
            pool.append(json.dumps(reason, ensure_ascii=False)[:-1] + ',"effect":')
    return pool


def synthetic_rows(n: int, seed: int = 0, start: str = "2024-06-01"):
    """``n`` decision-log rows (tuples in column order), oldest first."""
    from features.record import PROVINCES, example_case
    from serving.decision_log import case_features_json

    rng = np.random.default_rng(seed)
    pool = _reason_pool()
    courts = [f"{p.code}{c:02d}{d:02d}" for p in PROVINCES for c in range(1, 9) for d in range(5)]
    weights = rng.lognormal(0.0, 1.0, len(courts))
    court = rng.choice(len(courts), n, p=weights / weights.sum())
    start_ms = int(dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC).timestamp() * 1000)
    times = np.sort(rng.integers(start_ms, start_ms + DAYS * 86_400_000, n))
    stamps = np.datetime_as_string(times.astype("datetime64[ms]"), unit="ms")
    p_complex = rng.beta(2, 5, n)
    p_assets = rng.beta(3, 3, n)
    stream = np.where(p_complex < 0.3, "simple", np.where(p_complex >= 0.55, "complex", "review"))
    picks = rng.integers(0, len(pool), (n, 6))
    effects = np.round(rng.normal(0, 0.5, (n, 6)), 4)
    shadow_p = np.clip(p_complex + rng.normal(0, 0.03, n), 0, 1)
    shadow_stream = np.where(
        shadow_p < 0.3, "simple", np.where(shadow_p >= 0.55, "complex", "review")
    )
    features = case_features_json(example_case())
    switch = int(n * 0.6)  # version 2 takes over, version 3 shadows from then on
    for i in range(n):
        pick, effect = picks[i], effects[i]
        reasons = (
            '{"complex":['
            + ",".join(f"{pool[pick[j]]}{effect[j]}}}" for j in range(3))
            + '],"assets":['
            + ",".join(f"{pool[pick[j]]}{effect[j]}}}" for j in range(3, 6))
            + "]}"
        )
        court_id = courts[court[i]]
        late = i >= switch
        yield (
            f"{i:026d}",
            f"{stamps[i]}Z",
            f"({2024})案{i}",
            court_id,
            court_id[:2],
            "2024-03-15",
            str(stream[i]),
            float(p_complex[i]),
            float(p_assets[i]),
            "triage-stream",
            "2" if late else "1",
            "triage-assets",
            "2" if late else "1",
            reasons,
            features,
            "3" if late else None,
            "3" if late else None,
            float(shadow_p[i]) if late else None,
            float(np.clip(p_assets[i] + 0.02, 0, 1)) if late else None,
            str(shadow_stream[i]) if late else None,
            "batch",
            None,  # policy_id, policy_version: a log from before court policies
            None,
        )


def fill(path: Path, n: int) -> dict[str, float]:
    """A decision log of ``n`` synthetic decisions at ``path``; seconds to insert and to index."""
    from serving.decision_log import COLUMNS, DecisionLog, decisions

    log = DecisionLog(f"sqlite:///{path}")
    with log.engine.begin() as connection:
        connection.execute(sa.schema.CreateTable(decisions))  # the table alone, no index yet
    log.close()
    started = time.perf_counter()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA synchronous=OFF")
    placeholders = ",".join("?" * len(COLUMNS))
    with raw:
        raw.executemany(f"INSERT INTO decisions VALUES ({placeholders})", synthetic_rows(n))
    raw.close()
    inserted = time.perf_counter()
    DecisionLog(f"sqlite:///{path}").create().close()  # every index, as on an existing log
    return {
        "insert_seconds": round(inserted - started, 1),
        "index_seconds": round(time.perf_counter() - inserted, 1),
    }


def time_queries(engine: sa.Engine) -> dict[str, dict[str, float]]:
    """Milliseconds of each aggregate per selection, and of the two baselines."""
    from serving import stats
    from serving.decision_log import decisions

    with engine.connect() as connection:
        last = connection.execute(sa.select(sa.func.max(decisions.c.decided_at))).scalar_one()
        busiest = connection.execute(
            sa.select(decisions.c.court_id)
            .group_by(decisions.c.court_id)
            .order_by(sa.func.count().desc())
            .limit(1)
        ).scalar_one()
    until = dt.date.fromisoformat(last[:10])
    selections = {
        "all": stats.Filters(),
        "province": stats.Filters(province="44"),
        "court": stats.Filters(court_id=busiest),
        "last_30_days": stats.Filters(since=until - dt.timedelta(days=29), until=until),
    }
    aggregates = {
        "summary": stats.summary,
        "daily_streams": stats.daily_streams,
        "court_streams": stats.court_streams,
        "histograms": stats.histograms,
        "top_reasons": stats.top_reasons,
        "riskiest_p_assets": lambda c, f: stats.riskiest_cases(c, f, "p_assets"),
        "riskiest_p_complex": lambda c, f: stats.riskiest_cases(c, f, "p_complex"),
        "model_versions": stats.model_versions,
        "challenger_agreement": stats.challenger_agreement,
    }
    timings: dict[str, dict[str, float]] = {}
    with engine.connect() as connection:
        count = sa.select(sa.func.count()).select_from(decisions)
        total = sa.select(sa.func.sum(decisions.c.p_assets))
        timings["baseline"] = {
            "count_star": best_of(REPEAT, lambda: connection.execute(count).scalar_one()) * 1000,
            "sum_p_assets": best_of(REPEAT, lambda: connection.execute(total).scalar_one()) * 1000,
        }
        for name, aggregate in aggregates.items():
            timings[name] = {
                selection: best_of(REPEAT, functools.partial(aggregate, connection, filters)) * 1000
                for selection, filters in selections.items()
            }
    return {name: {k: round(v, 2) for k, v in row.items()} for name, row in timings.items()}


def write_rates(folder: Path) -> dict[str, float]:
    """Decisions per second through ``DecisionLog.write`` (commits of 100), with and without
    the dashboard's indexes, each into a log already holding 100,000 decisions."""
    from serving.decision_log import COLUMNS, DecisionLog

    rows = [dict(zip(COLUMNS, row, strict=True)) for row in synthetic_rows(WRITE_ROWS, seed=1)]
    rates: dict[str, float] = {}
    for label, keep in (("with_dashboard_indexes", True), ("without", False)):
        path = folder / f"write-{label}.db"
        fill(path, 100_000)
        log = DecisionLog(f"sqlite:///{path}")
        if not keep:
            with log.engine.begin() as connection:
                for name in DASHBOARD_INDEXES:
                    connection.execute(sa.text(f"DROP INDEX {name}"))
        batch = [dict(row, decision_id=f"w{row['decision_id']}") for row in rows]
        started = time.perf_counter()
        for i in range(0, len(batch), WRITE_BATCH):
            log.write(batch[i : i + WRITE_BATCH])
        rates[label] = round(len(batch) / (time.perf_counter() - started))
        log.close()
    return rates


def run() -> dict:
    from serving.decision_log import DecisionLog

    with tempfile.TemporaryDirectory(prefix="triage-bench-stats-") as scratch:
        folder = Path(scratch)
        path = folder / "decisions.db"
        build = fill(path, ROWS)
        size_mb = round(path.stat().st_size / 1e6)
        log = DecisionLog(f"sqlite:///{path}")
        timings = time_queries(log.engine)
        log.close()
        writes = write_rates(folder)
    base = timings["baseline"]["sum_p_assets"]
    count = timings["baseline"]["count_star"]
    ratios = {}
    for name, row in timings.items():
        if name == "baseline":
            continue
        ratios[f"{name} (all) / SUM(p_assets) over all, time"] = row["all"] / base
        ratios[f"{name} (all) / COUNT(*), time"] = row["all"] / count
    ratios["writes with / without the dashboard indexes, writes/s"] = (
        writes["with_dashboard_indexes"] / writes["without"]
    )
    slowest = max(
        (ms, f"{name} ({sel})")
        for name, row in timings.items()
        if name != "baseline"
        for sel, ms in row.items()
    )
    return {
        "ratios": ratios,
        "decisions": ROWS,
        "database_mb": size_mb,
        **build,
        "milliseconds": {
            f"{name} [{sel}]": ms for name, row in timings.items() for sel, ms in row.items()
        },
        "slowest_ms": f"{slowest[0]:.0f} {slowest[1]}",
        "writes_per_second": writes,
    }
