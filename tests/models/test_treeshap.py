"""TreeSHAP from tables equals LightGBM's own ``pred_contrib``: numerical, categorical and
missing values, shallow and deep trees, one case or many, one thread or two; and the
tables' cache on disk is read back, rebuilt when damaged, and optional."""

from __future__ import annotations

import dataclasses
import os
import pickle

import lightgbm as lgb
import numpy as np
import pytest

from models.treeshap import ShapTables, _write_tables, tables_for, top_reasons_agreement

N_FEATURES = 7


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    X[:, 5] = rng.integers(0, 12, size=n)  # a categorical code
    X[:, 6] = np.where(rng.random(n) < 0.3, 0.0, rng.exponential(size=n))  # zeros: missing
    X[rng.random(n) < 0.1, 1] = np.nan  # missing values take their default side
    X[rng.random(n) < 0.05, 5] = np.nan  # a missing category goes right
    logit = (
        X[:, 0]
        - 0.7 * np.nan_to_num(X[:, 1])
        + 0.5 * X[:, 2] * X[:, 3]
        + (np.nan_to_num(X[:, 5]) % 3 == 1)
        + 0.4 * X[:, 6]
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _booster(num_leaves: int, rounds: int = 30, **params: object) -> lgb.Booster:
    X, y = _data(3000, seed=0)
    params = {
        "objective": "binary",
        "num_leaves": num_leaves,
        "learning_rate": 0.2,
        "min_data_in_leaf": 5,
        "verbose": -1,
        "num_threads": 1,
        **params,
    }
    return lgb.train(params, lgb.Dataset(X, y, categorical_feature=[5]), num_boost_round=rounds)


def _cases(n: int = 400) -> np.ndarray:
    X, _ = _data(n, seed=1)
    # Values the training data never had: an unseen and a negative category, and
    # a category cut toward zero (-0.5 → 0, as LightGBM's C++ cast does).
    X[:3, 5] = [40, -2, -0.5]
    X[3:6, 6] = [0.0, -0.0, 1e-40]  # zero, for a feature whose zeros are missing
    return X


@pytest.mark.parametrize(
    ("num_leaves", "key_bits", "params"),
    [
        (2, 10, {}),  # stumps
        (5, 10, {}),  # whole trees in one table each
        (31, 10, {}),  # deep trees: subtrees, and leaves evaluated per case
        (31, 3, {}),  # most leaves evaluated per case
        (15, 10, {"zero_as_missing": True}),  # missing_type Zero
        (15, 6, {"use_missing": False}),  # missing_type None: NaN is 0
    ],
)
def test_tables_give_lightgbms_treeshap(num_leaves, key_bits, params):
    booster = _booster(num_leaves, **params)
    X = _cases()
    tables = ShapTables.of(booster, key_bits=key_bits)
    expected = booster.predict(X, pred_contrib=True)
    got = tables.contributions(X)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.sum(axis=1), booster.predict(X, raw_score=True), atol=1e-9)


def test_one_case_two_threads_and_a_tree_without_splits_agree():
    X = _cases(1000)
    # Leaves too big to split: one tree of one leaf, all bias.
    no_split = _booster(15, min_data_in_leaf=10_000)
    assert [t["num_leaves"] for t in no_split.dump_model()["tree_info"]] == [1]
    np.testing.assert_allclose(
        ShapTables.of(no_split).contributions(X), no_split.predict(X, pred_contrib=True), atol=1e-12
    )
    booster = _booster(15, rounds=40)
    tables = ShapTables.of(booster)
    expected = booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(tables.contributions(X, threads=2), expected, atol=1e-9)
    np.testing.assert_allclose(tables.contributions(X[7:8]), expected[7:8], atol=1e-9)
    assert tables.contributions(X[:0]).shape == (0, N_FEATURES + 1)


