"""Soak: a real `triage serve` under steady mixed traffic while its models change
and its decision log is locked (issue 15).

Setup (in a temporary ``TRIAGE_HOME``): both models trained once with the real
pipeline (``triage train``, 20,000 synthetic cases, the service benchmark's
budget), then the same trained files registered again as versions 2, 3 and 4
(training three more times would only add minutes; the service cannot tell,
each version is imported and checked on its own).  Version 1 is the champion,
version 4 a steady challenger, so the worker holds a shadow model throughout
and its memory is compared like with like.  `triage serve` runs with its
default number of workers and ``TRIAGE_MODEL_POLL_SECONDS`` =
:data:`POLL_SECONDS`.

Traffic: Debian's ``wrk`` at concurrency 8 for ``TRIAGE_BENCH_SOAK_SECONDS``
(default 600): single ``POST /triage`` requests, and every
:data:`BATCH_EVERY`-th request a ``POST /triage_batch`` of :data:`BATCH_SIZE`
cases.  Every answer's status, time and acknowledged decision ids go to a
file per wrk thread.

Events, at fixed fractions of the duration: promote version 2, promote
version 3 (both models, with `triage promote`), a 5-second write lock on the
decision log held by another process, `triage rollback` (back to version 2).

Checked afterwards (the server stopped first):

* no 5xx answer but 503, and no 503 outside the locked window (its start to
  its end plus the log's write budget, :data:`SLACK_SECONDS` either side);
* every request answered (no socket error or timeout, no 4xx);
* every acknowledged decision is in the decision log, with the versions its
  answer carried;
* the workers' resident memory at the end within 5 % of that after warm-up
  (medians of the samples in the first and last tenths of the traffic after
  warm-up); no worker restarted;
* every logged decision was made with the champion in force at its
  ``decided_at`` (the registry's alias history), or with the one it replaced
  less than :data:`PROPAGATION_SECONDS` before; the measured lags from each
  alias move to the last decision on the old version and the first on the
  new are reported.

A property that fails makes ``python -m benchmarks`` exit non-zero.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.server import (
    KEY,
    PROJECT_ROOT,
    TRAIN_CASES,
    Server,
    environment,
    free_port,
    get_json,
    start,
    stop,
    synthetic_cases,
    train,
    wait_ready,
)
from benchmarks.wrk import _lua_string, ensure_wrk

DEFAULT_SECONDS = 600
CONNECTIONS = 8
WRK_THREADS = 2
DISTINCT_CASES = 500
BATCH_SIZE = 50
BATCH_EVERY = 10
POLL_SECONDS = 2
LOCK_SECONDS = 5.0
#: The decision log's write budget in the service (TRIAGE_DECISION_LOG_BUDGET_SECONDS).
BUDGET_SECONDS = 2.0
#: Either side of the locked window: answers are timed at the client, to 10 ms.
SLACK_SECONDS = 1.0
#: How long after an alias move a decision may still carry the version it replaced:
#: the follower's poll, its import and check in a child process, the workers' 1-s watch.
#: Generous because a shared machine stretches the import and check (25 s seen under a
#: load average of 7 on 2 cores); the measured lags are reported beside it.
PROPAGATION_SECONDS = 60.0
MEMORY_GROWTH_LIMIT_PERCENT = 5.0
SAMPLE_EVERY_SECONDS = 2.0
#: Events at these fractions of the duration; memory samples after warm-up start at
#: WARMUP and end at the first event.
WARMUP = 0.08
SCHEDULE = (
    (0.20, "promote", "2"),
    (0.40, "promote", "3"),
    (0.55, "lock", None),
    (0.70, "rollback", None),
)
KINDS = ("stream", "assets")


# --------------------------------------------------------------------------
# Pure parts: the answers wrk recorded, the champion in force, the checks
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One HTTP answer as a wrk thread recorded it."""

    at: float  #: wall-clock seconds (epoch) the answer arrived
    status: int
    batch: bool = False
    decision_ids: tuple[str, ...] = ()
    versions: tuple[str, str] | None = None  #: (stream, assets) the answer carried


