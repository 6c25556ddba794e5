"""The follow-up list's pure parts: budgets, the yuan valuation of rankings, the yuan gate, the
terminated features and their reasons (no training, no registry)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.synthetic.terminated import generate_terminated
from features.terminated_builder import TERMINATED_FEATURE_NAMES, TerminatedFeatureBuilder
from models.calibration import ScoreCalibrator
from models.follow_up import budget_count
from models.reasons import TERMINATED_RULES, ReasonExplainer
from training.config import GateConfig
from training.evaluate import amount_calibration, amount_metrics
from training.gate import amount_gate_decision
from training.terminated import follow_up_value


@pytest.mark.parametrize(
    ("budget", "inventory", "count"),
    [("5%", 1000, 50), ("5%", 30, 2), ("100%", 7, 7), ("300", 1000, 300), (300, 40, 40)],
)
def test_budget_is_a_count_or_a_share_of_the_inventory(budget, inventory, count):
    assert budget_count(budget, inventory) == count


@pytest.mark.parametrize("budget", ["0%", "150%", "lots", "-3", "2.5", 0, 2.5, True])
def test_a_budget_that_is_no_count_or_share_is_refused(budget):
    with pytest.raises(ValueError, match="budget"):
        budget_count(budget, 100)


def test_follow_up_value_orders_and_values_each_ranking_by_the_truth():
    frame = pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(100)],
            "unpaid_amount": np.arange(100, 0, -1, dtype=float),  # largest unpaid: c0 first
            "terminated_date": pd.date_range("2020-01-01", periods=100),  # oldest: c0 first
        }
    )
    worth = np.zeros(100)
    worth[[97, 98, 99]] = [300.0, 200.0, 100.0]
    truth = pd.DataFrame({"expected_yuan_true": worth})
    rows = follow_up_value(frame, worth.copy(), truth, budgets=(0.02,))
    at = {r["ranking"]: r for r in rows}
    assert at["model"]["budget"] == 2
    assert at["model"]["yuan_per_100"] == pytest.approx(100 * (300 + 200) / 2)
    assert at["Bayes-optimal"]["yuan_per_100"] == at["model"]["yuan_per_100"]
    assert at["model"]["share_of_bayes"] == pytest.approx(1.0)
    assert at["largest unpaid first"]["yuan_per_100"] == 0.0
    assert at["random"]["yuan_per_100"] == pytest.approx(100 * worth.mean())
    assert at["model"]["times_best_rule"] == pytest.approx(250 * 100 / (100 * worth.mean()))


def test_yuan_gate_refuses_a_biased_or_useless_model_and_a_worse_challenger():
    rng = np.random.default_rng(0)
    truth = np.exp(rng.normal(9, 1.5, 4000))
    y = truth * rng.gamma(4, 1 / 4, truth.size)
    good = amount_metrics(y, truth)
    config = GateConfig()
    assert amount_gate_decision(good, None, config)[0]
    assert not amount_gate_decision(amount_metrics(y, truth * 1.6), None, config)[0]
    flat = amount_metrics(y, np.full_like(y, y.mean()))
    promoted, reason = amount_gate_decision(flat, None, config)
    assert not promoted and "skill" in reason
    worse = amount_metrics(y, truth * np.exp(rng.normal(0, 0.8, truth.size)))
    promoted, reason = amount_gate_decision(worse, good, config)
    assert not promoted and "champion" in reason
    table = amount_calibration(y, truth, expected=truth)
    assert len(table) == 10 and np.allclose(table["ratio_expected"], 1.0)


def test_log_link_calibration_gives_yuan_not_a_probability():
    calibrator = ScoreCalibrator.from_dict(
        ScoreCalibrator(method="log_link", intercept=np.log(2.0)).to_dict()
    )
    assert calibrator.probability([np.log(5000.0)]) == pytest.approx([10_000.0])


@pytest.mark.slow  # the generator's first draw calibrates its world: ~30 s on a busy machine
def test_terminated_features_and_every_feature_has_reasons():
    cases = generate_terminated(300, seed=4).cases
    builder = TerminatedFeatureBuilder().fit(cases)
    X = builder.transform(cases)
    assert X.shape == (300, len(TERMINATED_FEATURE_NAMES))
    names = list(TERMINATED_FEATURE_NAMES)
    months = X[:, names.index("months_since_termination")]
    assert (months >= 0.9).all() and (months <= 61).all()
    # No inquiry since termination: the last inquiry's findings are unknown, not zero.
    none = cases["inquiries_since"].to_numpy() == 0
    assert np.isnan(X[none, names.index("last_bank_balance_log")]).all()
    # Records and the frame give the same features; a stored vocabulary the same again.
    records = cases.head(5).to_dict(orient="records")
    assert np.allclose(builder.transform_records(records), X[:5], equal_nan=True)
    stored = TerminatedFeatureBuilder.from_vocabulary(builder.categories_)
    assert np.allclose(stored.transform(cases), X, equal_nan=True)
    from features.terminated import TERMINATED_FIELD_BY_NAME
    from features.terminated_builder import TERMINATED_FEATURE_LABELS

    explainer = ReasonExplainer(
        names,
        builder.categories_,
        labels=TERMINATED_FEATURE_LABELS,
        rules=TERMINATED_RULES,
        fields=TERMINATED_FIELD_BY_NAME,
    )
    reasons = explainer.explain(X, np.random.default_rng(1).normal(size=(300, len(names) + 1)))
    for case in reasons.dicts():
        assert len(case) == 3 and all(r["zh"] and r["en"] for r in case)
