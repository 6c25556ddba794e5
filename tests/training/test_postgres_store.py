"""The MLflow store on PostgreSQL: straight to the database, and through a tracking server.

Two machines are played by two ``TRIAGE_HOME`` folders and two working
directories: one trains and registers, the other serves and scores from what
the shared store holds.  Nothing may land in a ``mlruns/`` of whichever folder
a command happened to run in.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from features.record import PII_FIELDS
from tests.postgres import fresh_database
from tests.serving.conftest import free_port
from tests.serving.registry_fixture import ROOT

EXPERIMENT_SQL = sa.text("SELECT artifact_location FROM experiments WHERE name = :name")


def _env(home: Path, scratch: Path, **extra: str) -> dict[str, str]:
    """A `triage` subprocess's environment on ``home``, with no TRIAGE_/MLFLOW_ of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "MLFLOW_"))}
    return env | {
        "TRIAGE_HOME": str(home),
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "PYTHONPATH": str(ROOT),
        "TMPDIR": str(scratch),
        **extra,
    }


def _triage(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"triage {' '.join(args)}:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done


def _register(env: dict[str, str], cwd: Path) -> None:
    """Train both models on a few thousand cases and make them champions, as `triage train`."""
    script = (
        "from app.settings import apply_environment\n"
        "apply_environment()\n"
        "from tests.serving.registry_fixture import pin_aliases, register_models\n"
        "pin_aliases(register_models(seed=3), 'champion')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _artifact_location(store_url: str) -> str:
    engine = sa.create_engine(sa.make_url(store_url))
    try:
        with engine.connect() as connection:
            return connection.execute(EXPERIMENT_SQL, {"name": "enforcement-triage"}).scalar_one()
    finally:
        engine.dispose()


def test_a_database_store_keeps_artifacts_where_the_settings_say_not_in_the_cwd(
    postgres_server, tmp_path
):
    store = fresh_database(postgres_server, "mlflow_direct")
    store_uri = sa.make_url(store).set(drivername="postgresql+psycopg").render_as_string(False)
    somewhere, shared = tmp_path / "somewhere", tmp_path / "shared-artifacts"
    somewhere.mkdir()
    env = _env(tmp_path / "home", tmp_path, MLFLOW_TRACKING_URI=store_uri)

    # The first command to touch the store creates the experiment: a read-only listing.
    _triage("models", env=env | {"TRIAGE_ARTIFACT_ROOT": str(shared)}, cwd=somewhere)

    assert not (somewhere / "mlruns").exists()
    assert _artifact_location(store) == (shared.resolve() / "enforcement-triage").as_uri()


@pytest.fixture
def tracking_server(postgres_server, tmp_path):
    """`mlflow server` on a PostgreSQL backend store, serving a shared artifact root."""
    store = fresh_database(postgres_server, "mlflow_server")
    store_uri = sa.make_url(store).set(drivername="postgresql+psycopg").render_as_string(False)
    artifacts = tmp_path / "artifact-root"
    port = free_port()
    log = tmp_path / "mlflow-server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store_uri]
            + ["--artifacts-destination", str(artifacts), "--host", "127.0.0.1"]
            + ["--port", str(port), "--workers", "1"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=tmp_path,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        yield url, store, artifacts
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # its workers are slow to drain: the test is over
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


@pytest.mark.slow
def test_train_on_one_machine_score_and_serve_on_another_through_a_tracking_server(
    tracking_server, tmp_path
):
    url, store, artifacts = tracking_server
    trainer, scorer = tmp_path / "trainer", tmp_path / "scorer"
    for folder in (trainer, scorer):
        (folder / "cwd").mkdir(parents=True)

    _register(_env(trainer / "home", tmp_path, MLFLOW_TRACKING_URI=url), trainer / "cwd")

    # The runs and versions live in PostgreSQL, the model files under the server's root.
    engine = sa.create_engine(sa.make_url(store))
    with engine.connect() as connection:
        runs = connection.execute(sa.text("SELECT count(*) FROM runs")).scalar_one()
        versions = connection.execute(
            sa.text("SELECT name, count(*) FROM model_versions GROUP BY name ORDER BY name")
        ).all()
    engine.dispose()
    assert runs == 1  # one training run registers both models
    assert [(name, count) for name, count in versions] == [
        ("triage-assets", 1),
        ("triage-stream", 1),
    ]
    assert len(list(artifacts.rglob("booster.txt"))) == 2
    for folder in (trainer, scorer):
        assert not (folder / "cwd" / "mlruns").exists()
        assert not (folder / "cwd" / "mlartifacts").exists()

    # Another machine: nothing local but the server's address.
    env = _env(scorer / "home", tmp_path, MLFLOW_TRACKING_URI=url)
    cases = scorer / "cases.csv"
    _triage("generate", "--n", "300", "--seed", "11", "--out", str(cases), env=env, cwd=scorer)
    out = scorer / "scores.csv"
    _triage("score", "--data", str(cases), "--out", str(out), env=env, cwd=scorer / "cwd")
    scored = pd.read_csv(out)
    assert len(scored) == 300
    assert scored["p_complex"].between(0, 1).all()
    assert not set(PII_FIELDS) & set(scored.columns)

    served = _triage("serve", "--import-only", env=env, cwd=scorer / "cwd")
    assert served.stdout.strip().splitlines()[-1].startswith("triage")
