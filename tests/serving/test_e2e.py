"""End to end: a real `triage serve` on a free loopback port, on models from a real MLflow registry.

One registry for the module (a champion of each model, and a newer challenger
that the service scores in the shadow), one long-running server for most
tests, and a second one that is killed with SIGKILL in the middle of a
stream of requests.  `triage serve` is run as ``python -m serving.cli serve``
(the same command; the `triage` entry point adds nothing).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from features.load import records_from_frame
from features.record import example_case
from serving.schemas import BatchResponse, Decision
from tests.serving.conftest import AUTH, KEY, free_port, wait_until_serving
from tests.serving.registry_fixture import register_champion_and_challenger, service_env

pytestmark = pytest.mark.slow

SECRET = "王五-310101197001011234"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-home")


#: Put on the service's PYTHONPATH: every Python process of the service (the arbiter and
#: each worker) then writes the names of its loaded modules beside this file on SIGUSR1.
MODULES_PROBE = """\
import json, os, signal, sys

def _dump(signum, frame):
    path = os.path.join(os.path.dirname(__file__), f"modules-{os.getpid()}.json")
    with open(path + ".tmp", "w") as out:
        json.dump(sorted(sys.modules), out)
    os.replace(path + ".tmp", path)

signal.signal(signal.SIGUSR1, _dump)
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("e2e-probe")
    (folder / "sitecustomize.py").write_text(MODULES_PROBE)
    return folder


@pytest.fixture(scope="module")
def env(home, probe, tmp_path_factory) -> dict[str, str]:
    env = service_env(home, tmp_path_factory.mktemp("e2e-tmp"), KEY)
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}{os.pathsep}{probe}"
    return env


@pytest.fixture(scope="module")
def registry(env) -> dict:
    """Champions (seed 3) and a differing challenger (seed 8) in the MLflow registry, and a
    terminated-case pair (so workers load it and the fuzzing reaches /follow_up's ranking)."""
    return register_champion_and_challenger(env, terminated=True)


class Server:
    """A `triage serve` subprocess in its own process group."""

    def __init__(self, env: dict[str, str], log: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "serving.cli", "serve", "--port", str(self.port), *extra]
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 180) -> None:
        wait_until_serving(self.url, self.process, self.log, timeout)

    def processes(self) -> list[int]:
        """The arbiter and every process under it (BentoML's workers run in their own groups)."""
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat[1])
        found = [self.process.pid]
        for pid in found:
            found += [child for child, parent in parents.items() if parent == pid]
        return found

    def kill(self, sig: int) -> None:
        """SIGTERM: BentoML's graceful stop.  SIGKILL: the arbiter and all workers at once."""
        targets = self.processes() if sig == signal.SIGKILL else [self.process.pid]
        for pid in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        self.process.wait(timeout=30)
        self._out.close()
        if sig == signal.SIGKILL:
            deadline = time.monotonic() + 10
            while any(Path(f"/proc/{pid}").exists() for pid in targets[1:]):
                assert time.monotonic() < deadline, "workers outlived SIGKILL"
                time.sleep(0.05)


@pytest.fixture(scope="module")
def server(env, registry, tmp_path_factory):
    running = Server(env, tmp_path_factory.mktemp("e2e-logs") / "serve.log")
    running.wait_ready()
    yield running
    running.kill(signal.SIGTERM)


def post(server, path: str, body, headers=AUTH, **kwargs) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, headers=headers, timeout=60, **kwargs)


def test_a_contract_case_gets_every_field(server, registry):
    answer = post(server, "/triage", {"case": example_case()})
    assert answer.status_code == 200, answer.text
    decision = Decision.model_validate(answer.json())
    assert decision.models.stream.version == registry["champion"]["stream"]
    assert decision.models.assets.version == registry["champion"]["assets"]
    assert decision.reasons.complex and decision.reasons.assets
    assert "challenger" not in answer.text
    info = httpx.get(f"{server.url}/model_info", headers=AUTH).json()
    assert info["challengers"]["stream"]["version"] == registry["challenger"]["stream"]


