"""Path attribution from leaf indices: adds up to LightGBM's raw score, equals TreeSHAP
where the two must agree (one split per tree), and the agreement measure counts
features and signs of the top three."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from benchmarks.attribution import PathAttribution, top_reasons_agreement


def _data(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 5] = rng.integers(0, 8, size=n)  # a categorical code
    X[rng.random(n) < 0.1, 1] = np.nan  # missing values take their default side
    logit = X[:, 0] - 0.7 * np.nan_to_num(X[:, 1]) + 0.5 * X[:, 2] * X[:, 3] + (X[:, 5] > 4)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _booster(num_leaves: int, rounds: int = 40) -> lgb.Booster:
    X, y = _data()
    params = {
        "objective": "binary",
        "num_leaves": num_leaves,
        "learning_rate": 0.2,
        "min_data_in_leaf": 5,
        "verbose": -1,
        "num_threads": 1,
    }
    return lgb.train(params, lgb.Dataset(X, y, categorical_feature=[5]), num_boost_round=rounds)


@pytest.mark.parametrize("num_leaves", [2, 31])
def test_contributions_add_up_to_the_raw_score_and_the_bias_is_treeshaps(num_leaves):
    booster = _booster(num_leaves)
    X, _ = _data(500, seed=1)
    contributions = PathAttribution.of(booster).contributions(booster, X)
    exact = booster.predict(X, pred_contrib=True)
    assert contributions.shape == exact.shape
    np.testing.assert_allclose(
        contributions.sum(axis=1), booster.predict(X, raw_score=True), rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(contributions[:, -1], exact[:, -1], rtol=0, atol=1e-9)


def test_with_one_split_per_tree_it_is_exact_treeshap():
    # A stump's only feature takes the whole change from the expected value: both
    # methods give exactly that, so any difference is a wrong leaf table.
    booster = _booster(num_leaves=2)
    X, _ = _data(500, seed=2)
    contributions = PathAttribution.of(booster).contributions(booster, X)
    exact = booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(contributions, exact, rtol=0, atol=1e-9)
    assert top_reasons_agreement(contributions, exact, n_features=6) == 1.0


def test_agreement_counts_the_top_three_features_and_their_signs_not_their_order():
    exact = np.array(
        [
            [0.9, -0.5, 0.3, 0.1, 0.0, 0.0, 1.0],
            [0.9, -0.5, 0.3, 0.1, 0.0, 0.0, 1.0],
            [0.9, -0.5, 0.3, 0.1, 0.0, 0.0, 1.0],
            [0.9, -0.5, 0.3, 0.1, 0.0, 0.0, 1.0],
        ]
    )
    approximate = np.array(
        [
            [0.3, -0.9, 0.5, 0.2, 0.0, 0.0, 0.5],  # same three, same signs, other order
            [0.9, 0.5, 0.3, 0.1, 0.0, 0.0, 1.0],  # a sign flipped
            [0.9, -0.5, 0.1, 0.3, 0.0, 0.0, 1.0],  # the fourth took the third's place
            [0.9, -0.5, 0.3, 0.1, 0.0, 0.0, 9.0],  # only the bias differs
        ]
    )
    assert top_reasons_agreement(approximate, exact, n_features=6) == 0.5
    assert top_reasons_agreement(approximate[[0, 3]], exact[[0, 3]], n_features=6) == 1.0
    assert top_reasons_agreement(approximate[[1, 2]], exact[[1, 2]], n_features=6) == 0.0
