"""A throwaway PostgreSQL server for the tests, and fresh databases on it.

The server is Debian's (`.ci/system-deps` installs it as root), started once
per test process on a Unix socket in a temporary folder, no TCP.  Each test
module that needs PostgreSQL gets a database of its own, so their tables never
meet.  ``TRIAGE_TEST_POSTGRES_URL`` points the tests at an existing server
instead (its user must be allowed to create databases).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import missing_system_package


@contextmanager
def local_server() -> Iterator[str]:
    """A PostgreSQL cluster of our own; yields the URL of its ``postgres`` database."""
    if os.environ.get("TRIAGE_TEST_POSTGRES_URL"):
        yield os.environ["TRIAGE_TEST_POSTGRES_URL"]
        return
    # Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<major>/bin.
    search = os.pathsep.join(
        [os.environ.get("PATH", ""), *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    )
    initdb, pg_ctl = shutil.which("initdb", path=search), shutil.which("pg_ctl", path=search)
    if not (initdb and pg_ctl):
        missing_system_package("a PostgreSQL server (initdb, pg_ctl; or TRIAGE_TEST_POSTGRES_URL)")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="triage-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        if not shutil.which("runuser"):
            missing_system_package("runuser (to start PostgreSQL as its own user)")
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    data = folder / "data"
    try:
        subprocess.run(
            [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "triage"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "start"]
            + ["-o", f"-k {folder} -c listen_addresses=''"],
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, OSError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        stderr = getattr(error, "stderr", b"") or b""
        pytest.fail(f"could not start a PostgreSQL cluster: {error}\n{stderr.decode()[-2000:]}")
    try:
        yield f"postgresql://triage@/postgres?host={folder}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


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
