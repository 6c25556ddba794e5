"""The decision log: schema, ids, durability settings, group commit, export."""

from __future__ import annotations

import json
import re
import sqlite3
import threading

import pandas as pd
import pytest
import sqlalchemy as sa

from features.record import FEATURE_FIELDS, PII_FIELDS, example_case
from serving.decision_log import (
    COLUMNS,
    DecisionIds,
    DecisionLog,
    GroupCommitWriter,
    Shadow,
    build_rows,
    decisions,
    export,
    parse_moment,
)

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def log(tmp_path):
    decision_log = DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}").create()
    yield decision_log
    decision_log.close()


def rows(n: int = 1, *, source: str = "api", shadow: Shadow | None = None, ids=None):
    ids = ids or DecisionIds()
    new_ids, at = ids.next(n)
    cases = [dict(example_case(), case_id=f"c{i}") for i in range(n)]
    return build_rows(
        ids=new_ids,
        decided_at=at,
        cases=cases,
        p_complex=[0.1 + i / 10_000 for i in range(n)],
        p_assets=[0.7] * n,
        streams=["simple"] * n,
        reasons_json=['{"complex":[],"assets":[]}'] * n,
        stream_model=("triage-stream", "3"),
        assets_model=("triage-assets", "4"),
        shadow=shadow,
        source=source,
    )


def test_ids_are_unique_sortable_and_in_request_order():
    ids = DecisionIds()
    made = []
    for n in (1, 5, 1, 300, 2):
        batch, at = ids.next(n)
        assert ISO_MS.match(at)
        made += batch
    assert len(set(made)) == len(made) and made == sorted(made)
    assert all(len(i) == 26 and re.fullmatch(r"[0-9A-HJKMNP-TV-Z]+", i) for i in made)
    other = DecisionIds().next(50)[0]  # another worker: distinct ids
    assert not set(other) & set(made)


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_table_columns_and_indexes_are_the_published_ones(log):
    inspector = sa.inspect(log.engine)
    assert [c["name"] for c in inspector.get_columns("decisions")] == list(COLUMNS)
    indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes("decisions")}
    assert {("decided_at",), ("court_id",), ("province",), ("stream",)} <= indexed
    assert inspector.get_pk_constraint("decisions")["constrained_columns"] == ["decision_id"]


def test_sqlite_runs_in_wal_with_synchronous_normal(log):
    with log.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_a_flush_per_commit_can_be_asked_for(tmp_path):
    log = DecisionLog(f"sqlite:///{tmp_path / 'full.db'}", sqlite_synchronous="FULL").create()
    with log.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    log.close()
    with pytest.raises(ValueError, match="NORMAL, FULL or EXTRA"):
        DecisionLog(f"sqlite:///{tmp_path / 'x.db'}", sqlite_synchronous="OFF")


def test_the_schema_compiles_for_postgresql():
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex, CreateTable

    ddl = str(CreateTable(decisions).compile(dialect=postgresql.dialect()))
    assert "p_complex DOUBLE PRECISION NOT NULL" in ddl
    assert "decision_id VARCHAR(26) NOT NULL" in ddl
    for index in decisions.indexes:
        str(CreateIndex(index).compile(dialect=postgresql.dialect()))
    assert DecisionLog("postgresql://u:secret@db.example/triage").url.drivername == (
        "postgresql+psycopg"
    )
    assert "secret" not in DecisionLog("postgresql://u:secret@db.example/triage").describe()


def test_postgresql_is_the_same_code_path(postgres_url, tmp_path):
    log = DecisionLog(postgres_url).create()
    DecisionLog(postgres_url).create().close()  # a second worker starting: no error
    writer = GroupCommitWriter(log)
    ids = DecisionIds()
    written = rows(3, ids=ids, shadow=Shadow("9", "8", [0.1, 0.2, 0.3], [0.4] * 3, ["simple"] * 3))
    writer.write(written)
    writer.write(rows(1, ids=ids))
    assert {r["decision_id"] for r in written} <= log.ids()
    stored = {r["decision_id"]: r for chunk in log.rows() for r in chunk}
    for row in written:
        assert stored[row["decision_id"]] == row  # every column, doubles exact
    out = tmp_path / "pg.parquet"
    assert export(log, out, since=parse_moment("2000-01-01")) == log.count()
    writer.close()
    with log.engine.begin() as connection:
        connection.execute(decisions.delete())
    log.close()


