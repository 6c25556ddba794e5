"""What the benchmarks that start `triage serve` share: its environment, a trained
registry, the server process (and the BentoML workers under it), readiness.

Everything lives in a scratch folder of the caller's: ``TRIAGE_HOME``,
BentoML's store and the temporary files BentoML leaves behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PROJECT_ROOT = Path(__file__).resolve().parent.parent
KEY = "trg_benchmark-key"
TRAIN_CASES = 20_000
TRAIN_BUDGET_SECONDS = 40


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(scratch: Path, home: Path | None = None) -> dict[str, str]:
    """The servers' environment: ``home`` (by default a folder of ``scratch``) as TRIAGE_HOME."""
    home = scratch / "home" if home is None else home
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "MLFLOW_"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the server makes its own
    return env | {
        "TRIAGE_HOME": str(home),
        "TRIAGE_API_KEYS": KEY,
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "PYTHONPATH": str(PROJECT_ROOT),
        "TMPDIR": str(scratch),  # BentoML leaves socket folders behind
    }


def train(env: dict[str, str], scratch: Path, cases: int = TRAIN_CASES) -> float:
    """`triage train` on synthetic cases in ``env``'s registry; the seconds it took."""
    from features.synthetic import generate_cases

    train_csv = scratch / "cases.csv"
    generate_cases(cases, seed=21).cases.to_csv(train_csv, index=False)
    started = time.perf_counter()
    trained = subprocess.run(
        [sys.executable, "-m", "app.cli", "train", "--data", str(train_csv)]
        + ["--time-budget", str(TRAIN_BUDGET_SECONDS), "--trials", "4"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    if trained.returncode != 0:
        raise RuntimeError(f"training failed:\n{trained.stdout}\n{trained.stderr}")
    return time.perf_counter() - started


def synthetic_cases(n: int, seed: int) -> list[dict]:
    """``n`` valid synthetic case records (without outcome fields)."""
    from features.load import records_from_frame
    from features.synthetic import generate_cases

    return records_from_frame(generate_cases(n, seed=seed).cases)


def _pin(cpu: int | None):
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@dataclass
class Server:
    """A server subprocess, the file its output goes to, and every process seen under it."""

    process: subprocess.Popen[bytes]
    log: Path
    out: IO[bytes]
    #: pid -> start time (clock ticks since boot) of each descendant ever seen: BentoML's
    #: workers run in sessions of their own, and once the arbiter is gone they are orphans
    #: no longer found under it.  The start time tells a reused pid apart.
    seen: dict[int, int] = field(default_factory=dict)

    def processes(self) -> list[int]:
        """The server and every process under it now (remembered for :func:`stop`)."""
        found = descendants(self.process.pid)
        for pid in found:
            started = _start_ticks(pid)
            if started is not None:
                self.seen.setdefault(pid, started)
        return found


def start(command: list[str], env: dict[str, str], log: Path, cpu: int | None = None) -> Server:
    """Start ``command`` in a session of its own, output to ``log``, pinned to ``cpu``."""
    out = open(log, "wb")  # noqa: SIM115 - closed by stop()
    process = subprocess.Popen(
        command,
        env=env,
        cwd=PROJECT_ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_pin(cpu),
    )
    return Server(process, log, out)


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_ticks(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None


def descendants(root: int) -> list[int]:
    """``root`` and every process under it (BentoML's workers run in sessions of their own)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _proc_stat(int(entry.name))):
            parents[int(entry.name)] = int(fields[1])
    found = [root]
    for pid in found:
        found += [child for child, parent in parents.items() if parent == pid]
    return found


def stop(server: Server) -> None:
    """SIGTERM (a graceful stop of the arbiter and its workers), SIGKILL to all if stuck.

    Every process ever seen under the server and still alive afterwards (the
    same pid with the same start time) is killed too: nothing outlives a run.
    """
    process = server.process
    server.processes()
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.processes()
        for pid in descendants(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 10
    while (left := _alive(server.seen)) and time.monotonic() < deadline:
        time.sleep(0.2)  # the workers end a moment after the arbiter
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.out.close()


def _alive(seen: dict[int, int]) -> list[int]:
    return [pid for pid, started in seen.items() if _start_ticks(pid) == started]


def wait_ready(port: int, server: Server, timeout: float = 180) -> None:
    """Poll /readyz until 200; raise with the log's tail if the server dies or time runs out."""
    deadline = time.monotonic() + timeout
    log = server.log
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"server exited ({server.process.returncode}):\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def get_json(port: int, path: str) -> dict:
    """GET ``path`` with the benchmark's key; the JSON answer."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {KEY}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())
