"""A worker's lean start: deferred module bodies, LightGBM without its scikit-learn estimators."""

from __future__ import annotations

import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

from serving import lean_imports

#: A module whose body counts its runs (in a module the test reads) and is slow to run,
#: so that threads reading it first all arrive while it runs.
BODY = """\
import time
import deferred_runs

deferred_runs.count += 1
if deferred_runs.fail:
    raise RuntimeError("the body failed")
time.sleep(0.2)
VALUE = 42
"""


@pytest.fixture
def deferred(tmp_path, monkeypatch) -> types.ModuleType:
    """A fresh module ``deferred_body`` on the path, deferred; its run counter ``deferred_runs``."""
    (tmp_path / "deferred_body.py").write_text(BODY)
    (tmp_path / "deferred_runs.py").write_text("count = 0\nfail = False\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = list(sys.meta_path)
    lean_imports.defer(["deferred_body"])
    import deferred_runs

    yield deferred_runs
    sys.meta_path[:] = before
    for name in ("deferred_body", "deferred_runs"):
        sys.modules.pop(name, None)


def test_a_deferred_body_runs_at_the_first_read_not_at_import(deferred):
    import deferred_body

    assert deferred.count == 0
    import deferred_body as again  # a second import only looks the module up

    assert again is deferred_body and deferred.count == 0
    assert deferred_body.VALUE == 42
    assert deferred.count == 1
    assert type(deferred_body) is types.ModuleType  # an ordinary module from now on


def test_threads_reading_first_at_once_all_see_the_whole_module_and_it_runs_once(deferred):
    import deferred_body

    seen: list[object] = []
    readers = [
        threading.Thread(target=lambda: seen.append(getattr(deferred_body, "VALUE", None)))
        for _ in range(8)
    ]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert seen == [42] * 8
    assert deferred.count == 1


def test_a_body_that_fails_raises_at_the_read_and_runs_again_at_the_next(deferred):
    import deferred_body

    deferred.fail = True
    with pytest.raises(RuntimeError, match="the body failed"):
        _ = deferred_body.VALUE
    deferred.fail = False
    assert deferred_body.VALUE == 42
    assert deferred.count == 2


def test_a_module_imported_already_is_not_deferred(deferred):
    lean_imports.defer(["threading"])
    import threading as again

    assert type(again) is types.ModuleType and again.Thread is threading.Thread


def test_prepared_lightgbm_scores_without_its_estimators_and_sklearn_still_imports():
    script = (
        "import sys\n"
        "from serving.lean_imports import prepare\n"
        "prepare()\n"
        "import lightgbm, numpy as np\n"
        "print(lightgbm.compat.SKLEARN_INSTALLED, 'sklearn' in sys.modules)\n"
        "x = np.random.default_rng(0).normal(size=(200, 3)); y = (x[:, 0] > 0).astype(int)\n"
        "booster = lightgbm.train({'objective': 'binary', 'verbose': -1, 'num_threads': 1},\n"
        "                         lightgbm.Dataset(x, y), num_boost_round=5)\n"
        "print(booster.predict(x[:2]).shape)\n"
        "from sklearn.base import BaseEstimator\n"  # the feature builder's base imports
        "import scipy.stats\n"
        "half = scipy.stats.norm.cdf(0.0)\n"  # deferred: runs now
        "print(type(sys.modules['scipy.stats']).__name__, half)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["False False", "(2,)", "module 0.5"]