def test_rows_keep_features_only_and_nothing_personal(log):
    case = dict(example_case(), respondent_name="张三", phone="13800000000")
    (row,) = build_rows(
        ids=["01J0000000000000000000000A"],
        decided_at="2024-03-15T08:00:00.000Z",
        cases=[case],
        p_complex=[0.5],
        p_assets=[0.5],
        streams=["review"],
        reasons_json=["{}"],
        stream_model=("s", "1"),
        assets_model=("a", "1"),
        shadow=None,
        source="api",
    )
    assert list(row) == list(COLUMNS)
    features = json.loads(row["case_features"])
    assert list(features) == [f.name for f in FEATURE_FIELDS]
    text = json.dumps(row, ensure_ascii=False)
    assert "张三" not in text and "13800000000" not in text
    assert not set(PII_FIELDS) & set(features)
    assert "case_id" not in features and "filing_date" not in features


def test_written_rows_read_back_with_shadow_scores(log):
    shadow = Shadow("5", None, [0.25, 0.3], None, ["review", "simple"])
    written = rows(2, shadow=shadow, source="batch")
    log.write(written)
    (first, second) = next(log.rows())
    assert first["challenger_stream_version"] == "5" and first["challenger_p_complex"] == 0.25
    assert first["challenger_assets_version"] is None and first["challenger_p_assets"] is None
    assert second["challenger_stream"] == "simple" and second["source"] == "batch"
    assert first["p_complex"] == written[0]["p_complex"]  # doubles round-trip exactly


def test_group_commit_commits_every_request_and_fails_all_of_a_failed_group(log):
    writer = GroupCommitWriter(log)
    ids = DecisionIds()
    batches = [rows(n, ids=ids) for n in (1, 3, 1, 50, 1)]
    futures = [writer.submit(b) for b in batches]
    for future in futures:
        future.result(timeout=10)
    assert log.count() == 56
    again = writer.submit(batches[0])  # duplicate decision_id: the commit fails
    with pytest.raises(sa.exc.IntegrityError):
        again.result(timeout=10)
    writer.write(rows(2, ids=ids))  # and the writer carries on
    assert log.count() == 58
    writer.close()