def test_the_cache_is_read_back_rebuilt_when_damaged_and_optional(tmp_path, monkeypatch):
    booster = _booster(31)
    X = _cases()
    expected = booster.predict(X, pred_contrib=True)
    cache = tmp_path / "treeshap"
    first = tables_for(booster, cache=cache)
    (stored,) = cache.glob("*.npz")
    assert not list(cache.glob(".tables-*"))  # no staging file left behind
    with monkeypatch.context() as patched:  # read back, not built again
        patched.setattr(ShapTables, "of", classmethod(lambda cls, *a, **k: pytest.fail("built")))
        again = tables_for(booster, cache=cache)
    assert again is not first
    np.testing.assert_array_equal(again.contributions(X), first.contributions(X))

    stored.write_bytes(stored.read_bytes()[:1000])  # cut short
    rebuilt = tables_for(booster, cache=cache)
    np.testing.assert_allclose(rebuilt.contributions(X), expected, atol=1e-9)
    assert stored.stat().st_size > 1000  # written whole again

    other = _booster(5)
    tables_for(other, cache=cache)
    assert len(list(cache.glob("*.npz"))) == 2  # one file per booster

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    np.testing.assert_allclose(
        tables_for(booster, cache=blocked / "treeshap").contributions(X), expected, atol=1e-9
    )


def test_tables_pickle_and_agreement_counts_features_and_signs():
    booster = _booster(15)
    X = _cases(50)
    tables = pickle.loads(pickle.dumps(ShapTables.of(booster)))
    exact = booster.predict(X, pred_contrib=True)
    assert top_reasons_agreement(tables.contributions(X), exact, n_features=N_FEATURES) == 1.0
    flipped = exact.copy()
    top = np.argmax(np.abs(exact[:10, :N_FEATURES]), axis=1)
    flipped[np.arange(10), top] *= -1  # the strongest reason's sign, on 10 of 50 cases
    assert top_reasons_agreement(flipped, exact, n_features=N_FEATURES) == pytest.approx(0.8)


def test_the_cache_serves_a_booster_read_back_from_its_file_and_refuses_unsound_tables(
    tmp_path, monkeypatch
):
    booster = _booster(31)
    X = _cases()
    expected = booster.predict(X, pred_contrib=True)
    cache = tmp_path / "treeshap"
    tables_for(booster, cache=cache)  # as `triage train` does
    saved = tmp_path / "booster.txt"
    booster.save_model(str(saved))
    with monkeypatch.context() as patched:  # as a service worker does: read, not built
        patched.setattr(ShapTables, "of", classmethod(lambda cls, *a, **k: pytest.fail("built")))
        tables_for(lgb.Booster(model_file=str(saved)), cache=cache)
    (stored,) = cache.glob("*.npz")  # the worker read what training built
    assert stored.stat().st_mode & 0o777 == 0o666 & ~_umask()  # readable by a service user

    # A file that reads but whose indexes leave their arrays: rebuilt, never run.
    good = ShapTables.of(booster)
    steps = good.groups.step_split.copy()
    steps[0] = 10**9
    bad = dataclasses.replace(good, groups=dataclasses.replace(good.groups, step_split=steps))
    with pytest.raises(ValueError, match="inconsistent"):
        bad.check()
    _write_tables(bad, stored)
    np.testing.assert_allclose(
        tables_for(booster, cache=cache).contributions(X), expected, atol=1e-9
    )

    with pytest.raises(ValueError, match="7 features per case"):
        good.contributions(X[:, :5])


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_cache_keeps_the_most_recently_used_tables_and_their_locks(tmp_path, monkeypatch):
    monkeypatch.setattr("models.treeshap.CACHE_KEEP", 1)
    cache = tmp_path / "treeshap"
    tables_for(_booster(5), cache=cache)
    newest = _booster(15)
    tables_for(newest, cache=cache)
    (kept,) = cache.glob("*.npz")
    assert [p.name for p in cache.glob("*.lock")] == [kept.with_suffix(".lock").name]
    with monkeypatch.context() as patched:  # the one kept is the newest booster's
        patched.setattr(ShapTables, "of", classmethod(lambda cls, *a, **k: pytest.fail("built")))
        tables_for(newest, cache=cache)
