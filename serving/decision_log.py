"""The decision log: every decision the service acknowledges, written before it answers.

One table, ``decisions``, in SQLite (WAL, under ``TRIAGE_HOME``) or PostgreSQL
(``TRIAGE_DECISION_LOG_URL=postgresql+psycopg://…``), through one SQLAlchemy
Core code path.  Dashboards and drift monitoring read it, so its column names
are a contract (see :data:`decisions`).  Nothing personal is in it: of a case
it keeps ``case_id``, ``court_id``, ``province``, ``filing_date`` and the
contract's *feature* fields (``case_features``, JSON); requests carrying
personal data are refused before they get here.

Durability: a decision is committed before its response is sent.  SQLite runs
in WAL mode with ``synchronous=NORMAL``: a commit is a ``write()`` of the WAL
frames into the operating system, which keeps them when the service process
dies (``kill -9``, out of memory, a crash); only a power cut or kernel panic
could lose the last commits, which ``TRIAGE_DECISION_LOG_SYNC=FULL`` (fsync per
commit) covers at the cost of a disk flush per request.  The service writes
through :class:`GroupCommitWriter`, so concurrent requests share commits, and
within a time budget: a decision not committed in time (the log locked by
another process, its server down) is refused to its client and never written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from features.record import FEATURE_FIELDS

SOURCES = ("api", "batch")
#: Columns of the ``decisions`` table, in order.  Others build on these names.
COLUMNS = (
    "decision_id",
    "decided_at",
    "case_id",
    "court_id",
    "province",
    "filing_date",
    "stream",
    "p_complex",
    "p_assets",
    "stream_model",
    "stream_model_version",
    "assets_model",
    "assets_model_version",
    "reasons",
    "case_features",
    "challenger_stream_version",
    "challenger_assets_version",
    "challenger_p_complex",
    "challenger_p_assets",
    "challenger_stream",
    "source",
    "policy_id",
    "policy_version",
    "expected_recovery",
)
_FEATURE_NAMES = tuple(spec.name for spec in FEATURE_FIELDS)

metadata = sa.MetaData()

#: The table (one row per decision).
decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_id", sa.String(26), primary_key=True, comment="time-sortable id (ULID)"),
    sa.Column("decided_at", sa.String(24), nullable=False, comment="ISO-8601 UTC, ms"),
    sa.Column("case_id", sa.Text, nullable=False),
    sa.Column("court_id", sa.String(16), nullable=False),
    sa.Column("province", sa.String(2), nullable=False),
    sa.Column("filing_date", sa.String(10), nullable=False),
    sa.Column("stream", sa.String(8), nullable=False),
    sa.Column("p_complex", sa.Double, nullable=False),
    sa.Column("p_assets", sa.Double, nullable=False),
    sa.Column("stream_model", sa.Text, nullable=False),
    sa.Column("stream_model_version", sa.Text, nullable=False),
    sa.Column("assets_model", sa.Text, nullable=False),
    sa.Column("assets_model_version", sa.Text, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False, comment='{"complex": [...], "assets": [...]}'),
    sa.Column("case_features", sa.Text, nullable=False, comment="feature fields only, JSON"),
    sa.Column("challenger_stream_version", sa.Text),
    sa.Column("challenger_assets_version", sa.Text),
    sa.Column("challenger_p_complex", sa.Double),
    sa.Column("challenger_p_assets", sa.Double),
    sa.Column("challenger_stream", sa.String(8)),
    sa.Column("source", sa.String(8), nullable=False),
    # Added with court policies: a log created before them gets them on start (see
    # DecisionLog.create), and its older decisions have none (NULL).
    sa.Column("policy_id", sa.Text, comment="court:440305, province:44, national, model-default"),
    sa.Column("policy_version", sa.Integer, comment="the policy's version (0: built-in default)"),
    # Added with the assets model's amount part, on start like the policy columns: NULL for
    # older decisions and for assets versions that carry no amount part.
    sa.Column("expected_recovery", sa.Double, comment="p_assets × E[yuan | recovered], yuan"),
    sa.Index("ix_decisions_decided_at", "decided_at"),
    sa.Index("ix_decisions_court_id", "court_id"),
    sa.Index("ix_decisions_province", "province"),
    sa.Index("ix_decisions_stream", "stream"),
)

#: The day (UTC) of a decision, ``YYYY-MM-DD``, as the dashboard indexes and groups it.
#: The bounds are literals so that a query's expression is the index's expression.
DECISION_DAY = sa.func.substr(
    decisions.c.decided_at, sa.literal_column("1"), sa.literal_column("10")
)

# The dashboard's index (serving.stats).  A row is ~2 kB (the case's features and the
# reasons as JSON); the aggregations read a few small columns.  This covering index holds
# exactly those, ordered by day, so that a million decisions are ~200 MB of index to scan
# instead of 2 GB of table, and grouping by day needs no sort.  One index, appended at its
# end: a commit dirties one more page (measured ~5 % on single-decision commits, where
# three random-order indexes instead cost ~25 %).
#
#: What the dashboard's aggregates read of a decision, after its day (its covering indexes' keys).
_DASHBOARD_COLUMNS = tuple(
    decisions.c[name]
    for name in (
        "decided_at",
        "decision_id",
        "case_id",
        "stream",
        "court_id",
        "province",
        "p_complex",
        "p_assets",
        "stream_model",
        "stream_model_version",
        "assets_model",
        "assets_model_version",
        "challenger_stream_version",
        "challenger_stream",
        "challenger_p_complex",
        "challenger_assets_version",
        "challenger_p_assets",
    )
)
sa.Index("ix_decisions_dashboard", DECISION_DAY, *_DASHBOARD_COLUMNS)
# The same, one province after another: the dashboard filtered by a province otherwise reads
# that province's rows out of the whole table (a province's decisions are spread over all of
# it, ~4 rows a page).  Measured on PostgreSQL (benchmarks/bench_stats_postgres): the
# province-filtered aggregates are 2-4.6x faster with it at 2 M decisions and 5-15x at 4 M
# (0.18-0.46 s against 1.3-3.1 s), for 4-18 % fewer logged decisions per second (its inserts
# land at the end of each province's newest day, 31 hot pages).  A court's selection keeps ix_decisions_court_id.
sa.Index(
    "ix_decisions_province_dashboard",
    decisions.c.province,
    DECISION_DAY,
    *(column for column in _DASHBOARD_COLUMNS if column.name != "province"),
)


#: Terminated (终本) cases scored by ``POST /follow_up``, one row per case and request, for
#: the dashboard's follow-up page (a court's inventory: each case's latest row).  Like the
#: decisions, nothing personal: identity, scores, dates, the reasons' feature names.
#: Created on open for a log that predates it (``create_all`` adds missing tables).
follow_up_scores = sa.Table(
    "follow_up_scores",
    metadata,
    sa.Column("score_id", sa.String(26), primary_key=True, comment="time-sortable id (ULID)"),
    sa.Column("scored_at", sa.String(24), nullable=False, comment="ISO-8601 UTC, ms"),
    sa.Column("case_id", sa.Text, nullable=False),
    sa.Column("court_id", sa.String(16), nullable=False),
    sa.Column("province", sa.String(2), nullable=False),
    sa.Column("expected_yuan", sa.Double, nullable=False, comment="p_resume x expected_amount"),
    sa.Column("p_resume", sa.Double, nullable=False),
    sa.Column("expected_amount", sa.Double, nullable=False),
    sa.Column("unpaid_amount", sa.Double, nullable=False),
    sa.Column("terminated_date", sa.String(10), nullable=False),
    sa.Column("as_of_date", sa.String(10), nullable=False),
    sa.Column("months_since_termination", sa.Double, nullable=False),
    sa.Column("resume_model_version", sa.Text, nullable=False),
    sa.Column("recovery_model_version", sa.Text, nullable=False),
    sa.Column("reason_features", sa.Text, nullable=False, comment="JSON list of feature names"),
    sa.Column("reasons_zh", sa.Text, nullable=False),
    sa.Column("reasons_en", sa.Text, nullable=False),
    sa.Index("ix_follow_up_scores_case", "case_id", "scored_at"),
    sa.Index("ix_follow_up_scores_court", "court_id", "scored_at"),
)


# --------------------------------------------------------------------------
# Ids and times
# --------------------------------------------------------------------------

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class DecisionIds:
    """ULIDs: 48-bit millisecond time + 80 random bits, 26 characters, sortable as text.

    Ids made by one generator are strictly increasing, also within one
    millisecond (the random part is incremented), so the ids of a batch sort
    in request order.  The random part makes ids from different workers and
    hosts distinct; it need not be secret.
    """

    def __init__(self) -> None:
        import random

        self._random = random.Random(secrets.randbits(128))
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0
        self._second = -1
        self._second_text = ""

    def next(self, count: int = 1) -> tuple[list[str], str]:
        """``count`` new ids and the shared decision time (ISO-8601 UTC, ms)."""
        with self._lock:
            now_ms = time.time_ns() // 1_000_000
            if now_ms <= self._last_ms:
                now_ms = self._last_ms
                random = self._last_random + 1
            else:
                random = self._random.getrandbits(79)  # room to count up within a millisecond
            self._last_ms, self._last_random = now_ms, random + count - 1
            seconds, ms = divmod(now_ms, 1000)
            if seconds != self._second:
                self._second = seconds
                self._second_text = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime(
                    "%Y-%m-%dT%H:%M:%S"
                )
            decided_at = f"{self._second_text}.{ms:03d}Z"
        base = now_ms << 80
        return [_encode(base | (random + i)) for i in range(count)], decided_at


def _encode(value: int) -> str:
    """Crockford base32 of a 128-bit number, 26 characters, most significant first."""
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


# --------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------


def case_features_json(case: Mapping[str, object]) -> str:
    """The contract feature fields of a case as JSON (no identity, nothing personal)."""
    return json.dumps(
        {name: case.get(name) for name in _FEATURE_NAMES},
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    )


@dataclass(frozen=True)
class Shadow:
    """A challenger's scores of a batch, for the log only (None where no challenger)."""

    stream_version: str | None
    assets_version: str | None
    p_complex: Sequence[float] | None
    p_assets: Sequence[float] | None
    stream: Sequence[str] | None


