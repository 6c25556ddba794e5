"""A throwaway PostgreSQL server for the tests, and fresh databases on it.

The server is Debian's (`.ci/system-deps` installs it as root), started once
per test process by :func:`benchmarks.postgres.local_server` (Unix socket, no TCP).  Each test
module that needs PostgreSQL gets a database of its own, so their tables never
meet.  ``TRIAGE_TEST_POSTGRES_URL`` points the tests at an existing server
instead (its user must be allowed to create databases).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from benchmarks import postgres
from tests.conftest import missing_system_package


@contextmanager
def local_server() -> Iterator[str]:
    """A PostgreSQL cluster of our own; yields the URL of its ``postgres`` database."""
    if os.environ.get("TRIAGE_TEST_POSTGRES_URL"):
        yield os.environ["TRIAGE_TEST_POSTGRES_URL"]
        return
    server = postgres.local_server()
    try:
        url = server.__enter__()  # entered by hand: its errors become a skip or a failure
    except postgres.PostgresMissing as missing:
        missing_system_package(f"{missing} (or TRIAGE_TEST_POSTGRES_URL)")
        raise
    except postgres.PostgresFailed as error:
        pytest.fail(f"could not start a PostgreSQL cluster: {error}")
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


def fresh_database(server_url: str, name: str) -> str:
    """Create database ``name`` (dropping one of that name) on the server; return its URL."""
    name = re.sub(r"[^a-z0-9_]", "_", name.lower())[:60]
    url = sa.make_url(server_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")  # CREATE DATABASE needs it
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)
