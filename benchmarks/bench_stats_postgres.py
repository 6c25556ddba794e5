"""The dashboard's aggregations (:mod:`serving.stats`) on a PostgreSQL decision log of 10 M decisions.

The PostgreSQL twin of ``bench_stats`` (SQLite, 1 M).  ``TRIAGE_BENCH_PG_URL``
names a server to use (its user must be allowed to create databases); without
it a throwaway cluster is started from Debian's binaries
(:mod:`benchmarks.postgres`), or the benchmark says why it cannot and skips.

The table is filled by the server itself, ``INSERT … SELECT … FROM
generate_series`` (``TRIAGE_BENCH_STATS_PG_ROWS`` decisions, 10,000,000 by
default), in the transaction that creates it: on the throwaway cluster
(``wal_level=minimal``) those rows skip the WAL.  The rows are shaped as
``bench_stats``'s: courts of very different sizes (the same lognormal
weights), 180 days in time order, two model versions one after the other and
a shadow challenger for the later 40 %, six reasons as JSON and the case's
features, ~2 kB a row.  Then ``DecisionLog.create`` builds every index (as on
an existing log) and ``VACUUM ANALYZE`` sets the visibility map and the
statistics.

Each aggregate is timed as ``serving.stats`` issues it (best of three, warm)
on the whole log and the dashboard's selections (one province, the busiest
court, the last 30 days), against ``SELECT count(*)`` of the same run; each
statement it issues is run once more under ``EXPLAIN (ANALYZE, BUFFERS)`` and
its scans are recorded (an index-only scan, or which table scan).

The write side: decisions per second through ``DecisionLog.write`` (commits
of 100) into logs of 100,000 decisions with every index, and without each
index the dashboard adds, alternating the logs round by round.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from benchmarks import best_of
from benchmarks.bench_stats import DAYS, REPEAT, _reason_pool, synthetic_rows

if TYPE_CHECKING:
    from serving.stats import Filters

ROWS = int(os.environ.get("TRIAGE_BENCH_STATS_PG_ROWS", 10_000_000))
CHUNK = 1_000_000
WRITE_ROWS = 12_000
WRITE_BATCH = 100
WRITE_ROUNDS = 3
#: Indexes the dashboard adds to the log, each weighed against writes without it.
DASHBOARD_INDEXES = ("ix_decisions_dashboard", "ix_decisions_province_dashboard")
#: The throwaway cluster: room to build indexes on 20 GB, no WAL for the fill, and commits
#: without a disk flush (as the SQLite log's synchronous=NORMAL), so that writes measure
#: what the indexes cost rather than the shared disk's fsync.
SERVER_SETTINGS = (
    "shared_buffers=1GB",
    "maintenance_work_mem=1GB",
    "work_mem=64MB",
    "max_wal_size=16GB",
    "wal_level=minimal",
    "max_wal_senders=0",
    "synchronous_commit=off",
)

_FILL = """
INSERT INTO decisions
SELECT lpad(i::text, 26, '0'),
       to_char(timestamp '2024-06-01' + (i - 1) * %(step)s * interval '1 millisecond',
               'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       '(2024)案' || i, court, left(court, 2), '2024-03-15',
       CASE WHEN pc < 0.3 THEN 'simple' WHEN pc >= 0.55 THEN 'complex' ELSE 'review' END,
       pc, pa, 'triage-stream', version, 'triage-assets', version,
       '{"complex":[' || {complex} || '],"assets":[' || {assets} || ']}',
       %(features)s,
       CASE WHEN late THEN '3' END, CASE WHEN late THEN '3' END,
       CASE WHEN late THEN shadow END, CASE WHEN late THEN least(pa + 0.02, 1.0) END,
       CASE WHEN NOT late THEN NULL WHEN shadow < 0.3 THEN 'simple'
            WHEN shadow >= 0.55 THEN 'complex' ELSE 'review' END,
       'batch', NULL, NULL
FROM (SELECT i, court, pc, pa, late, CASE WHEN late THEN '2' ELSE '1' END AS version,
             least(greatest(pc + (u - 0.5) * 0.1, 0.0), 1.0) AS shadow
      FROM (SELECT i, court, pc, pa, u, late
            FROM (SELECT i, floor(random() * %(slots)s)::int AS slot,
                         random() * random() AS pc,
                         (random() + random() + random()) / 3 AS pa,
                         random() AS u,
                         i > %(switch)s AS late
                  FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i) AS drawn
            JOIN court_slots USING (slot)) AS placed) AS rows
"""


def _fill_sql(reasons_each: int = 3) -> str:
    """The fill statement: each reason a random pick of the pool with a random effect."""
    reason = (
        "(%(pool)s::text[])[1 + floor(random() * %(pool_size)s)::int]"
        " || round((random() + random() + random() - 1.5)::numeric, 4) || '}'"
    )
    listed = " || ',' || ".join(f"({reason})" for _ in range(reasons_each))
    return _FILL.replace("{complex}", listed).replace("{assets}", listed)


def _court_slots(seed: int = 0, slots: int = 100_000) -> list[str]:
    """Court ids repeated in proportion to ``bench_stats``'s lognormal court sizes."""
    from features.record import PROVINCES

    rng = np.random.default_rng(seed)
    courts = [f"{p.code}{c:02d}{d:02d}" for p in PROVINCES for c in range(1, 9) for d in range(5)]
    weights = rng.lognormal(0.0, 1.0, len(courts))
    cumulative = np.cumsum(weights / weights.sum())
    picks = np.searchsorted(cumulative, (np.arange(slots) + 0.5) / slots)
    return [courts[min(int(k), len(courts) - 1)] for k in picks]


@contextlib.contextmanager
def server() -> Iterator[str]:
    """``TRIAGE_BENCH_PG_URL``, or a throwaway cluster's URL."""
    if os.environ.get("TRIAGE_BENCH_PG_URL"):
        yield os.environ["TRIAGE_BENCH_PG_URL"]
        return
    from benchmarks.postgres import local_server

    with local_server(SERVER_SETTINGS) as url:
        yield url


def database(server_url: str, name: str) -> str:
    """A fresh database ``name`` on the server (dropped first); its psycopg URL."""
    url = sa.make_url(server_url).set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def fill(url: str, n: int, progress: bool = True) -> dict[str, object]:
    """``n`` decisions generated by the server, then every index and VACUUM ANALYZE."""
    from features.record import example_case
    from serving.decision_log import DecisionLog, case_features_json, decisions

    courts = _court_slots()
    pool = _reason_pool()
    parameters = {
        "step": DAYS * 86_400_000 / n,
        "features": case_features_json(example_case()),
        "slots": len(courts),
        "pool": pool,
        "pool_size": len(pool),
        "switch": int(n * 0.6),
    }
    sql = _fill_sql()
    log = DecisionLog(url)
    started = time.perf_counter()
    with log.engine.begin() as connection:  # one transaction with the CREATE: no WAL
        connection.execute(sa.schema.CreateTable(decisions))
        # A table, not an array: a text array's n-th element is found by walking n of them.
        connection.exec_driver_sql(
            "CREATE TEMP TABLE court_slots ON COMMIT DROP AS SELECT (n - 1)::int AS slot,"
            " court FROM unnest(%(courts)s::text[]) WITH ORDINALITY AS c(court, n)",
            {"courts": courts},
        )
        connection.exec_driver_sql("ANALYZE court_slots")
        connection.exec_driver_sql("SELECT setseed(0)")
        for first in range(1, n + 1, CHUNK):
            last = min(first + CHUNK - 1, n)
            connection.exec_driver_sql(sql, {**parameters, "first": first, "last": last})
            if progress:
                print(f"    filled {last:,} in {time.perf_counter() - started:.0f} s", flush=True)
    inserted = time.perf_counter()
    log.create()  # every index, as on an existing log
    indexed = time.perf_counter()
    with log.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM ANALYZE decisions"
        )
        sizes = connection.exec_driver_sql(
            "SELECT pg_total_relation_size('decisions'), pg_relation_size('decisions')"
        ).one()
        index_sizes: dict[str, int] = dict(
            connection.exec_driver_sql(
                "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes"
                " WHERE relname = 'decisions'"
            ).all()
        )
    log.close()
    return {
        "insert_seconds": round(inserted - started, 1),
        "index_seconds": round(indexed - inserted, 1),
        "vacuum_analyze_seconds": round(time.perf_counter() - indexed, 1),
        "total_mb": round(sizes[0] / 1e6),
        "table_mb": round(sizes[1] / 1e6),
        "index_mb": {name: round(size / 1e6) for name, size in sorted(index_sizes.items())},
    }


