"""Routing thresholds meet the stated policy on the data they were chosen on."""

from __future__ import annotations

import numpy as np
import pytest

from models.policy import DEFAULT_POLICY
from models.routing import RoutingPolicy
from training.thresholds import (
    choose_thresholds,
    cost_against_bayes,
    cost_curve_against_bayes,
    policy_thresholds,
    routing_outcome,
)


def _scores(n=20_000, separation=1.5, seed=0):
    rng = np.random.default_rng(seed)
    logit = rng.normal(0, separation, n)
    p = 1 / (1 + np.exp(-logit))
    y = rng.random(n) < p
    return y, p


@pytest.mark.parametrize("limits", [(0.10, 0.25), (0.05, 0.05), (0.02, 0.3)])
def test_thresholds_meet_the_policy_and_leave_the_rest_to_review(limits):
    y, p = _scores()
    policy = RoutingPolicy(max_complex_to_simple=limits[0], max_simple_to_complex=limits[1])
    thresholds = choose_thresholds(y, p, policy)
    outcome = routing_outcome(y, p, thresholds)
    assert outcome["complex_to_simple"] <= limits[0]
    assert outcome["simple_to_complex"] <= limits[1]
    # The streams are as wide as the policy allows: each limit is nearly used up.
    assert outcome["complex_to_simple"] > limits[0] - 0.01
    assert outcome["simple_to_complex"] > limits[1] - 0.01
    assert outcome["share_review"] > 0
    assert sum(outcome[f"share_{s}"] for s in ("simple", "complex", "review")) == pytest.approx(1)


def test_a_model_that_separates_well_needs_no_review_band():
    y, p = _scores(separation=12)
    thresholds = choose_thresholds(
        y, p, RoutingPolicy(max_complex_to_simple=0.1, max_simple_to_complex=0.1)
    )
    assert thresholds.simple_below == thresholds.complex_from
    assert routing_outcome(y, p, thresholds)["share_review"] == 0


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="both complex and simple"):
        choose_thresholds(np.ones(10), np.linspace(0, 1, 10), RoutingPolicy())


# --- court policies: the default thresholds and the best possible -------------------------


def test_the_default_court_policy_keeps_trainings_two_limits():
    from training.thresholds import default_court_policy

    policy = default_court_policy(
        RoutingPolicy(max_complex_to_simple=0.05, max_simple_to_complex=0.2)
    )
    assert (policy.max_complex_to_simple, policy.max_simple_to_complex) == (0.05, 0.2)
    assert policy.max_review == DEFAULT_POLICY.max_review


def _truth_and_model(n=100_000, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    logit = rng.normal(-0.3, 1.5, n)
    p_true = 1 / (1 + np.exp(-logit))
    # A model that sees the truth through noise, recalibrated by binning against labels.
    y = rng.random(n) < p_true
    p_model = 1 / (1 + np.exp(-(logit + rng.normal(0, noise, n)) / np.sqrt(1 + noise**2 / 3)))
    return p_true, p_model, y


def test_a_model_that_knows_the_truth_costs_what_the_bayes_optimal_routing_costs():
    p_true, _, y = _truth_and_model()
    summary, chosen = policy_thresholds(y, p_true, DEFAULT_POLICY)
    cost = cost_against_bayes(p_true, p_true, chosen.thresholds, DEFAULT_POLICY)
    assert cost["cost_ratio"] == pytest.approx(1.0, abs=0.01)
    assert cost["share_review"] == pytest.approx(chosen.predicted.share_review, abs=0.01)


def test_a_noisier_model_costs_more_than_the_best_possible_at_the_same_review_share():
    p_true, p_model, y = _truth_and_model(noise=1.5)
    policy = DEFAULT_POLICY.model_copy(
        update={"max_complex_to_simple": None, "max_simple_to_complex": None}
    )
    _, chosen = policy_thresholds(y, p_model, policy)
    cost = cost_against_bayes(p_model, p_true, chosen.thresholds, policy)
    assert cost["cost_ratio"] > 1.05
    assert cost["model_cost_days"] > cost["bayes_cost_days"] > 0


def test_the_cost_curve_prices_each_capacity_against_the_bayes_optimal_routing():
    p_true, p_model, y = _truth_and_model(noise=1.0)
    policy = DEFAULT_POLICY.model_copy(
        update={"max_complex_to_simple": None, "max_simple_to_complex": None}
    )
    summary, _ = policy_thresholds(y, p_model, policy)
    curve = cost_curve_against_bayes(p_model, p_true, summary, policy, (0.1, 0.3))
    assert [point["capacity"] for point in curve] == [0.1, 0.3]
    for point in curve:  # each the same as pricing that capacity's policy by hand
        at = policy.model_copy(update={"max_review": point["capacity"]})
        _, chosen = policy_thresholds(y, p_model, at)
        by_hand = cost_against_bayes(p_model, p_true, chosen.thresholds, at)
        assert point["cost_ratio"] == pytest.approx(by_hand["cost_ratio"])
        assert point["share_review"] == pytest.approx(point["capacity"], abs=0.01)
        assert point["cost_ratio"] > 1.0
    # More review, fewer costly misroutes: the expected cost falls.
    assert curve[1]["model_cost_days"] < curve[0]["model_cost_days"]


def test_the_model_card_shows_the_cost_against_the_bayes_optimal_routing():
    from training.card import ModelCardData, render_model_card, summary_lines

    card = ModelCardData(
        model_name="triage-stream",
        target="is_complex",
        routing={
            "policy": DEFAULT_POLICY.model_dump(),
            "thresholds": {"simple_below": 0.25, "complex_from": 0.42},
            "gave_way": ["max_complex_to_simple gives way: 11.2% predicted against its limit"],
        },
        policy_cost={
            "share_review": 0.2,
            "model_cost_days": 0.8213,
            "bayes_cost_days": 0.8,
            "cost_ratio": 1.0266,
            "model_complex_to_simple": 0.11,
            "model_simple_to_complex": 0.26,
            "bayes_complex_to_simple": 0.1,
            "bayes_simple_to_complex": 0.25,
        },
        policy_cost_curve=[
            {
                "capacity": 0.1,
                "share_review": 0.098,
                "model_cost_days": 0.91,
                "bayes_cost_days": 0.88,
                "cost_ratio": 1.034,
            }
        ],
    )
    text = render_model_card(card)
    assert "| 10 % | 9.8 % | 0.910 | 0.880 | 1.034 |" in text
    assert "## Routing cost against the best possible" in text
    assert "**Ratio: 1.027**" in text and "(20.0 %)" in text
    assert "| this model's thresholds | 0.821 | 11.0 % | 26.0 % |" in text
    assert "| cost_complex_to_simple | 10 days |" in text
    assert "| max_review | 20.0 % |" in text
    assert "- max_complex_to_simple gives way" in text
    assert any("1.027 × the Bayes-optimal" in line for line in summary_lines(card))
    assert "Routing cost" not in render_model_card(ModelCardData("triage-stream", "is_complex"))