def test_a_worker_carries_the_model_not_the_training_stack(server, probe):
    """A worker that loaded the champions and scored a case holds no training code, no MLflow,
    and none of the imports its start leaves out."""
    assert post(server, "/triage", {"case": example_case()}).status_code == 200
    workers = [
        pid
        for pid in server.processes()
        if b"_bentoml_impl.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert workers, "no worker process found"
    for pid in workers:
        os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while not all((probe / f"modules-{pid}.json").exists() for pid in workers):
        assert time.monotonic() < deadline, "a worker did not answer the probe"
        time.sleep(0.05)
    for pid in workers:
        loaded = set(json.loads((probe / f"modules-{pid}.json").read_text()))
        # What it must hold: it served the models, through the lean entry module.
        assert {"serving.worker", "serving.service", "models.triage", "lightgbm"} <= loaded
        forbidden = sorted(
            name
            for name in loaded
            if name.split(".")[0] in {"training", "optuna", "matplotlib", "mlflow"}
        )
        assert forbidden == [], f"worker {pid} loaded {forbidden[:10]}"
        # What its start leaves out (serving.lean_imports): LightGBM's scikit-learn
        # estimators, and the bodies of scipy.stats and scipy.special (their submodules).
        never_run = sorted(
            name
            for name in loaded
            if name.startswith(("sklearn.model_selection", "scipy.stats.", "scipy.special."))
        )
        assert never_run == [], f"worker {pid} loaded {never_run[:10]}"


def test_no_key_is_a_401(server):
    assert post(server, "/triage", {"case": example_case()}, headers={}).status_code == 401
    assert httpx.get(f"{server.url}/model_info").status_code == 401
    assert httpx.get(f"{server.url}/livez").status_code == 200
    assert httpx.get(f"{server.url}/metrics").status_code == 200


def test_personal_data_is_a_422_naming_it_and_kept_nowhere(server, home):
    answer = post(server, "/triage", {"case": dict(example_case(), respondent_id_number=SECRET)})
    assert answer.status_code == 422
    assert [f["field"] for f in answer.json()["fields"]] == ["case.respondent_id_number"]
    assert SECRET not in answer.text
    time.sleep(0.5)  # let the server's log lines reach the file
    assert SECRET not in server.log.read_text(errors="replace")
    secret = SECRET.encode()
    for path in home.glob("decisions.db*"):
        assert secret not in path.read_bytes(), path


def test_wrong_types_are_a_422_naming_the_field(server):
    case = dict(example_case(), n_respondents="two", dishonest_listed="是")
    answer = post(server, "/triage", {"case": case})
    assert answer.status_code == 422
    fields = {f["field"] for f in answer.json()["fields"]}
    assert fields == {"case.n_respondents", "case.dishonest_listed"}


def test_pickle_is_a_415(server):
    import pickle

    answer = httpx.post(
        f"{server.url}/triage",
        content=pickle.dumps({"case": example_case()}),
        headers={**AUTH, "Content-Type": "application/vnd.bentoml+pickle"},
    )
    assert answer.status_code == 415


def test_single_and_batch_answers_equal_triage_score(server, env, tmp_path):
    from features.synthetic import generate_cases

    frame = generate_cases(60, seed=41).cases.drop(columns=["is_complex", "has_recoverable_assets"])
    data, out = tmp_path / "cases.csv", tmp_path / "scored.csv"
    frame.to_csv(data, index=False)
    scored = subprocess.run(
        [sys.executable, "-m", "app.cli", "score", "--data", str(data), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert scored.returncode == 0, scored.stderr[-3000:]
    expected = pd.read_csv(out)
    records = records_from_frame(frame)
    batch = BatchResponse.model_validate(
        post(server, "/triage_batch", {"cases": records}).json()
    ).decisions
    single = [
        Decision.model_validate(post(server, "/triage", {"case": r}).json()) for r in records[:10]
    ]
    for answers in (batch, single):
        n = len(answers)
        np.testing.assert_allclose(
            [a.p_complex for a in answers], expected["p_complex"][:n], rtol=0, atol=1e-9
        )
        np.testing.assert_allclose(
            [a.p_assets for a in answers], expected["p_assets"][:n], rtol=0, atol=1e-9
        )
        assert [a.stream for a in answers] == expected["stream"][:n].tolist()
        assert [a.reasons.model_dump() for a in answers] == [
            json.loads(r) for r in expected["reasons"][:n]
        ]
        assert {str(v) for v in expected["stream_model_version"]} == {
            a.models.stream.version for a in answers
        }


def test_fuzzing_the_openapi_document_finds_no_server_error(server, tmp_path):
    """Schemathesis (examples, coverage and fuzzing phases) against /docs.json: no 5xx.

    Run through its CLI: its lazy pytest integration breaks on pytest 9
    (``Function._nodeid`` is gone).  60 generated examples per operation beside the
    coverage phase's boundary cases: 100 took 89 s of the suite's 15 minutes once
    /follow_up joined the operations.
    """
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{server.url}/docs.json",
        "--checks",
        "not_a_server_error",
        "--header",
        f"Authorization: Bearer {KEY}",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "60",
        "--seed",
        "4711",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "60",
        "--no-color",
    ]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "Coverage" in done.stdout


def test_serve_refuses_to_start_without_champions(env, registry):
    absent = env | {"TRIAGE_STREAM_MODEL_NAME": "no-such-model"}
    done = subprocess.run(
        [sys.executable, "-m", "serving.cli", "serve", "--port", str(free_port())],
        env=absent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "no champion of no-such-model" in done.stderr
    assert "triage train --data" in done.stderr


def test_kill_9_loses_no_acknowledged_decision(env, registry, home, tmp_path):
    """SIGKILL to the whole service (arbiter and both workers) in a stream of requests."""
    server = Server(env, tmp_path / "killed.log", "--workers", "2")
    server.wait_ready()
    acknowledged: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def stream(n: int) -> None:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    if i % 5 == 0:
                        cases = [dict(example_case(), case_id=f"k{n}-{i}-{j}") for j in range(20)]
                        answer = client.post("/triage_batch", json={"cases": cases})
                        ids = [d["decision_id"] for d in answer.json()["decisions"]]
                    else:
                        answer = client.post("/triage", json={"case": example_case()})
                        ids = [answer.json()["decision_id"]]
                except (httpx.HTTPError, ValueError, KeyError):
                    continue  # the service is gone: not acknowledged
                if answer.status_code == 200:
                    with lock:
                        acknowledged.extend(ids)

    threads = [threading.Thread(target=stream, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    # Enough acknowledged decisions for the kill to land mid-stream; the deadline only
    # stops a broken service from hanging the suite (it is no speed requirement).
    deadline = time.monotonic() + 300
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.processes()) >= 3  # the arbiter and two workers
    server.kill(signal.SIGKILL)
    with httpx.Client() as probe, pytest.raises(httpx.HTTPError):
        probe.get(f"{server.url}/livez", timeout=2)  # nothing serves any more
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(acknowledged) >= 150
    connection = sqlite3.connect(home / "decisions.db")
    logged = {row[0] for row in connection.execute("SELECT decision_id FROM decisions")}
    connection.close()
    missing = set(acknowledged) - logged
    assert not missing, f"{len(missing)} acknowledged decisions lost"


def test_a_locked_log_refuses_within_the_budget_and_readyz_follows(env, registry, home, tmp_path):
    """Another process holds the SQLite log's write lock for a while (budget 1 s).

    Requests are refused with 503 and Retry-After while the lock is still held
    (they do not wait for it: the lock is released only after they answered),
    /readyz says why meanwhile and turns 200 again without any request once the
    lock is gone; every acknowledged decision is in the log, no refused one is.
    """
    server = Server(env | {"TRIAGE_DECISION_LOG_BUDGET_SECONDS": "1"}, tmp_path / "locked.log")
    server.wait_ready()
    acknowledged: list[str] = []
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=25) as client:

        def triage(case_id: str) -> httpx.Response:
            return client.post("/triage", json={"case": dict(example_case(), case_id=case_id)})

        before = triage("before-the-lock")
        assert before.status_code == 200, before.text
        acknowledged.append(before.json()["decision_id"])
        holder = sqlite3.connect(home / "decisions.db", isolation_level=None, timeout=30)
        holder.execute("BEGIN IMMEDIATE")  # the write lock, as a backup or migration would
        try:
            refused = [triage(f"refused-{i}") for i in range(3)]
            batch = [dict(example_case(), case_id=f"refused-batch-{j}") for j in range(5)]
            refused.append(client.post("/triage_batch", json={"cases": batch}))
            readyz = client.get("/readyz")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        for answer in refused:
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"].isdigit()
            assert "no decision was made" in answer.json()["error"]
        assert readyz.status_code == 503
        assert "decision log cannot be written" in readyz.json()["reason"]
        assert "locked" in readyz.json()["reason"]
        # Back without any request: only /readyz is asked, which writes nothing.
        deadline = time.monotonic() + 30
        while (readyz := client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, f"still not ready: {readyz.text}"
            time.sleep(0.2)
        for i in range(3):
            after = triage(f"after-the-lock-{i}")
            assert after.status_code == 200, after.text
            acknowledged.append(after.json()["decision_id"])
    server.kill(signal.SIGTERM)
    connection = sqlite3.connect(home / "decisions.db")
    logged = {row[0] for row in connection.execute("SELECT decision_id FROM decisions")}
    refused_logged = connection.execute(
        "SELECT count(*) FROM decisions WHERE case_id LIKE 'refused-%'"
    ).fetchone()[0]
    connection.close()
    assert set(acknowledged) <= logged
    # One worker, one writer thread, first in first out: a refused decision committed
    # late would have been committed before the acknowledged ones after the lock.
    assert refused_logged == 0
    log_text = server.log.read_text(errors="replace")
    assert "decision log writable again" in log_text


def test_two_services_share_a_postgresql_log_and_one_killed_loses_nothing(
    env, registry, postgres_url, tmp_path
):
    """Two `triage serve` on one PostgreSQL decision log; SIGKILL to one mid-stream.

    Every acknowledged decision is logged once, under the case it answered (no
    id handed out twice, no row holding another request's case), and the
    survivor keeps serving and logging.
    """
    shared = env | {"TRIAGE_DECISION_LOG_URL": postgres_url}
    servers = [Server(shared, tmp_path / f"pg-{name}.log") for name in ("a", "b")]
    for server in servers:
        server.wait_ready()
    acknowledged: dict[str, list[tuple[str, str]]] = {s.url: [] for s in servers}
    stop = threading.Event()
    lock = threading.Lock()

    def stream(url: str, n: int) -> None:
        with httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
            i = 0
            while not stop.is_set():
                i += 1
                cases = [dict(example_case(), case_id=f"pg{n}-{i}-{j}") for j in range(10)]
                try:
                    if i % 4 == 0:
                        answer = client.post("/triage_batch", json={"cases": cases})
                        decided = answer.json()["decisions"]
                    else:
                        answer = client.post("/triage", json={"case": cases[0]})
                        decided = [answer.json()]
                    pairs = [(d["decision_id"], d["case_id"]) for d in decided]
                except (httpx.HTTPError, ValueError, KeyError):
                    continue  # the service is gone: not acknowledged
                if answer.status_code == 200:
                    with lock:
                        acknowledged[url].extend(pairs)

    threads = [
        threading.Thread(target=stream, args=(server.url, n))
        for n, server in enumerate(servers * 3)
    ]
    for thread in threads:
        thread.start()

    def count(url: str) -> int:
        with lock:
            return len(acknowledged[url])

    # The deadlines only stop a broken service from hanging the suite.
    deadline = time.monotonic() + 300
    while min(count(s.url) for s in servers) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    killed, survivor = servers
    killed.kill(signal.SIGKILL)
    after_kill = count(survivor.url)
    while count(survivor.url) < after_kill + 100 and time.monotonic() < deadline + 120:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    survivor.kill(signal.SIGTERM)

    assert count(killed.url) >= 100 and count(survivor.url) >= after_kill + 100
    answered = [pair for pairs in acknowledged.values() for pair in pairs]
    assert len({decision_id for decision_id, _ in answered}) == len(answered)  # no id twice
    import sqlalchemy as sa

    engine = sa.create_engine(sa.make_url(postgres_url).set(drivername="postgresql+psycopg"))
    with engine.connect() as connection:
        logged = dict(
            connection.execute(sa.text("SELECT decision_id, case_id FROM decisions")).all()
        )
    engine.dispose()
    missing = [decision_id for decision_id, _ in answered if decision_id not in logged]
    assert not missing, f"{len(missing)} of {len(answered)} acknowledged decisions lost"
    assert {decision_id: logged[decision_id] for decision_id, _ in answered} == dict(answered)
