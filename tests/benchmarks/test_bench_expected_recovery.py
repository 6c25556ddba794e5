"""The expected-recovery benchmark's check of issue #14's bar (pure; `make bench` runs the rest)."""

from __future__ import annotations

import pytest

from benchmarks.bench_expected_recovery import case_count, failed_properties


def test_each_decile_outside_ten_percent_is_flagged_against_realised_and_truth():
    good = [{"decile": d, "ratio": 1.04, "ratio_expected": 0.95} for d in range(1, 11)]
    assert failed_properties(good) == []
    bad = [
        {"decile": 1, "ratio": 1.12, "ratio_expected": 1.0},
        {"decile": 10, "ratio": 0.95, "ratio_expected": 0.88},
        {"decile": 5, "ratio": 0.9, "ratio_expected": 1.1},  # the bounds themselves pass
    ]
    assert failed_properties(bad) == [
        "decile 1: predicted ÷ realised 1.120, outside 0.9–1.1",
        "decile 10: predicted ÷ true 0.880, outside 0.9–1.1",
    ]
    assert failed_properties([{"decile": 3, "ratio": 1.3}]) == [  # no truth: realised only
        "decile 3: predicted ÷ realised 1.300, outside 0.9–1.1"
    ]


def test_the_case_count_comes_from_the_environment_or_defaults():
    assert case_count(None) == case_count(" ") == 100_000
    assert case_count("250_000") == 250_000
    for text in ("many", "100"):
        with pytest.raises(ValueError, match="case"):
            case_count(text)