def test_concurrent_writers_lose_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    logs = [DecisionLog(url).create() for _ in range(3)]  # as three workers
    writers = [GroupCommitWriter(log) for log in logs]
    ids = DecisionIds()

    def work(writer):
        for _ in range(40):
            writer.write(rows(2, ids=ids))

    threads = [threading.Thread(target=work, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert logs[0].count() == 3 * 40 * 2
    for writer, log in zip(writers, logs, strict=True):
        writer.close()
        log.close()


def test_parse_moment():
    assert parse_moment("2024-03-15") == "2024-03-15T00:00:00.000Z"
    assert parse_moment("2024-03-15", end_of_day=True) == "2024-03-16T00:00:00.000Z"
    assert parse_moment("2024-03-15T10:00:00+08:00") == "2024-03-15T02:00:00.000Z"
    with pytest.raises(ValueError, match="not a date"):
        parse_moment("15/03/2024")


def _at(log, day: str, n: int) -> None:
    written = rows(n)
    for row in written:
        row["decided_at"] = f"{day}T12:00:00.000Z"
    log.write(written)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_a_period(log, tmp_path, suffix):
    _at(log, "2024-03-14", 1)
    _at(log, "2024-03-15", 2)
    _at(log, "2024-03-16", 3)
    out = tmp_path / f"out{suffix}"
    n = export(
        log,
        out,
        since=parse_moment("2024-03-15"),
        until=parse_moment("2024-03-16", end_of_day=True),
    )
    read = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert n == len(read) == 5
    assert list(read.columns) == list(COLUMNS)
    assert set(read["decided_at"].str[:10]) == {"2024-03-15", "2024-03-16"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_export_of_nothing_writes_the_header_and_refuses_other_formats(log, tmp_path):
    out = tmp_path / "none.csv"
    assert export(log, out, since=parse_moment("2030-01-01")) == 0
    assert out.read_text().strip().split(",")[0] == '"decision_id"'
    with pytest.raises(ValueError, match=r"out\.xlsx: a '\.xlsx' file is neither CSV nor Parquet"):
        export(log, tmp_path / "out.xlsx", since=parse_moment("2024-01-01"))
    assert not (tmp_path / "out.xlsx").exists()


def test_a_failed_export_leaves_the_old_file(log, tmp_path, monkeypatch):
    _at(log, "2024-03-15", 2)
    out = tmp_path / "out.csv"
    out.write_text("previous\n")

    def broken(*args, **kwargs):
        yield [{"decision_id": "x"}]
        raise OSError("disk full")

    monkeypatch.setattr(DecisionLog, "rows", broken)
    with pytest.raises(OSError, match="disk full"):
        export(log, out, since=parse_moment("2024-01-01"))
    assert out.read_text() == "previous\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.csv")]


def test_committed_rows_are_in_the_file_before_any_checkpoint(log, tmp_path):
    """What `kill -9` leaves behind: a fresh connection (no checkpoint) sees every commit."""
    written = rows(5)
    log.write(written)
    connection = sqlite3.connect(tmp_path / "decisions.db")
    found = {r[0] for r in connection.execute("SELECT decision_id FROM decisions")}
    connection.close()
    assert {r["decision_id"] for r in written} <= found


# --- logs created before court policies -----------------------------------------------------------

#: Columns added to logs that exist: with court policies, then with expected recovery.
ADDED = ("policy_id", "policy_version", "expected_recovery")
#: The columns a log created before court policies has.
OLD_COLUMNS = [c for c in decisions.columns if c.name not in ADDED]


def _old_log(url: str) -> list[dict[str, object]]:
    """A decisions table as it was before court policies, holding two decisions."""
    old = sa.MetaData()
    table = sa.Table("decisions", old, *(c._copy() for c in OLD_COLUMNS))
    engine = sa.create_engine(DecisionLog(url).url)  # psycopg 3 for postgresql://
    written = [
        {k: v for k, v in row.items() if k in table.c}
        for row in rows(2, shadow=Shadow("9", None, [0.2, 0.3], None, ["simple", "review"]))
    ]
    try:
        with engine.begin() as connection:
            # The PostgreSQL cluster is the module's: another test's table goes first.
            connection.execute(sa.text("DROP TABLE IF EXISTS decisions"))
        old.create_all(engine)
        with engine.begin() as connection:
            connection.execute(table.insert(), written)
    finally:
        engine.dispose()
    return written


def _policy_rows(n: int) -> list[dict[str, object]]:
    case = example_case()
    return build_rows(
        ids=DecisionIds().next(n)[0],
        decided_at="2024-03-15T08:00:00.000Z",
        cases=[case] * n,
        p_complex=[0.5] * n,
        p_assets=[0.5] * n,
        streams=["review"] * n,
        reasons_json=["{}"] * n,
        stream_model=("s", "1"),
        assets_model=("a", "1"),
        shadow=None,
        source="api",
        policies=[("court:440305", 3), ("national", 0)][:n],
        expected_recovery=[12345.67, None][:n],
    )


def _index_names(engine: sa.Engine) -> set[str]:
    """Every index of the table, expression indexes too (which SQLAlchemy cannot reflect)."""
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'decisions'"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE tablename = 'decisions'"
    )
    with engine.connect() as connection:
        return set(connection.exec_driver_sql(query).scalars())


def _migrated_log_keeps_old_rows_and_takes_policies(url: str) -> None:
    old = _old_log(url)
    log = DecisionLog(url).create()
    DecisionLog(url).create().close()  # a second worker starting: nothing left to add
    try:
        names = {c["name"] for c in sa.inspect(log.engine).get_columns("decisions")}
        assert set(ADDED) <= names
        # The dashboard's covering indexes, the per-province one included, are built too.
        assert {"ix_decisions_dashboard", "ix_decisions_province_dashboard"} <= _index_names(
            log.engine
        )
        assert {str(index.name) for index in decisions.indexes} <= _index_names(log.engine)
        new = _policy_rows(2)
        log.write(new)
        stored = {r["decision_id"]: r for chunk in log.rows() for r in chunk}
        for row in old:  # older decisions keep every value; they have no policy
            assert {k: stored[row["decision_id"]][k] for k in row} == row
            assert stored[row["decision_id"]]["policy_id"] is None
            assert stored[row["decision_id"]]["policy_version"] is None
            assert stored[row["decision_id"]]["expected_recovery"] is None
        assert [tuple(stored[r["decision_id"]][k] for k in ADDED) for r in new] == [
            ("court:440305", 3, 12345.67),
            ("national", 0, None),
        ]
    finally:
        with log.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE decisions"))
        log.close()


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_a_sqlite_log_from_before_policies_gets_the_policy_columns(tmp_path):
    _migrated_log_keeps_old_rows_and_takes_policies(f"sqlite:///{tmp_path / 'old.db'}")


def test_a_postgresql_log_from_before_policies_gets_the_policy_columns(postgres_url):
    _migrated_log_keeps_old_rows_and_takes_policies(postgres_url)
