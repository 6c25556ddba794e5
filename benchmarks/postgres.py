"""A throwaway PostgreSQL server of our own, for benchmarks and tests.

Debian's server binaries (``/usr/lib/postgresql/<major>/bin``, off PATH) run a
cluster in a temporary folder, listening on a Unix socket there and on no TCP
port; as root the server is started as the ``postgres`` user (it refuses to
run as root).  The tests reuse this (``tests/postgres.py``), turning its errors
into a skip or a failure; benchmarks must not import the tests, so it lives here.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries here (or no way to run them as a non-root user)."""


class PostgresFailed(RuntimeError):
    """The binaries are here but the cluster did not start."""


@contextmanager
def local_server(settings: Sequence[str] = ()) -> Iterator[str]:
    """A PostgreSQL cluster of our own; yields the URL of its ``postgres`` database.

    ``settings`` are server options (``"shared_buffers=1GB"``), passed as ``-c``.
    The cluster and its folder are removed on exit.
    """
    search = os.pathsep.join(
        [os.environ.get("PATH", ""), *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    )
    initdb, pg_ctl = shutil.which("initdb", path=search), shutil.which("pg_ctl", path=search)
    if not (initdb and pg_ctl):
        raise PostgresMissing("a PostgreSQL server (initdb, pg_ctl)")
    as_user: list[str] = []
    if os.geteuid() == 0 and not shutil.which("runuser"):
        raise PostgresMissing("runuser (to start PostgreSQL as its own user)")
    folder = Path(tempfile.mkdtemp(prefix="triage-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    data = folder / "data"
    options = " ".join([f"-k {folder}", "-c listen_addresses=''", *(f"-c {s}" for s in settings)])
    try:
        subprocess.run(
            [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "triage"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "start"]
            + ["-o", options],
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, OSError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        stderr = getattr(error, "stderr", b"") or b""
        raise PostgresFailed(f"{error}\n{stderr.decode()[-2000:]}") from error
    try:
        yield f"postgresql://triage@/postgres?host={folder}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
