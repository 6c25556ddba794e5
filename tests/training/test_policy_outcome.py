"""Issue #11's must-show on a small trained model: a court policy does on newer cases what it said.

A stream model is fitted (no registry: :func:`training.train.fit_models`) on
older synthetic cases; a court's policy of max-review 0.15 gets its
thresholds from the summary the model keeps; on newer cases the review share
lands within 0.15 ± 0.02, the two error rates within ± 0.03 of what the
validation data predicted, and the expected cost (priced with the true
probabilities) within 5 % of the Bayes-optimal routing's at the same review share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.load import read_cases
from features.synthetic import GeneratorConfig, write_synthetic
from models.policy import DEFAULT_POLICY, forecast, parse_policy, thresholds_for
from training.config import SearchConfig, TrainingConfig
from training.thresholds import cost_against_bayes
from training.train import fit_models
from training.truth import read_truth

pytestmark = pytest.mark.slow

#: One trial and a budget it never reaches: the same model on a busy machine as on a quiet one.
SMALL = TrainingConfig(
    search=SearchConfig(
        n_trials=1,
        time_budget_seconds=900,
        max_rounds=300,
        learning_rate=0.1,
        search_learning_rate=0.1,
        early_stopping_rounds=30,
    )
)


@pytest.fixture(scope="module")
def newer_cases_scored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("policy-outcome")
    cases, truth = folder / "cases.csv", folder / "truth.csv"
    newer, newer_truth = folder / "newer.csv", folder / "newer_truth.csv"
    write_synthetic(24_000, cases, truth, seed=31)
    write_synthetic(
        5_000,
        newer,
        newer_truth,
        seed=32,
        config=GeneratorConfig(start="2025-01-01", end="2025-06-30"),
    )
    frame, _ = read_cases(cases, require_labels=True)
    fitted = fit_models(frame, SMALL, truths=read_truth(truth, frame["case_id"]))
    stream = fitted.outcomes["stream"]
    later, _ = read_cases(newer, require_labels=True)
    p_true = (
        pd.read_csv(newer_truth, dtype={"case_id": str})
        .set_index("case_id")
        .reindex(later["case_id"].astype(str))["p_complex_true"]
        .to_numpy()
    )
    return {
        "summary": stream.validation_scores,
        "p": stream.model.predict_proba(later),
        "y": later["is_complex"].to_numpy(dtype=float),
        "p_true": p_true,
    }


def test_a_court_policy_of_max_review_015_does_on_newer_cases_what_it_predicted(
    newer_cases_scored,
):
    scored = newer_cases_scored
    # As `triage policy set --court … --max-review 0.15` makes it: the rest inherited.
    policy = parse_policy(DEFAULT_POLICY.model_dump() | {"max_review": 0.15})
    chosen = thresholds_for(scored["summary"], policy)
    actual = forecast(scored["p"], scored["y"], chosen.thresholds, policy)
    assert actual.share_review == pytest.approx(0.15, abs=0.02)
    assert actual.complex_to_simple == pytest.approx(chosen.predicted.complex_to_simple, abs=0.03)
    assert actual.simple_to_complex == pytest.approx(chosen.predicted.simple_to_complex, abs=0.03)


def test_expected_cost_is_within_5_percent_of_the_bayes_optimal_routing(newer_cases_scored):
    scored = newer_cases_scored
    # Capacity and costs only: the Bayes-optimal routing at the same capacity is then
    # the best any model could do.  (With the default hard limits giving way, both
    # routings first shrink the excess; measured at demo size, see the report of #11.)
    policy = parse_policy(
        DEFAULT_POLICY.model_dump()
        | {"max_review": 0.15, "max_complex_to_simple": None, "max_simple_to_complex": None}
    )
    chosen = thresholds_for(scored["summary"], policy)
    cost = cost_against_bayes(scored["p"], scored["p_true"], chosen.thresholds, policy)
    assert 0.99 <= cost["cost_ratio"] <= 1.05, cost
    assert cost["share_review"] == pytest.approx(0.15, abs=0.02)
    assert np.isfinite(cost["bayes_cost_days"]) and cost["bayes_cost_days"] > 0
