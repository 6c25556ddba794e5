"""End to end: a running `triage serve` follows the registry while a client streams requests.

A real MLflow registry (champion v1 and challenger v2 of both models), a real
`triage serve` with two workers on a free loopback port, polling the
registry every second.  `triage promote` and `triage rollback` move the
champion while client threads send requests: within a bounded wait every new
decision carries the new versions, no request fails, and the decision log
holds the versions each decision was made with; a worker killed after the
promotion comes back serving the new champions, and no request fails but
those the killed worker held (its replacement takes none before it is
ready).  A version whose booster file
is cut short is refused — the process that checks it aborts, the service
does not — and the old versions keep serving.  The waits are deadlines
against a broken service, not speed requirements; the seconds from a
promotion to the first decision on the new version are printed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from features.record import example_case
from tests.serving.conftest import AUTH, KEY
from tests.serving.registry_fixture import (
    register_champion_and_challenger,
    register_terminated,
    service_env,
)
from tests.serving.test_e2e import Server

pytestmark = pytest.mark.slow

#: Generous: a broken service fails the test instead of hanging it (no speed requirement).
DEADLINE = 180.0


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("live-home")


@pytest.fixture(scope="module")
def env(home, tmp_path_factory) -> dict[str, str]:
    env = service_env(home, tmp_path_factory.mktemp("live-tmp"), KEY)
    env["TRIAGE_MODEL_POLL_SECONDS"] = "1"
    # Model changes are under test, not the log's time budget: on a loaded test machine a
    # commit can take longer than the default 2 s (a 503 by design, not a model change's).
    env["TRIAGE_DECISION_LOG_BUDGET_SECONDS"] = "30"
    env["TRIAGE_INTAKE_REFRESH_SECONDS"] = "1"
    return env


@pytest.fixture(scope="module")
def registry(env) -> dict:
    """Champion v1 and challenger v2 of both models."""
    return register_champion_and_challenger(env)


@pytest.fixture(scope="module")
def server(env, registry, tmp_path_factory):
    running = Server(env, tmp_path_factory.mktemp("live-logs") / "serve.log", "--workers", "2")
    running.wait_ready()
    yield running
    running.kill(signal.SIGTERM)


def triage(env, *args: str) -> str:
    """Run a `triage` command (as the operator would) against the service's registry."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def model_info(server) -> dict:
    answer = httpx.get(f"{server.url}/model_info", headers=AUTH, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


@dataclass
class Answer:
    sent: float
    status: int | None
    versions: tuple[str, str] | None = None
    decision_ids: list[str] = field(default_factory=list)
    error: str | None = None
    decided_at: str | None = None


class Stream:
    """Client threads sending single and batch requests, keeping every answer.

    Each thread pauses ``pause`` seconds between requests: back to back, three threads
    kept both cores busy and starved the `triage promote` and `rollback` commands under
    test, which then took most of the test's minutes; ~30 requests a second still span
    both workers many times over during a model change.
    """

    def __init__(self, server: Server, threads: int = 3, pause: float = 0.1) -> None:
        self.pause = pause
        self.url = server.url
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(n,)) for n in range(threads)]

    def __enter__(self) -> Stream:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _send(self, n: int) -> None:
        # A new connection per request, so that the kernel spreads them over both workers.
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.url, headers=AUTH, timeout=60, limits=fresh) as client:
            i = 0
            while not self._stop.wait(self.pause if i else 0.0):
                i += 1
                sent = time.monotonic()
                try:
                    if i % 4 == 0:
                        cases = [dict(example_case(), case_id=f"L{n}-{i}-{j}") for j in range(5)]
                        reply = client.post("/triage_batch", json={"cases": cases})
                        decisions = reply.json()["decisions"] if reply.status_code == 200 else []
                    else:
                        case = dict(example_case(), case_id=f"L{n}-{i}")
                        reply = client.post("/triage", json={"case": case})
                        decisions = [reply.json()] if reply.status_code == 200 else []
                except (httpx.HTTPError, ValueError, KeyError) as error:
                    self._keep(Answer(sent, None, error=repr(error)))
                    continue
                versions = {
                    (d["models"]["stream"]["version"], d["models"]["assets"]["version"])
                    for d in decisions
                }
                assert len(versions) <= 1, f"one request, several versions: {versions}"
                self._keep(
                    Answer(
                        sent,
                        reply.status_code,
                        versions.pop() if versions else None,
                        [d["decision_id"] for d in decisions],
                        None if reply.status_code == 200 else reply.text[:300],
                        decisions[0]["decided_at"] if decisions else None,
                    )
                )

    def _keep(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)

    def wait_until_all_on(self, versions: tuple[str, str], since: float) -> float:
        """Wait until every answer sent after some moment carries ``versions``; that moment.

        Enough answers must follow it (40, over 2 s) to span both workers.
        """
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            answers = sorted((a for a in self.snapshot() if a.sent >= since), key=lambda a: a.sent)
            other = [i for i, a in enumerate(answers) if a.versions != versions]
            after = answers[other[-1] + 1 :] if other else answers
            if len(after) >= 40 and after[-1].sent - after[0].sent >= 2.0:
                return after[0].sent
            time.sleep(0.2)
        seen = sorted({str(a.versions) for a in self.snapshot() if a.sent >= since})
        raise AssertionError(f"never all on {versions} within {DEADLINE} s: saw {seen}")


