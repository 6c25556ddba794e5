"""Shared fixtures: an isolated TRIAGE_HOME per test session and small valid cases."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

# scikit-learn runs its array-API estimator check only when scipy is told to
# support the array API, and skips it otherwise; set before scipy is imported so
# the check runs (and is reported as an expected failure: the builder reads cases).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest

from features.record import INQUIRY_FIELDS, example_case


def pytest_collection_modifyitems(config, items):
    """Files with slow tests first, in collection order otherwise.

    ``make test`` deals whole files to two workers (``--dist loadfile``) in
    the order collected; a long file dealt last ran on one worker while the
    other, done, sat idle.  Longest first is the usual cure for that tail.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


#: The first inquiry's answers (empty when it has not been done).
INQUIRY_NAMES = tuple(f.name for f in INQUIRY_FIELDS)


def missing_system_package(what: str) -> None:
    """Skip for a missing system package where it cannot be installed; fail where it can.

    As root with apt-get (CI, a fresh container) `.ci/system-deps` installs it
    before the tests run, so its absence there is a failure, never a skip.
    """
    import shutil

    if os.environ.get("CI") or (os.geteuid() == 0 and shutil.which("apt-get")):
        pytest.fail(f"{what} is missing although .ci/system-deps could install it here")
    pytest.skip(f"{what} is missing and cannot be installed here (not root with apt-get)")


@pytest.fixture(autouse=True, scope="session")
def _isolated_triage_home(tmp_path_factory: pytest.TempPathFactory):
    """No test writes into the developer's .triage, home directory or cwd."""
    with triage_home(tmp_path_factory.mktemp("triage-home"), apply=False) as home:
        yield home


@contextlib.contextmanager
def triage_home(home: Path, *, apply: bool = True) -> Iterator[Path]:
    """Point TRIAGE_HOME (and the MLflow store, the decision log) at ``home`` for a while.

    Module fixtures that train into a registry of their own use it; the
    previous environment and settings come back afterwards.
    """
    from app.settings import apply_environment, get_settings

    keys = ("TRIAGE_HOME", "MLFLOW_TRACKING_URI", "TRIAGE_DECISION_LOG_URL")
    saved = {key: os.environ.get(key) for key in keys}
    os.environ["TRIAGE_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("TRIAGE_DECISION_LOG_URL", None)
    get_settings.cache_clear()
    if apply:
        apply_environment()
    try:
        yield home
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


def valid_rows(n: int = 6) -> list[dict[str, object]]:
    """``n`` distinct valid raw cases (as a court export would write them)."""
    rows = []
    for i in range(n):
        row = example_case()
        row["case_id"] = f"(2024)粤0305执{1000 + i}号"
        row["claim_amount"] = 10_000.0 * (i + 1)
        row["respondent_prior_cases"] = i % 3
        row["respondent_prior_terminated"] = min(i % 2, i % 3)
        if i % 2:
            row["respondent_type"] = "enterprise"
            row["respondent_age"] = None
            row["enterprise_status"] = "active"
            row["registered_capital"] = 500_000.0
        if i % 3 == 2:
            row["inquiry_done"] = False
            for name in INQUIRY_NAMES:
                row[name] = None
        row["is_complex"] = i % 2
        row["has_recoverable_assets"] = (i + 1) % 2
        rows.append(row)
    return rows


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server's maintenance database, one per test process."""
    from tests.postgres import local_server

    with local_server() as url:
        yield url


@pytest.fixture(scope="module")
def postgres_url(postgres_server: str, request: pytest.FixtureRequest) -> str:
    """A database of this test module's own on the test PostgreSQL server."""
    from tests.postgres import fresh_database

    return fresh_database(postgres_server, f"t_{request.module.__name__.rsplit('.', 1)[-1]}")