def parse_answers(lines: Iterable[str], clock_offset: float) -> list[Answer]:
    """The answers of one wrk thread's file (see :func:`soak_script`).

    A line is ``<uptime> <status> <s|b|-> <stream version> <assets version>
    <ids, comma-separated>``, ``-`` for a missing field; ``clock_offset``
    turns the boot clock the script reads (``/proc/uptime``) into epoch
    seconds.
    """
    answers = []
    for line in lines:
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            raise ValueError(f"malformed wrk record: {line[:200]!r}")
        uptime, status, kind, stream, assets, ids = fields
        versions = None if "-" in (stream, assets) else (stream, assets)
        answers.append(
            Answer(
                at=float(uptime) + clock_offset,
                status=int(status),
                batch=kind == "b",
                decision_ids=() if ids == "-" else tuple(ids.split(",")),
                versions=versions,
            )
        )
    return answers


@dataclass(frozen=True)
class Move:
    """One move of a model's ``champion`` alias, at an epoch time."""

    at: float
    previous: str | None
    version: str


def champion_at(moves: Sequence[Move], at: float) -> str | None:
    """The version the champion alias pointed at, at ``at`` (moves sorted by time)."""
    current = None
    for move in moves:
        if move.at > at:
            break
        current = move.version
    return current


def allowed_versions(moves: Sequence[Move], at: float, propagation: float) -> set[str | None]:
    """The champion in force at ``at``, and those it replaced less than ``propagation`` before."""
    allowed = {champion_at(moves, at)}
    allowed |= {m.previous for m in moves if at - propagation < m.at <= at}
    return allowed


@dataclass(frozen=True)
class Logged:
    """A decision as the decision log holds it."""

    decision_id: str
    at: float
    versions: tuple[str, str]  #: (stream, assets)


def off_champion(
    decisions: Iterable[Logged], moves: Mapping[str, Sequence[Move]], propagation: float
) -> list[Logged]:
    """The decisions whose version of either model was not the champion in force."""
    return [
        d
        for d in decisions
        if any(
            version not in allowed_versions(moves[kind], d.at, propagation)
            for kind, version in zip(KINDS, d.versions, strict=True)
        )
    ]


def propagation_lags(
    decisions: Sequence[Logged], moves: Sequence[Move], kind: str, since: float
) -> list[dict[str, Any]]:
    """For each move after ``since``: seconds to the last decision on the old version, and to
    the first on the new (until the next move); None where there was none."""
    index = KINDS.index(kind)
    later = [m for m in moves if m.at >= since]
    lags = []
    for i, move in enumerate(later):
        until = later[i + 1].at if i + 1 < len(later) else float("inf")
        during = [d for d in decisions if move.at <= d.at < until]
        old = [d.at for d in during if d.versions[index] == move.previous]
        new = [d.at for d in during if d.versions[index] == move.version]
        lags.append(
            {
                "model": kind,
                "from": move.previous,
                "to": move.version,
                "last_old_after_s": round(max(old) - move.at, 3) if old else None,
                "first_new_after_s": round(min(new) - move.at, 3) if new else None,
            }
        )
    return lags


def outside(times: Iterable[float], start: float, end: float) -> list[float]:
    """The times not within ``[start, end]``."""
    return [t for t in times if not start <= t <= end]


def growth_percent(before: Sequence[float], after: Sequence[float]) -> float:
    """Growth from the median of ``before`` to the median of ``after``, in percent."""
    first, last = statistics.median(before), statistics.median(after)
    return (last - first) / first * 100


def epoch(moment: str) -> float:
    """Epoch seconds of an ISO-8601 UTC time (``...Z``)."""
    return dt.datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


# --------------------------------------------------------------------------
# wrk's script
# --------------------------------------------------------------------------


def soak_script(singles: Path, batches: Path, out_prefix: str) -> str:
    """Lua for wrk: single requests, one batch in every BATCH_EVERY; each answer recorded.

    Each thread writes ``<out_prefix><thread>.txt``, one line per answer (see
    :func:`parse_answers`), timed with ``/proc/uptime`` (LuaJIT's ``os.time``
    has one-second steps).
    """
    return f"""
wrk.method = "POST"
wrk.headers["Authorization"] = {_lua_string("Bearer " + KEY)}
wrk.headers["Content-Type"] = "application/json"
local function lines(path)
  local found = {{}}
  for line in io.lines(path) do
    if #line > 0 then found[#found + 1] = line end
  end
  return found
end
local singles = lines({_lua_string(str(singles))})
local batches = lines({_lua_string(str(batches))})
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
local n = 0
local out
local function uptime()
  local clock = io.open("/proc/uptime")
  local seconds = clock:read("*n")
  clock:close()
  return seconds
end
function init(args)
  out = io.open({_lua_string(out_prefix)} .. id .. ".txt", "w")
  out:setvbuf("line")
  n = id * 7919
end
function request()
  n = n + 1
  if n % {BATCH_EVERY} == 0 then
    local batch = batches[math.floor(n / {BATCH_EVERY}) % #batches + 1]
    return wrk.format(nil, "/triage_batch", nil, batch)
  end
  return wrk.format(nil, "/triage", nil, singles[n % #singles + 1])
end
function response(status, headers, body)
  local at = uptime()
  if status ~= 200 then
    out:write(string.format("%.2f %d - - - -\\n", at, status))
    return
  end
  local kind = "s"
  if body:find('"decisions"', 1, true) then kind = "b" end
  local ids = {{}}
  for id in body:gmatch('"decision_id":"([^"]+)"') do ids[#ids + 1] = id end
  local stream = body:match('"stream":{{"name":"[^"]*","version":"([^"]+)"') or "-"
  local assets = body:match('"assets":{{"name":"[^"]*","version":"([^"]+)"') or "-"
  if #ids == 0 then ids[1] = "-" end
  out:write(string.format("%.2f %d %s %s %s %s\\n", at, status, kind, stream, assets,
    table.concat(ids, ",")))
end
"""