@contextlib.contextmanager
def streaming(server: Server) -> Iterator[Stream]:
    with Stream(server) as stream:
        yield stream


def follow(server, stream: Stream, env, command: list[list[str]], versions: tuple[str, str]):
    """Run ``command``s while streaming; check the switch to ``versions``.  The seconds it took."""
    time.sleep(1.0)  # some answers on the old versions first
    for args in command:
        moving = time.monotonic()
        triage(env, *args)
    moved = time.monotonic()
    # The alias moved somewhere inside the command (which checks the version first): the
    # registry's history says when.
    moved_at = _utc(_last_move_time(env, args[args.index("--model") + 1]))
    switched = stream.wait_until_all_on(versions, since=moved)
    time.sleep(2.0)  # and some answers after the switch
    answers = stream.snapshot()
    failed = [a for a in answers if a.status != 200]
    assert failed == [], f"{len(failed)} failed requests, e.g. {failed[:3]}"
    after = [a for a in answers if a.sent >= switched]
    assert after and all(a.versions == versions for a in after), "an old version came back"
    # Both workers swapped (each says so in the log).
    tag = model_info(server)["bento_model"]
    swapped = {
        line.split("[entry_service:triage:", 1)[1].split("]", 1)[0]
        for line in server.log.read_text(errors="replace").splitlines()
        if f"now serving {tag} " in line
    }
    assert len(swapped) == 2, swapped
    first_new = min(
        _utc(a.decided_at) for a in answers if a.sent >= moving and a.versions == versions
    )
    return (first_new - moved_at).total_seconds(), answers


LAST_MOVE = """\
import sys
from app.settings import apply_environment
apply_environment()
from models import registry
registry.configure_mlflow()
print(registry.alias_history(sys.argv[1])[-1].time)
"""


def _last_move_time(env, name: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", LAST_MOVE, name],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _utc(moment: str | None) -> dt.datetime:
    assert moment is not None
    return dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))


def logged(home: Path, ids: list[str], first: str, second: str) -> dict[str, tuple]:
    """Two columns of the logged decisions ``ids``, by decision id."""
    connection = sqlite3.connect(home / "decisions.db")
    try:
        marks = ",".join("?" * len(ids))
        rows = connection.execute(
            f"SELECT decision_id, {first}, {second} FROM decisions WHERE decision_id IN ({marks})",
            ids,
        ).fetchall()
    finally:
        connection.close()
    return {row[0]: (row[1], row[2]) for row in rows}


def logged_versions(home: Path, ids: list[str]) -> dict[str, tuple[str, str]]:
    return logged(home, ids, "stream_model_version", "assets_model_version")


