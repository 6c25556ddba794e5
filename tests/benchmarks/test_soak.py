"""The soak benchmark's own reasoning, without a server: what wrk recorded, which
champion was in force when, and the windows the answers are judged against."""

from __future__ import annotations

import pytest

from benchmarks.bench_soak import (
    Answer,
    Logged,
    Move,
    allowed_versions,
    champion_at,
    epoch,
    growth_percent,
    off_champion,
    outside,
    parse_answers,
    propagation_lags,
)

#: The champion of one model: v1 from t=0, v2 from t=100, v3 from t=200, v2 again from t=300.
MOVES = [Move(0.0, None, "1"), Move(100.0, "1", "2"), Move(200.0, "2", "3"), Move(300.0, "3", "2")]


def test_wrk_records_parse_into_answers_on_the_epoch_clock():
    lines = [
        "1000.25 200 s 2 3 01JA",
        "",
        "1000.50 200 b 2 3 01JB,01JC,01JD",
        "1001.00 503 - - - -",
    ]
    answers = parse_answers(lines, clock_offset=1_700_000_000.0)
    assert answers == [
        Answer(1_700_001_000.25, 200, False, ("01JA",), ("2", "3")),
        Answer(1_700_001_000.50, 200, True, ("01JB", "01JC", "01JD"), ("2", "3")),
        Answer(1_700_001_001.00, 503),
    ]


def test_a_truncated_wrk_record_is_refused_with_its_text():
    with pytest.raises(ValueError, match="malformed wrk record: '1000.25 200 s 2'"):
        parse_answers(["1000.25 200 s 2"], clock_offset=0.0)


@pytest.mark.parametrize(
    ("at", "champion"),
    [(-1.0, None), (0.0, "1"), (99.999, "1"), (100.0, "2"), (250.0, "3"), (1e9, "2")],
)
def test_the_champion_in_force_is_the_last_move_at_or_before(at, champion):
    assert champion_at(MOVES, at) == champion


def test_the_replaced_champion_is_allowed_only_within_the_propagation_time():
    assert allowed_versions(MOVES, 50.0, propagation=30) == {"1"}
    assert allowed_versions(MOVES, 110.0, propagation=30) == {"2", "1"}
    assert allowed_versions(MOVES, 130.0, propagation=30) == {"2"}  # 30 s after: no longer
    assert allowed_versions(MOVES, 305.0, propagation=30) == {"2", "3"}


def test_a_decision_is_off_champion_when_either_model_is():
    moves = {"stream": MOVES, "assets": [Move(0.0, None, "1"), Move(100.0, "1", "2")]}
    decisions = [
        Logged("ok-before", 90.0, ("1", "1")),
        Logged("ok-propagating", 105.0, ("1", "1")),
        Logged("ok-after", 150.0, ("2", "2")),
        Logged("stale-stream", 150.0, ("1", "2")),
        Logged("stale-assets", 250.0, ("3", "1")),
        Logged("too-early", 95.0, ("2", "1")),  # the new version before its move
    ]
    off = off_champion(decisions, moves, propagation=30)
    assert [d.decision_id for d in off] == ["stale-stream", "stale-assets", "too-early"]


def test_propagation_lags_measure_each_move_until_the_next():
    decisions = [
        Logged("a", 101.0, ("1", "1")),
        Logged("b", 103.5, ("1", "1")),  # the last on v1, 3.5 s after the move
        Logged("c", 102.0, ("2", "1")),  # the first on v2, 2 s after
        Logged("d", 150.0, ("2", "1")),
        Logged("e", 201.0, ("3", "1")),  # v3 at once; no v2 after the move
    ]
    lags = propagation_lags(decisions, MOVES, "stream", since=50.0)
    assert lags == [
        {
            "model": "stream",
            "from": "1",
            "to": "2",
            "last_old_after_s": 3.5,
            "first_new_after_s": 2.0,
        },
        {
            "model": "stream",
            "from": "2",
            "to": "3",
            "last_old_after_s": None,
            "first_new_after_s": 1.0,
        },
        {
            "model": "stream",
            "from": "3",
            "to": "2",
            "last_old_after_s": None,
            "first_new_after_s": None,
        },
    ]


def test_answers_outside_the_window_are_found_bounds_included():
    assert outside([9.99, 10.0, 12.5, 15.0, 15.01], 10.0, 15.0) == [9.99, 15.01]


def test_memory_growth_compares_medians():
    assert growth_percent([100, 200, 100], [104, 104, 900]) == pytest.approx(4.0)


def test_times_from_the_registry_and_the_log_share_one_clock():
    assert epoch("2026-12-05T15:00:00.250Z") - epoch("2026-12-05T15:00:00.000000Z") == 0.25
