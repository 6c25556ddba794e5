"""The training benchmark: its sizes from the environment, and one real run of `triage train`."""

from __future__ import annotations

import pytest

from benchmarks import bench_train


def test_sizes_come_from_the_environment_or_default_to_the_curve():
    assert bench_train.train_sizes(None) == (60_000, 200_000, 1_000_000)
    assert bench_train.train_sizes(" ") == (60_000, 200_000, 1_000_000)
    assert bench_train.train_sizes("60_000, 1000000") == (60_000, 1_000_000)


@pytest.mark.parametrize("wrong", ["many", "1000,-5", ","])
def test_wrong_sizes_are_refused_naming_the_variable(wrong):
    with pytest.raises(ValueError, match="TRIAGE_BENCH_TRAIN_SIZES"):
        bench_train.train_sizes(wrong)


def test_the_curve_is_one_line_of_seconds_per_size():
    rows = [
        {"wall_seconds": 250.4, "cpu_seconds": 430.0},
        {"wall_seconds": 255.0, "cpu_seconds": 451.6},
        {"wall_seconds": 262.0, "cpu_seconds": 480.2},
    ]
    assert bench_train.curve_line((60_000, 200_000, 1_000_000), rows) == (
        "training seconds at 60 k / 200 k / 1 M: 250 / 255 / 262 wall, 430 / 452 / 480 CPU"
    )
    assert [bench_train.size_label(n) for n in (1_500, 1_500_000, 999)] == ["1.5 k", "1.5 M", "999"]


@pytest.mark.slow
def test_the_benchmark_times_triage_train_and_reports_both_models(monkeypatch, capsys):
    monkeypatch.setenv("TRIAGE_BENCH_TRAIN_SIZES", "1500")
    # The plumbing is under test, not the default budget's search.
    monkeypatch.setenv("TRIAGE_BENCH_TRAIN_ARGS", "--time-budget 6 --trials 1")
    result = bench_train.run()
    row = result["1,500 cases"]
    assert "training seconds at 1.5 k:" in capsys.readouterr().out
    assert row["cpu_seconds"] > 0 and row["wall_seconds"] >= row["training_seconds"] > 0
    for kind in ("stream", "assets"):
        assert 0.5 < row[f"{kind}_auc"] <= 1
        assert row[f"{kind}_trees"] > 0
        assert row[f"{kind}_learning_rate"] in (0.05, 0.1)
        assert f"{kind}_log_loss_gap_pct" in row  # the truth was given