# --------------------------------------------------------------------------
# I/O: registry, events, memory, the decision log
# --------------------------------------------------------------------------

REGISTER = """\
import json
from app.settings import apply_environment
apply_environment()
from models import registry
registry.configure_mlflow()
import mlflow
client = mlflow.MlflowClient()
versions = {}
for kind in ("stream", "assets"):
    name = registry.model_name(kind)
    first = client.get_model_version(name, "1")
    found = ["1"]
    for _ in range(3):  # the same files again: versions 2, 3 and 4
        again = client.create_model_version(
            name, source=first.source, run_id=first.run_id, tags=first.tags,
            model_id=getattr(first, "model_id", None),
        )
        found.append(str(again.version))
    registry.move_alias(name, "champion", "1", "soak: the start", command="bench soak")
    registry.move_alias(name, "challenger", found[3], "soak: a steady shadow", command="bench soak")
    versions[kind] = found
print(json.dumps(versions))
"""

HISTORY = """\
import json
from app.settings import apply_environment
apply_environment()
from models import registry
registry.configure_mlflow()
print(json.dumps({
    kind: [
        {"time": m.time, "from": m.previous, "to": m.version}
        for m in registry.alias_history(registry.model_name(kind)) if m.alias == "champion"
    ]
    for kind in ("stream", "assets")
}))
"""

LOCK = """\
import sqlite3, sys, time
holder = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
holder.execute("BEGIN IMMEDIATE")
print(time.time(), flush=True)
time.sleep(float(sys.argv[2]))
holder.execute("ROLLBACK")
print(time.time(), flush=True)
"""