def selections(connection: sa.Connection) -> dict[str, Filters]:
    """The dashboard's selections: everything, one province, the busiest court, 30 days."""
    from serving import stats
    from serving.decision_log import decisions

    last = connection.execute(sa.select(sa.func.max(decisions.c.decided_at))).scalar_one()
    busiest = connection.execute(
        sa.select(decisions.c.court_id)
        .group_by(decisions.c.court_id)
        .order_by(sa.func.count().desc())
        .limit(1)
    ).scalar_one()
    until = dt.date.fromisoformat(last[:10])
    return {
        "all": stats.Filters(),
        "province": stats.Filters(province="44"),
        "court": stats.Filters(court_id=busiest),
        "last_30_days": stats.Filters(since=until - dt.timedelta(days=29), until=until),
    }


def aggregates() -> dict[str, Callable[..., object]]:
    from serving import stats

    return {
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


def _scans(plan: dict) -> Iterator[str]:
    """The scans of a JSON plan tree: ``Index Only Scan ix_… (heap fetches 0)``, ``Seq Scan``."""
    kind = plan.get("Node Type", "")
    if "Scan" in kind and kind != "Function Scan" and kind != "Subquery Scan":
        target = plan.get("Index Name") or plan.get("Relation Name") or ""
        fetches = plan.get("Heap Fetches")
        yield f"{kind} {target}" + (f" (heap fetches {fetches})" if fetches is not None else "")
    for child in plan.get("Plans", []):
        yield from _scans(child)


def explain(engine: sa.Engine, aggregate, filters) -> list[dict[str, object]]:
    """Each statement the aggregate issues, under EXPLAIN (ANALYZE, BUFFERS): scans, buffers."""
    issued: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if not statement.lstrip().upper().startswith("EXPLAIN"):
            issued.append((statement, parameters))

    with engine.connect() as connection:
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            aggregate(connection, filters)
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
        plans = []
        for statement, parameters in issued[:3]:  # riskiest_cases: the ranking comes first
            (document,) = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
            ).one()
            top = (document if isinstance(document, list) else json.loads(document))[0]
            buffers = top["Plan"]
            plans.append(
                {
                    "ms": round(top["Execution Time"], 1),
                    "scans": sorted(set(_scans(top["Plan"]))),
                    "shared_hit": buffers.get("Shared Hit Blocks"),
                    "shared_read": buffers.get("Shared Read Blocks"),
                }
            )
    return plans


