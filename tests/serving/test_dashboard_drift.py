"""The drift panel's report when there is nothing to compare: it says why instead of failing.

Drift against real reference profiles, and its caching, are tested through
the app in ``test_stats.py``.
"""

from __future__ import annotations

import pytest

from serving.dashboard_drift import DRIFT_SAMPLE, drift_report
from serving.dashboard_source import StatsSource
from serving.decision_log import DecisionLog
from serving.stats import Filters


@pytest.fixture
def empty_log(tmp_path):
    log = DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}").create()
    yield log
    log.close()


def _unavailable(report: dict) -> None:
    assert report["available"] is False and report["generated_at"] is None
    assert report["n_cases"] == 0 and report["sample_limit"] == DRIFT_SAMPLE
    assert report["thresholds"] == {"warn": 0.1, "alert": 0.25}
    assert report["scores"] == report["features"] == []


def test_without_models_there_is_nothing_to_compare_with(empty_log):
    report = drift_report(StatsSource(empty_log.engine, None), Filters())
    _unavailable(report)
    assert report["reason"] == "no models to compare with"


def test_without_decisions_in_the_selection_there_is_nothing_to_compare(empty_log):
    # The models are not looked at before there are decisions to compare.
    report = drift_report(StatsSource(empty_log.engine, {"stream": object()}), Filters("440305"))
    _unavailable(report)
    assert report["reason"] == "no decisions in the selection"
