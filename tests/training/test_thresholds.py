"""Routing thresholds meet the stated policy on the data they were chosen on."""

from __future__ import annotations

import numpy as np
import pytest

from models.routing import RoutingPolicy
from training.thresholds import choose_thresholds, routing_outcome


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