def _run(env: dict[str, str], argv: list[str], what: str) -> str:
    """Run a Python child of the project; its last line of output (raises with its errors)."""
    done = subprocess.run(
        [sys.executable, *argv],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def _python(env: dict[str, str], script: str, *args: str) -> str:
    return _run(env, ["-c", script, *args], "helper script")


def _triage(env: dict[str, str], *args: str) -> None:
    _run(env, ["-m", "app.cli", *args], f"triage {' '.join(args)}")


@dataclass
class Events:
    """The scheduled events, run in a thread of their own; what happened and when."""

    env: dict[str, str]
    started: float  #: monotonic start of the traffic
    seconds: float
    log: list[dict[str, Any]] = field(default_factory=list)
    lock: tuple[float, float] | None = None
    error: str | None = None

    def run(self) -> None:
        try:
            for fraction, what, version in SCHEDULE:
                delay = self.started + fraction * self.seconds - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                began = time.time()
                if what == "lock":
                    self.lock = self._lock()
                else:
                    for kind in KINDS:
                        if what == "promote":
                            args = ["--version", str(version), "--reason", "soak"]
                            _triage(self.env, "promote", "--model", f"triage-{kind}", *args)
                        else:
                            _triage(self.env, "rollback", "--model", f"triage-{kind}")
                self.log.append(
                    {"event": what, "version": version, "began": began, "ended": time.time()}
                )
        except Exception as error:  # reported in the result, and fails it
            self.error = repr(error)[:2000]

    def _lock(self) -> tuple[float, float]:
        database = Path(self.env["TRIAGE_HOME"]) / "decisions.db"
        done = subprocess.run(
            [sys.executable, "-c", LOCK, str(database), str(LOCK_SECONDS)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the lock failed: {done.stderr[-2000:]}")
        taken, released = (float(x) for x in done.stdout.split())
        return taken, released


def worker_pids(server: Server) -> list[int]:
    """The BentoML worker processes under the server (in sessions of their own)."""
    found = []
    for pid in server.processes():
        try:
            if b"_bentoml_impl.worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue  # gone meanwhile
    return found


def memory_bytes(pid: int) -> dict[str, int] | None:
    """Resident memory of ``pid``: total, anonymous (the heap) and file-backed (code,
    mapped files); None when it is gone."""
    fields = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file"}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    found = {}
    for line in lines:
        name, _, value = line.partition("\t")
        if name in fields:
            found[fields[name]] = int(value.split()[0]) * 1024
    return found if len(found) == len(fields) else None


@dataclass
class MemorySampler:
    """The workers' summed RSS every SAMPLE_EVERY_SECONDS, and which workers were seen."""

    server: Server
    samples: list[tuple[float, int]] = field(default_factory=list)
    #: (monotonic time, anonymous bytes, file-backed bytes) of each sample
    parts: list[tuple[float, int, int]] = field(default_factory=list)
    workers: set[int] = field(default_factory=set)
    most: int = 0  #: the most workers alive at once: more seen over the run means restarts
    stopped: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_EVERY_SECONDS):
            pids = worker_pids(self.server)
            sizes = [memory_bytes(pid) for pid in pids]
            if pids and all(sizes):
                now = time.monotonic()
                self.workers |= set(pids)
                self.most = max(self.most, len(pids))
                self.samples.append((now, sum(m["rss"] for m in sizes if m)))
                anon, file = (sum(m[k] for m in sizes if m) for k in ("anon", "file"))
                self.parts.append((now, anon, file))


def logged_decisions(database: Path) -> list[Logged]:
    """Every decision in the SQLite decision log."""
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute(
            "SELECT decision_id, decided_at, stream_model_version, assets_model_version "
            "FROM decisions"
        ).fetchall()
    finally:
        connection.close()
    return [Logged(row[0], epoch(row[1]), (row[2], row[3])) for row in rows]


def _write_requests(scratch: Path) -> tuple[Path, Path]:
    """One single-case body per line, and batch bodies of BATCH_SIZE cases per line."""
    cases = synthetic_cases(DISTINCT_CASES, seed=31)
    singles, batches = scratch / "singles.jsonl", scratch / "batches.jsonl"
    singles.write_text("".join(json.dumps({"case": c}) + "\n" for c in cases))
    named = [dict(c, case_id=f"soak-{i}") for i, c in enumerate(cases)]
    lines = [
        json.dumps({"cases": named[i : i + BATCH_SIZE]}) + "\n"
        for i in range(0, len(named), BATCH_SIZE)
    ]
    batches.write_text("".join(lines))
    return singles, batches


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------


def run() -> dict[str, Any]:
    """Train, register, serve, soak, stop, check; the result (see the module docstring)."""
    seconds = float(os.environ.get("TRIAGE_BENCH_SOAK_SECONDS", DEFAULT_SECONDS))
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="triage-bench-soak-") as folder:
        scratch = Path(folder)
        env = environment(scratch) | {
            "TRIAGE_MODEL_POLL_SECONDS": str(POLL_SECONDS),
            "TRIAGE_DECISION_LOG_BUDGET_SECONDS": str(BUDGET_SECONDS),
        }
        train_seconds = train(env, scratch)
        versions = json.loads(_python(env, REGISTER))
        soaked = _soak(wrk, env, scratch, seconds)
        history = json.loads(_python(env, HISTORY))
        decisions = logged_decisions(Path(env["TRIAGE_HOME"]) / "decisions.db")
    moves = {
        kind: [Move(epoch(m["time"]), m["from"], m["to"]) for m in history[kind]] for kind in KINDS
    }
    result = check(soaked, decisions, moves, seconds)
    result["setup"] = {
        "versions": versions,
        "train_cases": TRAIN_CASES,
        "train_seconds": round(train_seconds, 1),
        "note": "versions 2-4 are version 1's files registered again",
        "workers": "triage serve's default",
        "model_poll_seconds": POLL_SECONDS,
        "decision_log_budget_seconds": BUDGET_SECONDS,
        "lock_seconds": LOCK_SECONDS,
        "slack_seconds": SLACK_SECONDS,
        "propagation_allowed_seconds": PROPAGATION_SECONDS,
        "connections": CONNECTIONS,
        "batch": f"{BATCH_SIZE} cases, 1 request in {BATCH_EVERY}",
        "soak_seconds": seconds,
        "served_at_start": soaked["served_at_start"],
    }
    return result


def _soak(wrk: str, env: dict[str, str], scratch: Path, seconds: float) -> dict[str, Any]:
    """Serve, load with wrk while the events happen, stop; what was recorded."""
    singles, batches = _write_requests(scratch)
    out_prefix = str(scratch / "answers-")
    script = scratch / "soak.lua"
    script.write_text(soak_script(singles, batches, out_prefix), encoding="utf-8")
    port = free_port()
    server = start(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env, scratch / "serve.log"
    )
    try:
        wait_ready(port, server)
        served_at_start = get_json(port, "/model_info")["bento_model"]
        clock_offset = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
        started = time.monotonic()
        events = Events(env, started, seconds)
        sampler = MemorySampler(server)
        threads = [threading.Thread(target=t.run, daemon=True) for t in (events, sampler)]
        for thread in threads:
            thread.start()
        completed = subprocess.run(
            [wrk, f"--connections={CONNECTIONS}", f"--threads={WRK_THREADS}"]
            + [f"--duration={round(seconds)}s", "--timeout=10s", f"--script={script}"]
            + [f"http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 120,
        )
        ended = time.monotonic()
        sampler.stopped.set()
        threads[0].join(timeout=600)
        threads[1].join(timeout=30)
        running_at_end = server.process.poll() is None
    finally:
        stop(server)
    answers = [
        answer
        for path in sorted(scratch.glob("answers-*.txt"))
        for answer in parse_answers(path.read_text().splitlines(), clock_offset)
    ]
    return {
        "answers": answers,
        "wrk_output": completed.stdout + completed.stderr,
        "events": events,
        "memory": sampler,
        "started": started,
        "ended": ended,
        "running_at_end": running_at_end,
        "served_at_start": served_at_start,
        "server_log_tail": server.log.read_text(errors="replace")[-3000:],
        "service_log": service_events(server.log.read_text(errors="replace").splitlines()),
    }


def _parts_mb(parts: list[tuple[float, int, int]], start: float, end: float) -> list[float]:
    """Median anonymous and file-backed memory (MB) of the samples in ``[start, end)``."""
    within = [(anon, file) for at, anon, file in parts if start <= at < end]
    if not within:
        return []
    return [round(statistics.median(column) / 2**20, 1) for column in zip(*within, strict=True)]


#: What the service says about model changes and the decision log's health.
SERVICE_EVENTS = ("published", "now serving", "not ready", "writable again", "refus")


def service_events(lines: Iterable[str]) -> list[str]:
    """The service log's lines about model changes and the log's health, shortened."""
    return [line[:220] for line in lines if any(word in line for word in SERVICE_EVENTS)]


def _socket_errors(wrk_output: str) -> str | None:
    """wrk's own line on socket errors, when it printed one."""
    for line in wrk_output.splitlines():
        if "Socket errors" in line or "Non-2xx" in line:
            return line.strip()
    return None


def check(
    soaked: dict[str, Any], decisions: list[Logged], moves: dict[str, list[Move]], seconds: float
) -> dict[str, Any]:
    """The properties, their numbers and PASS/FAIL (printed as well)."""
    answers: list[Answer] = soaked["answers"]
    events: Events = soaked["events"]
    memory: MemorySampler = soaked["memory"]
    statuses = Counter(a.status for a in answers)
    other_5xx = sum(n for status, n in statuses.items() if status >= 500 and status != 503)
    failures_4xx = sum(n for status, n in statuses.items() if 400 <= status < 500)
    socket_line = _socket_errors(soaked["wrk_output"])
    socket_errors = socket_line is not None and "Socket errors" in socket_line

    if events.lock is not None:
        window = (events.lock[0] - SLACK_SECONDS, events.lock[1] + BUDGET_SECONDS + SLACK_SECONDS)
        unavailable = [a.at for a in answers if a.status == 503]
        stray_503 = len(outside(unavailable, *window))
        in_window_503 = len(unavailable) - stray_503
    else:
        stray_503 = sum(1 for a in answers if a.status == 503)
        in_window_503 = 0

    logged = {d.decision_id: d for d in decisions}
    acknowledged = {i: a.versions for a in answers if a.status == 200 for i in a.decision_ids}
    lost = [i for i in acknowledged if i not in logged]
    mismatched = [i for i, v in acknowledged.items() if i in logged and logged[i].versions != v]

    warm_from = soaked["started"] + WARMUP * seconds
    first_event = soaked["started"] + SCHEDULE[0][0] * seconds
    last_tenth = soaked["ended"] - 0.1 * (soaked["ended"] - warm_from)
    before = [rss for at, rss in memory.samples if warm_from <= at < first_event]
    after = [rss for at, rss in memory.samples if at >= last_tenth]
    growth = growth_percent(before, after) if before and after else float("nan")

    soak_from = min((a.at for a in answers), default=0.0)
    off = off_champion(decisions, moves, PROPAGATION_SECONDS)
    lags = [
        lag
        for kind in KINDS
        for lag in propagation_lags(
            sorted(decisions, key=lambda d: d.at), moves[kind], kind, soak_from
        )
    ]
    measured = [
        value
        for lag in lags
        for value in (lag["last_old_after_s"], lag["first_new_after_s"])
        if value is not None
    ]
    soak_to = max((a.at for a in answers), default=0.0)
    moves_during = sum(1 for kind in KINDS for m in moves[kind] if soak_from <= m.at <= soak_to)
    lock_during = (
        events.lock is not None and soak_from <= events.lock[0] < events.lock[1] <= soak_to
    )

    properties = {
        "no 5xx other than 503": other_5xx == 0,
        "no 503 outside the locked window": stray_503 == 0,
        "every request answered (no 4xx, no socket error)": failures_4xx == 0 and not socket_errors,
        "no acknowledged decision lost": not lost and not mismatched,
        f"worker memory growth under {MEMORY_GROWTH_LIMIT_PERCENT:g} %": growth
        < MEMORY_GROWTH_LIMIT_PERCENT,
        "no worker restarted": 0 < len(memory.workers) == memory.most,
        "every decision on the champion in force": not off,
        "every event happened under traffic (3 alias moves per model, the lock refused)": (
            events.error is None
            and lock_during
            and in_window_503 > 0
            and moves_during == 3 * len(KINDS)
            and soaked["running_at_end"]
        ),
    }
    failed = [name for name, ok in properties.items() if not ok]
    for name, ok in properties.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}", flush=True)
    result: dict[str, Any] = {
        "properties": {name: "PASS" if ok else "FAIL" for name, ok in properties.items()},
        "failed_properties": failed,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "requests": len(answers),
        "batch_requests": sum(1 for a in answers if a.batch),
        "requests_per_second": round(len(answers) / max(seconds, 1), 1),
        "other_5xx": other_5xx,
        "answers_4xx": failures_4xx,
        "wrk_errors_line": socket_line,
        "lock": {
            "taken_to_released_s": round(events.lock[1] - events.lock[0], 2)
            if events.lock
            else None,
            "503_in_window": in_window_503,
            "503_outside_window": stray_503,
        },
        "decisions": {
            "acknowledged": len(acknowledged),
            "logged": len(decisions),
            "lost": len(lost),
            "lost_examples": lost[:5],
            "versions_differ_from_answer": len(mismatched),
            "off_champion": len(off),
            "off_champion_examples": [
                {"decision_id": d.decision_id, "at": d.at, "versions": d.versions} for d in off[:5]
            ],
        },
        "propagation": {
            "max_lag_s": max(measured) if measured else None,
            "allowed_s": PROPAGATION_SECONDS,
            "moves": lags,
        },
        "memory": {
            "worker_pids_seen": sorted(memory.workers),
            "rss_after_warmup_mb": round(statistics.median(before) / 2**20, 1) if before else None,
            "rss_at_end_mb": round(statistics.median(after) / 2**20, 1) if after else None,
            "growth_percent": round(growth, 2),
            "rss_max_mb": round(max(r for _, r in memory.samples) / 2**20, 1)
            if memory.samples
            else None,
            "samples": len(memory.samples),
            "anon_file_mb_after_warmup": _parts_mb(memory.parts, warm_from, first_event),
            "anon_file_mb_at_end": _parts_mb(memory.parts, last_tenth, float("inf")),
            "rss_mb_every_30_s": [
                round(rss / 2**20, 1)
                for at, rss in memory.samples[:: max(1, round(30 / SAMPLE_EVERY_SECONDS))]
            ],
        },
        "events": [
            {
                **e,
                "began": round(e["began"] - soak_from, 1),
                "ended": round(e["ended"] - soak_from, 1),
            }
            for e in events.log
        ],
        "events_error": events.error,
    }
    result["service_log"] = soaked["service_log"]
    if failed:
        result["server_log_tail"] = soaked["server_log_tail"]
    return result
