"""A service worker's start, measured from outside on real servers.

For a server started with one BentoML worker: the seconds from its launch to
``/readyz`` answering 200 (the *cold* start: for `triage serve` the registry
import, the arbiter and the worker); then, round after round, SIGKILL of the
worker and the seconds until ``/readyz`` answers 200 again and until a
``POST`` of a case is answered 200 (*scoring again*), from the kill and from
the new worker process's own start (its start time in ``/proc``), with the
CPU seconds that worker used until then (what its start costs on an idle
core: on a busy machine the wall time is mostly waiting for a core).

The rounds alternate between the servers measured together (the service and
the bare BentoML service of :mod:`benchmarks.bare_service`), so that other
work on the machine slows all of them alike.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.server import KEY, Server, descendants

#: How often readiness and scoring are polled.
POLL_SECONDS = 0.02


@dataclass
class Started:
    """A server whose start is measured: its port and what a scoring request is."""

    server: Server
    port: int
    #: One request body for ``POST /triage``.
    body: bytes


def boot_seconds() -> float:
    """Now, on the clock of ``/proc/<pid>/stat`` start times (seconds since boot)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def started_at(pid: int) -> float:
    """Start time of process ``pid``, in seconds since boot."""
    stat = (Path("/proc") / str(pid) / "stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU seconds process ``pid`` has used (all its threads)."""
    fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def workers(server: Server) -> list[int]:
    """The BentoML worker processes under a server."""
    found = []
    for pid in descendants(server.process.pid):
        with contextlib.suppress(OSError):
            command = (Path("/proc") / str(pid) / "cmdline").read_bytes()
            if b"_bentoml_impl.worker" in command:
                found.append(pid)
    return found


def ready_now(port: int) -> bool:
    """Whether ``/readyz`` answers 200 now."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def scores_now(started: Started) -> bool:
    """Whether ``POST /triage`` of the case answers 200 now."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{started.port}/triage",
        data=started.body,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as answer:
            answer.read()
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def until_ready(started: Started, timeout: float = 180) -> float:
    """Poll ``/readyz``; the boot-clock time it first answered 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = started.server
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited:\n{server.log.read_text()[-3000:]}")
        if ready_now(started.port):
            return boot_seconds()
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"not ready after {timeout} s:\n{started.server.log.read_text()[-3000:]}")


def until_scoring(started: Started, timeout: float = 60) -> float:
    """Poll ``POST /triage``; the boot-clock time it first answered 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if scores_now(started):
            return boot_seconds()
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"not scoring after {timeout} s:\n{started.server.log.read_text()[-3000:]}")


def cold_start(started: Started, launched: float) -> dict[str, float]:
    """Seconds from ``launched`` (boot clock) to ready; from the worker's start; its CPU."""
    ready = until_ready(started)
    (worker,) = workers(started.server)
    return {
        "launch_to_ready": ready - launched,
        "worker_start_to_ready": ready - started_at(worker),
        "worker_cpu": cpu_seconds(worker),
    }


def restart(started: Started) -> dict[str, float]:
    """SIGKILL the worker; seconds until ready and scoring again, from the kill and the new start."""
    (old,) = workers(started.server)
    killed = boot_seconds()
    os.kill(old, signal.SIGKILL)
    while ready_now(started.port) and old in descendants(started.server.process.pid):
        time.sleep(0.005)  # the arbiter has not reaped it yet
    ready = until_ready(started)
    scoring = until_scoring(started)
    (new,) = workers(started.server)
    return {
        "kill_to_ready": ready - killed,
        "kill_to_scoring": scoring - killed,
        "worker_start_to_ready": ready - started_at(new),
        "worker_cpu": cpu_seconds(new),
    }


def alternating_restarts(servers: dict[str, Started], rounds: int) -> dict[str, dict[str, Any]]:
    """``rounds`` restarts of each server, alternating; every figure and its median per server."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    for _ in range(rounds):
        for name, started in servers.items():
            runs[name].append(restart(started))
    return {name: summary(measured) for name, measured in runs.items()}


def summary(measured: list[dict[str, float]]) -> dict[str, Any]:
    """Per figure: its values (rounded) and their median."""
    return {
        key: {
            "median": round(statistics.median(m[key] for m in measured), 2),
            "values": [round(m[key], 2) for m in measured],
        }
        for key in measured[0]
    }