def test_promote_and_rollback_reach_a_streaming_service_with_no_failed_request(
    server, env, registry, home, capsys
):
    """Promote, then SIGKILL a worker (it comes back on the champions now), then roll back."""
    old = (registry["champion"]["stream"], registry["champion"]["assets"])
    new = (registry["challenger"]["stream"], registry["challenger"]["assets"])
    assert model_info(server)["stream"]["alias"] == "champion"
    promote = [
        ["promote", "--model", f"triage-{kind}", "--version", version, "--reason", "test"]
        for kind, version in zip(("stream", "assets"), new, strict=True)
    ]
    with streaming(server) as stream:
        promoted_in, answers = follow(server, stream, env, promote, new)

    # Old, new, and in between (stream moved, assets not yet): never anything else.
    assert {old, new} <= {a.versions for a in answers} <= {old, new, (new[0], old[1])}
    # Every decision is logged with the versions its response carried.
    answered = {i: a.versions for a in answers for i in a.decision_ids}
    assert logged_versions(home, list(answered)) == answered
    info = model_info(server)
    assert (info["stream"]["version"], info["assets"]["version"]) == new
    assert info["stream"]["alias"] == info["assets"]["alias"] == "champion"
    assert info["challengers"] == {}  # the challenger is the champion now
    assert info["registry"]["triage-stream"]["champion"] == new[0]
    assert info["reload"]["follows_registry"] is True and info["reload"]["swaps"] >= 1
    assert info["reload"]["last_error"] is None and info["reload"]["refused"] is None
    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    assert any(
        line.startswith("triage_served_model{")
        and f'version="{new[0]}"' in line
        and 'kind="stream"' in line
        and line.endswith(" 1.0")
        for line in metrics.splitlines()
    ), metrics[-2000:]

    # A worker killed now is restarted by BentoML and loads what serves now, the new
    # champions, not those of the service's start (one promotion serves both checks:
    # each `triage` command costs seconds of a loaded machine).
    try:
        restarted_serves(server, new)
    except BaseException:  # back to the start, so that the next test fails for its own reasons
        for kind in ("stream", "assets"):
            triage(env, "rollback", "--model", f"triage-{kind}")
        raise

    # The rollback swaps models in the workers, as the promotion did: no worker restarts
    # (a restart would hide from the answers now that a new worker takes no request early).
    workers = sorted(worker_pids(server))
    rollback = [["rollback", "--model", f"triage-{kind}"] for kind in ("stream", "assets")]
    with streaming(server) as stream:
        rolled_back_in, _ = follow(server, stream, env, rollback, old)
    starts = [
        line
        for line in server.log.read_text(errors="replace").splitlines()
        if "Service triage initialized" in line or "] ready: " in line
    ]
    assert sorted(worker_pids(server)) == workers, "\n".join(starts)
    info = model_info(server)
    assert (info["stream"]["version"], info["assets"]["version"]) == old
    assert info["challengers"]["stream"]["version"] == new[0]  # the shadow is back
    assert info["challengers"]["stream"]["alias"] == "challenger"
    with capsys.disabled():
        print(
            f"\nlive model change, alias moved -> first decision on the new versions: "
            f"{promoted_in:.1f} s after promote, {rolled_back_in:.1f} s after rollback (poll 1 s)"
        )


