"""The fit's time planning: which learning rate the budget affords."""

from __future__ import annotations

from training.fit import SearchResult, affordable_learning_rate


def _search(rounds=200, pace=0.05, n_rows=60_000):
    return SearchResult(
        params={},
        validation_log_loss=0.5,
        n_rows=n_rows,
        rounds=rounds,
        seconds_per_round=pace,
        search_learning_rate=0.1,
    )


def test_the_final_rate_when_its_rounds_fit_the_time_left():
    # 400 rounds at 0.05 on twice the rows: 1.5 * 400 * 0.1 s = 60 s.
    assert affordable_learning_rate(_search(), 120_000, 0.05, seconds=61) == 0.05
    assert affordable_learning_rate(_search(), 120_000, 0.05, seconds=None) == 0.05


def test_the_search_rate_when_the_final_one_would_be_cut_short():
    assert affordable_learning_rate(_search(), 120_000, 0.05, seconds=59) == 0.1
