"""The trade-off curve: at each review capacity, the policy's least-cost routing."""

from __future__ import annotations

import numpy as np
import pytest

from models.policy import DEFAULT_POLICY, CourtPolicy, ScoreSummary, forecast, thresholds_for
from models.tradeoff import CURVE_CAPACITIES, tradeoff_curve


def _summary(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-rng.normal(-0.3, 1.5, n)))
    y = rng.random(n) < p
    return ScoreSummary.from_scores(p, y), p, y


def test_the_curve_runs_from_no_review_desk_to_half_the_cases_in_points():
    summary, _, _ = _summary()
    curve = tradeoff_curve(summary, DEFAULT_POLICY)
    assert [point.capacity for point in curve] == list(CURVE_CAPACITIES)
    assert CURVE_CAPACITIES[0] == 0 and CURVE_CAPACITIES[-1] == 0.5 and len(curve) == 51
    assert curve[0].chosen.predicted.share_review == 0  # no desk: nothing reviewed


def test_each_point_is_the_policys_own_thresholds_at_that_capacity():
    summary, p, y = _summary()
    policy = CourtPolicy(max_review=0.3, cost_review=0.5)
    curve = tradeoff_curve(summary, policy, capacities=(0.05, 0.15, 0.3))
    for point in curve:
        alone = thresholds_for(
            summary,
            CourtPolicy(**{**policy.model_dump(), "max_review": point.capacity}),
        )
        assert point.chosen.thresholds == alone.thresholds
        assert point.chosen.predicted == alone.predicted
        # The prediction is what those thresholds do to the validation cases themselves.
        again = forecast(p, y, point.chosen.thresholds, policy)
        assert again.share_review == pytest.approx(point.chosen.predicted.share_review)
        assert again.expected_cost_days == pytest.approx(point.chosen.predicted.expected_cost_days)
        assert point.chosen.predicted.share_review <= point.capacity + 1e-12


def test_more_capacity_never_costs_more_and_lowers_the_errors_it_has_to():
    summary, _, _ = _summary()
    # Without limits nothing gives way: cost can only fall as the allowed band widens.
    free = CourtPolicy(max_complex_to_simple=None, max_simple_to_complex=None)
    costs = [point.chosen.predicted.expected_cost_days for point in tradeoff_curve(summary, free)]
    assert all(later <= earlier + 1e-12 for earlier, later in zip(costs, costs[1:], strict=False))
    assert costs[-1] < costs[0]
    # With the default limits a small desk cannot hold them: the curve says which gave way.
    curve = tradeoff_curve(summary, DEFAULT_POLICY)
    assert curve[0].chosen.gave_way and not curve[-1].chosen.gave_way
    row = curve[0].to_dict()
    assert row["gave_way"] and "gives way" in row["gave_way"][0]
    assert set(row) >= {
        "capacity",
        "simple_below",
        "complex_from",
        "share_review",
        "complex_to_simple",
        "simple_to_complex",
        "expected_cost_days",
    }


def test_a_capacity_outside_zero_to_one_is_refused_naming_it():
    summary, _, _ = _summary(n=2000)
    with pytest.raises(ValueError, match="capacity: must be a share in"):
        tradeoff_curve(summary, DEFAULT_POLICY, capacities=(0.1, 1.5))
