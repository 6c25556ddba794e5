"""Fixtures of the service tests: small models, the BentoML store, the service's ASGI app.

Most tests run against the service's ASGI app in this process.  BentoML
allows one app per process (its metrics register in the global Prometheus
registry), so the app is session-scoped; each test module runs its own
lifespan (``with TestClient(app)``), i.e. its own service instance.
``prometheus_client`` must see ``PROMETHEUS_MULTIPROC_DIR`` before it is
first imported, as under ``bentoml serve``: set here, at collection.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest

from features.record import example_case
from features.synthetic import generate_cases
from tests.conftest import valid_rows

#: This process's scratch folder for what BentoML and prometheus_client leave in
#: the temporary directory (removed when the process ends).
SCRATCH = Path(tempfile.mkdtemp(prefix="triage-serving-tests-"))
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)
(SCRATCH / "prometheus").mkdir()
(SCRATCH / "tmp").mkdir()
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(SCRATCH / "prometheus"))

KEY = "trg_test-key-for-the-service-tests"
AUTH = {"Authorization": f"Bearer {KEY}"}

#: Deprecations inside BentoML 1.4.40, pathspec and Starlette's test client, not ours.
THIRD_PARTY_WARNINGS = (
    "ignore:GitWildMatchPattern:DeprecationWarning",
    "ignore:The `__get_pydantic_core_schema__` method of the `BaseModel` class is deprecated",
    "ignore:Accessing the 'model_fields' attribute on the instance is deprecated",
    "ignore:Using `httpx` with `starlette.testclient` is deprecated",
)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            for rule in THIRD_PARTY_WARNINGS:
                item.add_marker(pytest.mark.filterwarnings(rule))


@pytest.fixture(scope="session")
def serving_home(_isolated_triage_home) -> Path:
    """TRIAGE_HOME of the session, with BentoML's store in it and a deployment key."""
    os.environ["BENTOML_HOME"] = str(_isolated_triage_home / "bentoml")
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"
    os.environ["TRIAGE_API_KEYS"] = KEY
    from app.settings import get_settings

    get_settings.cache_clear()
    return _isolated_triage_home


def _train(seed: int):
    """Both models trained with the real pipeline on a small budget (a few seconds).

    Each carries the metadata training gives it (data windows, test metrics,
    reference profile); the run that would register it is not stamped.
    """
    from training.config import SearchConfig, TrainingConfig
    from training.train import fit_models

    config = TrainingConfig(
        search=SearchConfig(n_trials=1, time_budget_seconds=4, max_rounds=120), threads=1
    )
    fitted = fit_models(generate_cases(2500, seed=seed).cases, config)
    return {kind: outcome.model for kind, outcome in fitted.outcomes.items()}


@pytest.fixture(scope="session")
def trained():
    """Champion (seed 3) and challenger (seed 8) models, trained in-process in seconds."""
    return {"champion": _train(3), "challenger": _train(8)}


@contextlib.contextmanager
def scratch_tempdir():
    """Temporary files made meanwhile (BentoML leaves some behind) go into SCRATCH."""
    saved = tempfile.tempdir
    tempfile.tempdir = str(SCRATCH / "tmp")
    try:
        yield
    finally:
        tempfile.tempdir = saved


def store_models(trained, *, challengers: bool = True) -> str:
    """Put the trained models into the BentoML store as `triage serve` would; the tag."""
    from serving.model_import import ModelSet, ServedVersion, import_models

    by_key = {}
    champions, shadows = {}, {}
    for kind in ("stream", "assets"):
        name = f"triage-{kind}"
        champions[kind] = ServedVersion(kind, name, "1", "champion", run_id="run-3")
        by_key[(name, "1")] = trained["champion"][kind]
        if challengers:
            shadows[kind] = ServedVersion(kind, name, "2", "challenger", run_id="run-8")
            by_key[(name, "2")] = trained["challenger"][kind]

    def fetch(served, into: Path) -> Path:
        return by_key[(served.name, served.version)].save(into)

    with scratch_tempdir():
        return import_models(ModelSet(champions, shadows), fetch=fetch)


@pytest.fixture(scope="session")
def models_tag(serving_home, trained) -> str:
    tag = store_models(trained)
    os.environ["TRIAGE_MODELS_TAG"] = tag
    return tag


@pytest.fixture(scope="session")
def app(models_tag):
    """The service's ASGI app, built once per process."""
    from serving.service import TriageService

    return TriageService.to_asgi()


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, process, log: Path | None, timeout: float = 180) -> None:
    """Poll ``url``/readyz until 200; fail with the log's tail if the process dies or time runs out."""
    import httpx

    def tail() -> str:
        return log.read_text(errors="replace")[-3000:] if log is not None else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, tail()
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"not ready in {timeout} s:\n{tail()}")


def wait_ready(client, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"service not ready: {client.get('/readyz').text}")


@pytest.fixture(scope="module")
def client(app):
    """A running service instance (lifespan entered), ready."""
    from starlette.testclient import TestClient

    with scratch_tempdir():
        test_client = TestClient(app).__enter__()  # the lifespan makes BentoML's temp dirs
    try:
        wait_ready(test_client)
        yield test_client
    finally:
        test_client.__exit__(None, None, None)


@pytest.fixture
def case() -> dict:
    return example_case()


@pytest.fixture
def cases() -> list[dict]:
    """Valid distinct cases without outcome fields."""
    rows = valid_rows(6)
    for row in rows:
        row.pop("is_complex")
        row.pop("has_recoverable_assets")
    return rows