def worker_pids(server) -> list[int]:
    found = []
    for pid in server.processes():
        with contextlib.suppress(OSError):  # gone meanwhile
            if b"_bentoml_impl.worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def restarted_serves(server, new: tuple[str, str]) -> None:
    def ready_lines() -> list[str]:
        log = server.log.read_text(errors="replace")
        return [line.split("] ready: ", 1)[1] for line in log.splitlines() if "] ready: " in line]

    with streaming(server) as stream:
        stream.wait_until_all_on(new, since=time.monotonic())
        workers = worker_pids(server)
        assert len(workers) == 2
        started = len(ready_lines())
        os.kill(workers[0], signal.SIGKILL)
        killed = time.monotonic()
        deadline = killed + DEADLINE
        while True:  # until a worker other than the survivor answers again
            alive = worker_pids(server)
            if len(alive) == 2 and workers[0] not in alive:
                break
            assert time.monotonic() < deadline, "the worker did not come back"
            time.sleep(0.2)
        while len(ready_lines()) == started:  # the restarted worker has loaded
            assert time.monotonic() < deadline, "the restarted worker never got ready"
            time.sleep(0.2)
        time.sleep(3.0)  # and answered some requests
    answers = stream.snapshot()
    # The killed worker loses the requests it held; no other request fails: the restarted
    # worker takes no connection before its models are loaded (no 503 "loading").
    failed = [a for a in answers if a.status != 200]
    assert all(a.status is None and a.sent < killed for a in failed), failed
    after = [a for a in answers if a.sent >= killed and a.status == 200]
    assert after and {a.versions for a in after} == {new}
    # The restarted worker said what it loaded: the champions now, not those of the start.
    restarted = ready_lines()[-1]
    assert restarted.startswith(f"triage-stream v{new[0]} and triage-assets v{new[1]} "), restarted


BREAK = """\
import pathlib, sys
from app.settings import apply_environment
apply_environment()
from models import registry
registry.configure_mlflow()
import mlflow
name, version, scratch = sys.argv[1:]
source = pathlib.Path(
    mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=scratch)
)
booster = source / "artifacts" / "model_dir" / "booster.txt"
text = booster.read_bytes()
booster.write_bytes(text[: text.rindex(b"\\n", 0, len(text) // 3) + 1])  # whole lines, cut short
client = mlflow.MlflowClient()
made = client.create_model_version(name, source=str(source))
# As in MLflow's UI: `triage promote` would refuse the version (it checks first).
client.set_registered_model_alias(name, "champion", made.version)
print(made.version)
"""


def test_a_version_with_a_truncated_booster_is_refused_and_the_old_one_keeps_serving(
    server, env, registry, tmp_path
):
    old = (registry["champion"]["stream"], registry["champion"]["assets"])
    # The previous test's rollback moved both models, one publish each: wait until every
    # worker has the last one (the same answer many times over fresh connections).
    deadline, answers = time.monotonic() + DEADLINE, []
    while len(answers) < 12 or len(set(answers[-12:])) > 1 or answers[-1][1:] != old:
        assert time.monotonic() < deadline, f"the previous test's rollback never settled: {answers}"
        info = model_info(server)
        answers.append((info["bento_model"], info["stream"]["version"], info["assets"]["version"]))
        time.sleep(0.2)
    served_before = answers[-1][0]
    with streaming(server) as stream:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                BREAK,
                "triage-stream",
                registry["challenger"]["stream"],
                tmp_path,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        broken = done.stdout.strip().splitlines()[-1]
        promoted = time.monotonic()
        deadline = promoted + DEADLINE
        while (info := model_info(server))["reload"]["refused"] is None:
            assert time.monotonic() < deadline, "the broken version was neither served nor refused"
            time.sleep(0.5)
        time.sleep(2.0)
    answers = stream.snapshot()
    assert answers and all(a.status == 200 for a in answers), [
        a for a in answers if a.status != 200
    ]
    assert {a.versions for a in answers} == {old}
    refused = info["reload"]["refused"]
    assert "the loading process" in refused["error"], refused  # died of a signal, or failed
    assert refused["versions"]["stream"]["champion"] == broken
    assert info["bento_model"] == served_before and info["stream"]["version"] == old[0]
    print(f"\nrefused: {refused['error']}")
    # The aliases as they are: v1 is no longer the champion; the registry says who is.
    assert info["stream"]["alias"] is None
    assert info["registry"]["triage-stream"]["champion"] == broken
    assert server.process.poll() is None  # the service did not abort
    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    assert "triage_registry_models_refused 1.0" in metrics, metrics[-2000:]
    assert "refused the registry's new models" in server.log.read_text(errors="replace")

    # Back to what serves: the refusal clears, nothing was swapped.
    triage(env, "promote", "--model", "triage-stream", "--version", old[0])
    deadline = time.monotonic() + DEADLINE
    while (info := model_info(server))["reload"]["refused"] is not None:
        assert time.monotonic() < deadline, "the refusal did not clear"
        time.sleep(0.5)
    assert info["stream"]["alias"] == "champion" and info["bento_model"] == served_before
    print(json.dumps(info["reload"]))