# --------------------------------------------------------------------------
# The log
# --------------------------------------------------------------------------


def sqlite_path(url: sa.URL) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


class DecisionLog:
    """Writes and reads decisions; one per process (it owns a connection pool).

    ``url`` is an SQLAlchemy URL: ``sqlite:////abs/path/decisions.db`` or
    ``postgresql+psycopg://user@host/db`` (``postgresql://`` is read as
    psycopg 3, the driver of the ``postgres`` extra).
    """

    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL") -> None:
        parsed = sa.make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.url = parsed
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            path = sqlite_path(parsed)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            synchronous = sqlite_synchronous.upper()
            if synchronous not in ("NORMAL", "FULL", "EXTRA"):
                raise ValueError(
                    f"SQLite synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}"
                )
            self.engine = sa.create_engine(
                parsed,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=4,
                max_overflow=4,
                hide_parameters=True,  # errors must not carry case data into logs
            )

            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_connection, _record) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute(f"PRAGMA synchronous={synchronous}")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()
        else:
            self.engine = sa.create_engine(
                parsed, pool_size=4, max_overflow=4, pool_pre_ping=True, hide_parameters=True
            )
        self._insert = decisions.insert()

    def describe(self) -> str:
        """The URL without a password, for messages and logs."""
        return self.url.render_as_string(hide_password=True)

    def create(self) -> DecisionLog:
        """Create the table and its indexes if missing (safe from several processes at once).

        Columns and indexes added since a log was created are added to it
        here too (columns at once; an index once, a minute or so for a
        million decisions).
        """
        for attempt in range(5):
            try:
                metadata.create_all(self.engine, checkfirst=True)
                self._add_missing_columns()
                # create_all skips an existing table's indexes, even missing ones (and
                # cannot reflect an expression index to check): IF NOT EXISTS can.
                with self.engine.begin() as connection:
                    for index in sorted(decisions.indexes, key=lambda ix: str(ix.name)):
                        connection.execute(sa.schema.CreateIndex(index, if_not_exists=True))
                return self
            except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError):
                # Another worker created it between our check and our CREATE.
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return self

    def _add_missing_columns(self) -> None:
        """``ALTER TABLE … ADD COLUMN`` for each column of :data:`decisions` the table lacks.

        Only nullable columns are ever added (older rows have no value).  Two
        workers adding the same column at once: PostgreSQL's ``IF NOT
        EXISTS`` lets both pass; SQLite has none, so the second one's
        ``duplicate column`` error sends :meth:`create` round again, which then
        finds the column there.
        """
        present = {c["name"] for c in sa.inspect(self.engine).get_columns(decisions.name)}
        missing = [column for column in decisions.columns if column.name not in present]
        if not missing:
            return
        preparer = self.engine.dialect.identifier_preparer
        guard = "" if self.is_sqlite else "IF NOT EXISTS "
        with self.engine.begin() as connection:
            for column in missing:
                assert column.nullable, f"{column.name}: only nullable columns can be added"
                kind = column.type.compile(dialect=self.engine.dialect)
                connection.execute(
                    sa.text(
                        f"ALTER TABLE {preparer.quote(decisions.name)} "
                        f"ADD COLUMN {guard}{preparer.quote(column.name)} {kind}"
                    )
                )

    def close(self) -> None:
        self.engine.dispose()

    # --- writing ---------------------------------------------------------------------------

    def write(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Insert rows in one transaction; returns only after the commit."""
        if not rows:
            return
        with self.engine.begin() as connection:
            connection.execute(self._insert, list(rows))

    def write_follow_up_scores(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Insert ``follow_up_scores`` rows in one transaction; returns only after the commit.

        Not through :class:`GroupCommitWriter`: follow-up lists are a few
        requests a day, not a stream to share commits; a locked log waits up to
        the engine's busy timeout and then fails, and the request with it.
        """
        if not rows:
            return
        with self.engine.begin() as connection:
            connection.execute(follow_up_scores.insert(), list(rows))

    # --- reading ---------------------------------------------------------------------------

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one()
            )

    def ids(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(connection.execute(sa.select(decisions.c.decision_id)).scalars())

    def rows(
        self, *, since: str | None = None, until: str | None = None, chunk_rows: int = 50_000
    ) -> Iterator[list[dict[str, object]]]:
        """Decisions with ``since <= decided_at < until`` (ISO-8601 text), oldest first, in chunks."""
        query = sa.select(decisions).order_by(decisions.c.decided_at, decisions.c.decision_id)
        if since is not None:
            query = query.where(decisions.c.decided_at >= since)
        if until is not None:
            query = query.where(decisions.c.decided_at < until)
        with self.engine.connect() as connection:
            result = connection.execution_options(yield_per=chunk_rows).execute(query)
            for partition in result.mappings().partitions():
                yield [dict(row) for row in partition]


class DecisionLogTimeout(TimeoutError):
    """A write was not committed within its budget; its rows were not and will not be written."""


def describe_error(error: BaseException) -> str:
    """What went wrong, in one short line without SQL or parameters (for /readyz and logs)."""
    cause = error.orig if isinstance(error, sa.exc.DBAPIError) and error.orig else error
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return (f"{type(cause).__name__}: {text}" if text else type(cause).__name__)[:200]


def is_unavailable(error: BaseException) -> bool:
    """Whether a failed write means the log cannot be written now (a timeout, a lock, a
    connection or disk failure) rather than something wrong with the rows or the code."""
    return isinstance(error, DecisionLogTimeout | sa.exc.OperationalError)


def _lock_wait_ms(seconds: float) -> int:
    """Milliseconds a transaction may wait for a lock: ``seconds``, rounded down.

    Above a tenth of a second it is rounded down to a whole tenth, so that
    successive groups under load (each with a deadline a little later) share
    one SQLite busy timeout and the writer sets it again only when it changes:
    a statement and a commit saved per group, at the price of giving up on a
    lock at most 0.1 s before the earliest deadline rather than at it.
    """
    milliseconds = max(1, int(seconds * 1000))
    return milliseconds if milliseconds < 100 else milliseconds // 100 * 100


@dataclass
class _Pending:
    """One request's rows, waiting in the writer's queue."""

    rows: Sequence[Mapping[str, object]]
    future: Future[None]
    deadline: float  # time.monotonic() past which the request has been (or will be) refused


class GroupCommitWriter:
    """Writes the rows of concurrent requests in shared transactions, from one thread.

    Each request hands its rows over and waits for the commit that includes
    them; meanwhile the thread gathers whatever else arrived and commits it
    all at once.  Under load one commit serves several requests (a commit is
    most of the cost of a logged decision), the event loop never waits on the
    database, and a request still answers only after its rows are committed.
    A batch request's rows always go into one transaction.  When a commit
    fails, every request in it fails (nothing is acknowledged that is not logged).

    **Budget.**  A write has ``budget`` seconds, from its submission, to be
    committed; past it the caller gets :class:`DecisionLogTimeout`, and the
    rows are never written, so a decision refused to its client is not in the
    log.  That holds by a hand-over on each request's future: the thread
    *claims* a request (``set_running_or_notify_cancel``) before putting its
    rows into a transaction, and a request whose budget ran out withdraws
    (``Future.cancel``), which succeeds only while it is unclaimed.  So a
    request either withdraws and its rows are dropped, or it was claimed and
    waits for that commit's outcome: committed → acknowledged, failed →
    refused, never the one answer with the other outcome.  Claimed rows wait
    for locks (SQLite's busy timeout, PostgreSQL's ``lock_timeout``) at most
    until the earliest deadline among them, so a claimed request is answered
    about on time too; only the database's own write (disk, network) is not
    cut short.  Requests still queued when their budget ran out are refused
    unwritten.

    **Health.**  :attr:`problem` is None while the log takes writes and says
    why not otherwise (a commit failed for a reason other than its rows, or a
    probe did).  When no request has come for ``probe_every`` seconds the
    thread probes the log — it takes the write lock as an insert would and
    rolls back, writing nothing — so a lock is seen, and its release noticed
    within about ``probe_every`` seconds, without any traffic.
    ``on_health`` is called (from the thread) with the new :attr:`problem`
    whenever it changes.
    """

    def __init__(
        self,
        log: DecisionLog,
        *,
        max_rows: int = 20_000,
        budget: float = 2.0,
        probe_every: float = 1.0,
        on_health: Callable[[str | None], None] | None = None,
    ) -> None:
        if budget <= 0 or probe_every <= 0:
            raise ValueError("the write budget and the probe interval must be positive")
        self.log = log
        self.max_rows = max_rows
        self.budget = budget
        self.probe_every = probe_every
        self.problem: str | None = None
        self._on_health = on_health
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._connection: sa.Connection | None = None
        #: The SQLite busy timeout (ms) last set on ``_connection``: set again only on change.
        self._busy_ms: int | None = None
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def submit(self, rows: Sequence[Mapping[str, object]]) -> Future[None]:
        """A future that completes when ``rows`` are committed, or fails when they are not.

        It fails with :class:`DecisionLogTimeout` when the thread reaches the
        rows after their budget.  A caller that stops waiting must
        ``cancel()`` it: only if that succeeds are the rows sure never to be
        written (see :meth:`write_async`).
        """
        future: Future[None] = Future()
        self._queue.put(_Pending(rows, future, time.monotonic() + self.budget))
        return future

    def write(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Block until ``rows`` are committed (for callers in threads).

        Raises :class:`DecisionLogTimeout` when they were not committed within
        the budget (and then never will be), or the commit's error.
        """
        future = self.submit(rows)
        try:
            future.result(timeout=self.budget)
        except FutureTimeout:
            if future.cancel():
                raise self._timeout(len(rows)) from None
            future.result()  # claimed by a commit: its outcome is the answer

    async def write_async(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Wait, without blocking the event loop, until ``rows`` are committed.

        Raises as :meth:`write` does.  A cancelled caller (a client gone)
        withdraws its rows if they are not yet in a transaction.
        """
        import asyncio

        future = self.submit(rows)
        waiting = asyncio.wrap_future(future)  # cancelling it cancels ``future`` too
        try:
            done, _ = await asyncio.wait({waiting}, timeout=self.budget)
        except asyncio.CancelledError:
            future.cancel()  # nobody will hear the answer: withdraw if still unclaimed
            raise
        if not done and future.cancel():
            raise self._timeout(len(rows))
        await waiting  # committed, failed, or claimed by a commit whose outcome is the answer

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _timeout(self, n: int) -> DecisionLogTimeout:
        return DecisionLogTimeout(
            f"{n} decision(s) not committed within the {self.budget:g} s budget; not written"
        )

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self.probe_every)
            except queue.Empty:
                self._probe()  # idle: is the log still (or again) writable?
                continue
            if item is None:
                break
            group = [item]
            size = len(item.rows)
            while size < self.max_rows:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # finish this group, then stop
                    break
                group.append(item)
                size += len(item.rows)
            self._commit(group)
        if self._connection is not None:
            self._connection.close()

    def _claim(self, group: list[_Pending]) -> list[_Pending]:
        """The requests of the group still waiting and within budget, now bound to this commit."""
        now = time.monotonic()
        claimed = []
        for pending in group:
            if not pending.future.set_running_or_notify_cancel():
                continue  # withdrawn by its request: its rows are dropped
            if now >= pending.deadline:
                pending.future.set_exception(self._timeout(len(pending.rows)))
                continue
            claimed.append(pending)
        return claimed

    def _connect(self) -> sa.Connection:
        if self._connection is None:
            connection = self.log.engine.connect()
            # Its own connection, out of the pool: the lock timeouts set on it per
            # transaction must not reach the dashboard's reads on pooled connections.
            connection.detach()
            self._connection = connection
            self._busy_ms = None
        return self._connection

    @contextlib.contextmanager
    def _transaction(self, lock_wait: float, *, commit: bool = True) -> Iterator[sa.Connection]:
        """A transaction that waits at most ``lock_wait`` seconds for any lock.

        Commits at the end unless ``commit`` is false (then it rolls back);
        rolls back on an error.
        """
        connection = self._connect()
        milliseconds = _lock_wait_ms(lock_wait)
        if self.log.is_sqlite and milliseconds != self._busy_ms:
            # A connection setting (no transaction begins), in force for the next statements.
            connection.exec_driver_sql(f"PRAGMA busy_timeout={milliseconds}")
            connection.commit()
            self._busy_ms = milliseconds
        transaction = connection.begin()
        try:
            if not self.log.is_sqlite:
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = {milliseconds}")
            yield connection
        except BaseException:
            transaction.rollback()
            raise
        if commit:
            transaction.commit()
        else:
            transaction.rollback()

    def _commit(self, group: list[_Pending]) -> None:
        claimed = self._claim(group)
        if not claimed:
            return
        rows = [row for pending in claimed for row in pending.rows]
        lock_wait = min(pending.deadline for pending in claimed) - time.monotonic()
        try:
            with self._transaction(lock_wait) as connection:
                if rows:
                    connection.execute(self.log._insert, rows)
        except BaseException as error:
            self._after_failure(error)
            # A row the database refuses is the rows' fault, not the log's.  The health
            # first: whoever is told of the refusal must find the log's problem (and
            # /readyz's 503) already set, not a moment later.
            if not isinstance(error, sa.exc.IntegrityError | sa.exc.DataError):
                self._health(error)
            for pending in claimed:
                pending.future.set_exception(error)
            return
        self._health(None)
        for pending in claimed:
            pending.future.set_result(None)

    def _probe(self) -> None:
        """Take the write lock as an insert would, within the budget, and roll back."""
        try:
            with self._transaction(self.budget, commit=False) as connection:
                if self.log.is_sqlite:
                    # Deletes nothing, but takes the write lock (and fails while it is held).
                    connection.execute(decisions.delete().where(sa.false()))
                else:
                    # The lock an insert takes (needs only the INSERT privilege).
                    connection.exec_driver_sql("LOCK TABLE decisions IN ROW EXCLUSIVE MODE")
        except Exception as error:
            self._after_failure(error)
            self._health(error)
            return
        self._health(None)

    def _after_failure(self, error: BaseException) -> None:
        """A fresh connection for the next transaction, unless this one is known to be fine.

        A SQLite connection that met a lock or a full disk is intact (its transaction was
        rolled back); reconnecting would redo its set-up, which waits on some locks for the
        engine's full busy timeout.  Anything else (a server connection lost) reconnects.
        """
        if not (self.log.is_sqlite and isinstance(error, sa.exc.OperationalError)):
            self._drop_connection()

    def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None  # a fresh connection for the next group
            self._busy_ms = None

    def _health(self, error: BaseException | None) -> None:
        problem = (
            None
            if error is None
            else f"the decision log cannot be written: {describe_error(error)}"
        )
        if problem == self.problem:
            return
        self.problem = problem
        if self._on_health is not None:
            self._on_health(problem)


def build_rows(
    *,
    ids: Sequence[str],
    decided_at: str,
    cases: Sequence[Mapping[str, object]],
    p_complex: Sequence[float],
    p_assets: Sequence[float],
    streams: Sequence[str],
    reasons_json: Sequence[str],
    stream_model: tuple[str, str],
    assets_model: tuple[str, str],
    shadow: Shadow | None,
    source: str,
    policies: Sequence[tuple[str, int]] | None = None,
    expected_recovery: Sequence[float | None] | None = None,
) -> list[dict[str, object]]:
    """The log rows of a batch of decisions (pure; the service and tests share it).

    ``policies``: the ``(policy id, version)`` each case was routed by;
    ``expected_recovery``: each case's expected yuan (None where not given).
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    rows = []
    for i, case in enumerate(cases):
        row = {
            "decision_id": ids[i],
            "decided_at": decided_at,
            "case_id": case["case_id"],
            "court_id": case["court_id"],
            "province": case["province"],
            "filing_date": case["filing_date"],
            "stream": streams[i],
            "p_complex": p_complex[i],
            "p_assets": p_assets[i],
            "stream_model": stream_model[0],
            "stream_model_version": stream_model[1],
            "assets_model": assets_model[0],
            "assets_model_version": assets_model[1],
            "reasons": reasons_json[i],
            "case_features": case_features_json(case),
            "challenger_stream_version": None,
            "challenger_assets_version": None,
            "challenger_p_complex": None,
            "challenger_p_assets": None,
            "challenger_stream": None,
            "source": source,
            "policy_id": None if policies is None else policies[i][0],
            "policy_version": None if policies is None else policies[i][1],
            "expected_recovery": None if expected_recovery is None else expected_recovery[i],
        }
        if shadow is not None:
            if shadow.p_complex is not None:
                row["challenger_stream_version"] = shadow.stream_version
                row["challenger_p_complex"] = shadow.p_complex[i]
                row["challenger_stream"] = shadow.stream[i] if shadow.stream is not None else None
            if shadow.p_assets is not None:
                row["challenger_assets_version"] = shadow.assets_version
                row["challenger_p_assets"] = shadow.p_assets[i]
        rows.append(row)
    return rows


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------


def parse_moment(text: str, *, end_of_day: bool = False) -> str:
    """``YYYY-MM-DD`` or an ISO-8601 time → the ISO text ``decided_at`` compares with.

    A bare date means the start of that day (UTC), or with ``end_of_day`` the
    start of the next day, so that ``--until 2024-03-31`` includes the 31st.
    """
    text = text.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            if end_of_day:
                day += dt.timedelta(days=1)
            return f"{day.isoformat()}T00:00:00.000Z"
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO-8601 time") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _arrow_schema():
    import pyarrow as pa

    doubles = {
        "p_complex",
        "p_assets",
        "challenger_p_complex",
        "challenger_p_assets",
        "expected_recovery",
    }
    types = dict.fromkeys(doubles, pa.float64()) | {"policy_version": pa.int64()}
    return pa.schema([(name, types.get(name, pa.string())) for name in COLUMNS])


def export(
    log: DecisionLog, out: str | os.PathLike, *, since: str, until: str | None = None
) -> int:
    """Write the decisions of a period to CSV or Parquet (by extension), atomically.

    Streams in chunks, so any period fits in memory; the file appears only
    when complete.  Returns the number of decisions written.
    """
    import pyarrow as pa

    from app.files import atomic_table_writer

    schema = _arrow_schema()
    written = 0
    with atomic_table_writer(out, schema) as write:
        for chunk in log.rows(since=since, until=until):
            write(pa.Table.from_pylist(chunk, schema=schema))
            written += len(chunk)
    return written
