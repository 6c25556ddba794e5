"""HTTP load from Debian's ``wrk``: a compiled client, so the load generator
does not compete with the server under test for the same two cores the way a
Python client does.

``ensure_wrk`` finds the binary (installing Debian's package when running as
root with apt-get, as CI does); ``run_wrk`` drives one closed-loop run with a
Lua script and returns what the script's ``done`` printed as JSON.
``post_bodies_script`` is the script most benchmarks need: POST the lines of
a file in turn, count the answers by status, report latency percentiles.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

JSON_MARK = "WRK_JSON "


def ensure_wrk() -> str:
    """Path of the ``wrk`` binary; installs Debian's package when missing and allowed."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        quiet = {"stdout": subprocess.DEVNULL, "env": env, "check": False}
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"]
        if subprocess.run(install, **quiet).returncode != 0:  # type: ignore[call-overload]
            subprocess.run(["apt-get", "update", "-qq"], **quiet)  # type: ignore[call-overload]
            subprocess.run(install, **quiet)  # type: ignore[call-overload]
        found = shutil.which("wrk")
        if found:
            return found
    raise RuntimeError(
        "the load generator wrk is missing: install Debian's package `wrk` "
        "(the benchmark installs it itself when run as root with apt-get)"
    )


def _lua_string(text: str) -> str:
    """A Lua long-bracket string literal holding ``text`` verbatim."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def post_bodies_script(bodies_file: Path, path: str, headers: dict[str, str]) -> str:
    """Lua for wrk: POST each line of ``bodies_file`` to ``path`` in turn.

    Each thread starts at a different line so concurrent connections do not
    send the same case at once.  ``done`` prints one JSON line with the
    answers by status, socket errors and latency percentiles (milliseconds).
    """
    header_lines = "\n".join(
        f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()
    )
    return f"""
wrk.method = "POST"
{header_lines}
local bodies = {{}}
for line in io.lines({_lua_string(str(bodies_file))}) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
local threads = {{}}
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
statuses = {{}}  -- global: done() reads it from each thread
local index = 0
function init(args)
  index = (id * 7919) % #bodies
end
function request()
  index = index % #bodies + 1
  return wrk.format(nil, {_lua_string(path)}, nil, bodies[index])
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local by_status = {{}}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, n in pairs(counts) do
      by_status[tostring(status)] = (by_status[tostring(status)] or 0) + n
    end
  end
  local parts = {{}}
  for status, n in pairs(by_status) do
    parts[#parts + 1] = string.format('"%s": %d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    '{JSON_MARK}{{"requests": %d, "seconds": %.6f, "by_status": {{%s}}, ' ..
    '"socket_errors": {{"connect": %d, "read": %d, "write": %d, "timeout": %d}}, ' ..
    '"latency_ms": {{"p50": %.3f, "p90": %.3f, "p99": %.3f, "p99.9": %.3f, "max": %.3f}}}}\\n',
    summary.requests, summary.duration / 1e6, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
end
"""


def run_wrk(
    url: str,
    script: str,
    *,
    connections: int,
    seconds: float,
    threads: int = 1,
    timeout_seconds: float = 10.0,
    cpu: int | None = None,
    script_dir: Path,
) -> dict:
    """One closed-loop wrk run of ``seconds`` at ``connections``; the script's JSON.

    ``cpu`` pins wrk to one core (``taskset``) so it and the server under test
    do not trade places between runs.  Raises ``RuntimeError`` with wrk's
    output when the script printed no result.
    """
    script_path = script_dir / "wrk-script.lua"
    script_path.write_text(script, encoding="utf-8")
    command = [
        ensure_wrk(),
        f"--connections={connections}",
        f"--threads={min(threads, connections)}",
        f"--duration={max(1, round(seconds))}s",
        f"--timeout={max(1, round(timeout_seconds))}s",
        f"--script={script_path}",
        url,
    ]
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in completed.stdout.splitlines():
        if line.startswith(JSON_MARK):
            return json.loads(line.removeprefix(JSON_MARK))
    raise RuntimeError(
        f"wrk gave no result (exit {completed.returncode}): "
        f"{completed.stdout[-2000:]}{completed.stderr[-2000:]}"
    )
