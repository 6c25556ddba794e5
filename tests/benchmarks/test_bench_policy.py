"""The policy benchmark's checks of issue #11's targets (pure; `make bench` runs the rest)."""

from __future__ import annotations

import pytest

from benchmarks.bench_policy import cases_to_train, failed_properties


def _row(capacity: float, **changes: float) -> dict[str, float]:
    row = {
        "capacity": capacity,
        "share_review": capacity,
        "complex_to_simple": 0.1,
        "predicted_complex_to_simple": 0.1,
        "simple_to_complex": 0.2,
        "predicted_simple_to_complex": 0.2,
        "cost_ratio": 1.01,
    }
    return row | changes


def test_the_issues_targets_are_checked_where_they_apply():
    assert failed_properties([_row(0.05), _row(0.15), _row(0.5)]) == []
    failed = failed_properties(
        [
            _row(0.05, cost_ratio=1.07),
            _row(0.15, share_review=0.12, simple_to_complex=0.24),
            _row(0.3, share_review=0.2),  # the share is checked at 15 % only
        ]
    )
    assert len(failed) == 3
    assert failed[0].startswith("cost over Bayes at 5%: 1.070")
    assert failed[1].startswith("review share at 15%: 0.120")
    assert failed[2].startswith("simple_to_complex at 15%: 0.240 against 0.200 predicted")


def test_the_training_size_comes_from_the_environment_or_the_default():
    assert cases_to_train(None) == cases_to_train(" ") == 60_000
    assert cases_to_train("20_000") == 20_000
    with pytest.raises(ValueError, match="TRIAGE_BENCH_POLICY_CASES must be a case count"):
        cases_to_train("many")
    with pytest.raises(ValueError, match="at least 5000"):
        cases_to_train("100")