# --- court policies ---------------------------------------------------------------------------------

BAD_POLICY = """
import json, sys
from app.settings import apply_environment
apply_environment()
import mlflow
from models import registry
from models.policy import DEFAULT_POLICY
registry.configure_mlflow()
for n, bad in enumerate(({"max_review": 1.5}, {"cost_review": -1.0})):
    value = {
        "time": f"2099-01-01T00:00:0{n}Z",  # later than any real change: it would be in force
        "scope": "court:" + sys.argv[1],
        "policy": DEFAULT_POLICY.model_dump() | bad,
        "previous": None,
        "reason": "written around the CLI's checks",
    }
    key = f"policy_change.2099010100000{n}Z.court-{sys.argv[1]}.bad{n}"
    mlflow.MlflowClient().set_registered_model_tag("triage-stream", key, json.dumps(value))
    print(key)
"""


def policy_of(server, court: str) -> tuple[str, dict, dict]:
    """One decision for a case of ``court``: its id, policy and thresholds."""
    answer = httpx.post(
        f"{server.url}/triage",
        json={"case": dict(example_case(), court_id=court, province=court[:2])},
        headers=AUTH,
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["decision_id"], body["policy"], body["thresholds"]


def logged_policies(home: Path, ids: list[str]) -> dict[str, tuple[str, int]]:
    return logged(home, ids, "policy_id", "policy_version")


def until_every_worker(server, court: str, wanted, in_a_row: int = 12) -> list[str]:
    """Decide cases of ``court`` until ``in_a_row`` answers in a row satisfy ``wanted``.

    Two workers each swap on their own; a dozen answers in a row reach both.
    """
    deadline, ids, streak = time.monotonic() + DEADLINE, [], 0
    while streak < in_a_row:
        assert time.monotonic() < deadline, f"court {court}: never {wanted.__doc__}"
        decision_id, policy, thresholds = policy_of(server, court)
        if wanted(policy, thresholds):
            streak, ids = streak + 1, [*ids, decision_id]
        else:
            streak, ids = 0, []
            time.sleep(0.1)
    return ids


def test_a_court_policy_reaches_the_running_service_and_a_bad_one_is_refused(
    server, env, home, capsys
):
    court, other = "440305", "110101"
    _, before, own_thresholds = policy_of(server, court)
    _, other_before, other_thresholds = policy_of(server, other)
    assert before["id"] == other_before["id"] == "national"

    set_at = time.monotonic()
    triage(env, "policy", "set", "--court", court, "--max-review", "0.02", "--reason", "test")
    set_done = time.monotonic()
    first = None
    deadline = set_done + DEADLINE
    while first is None:
        assert time.monotonic() < deadline, "the court's policy never reached the service"
        _, policy, thresholds = policy_of(server, court)
        if policy["id"] == f"court:{court}":
            first, first_at = time.monotonic(), dt.datetime.now(dt.UTC)
        else:
            time.sleep(0.1)

    def new_policy(policy, thresholds):
        """the new court policy"""
        return policy == {"id": f"court:{court}", "scope": "court", "version": 1}

    ids = until_every_worker(server, court, new_policy)
    assert logged_policies(home, ids) == dict.fromkeys(ids, (f"court:{court}", 1))
    _, narrowed, thresholds = policy_of(server, court)
    assert thresholds != own_thresholds  # a review share of 2 %: a narrower band
    assert thresholds["complex_from"] - thresholds["simple_below"] < (
        own_thresholds["complex_from"] - own_thresholds["simple_below"]
    )
    # Another court (another province) keeps the national default and the model's thresholds.
    other_id, other_policy, other_now = policy_of(server, other)
    assert other_policy == other_before and other_now == other_thresholds
    assert logged_policies(home, [other_id]) == {other_id: ("national", 0)}
    # The dashboard's trade-off shows the policy the court's decisions are routed by.
    tradeoff = httpx.get(
        f"{server.url}/v1/policy/tradeoff", params={"court": court}, headers=AUTH, timeout=30
    ).json()
    assert (tradeoff["policy"]["policy_id"], tradeoff["policy"]["version"]) == (f"court:{court}", 1)

    # Policies written around the CLI's checks: refused, the court keeps version 1.
    done = subprocess.run(
        [sys.executable, "-c", BAD_POLICY, court],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    bad_keys = done.stdout.split()
    deadline = time.monotonic() + DEADLINE
    while True:
        refused = model_info(server)["policies"]["refused"]
        if {r["key"] for r in refused} >= set(bad_keys):
            break
        assert time.monotonic() < deadline, f"the bad policies were never refused: {refused}"
        time.sleep(0.2)
    errors = {r["key"]: r["error"] for r in refused}
    assert errors[bad_keys[0]].startswith("max_review") and "1.5" in errors[bad_keys[0]]
    assert errors[bad_keys[1]].startswith("cost_review")
    ids = until_every_worker(server, court, new_policy)
    assert logged_policies(home, ids) == dict.fromkeys(ids, (f"court:{court}", 1))
    info = model_info(server)["policies"]
    written_at = _utc(info["in_force"][f"court:{court}"]["set_at"])  # when the tag was written
    assert info["in_force"][f"court:{court}"]["version"] == 1
    assert info["in_force"][f"court:{court}"]["policy"]["max_review"] == 0.02
    log_text = server.log.read_text(errors="replace")
    assert all(f"refused court policy tag {key}" in log_text for key in bad_keys)
    with capsys.disabled():
        print(
            f"\ncourt policy set -> first decision under it: "
            f"{(first_at - written_at).total_seconds():.1f} s after the policy was written "
            f"to the registry, {first - set_done:.1f} s after `triage policy set` returned "
            f"({first - set_at:.1f} s after it started; poll 1 s)"
        )


def test_a_per_day_capacity_reviews_a_share_of_the_courts_intake_in_the_decision_log(
    server, env, home
):
    """40 new cases a day in the log and a desk of 4 a day: a tenth of the court's cases.

    A court of the same province with no history gets the policy's max_review
    instead, and its responses say why.
    """
    from features.load import records_from_frame
    from features.synthetic import generate_cases
    from serving.decision_log import DecisionLog
    from tests.serving.test_intake import prefill

    court, new_court = "320102", "320104"
    log = DecisionLog(f"sqlite:///{home / 'decisions.db'}").create()
    try:
        prefill(log, court, 40, 14, dt.datetime.now(dt.UTC).date())  # two weeks of 40 a day
    finally:
        log.close()
    for each in (court, new_court):
        triage(
            env,
            "policy",
            "set",
            "--court",
            each,
            "--review-per-day",
            "4",
            "--max-review",
            "0.3",
            "--reason",
            "a desk of four a day",
        )
    assert "4 cases a day" in triage(env, "policy", "show", "--court", court)

    def per_day(policy, thresholds):
        """routed by its per-day capacity"""
        return policy.get("capacity", {}).get("source") == "review_per_day"

    until_every_worker(server, court, per_day)
    _, policy, thresholds = policy_of(server, court)
    assert (policy["id"], policy["version"]) == (f"court:{court}", 1)
    capacity = policy["capacity"]
    assert capacity["intake_per_day"] == 40 and capacity["review_share"] == pytest.approx(0.1)
    pointer = json.loads((home / "served-models.json").read_text())
    assert pointer["intake"]["courts"][court] == {"cases": 560, "days": 14, "per_day": 40.0}
    # The trade-off shows the share held and routes as the service does.
    tradeoff = httpx.get(
        f"{server.url}/v1/policy/tradeoff", params={"court": court}, headers=AUTH, timeout=30
    ).json()
    assert tradeoff["capacity"] == capacity
    current = tradeoff["current"]
    assert current["max_review"] == pytest.approx(0.1)
    assert (current["simple_below"], current["complex_from"]) == (
        thresholds["simple_below"],
        thresholds["complex_from"],
    )
    _, fallback, _ = policy_of(server, new_court)
    assert fallback["capacity"]["source"] == "max_review_fallback"
    assert fallback["capacity"]["review_share"] == 0.3
    assert "0 day(s) of decisions" in fallback["capacity"]["note"]

    # The same 600 new cases, as each court routes them.
    frame = generate_cases(600, seed=31).cases
    shares = {}
    for each in (court, new_court):
        records = [dict(r, court_id=each, province=each[:2]) for r in records_from_frame(frame)]
        answer = httpx.post(
            f"{server.url}/triage_batch", json={"cases": records}, headers=AUTH, timeout=120
        )
        assert answer.status_code == 200, answer.text[:2000]
        decisions = answer.json()["decisions"]
        assert {d["policy"]["id"] for d in decisions} == {f"court:{each}"}
        shares[each] = sum(d["stream"] == "review" for d in decisions) / len(decisions)
    predicted = current["predicted"]["share_review"]
    assert predicted <= 0.1 + 1e-9
    # 600 cases: a share's sampling error is ~±1.2 points; the small test model's, more.
    assert abs(shares[court] - predicted) < 0.06, (shares, predicted)
    assert shares[new_court] > shares[court] + 0.05, shares
    print(
        f"per-day capacity: review share {shares[court]:.3f} (predicted {predicted:.3f}, "
        f"target 0.100); without intake history {shares[new_court]:.3f}"
    )


def test_terminated_champions_reach_the_running_service_and_follow_up_answers(server, env):
    """No terminated-case champions: new cases are served and `POST /follow_up` is a 503 that
    says how to train them.  Once `triage train --kind terminated` registers the pair, the
    follower publishes it and every worker ranks follow-ups, without a restart."""
    from serving.follow_up_schemas import example_terminated_case

    body = {"cases": [example_terminated_case()], "budget": 1}
    refused = httpx.post(f"{server.url}/follow_up", json=body, headers=AUTH, timeout=30)
    assert refused.status_code == 503, refused.text
    assert "triage train --kind terminated" in refused.json()["error"]
    assert (
        httpx.post(
            f"{server.url}/triage", json={"case": example_case()}, headers=AUTH, timeout=30
        ).status_code
        == 200
    )

    versions = register_terminated(env)
    deadline = time.monotonic() + DEADLINE
    in_a_row = 0
    # A fresh connection per request reaches either worker: eight answers in a row from any.
    while in_a_row < 8:
        assert time.monotonic() < deadline, f"/follow_up still refused: {refused.text}"
        refused = httpx.post(f"{server.url}/follow_up", json=body, headers=AUTH, timeout=30)
        if refused.status_code != 200:
            in_a_row = 0  # not yet published, or one worker not swapped yet
            time.sleep(0.5)
            continue
        in_a_row += 1
        listed = refused.json()
        assert listed["models"]["resume"]["version"] == versions["resume"]
        assert listed["models"]["recovery"]["version"] == versions["recovery"]
        assert [row["case_id"] for row in listed["follow_ups"]] == [body["cases"][0]["case_id"]]
    info = model_info(server)
    tag = info["bento_model"]
    assert f"-r{versions['resume']}-y{versions['recovery']}-" in tag, tag
    assert {k: card["version"] for k, card in info["follow_up"].items()} == versions


def test_workers_end_with_their_supervisor_when_the_process_group_is_killed(server):
    """`kill -9` of `triage serve`'s process group: the workers (sessions of their own) stop.

    Last in this module: it ends the module's server.  The workers stop themselves
    with SIGTERM, so they answer nothing afterwards and leave no orphan on the port.
    """
    workers = worker_pids(server)
    assert len(workers) == 2
    assert all(os.getsid(pid) != os.getsid(server.process.pid) for pid in workers)
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=30)
    deadline = time.monotonic() + DEADLINE
    while alive := [pid for pid in workers if _running(pid)]:
        assert time.monotonic() < deadline, f"orphaned workers still running: {alive}"
        time.sleep(0.2)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/livez", timeout=5)
    assert "the supervisor (pid" in server.log.read_text(errors="replace")


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie lingers until init reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
