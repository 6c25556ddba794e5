"""The decision log's write budget: a write refused to its client is never in the log.

These run the real writer thread on a real SQLite file (and PostgreSQL where
one can be started); another connection holds the write lock, as another
process (a backup, a migration, a stuck tool) would.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from serving.decision_log import (
    DecisionIds,
    DecisionLog,
    DecisionLogTimeout,
    GroupCommitWriter,
    is_unavailable,
)
from tests.serving.test_decision_log import rows

#: Failures a write under a held lock may end with: refused while queued, or refused by
#: the database's own lock timeout while being committed.
REFUSED = (DecisionLogTimeout, sa.exc.OperationalError)


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "decisions.db"


@pytest.fixture
def log(path):
    decision_log = DecisionLog(f"sqlite:///{path}").create()
    yield decision_log
    decision_log.close()


@contextlib.contextmanager
def write_lock(path: Path) -> Iterator[None]:
    """Hold SQLite's write lock from another connection, as another process would."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def eventually(condition: Callable[[], bool], what: str, within: float = 20) -> None:
    """Wait for ``condition``; the deadline only keeps a broken writer from hanging the suite."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def logged(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {row[0] for row in connection.execute("SELECT decision_id FROM decisions")}
    finally:
        connection.close()


def test_under_a_held_lock_writes_fail_and_none_is_written_later(log, path):
    changes: list[str | None] = []
    writer = GroupCommitWriter(log, budget=0.3, probe_every=0.05, on_health=changes.append)
    ids = DecisionIds()
    refused: list[dict] = []
    with write_lock(path):
        for _ in range(3):
            batch = rows(2, ids=ids)
            with pytest.raises(REFUSED) as failure:
                writer.write(batch)
            assert is_unavailable(failure.value)
            refused += batch
        problem = writer.problem
        assert problem is not None and "database is locked" in problem
    eventually(lambda: writer.problem is None, "writable again after the lock's release")
    accepted = rows(1, ids=ids)
    writer.write(accepted)
    writer.close()
    in_log = logged(path)
    assert {r["decision_id"] for r in accepted} <= in_log
    assert not {r["decision_id"] for r in refused} & in_log
    assert changes[0] == problem and changes[-1] is None


def test_a_stalled_commit_keeps_its_requests_and_drops_those_that_ran_out(log, path):
    """A commit that takes longer than the budget (a disk stall) holds up the queue.

    The request it carries waits for it and is acknowledged: it was committed.
    A request that gave up in the queue withdrew its rows; one whose budget ran
    out in the queue unnoticed is refused when the thread reaches it.  Neither
    is written, then or later.
    """
    stall, stalled = threading.Event(), threading.Event()

    @sa.event.listens_for(log.engine, "before_cursor_execute")
    def slow_disk(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("INSERT") and not stall.is_set():
            stalled.set()
            stall.wait(30)

    writer = GroupCommitWriter(log, budget=0.3, probe_every=60)
    ids = DecisionIds()
    carried, withdrawn, expired = rows(1, ids=ids), rows(1, ids=ids), rows(1, ids=ids)
    outcome: dict[str, BaseException | None] = {}

    def write_carried() -> None:
        try:
            writer.write(carried)
            outcome["carried"] = None
        except BaseException as error:
            outcome["carried"] = error

    thread = threading.Thread(target=write_carried)
    thread.start()
    assert stalled.wait(10)
    with pytest.raises(DecisionLogTimeout, match="not written"):
        writer.write(withdrawn)  # gives up after its budget: withdrawn, never written
    left_waiting = writer.submit(expired)  # nobody withdraws it; its budget runs out
    time.sleep(0.4)
    assert "carried" not in outcome  # still stalled
    stall.set()
    thread.join(10)
    assert outcome == {"carried": None}  # past its budget, but committed: acknowledged
    with pytest.raises(DecisionLogTimeout):
        left_waiting.result(10)
    writer.write(rows(1, ids=ids))  # the thread carries on
    writer.close()
    in_log = logged(path)
    assert carried[0]["decision_id"] in in_log
    assert withdrawn[0]["decision_id"] not in in_log
    assert expired[0]["decision_id"] not in in_log


def test_the_log_is_watched_without_any_write(log, path):
    """A lock taken and released while no request comes: the probe sees both."""
    changes: list[str | None] = []
    writer = GroupCommitWriter(log, budget=0.2, probe_every=0.05, on_health=changes.append)
    with write_lock(path):
        eventually(lambda: writer.problem is not None, "the lock noticed")
    eventually(lambda: writer.problem is None, "the release noticed")
    writer.close()
    assert changes[-1] is None and changes[0] and "database is locked" in changes[0]
    assert logged(path) == set()  # the probe writes nothing


def test_async_writers_under_a_lock_are_refused_and_not_written(log, path):
    writer = GroupCommitWriter(log, budget=0.3, probe_every=60)
    ids = DecisionIds()
    batches = [rows(1, ids=ids) for _ in range(8)]

    async def write_all() -> list[BaseException | None]:
        return await asyncio.gather(
            *(writer.write_async(b) for b in batches), return_exceptions=True
        )

    with write_lock(path):
        outcomes = asyncio.run(write_all())
    assert all(isinstance(o, REFUSED) for o in outcomes), outcomes
    assert writer.problem is not None
    writer.write(rows(1, ids=ids))
    assert writer.problem is None  # a commit is proof enough
    writer.close()
    assert not {b[0]["decision_id"] for b in batches} & logged(path)


def test_refused_rows_do_not_make_the_log_unready(log):
    writer = GroupCommitWriter(log, budget=1, probe_every=60)
    written = rows(1)
    writer.write(written)
    with pytest.raises(sa.exc.IntegrityError) as failure:
        writer.write(written)  # the same decision_id again
    assert not is_unavailable(failure.value)
    assert writer.problem is None
    writer.close()


def test_a_budget_must_be_positive(log):
    with pytest.raises(ValueError, match="positive"):
        GroupCommitWriter(log, budget=0)


def test_postgresql_lock_timeout_bounds_a_write(postgres_url):
    """PostgreSQL: a table lock held elsewhere refuses the write (lock_timeout), the probe
    sees the lock and its release, and nothing refused is written."""
    log = DecisionLog(postgres_url).create()
    writer = GroupCommitWriter(log, budget=0.3, probe_every=0.05)
    ids = DecisionIds()
    refused = rows(2, ids=ids)
    holder = log.engine.connect()
    transaction = holder.begin()
    holder.exec_driver_sql("LOCK TABLE decisions IN EXCLUSIVE MODE")
    try:
        with pytest.raises(REFUSED):
            writer.write(refused)
        assert writer.problem is not None and "lock timeout" in writer.problem
    finally:
        transaction.rollback()
        holder.close()
    eventually(lambda: writer.problem is None, "writable again after the lock's release")
    accepted = rows(1, ids=ids)
    writer.write(accepted)
    writer.close()
    in_log = log.ids()
    assert accepted[0]["decision_id"] in in_log
    assert not {r["decision_id"] for r in refused} & in_log
    log.close()


def test_lock_waits_never_pass_the_deadline_and_repeat_under_load():
    from serving.decision_log import _lock_wait_ms

    assert _lock_wait_ms(0.0) == 1  # SQLite's 0 would mean "do not wait at all"
    assert _lock_wait_ms(0.0456) == 45
    assert _lock_wait_ms(0.0999) == 99
    # Successive groups with deadlines a few ms apart share one busy timeout.
    assert {_lock_wait_ms(s) for s in (1.9999, 1.95, 1.9003)} == {1900}
    for seconds in (0.001, 0.05, 0.1, 0.25, 1.0, 1.999, 2.0):
        assert _lock_wait_ms(seconds) <= max(1, seconds * 1000)
