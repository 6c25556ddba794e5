"""The fit's time planning: which learning rate the budget affords."""

from __future__ import annotations

import time

import numpy as np

from training.fit import SearchResult, affordable_learning_rate, sample_positions


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


def test_a_sample_of_positions_is_in_order_without_repeats_and_all_when_fewer():
    drawn = sample_positions(1000, 100, seed=3)
    assert len(drawn) == 100 and len(set(drawn.tolist())) == 100
    assert (np.diff(drawn) > 0).all() and drawn.max() < 1000
    assert (sample_positions(1000, 100, seed=3) == drawn).all()  # a seed draws alike
    assert sample_positions(50, 100, seed=3).tolist() == list(range(50))


def test_the_logistic_baseline_is_fitted_on_a_sample_of_the_training_cases(monkeypatch):
    from features.builder import CaseFeatureBuilder
    from features.synthetic import generate_cases
    from training import evaluate, train
    from training.config import SplitConfig
    from training.split import split_by_filing_date

    frame = generate_cases(2000, seed=4).cases
    split = split_by_filing_date(frame["filing_date"], SplitConfig())
    builder = CaseFeatureBuilder().fit(frame.iloc[split.train])
    X = builder.transform(frame)
    y = frame["has_recoverable_assets"].to_numpy(dtype=np.int64)
    fitted_rows: list[int] = []
    logistic_baseline = evaluate.logistic_baseline

    def recording_baseline(**kwargs):
        pipeline = logistic_baseline(**kwargs)
        fit = pipeline.fit

        def record_fit(X_fit, y_fit):
            fitted_rows.append(len(X_fit))
            return fit(X_fit, y_fit)

        pipeline.fit = record_fit
        return pipeline

    monkeypatch.setattr(train.evaluate, "logistic_baseline", recording_baseline)
    monkeypatch.setattr(train, "BASELINE_ROWS", 500)
    p_test = np.full(len(split.test), y.mean())
    curves = train.holdout_scores("assets", frame, X, y, split, builder, p_test, truth=None)
    assert fitted_rows == [500] < [len(split.train)]
    labels, scores = curves["logistic regression"]
    assert len(scores) == len(split.test) and ((scores > 0) & (scores < 1)).all()


def test_a_spent_budget_still_gives_the_final_fit_its_minimum_rounds():
    """A deadline already past (loading took the budget) must not leave a one-tree model."""
    from training.config import SearchConfig
    from training.fit import fit_final

    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=1.0, size=4000) > 0).astype(int)
    params = {"objective": "binary", "learning_rate": 0.01, "num_leaves": 7, "verbose": -1}
    config = SearchConfig(min_final_rounds=60, early_stopping_rounds=50)
    fitted = fit_final(
        X[:3000],
        y[:3000],
        X[3000:],
        y[3000:],
        SearchResult(params, 0.5, 3000, 200, 0.0, 0.01),
        categorical=[],
        feature_names=["a", "b", "c"],
        config=config,
        threads=1,
        deadline=time.monotonic() - 1.0,
    )
    assert fitted.cut_short
    assert fitted.best_iteration == 60