def time_queries(engine: sa.Engine) -> dict[str, dict[str, float]]:
    """Milliseconds of each aggregate per selection, and of ``count(*)`` between them."""
    from serving.decision_log import decisions

    count = sa.select(sa.func.count()).select_from(decisions)
    timings: dict[str, dict[str, float]] = {"count_star": {}}
    with engine.connect() as connection:
        chosen = selections(connection)
        for name, aggregate in aggregates().items():
            # The baseline again before each aggregate: the machine's load drifts.
            timings["count_star"][name] = (
                best_of(REPEAT, lambda: connection.execute(count).scalar_one()) * 1000
            )
            timings[name] = {
                selection: best_of(REPEAT, functools.partial(aggregate, connection, filters)) * 1000
                for selection, filters in chosen.items()
            }
    return {name: {k: round(v, 1) for k, v in row.items()} for name, row in timings.items()}


def time_without(engine: sa.Engine, index: str) -> dict[str, dict[str, float]]:
    """As :func:`time_queries` (filtered selections only) with ``index`` dropped in a
    transaction that is rolled back: what the index saves the dashboard."""
    timings: dict[str, dict[str, float]] = {}
    with engine.connect() as connection:
        chosen = selections(connection)
        del chosen["all"]
        connection.commit()
        with connection.begin() as transaction:
            connection.exec_driver_sql(f"DROP INDEX {index}")
            for name, aggregate in aggregates().items():
                timings[name] = {
                    selection: round(
                        best_of(REPEAT, functools.partial(aggregate, connection, filters)) * 1000,
                        1,
                    )
                    for selection, filters in chosen.items()
                }
            transaction.rollback()
    return timings


def plans(engine: sa.Engine) -> dict[str, list[dict[str, object]]]:
    with engine.connect() as connection:
        chosen = selections(connection)
    return {
        f"{name} [{selection}]": explain(engine, aggregate, filters)
        for name, aggregate in aggregates().items()
        for selection, filters in chosen.items()
    }


def write_rates(server_url: str) -> dict[str, float]:
    """Decisions per second through ``DecisionLog.write`` (commits of 100) into logs of
    100,000 decisions: with every index, and without each dashboard index in turn."""
    from serving.decision_log import COLUMNS, DecisionLog

    variants = {"all_indexes": None, **{f"without_{name}": name for name in DASHBOARD_INDEXES}}
    logs = {}
    for label, dropped in variants.items():
        url = database(server_url, f"bench_writes_{label}"[:60].lower())
        fill(url, 100_000, progress=False)
        log = DecisionLog(url)
        if dropped:
            with log.engine.begin() as connection:
                connection.exec_driver_sql(f"DROP INDEX {dropped}")
        logs[label] = log
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in synthetic_rows(WRITE_ROWS, seed=1)]
    share = len(rows) // WRITE_ROUNDS
    best = dict.fromkeys(variants, 0.0)
    for round_ in range(WRITE_ROUNDS):  # alternate the logs: the load drifts between rounds
        batch = [dict(row, decision_id="w" + str(row["decision_id"])[1:]) for row in rows]
        batch = batch[round_ * share : (round_ + 1) * share]
        for label, log in logs.items():
            started = time.perf_counter()
            for i in range(0, len(batch), WRITE_BATCH):
                log.write(batch[i : i + WRITE_BATCH])
            best[label] = max(best[label], len(batch) / (time.perf_counter() - started))
    for log in logs.values():
        log.close()
    return {label: round(rate) for label, rate in best.items()}


def run() -> dict:
    from benchmarks.postgres import PostgresFailed, PostgresMissing

    try:
        with server() as server_url:
            url = database(server_url, "bench_stats")
            build = fill(url, ROWS)
            engine = sa.create_engine(url)
            try:
                timings = time_queries(engine)
                explained = plans(engine)
                without = {name: time_without(engine, name) for name in DASHBOARD_INDEXES[1:]}
            finally:
                engine.dispose()
            writes = write_rates(server_url)
    except PostgresMissing as missing:
        return {"skipped": f"no PostgreSQL: {missing} missing; set TRIAGE_BENCH_PG_URL"}
    except PostgresFailed as error:
        return {"skipped": f"the throwaway PostgreSQL cluster did not start: {error}"}
    ratios = {}
    for name, row in timings.items():
        if name == "count_star":
            continue
        for selection, ms in row.items():
            ratios[f"{name} ({selection}) / count(*), time"] = ms / timings["count_star"][name]
    for index, rows in without.items():
        for name, row in rows.items():
            for selection, ms in row.items():
                ratios[f"{name} ({selection}) with / without {index}, time"] = (
                    timings[name][selection] / ms
                )
    for label, rate in writes.items():
        if label != "all_indexes":
            ratios[f"writes with every index / {label}, writes/s"] = writes["all_indexes"] / rate
    return {
        "ratios": ratios,
        "decisions": ROWS,
        **build,
        "milliseconds": {
            f"{name} [{sel}]": ms for name, row in timings.items() for sel, ms in row.items()
        },
        "milliseconds_without": without,
        "plans": explained,
        "writes_per_second": writes,
    }
