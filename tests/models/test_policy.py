"""Court policies: validation in the court's terms, and thresholds of least cost within them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.metadata import ModelMetadata
from models.policy import (
    DEFAULT_POLICY,
    CourtPolicy,
    PolicyError,
    ScoreSummary,
    forecast,
    parse_policy,
    thresholds_for,
)

_TIE = 1e-12


def _scores(n=20_000, separation=1.5, shift=-0.3, seed=0):
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-rng.normal(shift, separation, n)))
    return p, rng.random(n) < p


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_review": 1.5}, "max_review: must be in (0, 1], got 1.5"),
        ({"max_review": 0}, "max_review: must be in (0, 1], got 0"),
        ({"max_review": math.nan}, "max_review: must be in (0, 1], got nan"),
        ({"cost_review": -1}, "cost_review: must be a number of days, 0 or more, got -1"),
        ({"cost_complex_to_simple": -0.5}, "cost_complex_to_simple: must be a number of days"),
        ({"cost_simple_to_complex": math.inf}, "cost_simple_to_complex: must be a number of days"),
        ({"max_complex_to_simple": 1.0}, "max_complex_to_simple: must be in (0, 1) or unset"),
        ({"max_review_per_day": 30}, "max_review_per_day: not a policy field"),
        ({"review_per_day": 0}, "review_per_day: must be a positive number of cases per day"),
        ({"review_per_day": -3}, "review_per_day: must be a positive number of cases per day"),
        ({"review_per_day": math.nan}, "review_per_day: must be a positive number of cases"),
        ({"review_per_day": math.inf}, "review_per_day: must be a positive number of cases"),
        ({"max_review": "lots"}, "max_review: input should be a valid number"),
        ({"gives_way": "nobody"}, "gives_way: input should be 'error_limits' or 'capacity'"),
        ({"review_desk": 2}, "review_desk: not a policy field"),
        (
            {"cost_complex_to_simple": 0, "cost_simple_to_complex": 0},
            "cost_complex_to_simple, cost_simple_to_complex: at least one must be above 0",
        ),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(fields, message):
    with pytest.raises(PolicyError) as refused:
        parse_policy(DEFAULT_POLICY.model_dump() | fields)
    assert message in str(refused.value)


def test_every_bad_field_is_named_at_once():
    with pytest.raises(PolicyError, match="max_review: .*; cost_review: "):
        parse_policy({"max_review": 2, "cost_review": -1})


def test_command_line_text_is_read_as_numbers_and_limits_can_be_unset():
    policy = parse_policy({"max_review": "0.10", "max_complex_to_simple": None})
    assert policy.max_review == 0.10 and policy.max_complex_to_simple is None
    assert policy.cost_review == DEFAULT_POLICY.cost_review


def test_every_field_says_what_it_means_and_its_unit():
    for name, field in CourtPolicy.model_fields.items():
        assert field.description and len(field.description) > 40, name
    for name in ("cost_complex_to_simple", "cost_simple_to_complex", "cost_review"):
        assert "days" in (CourtPolicy.model_fields[name].description or "").lower(), name


def test_the_summary_counts_each_label_per_bin_and_rides_in_the_model_metadata():
    p, y = _scores(n=5000)
    summary = ScoreSummary.from_scores(p, y)
    assert sum(summary.complex) == y.sum() and sum(summary.simple) == (~y).sum()
    assert all(isinstance(c, int) for c in summary.complex)  # short JSON
    metadata = ModelMetadata(validation_scores=summary, routing_policy=DEFAULT_POLICY)
    again = ModelMetadata.model_validate_json(metadata.model_dump_json())
    assert again.validation_scores == summary and again.routing_policy == DEFAULT_POLICY
    # A model trained before court policies has neither, and still loads.
    assert ModelMetadata.model_validate({"n_cases": 10}).validation_scores is None


def test_a_summary_needs_both_classes():
    with pytest.raises(ValueError, match="both complex and simple"):
        ScoreSummary.from_scores(np.linspace(0, 1, 10), np.ones(10))


# --- thresholds ---------------------------------------------------------------------------


def _brute_force(summary: ScoreSummary, policy: CourtPolicy) -> tuple[float, float, float]:
    """(largest excess over the yielding constraint, cost) of the best pair, by trying every pair."""
    cc = np.concatenate([[0.0], np.cumsum(summary.complex)])
    cs = np.concatenate([[0.0], np.cumsum(summary.simple)])
    ca = cc + cs
    nc, ns = cc[-1], cs[-1]
    n = nc + ns
    rows = []
    for i in range(summary.bins + 1):
        for j in range(i, summary.bins + 1):
            review = (ca[j] - ca[i]) / n
            excess_limits = max(
                0.0
                if policy.max_complex_to_simple is None
                else cc[i] / nc - policy.max_complex_to_simple,
                0.0
                if policy.max_simple_to_complex is None
                else (ns - cs[j]) / ns - policy.max_simple_to_complex,
                0.0,
            )
            excess_capacity = max(review - policy.max_review, 0.0)
            cost = (
                policy.cost_complex_to_simple * cc[i]
                + policy.cost_simple_to_complex * (ns - cs[j])
                + policy.cost_review * (ca[j] - ca[i])
            ) / n
            rows.append((excess_limits, excess_capacity, cost))
    table = np.array(rows)
    limits, capacity, cost = table.T
    feasible = (limits <= _TIE) & (capacity <= _TIE)
    if feasible.any():
        return 0.0, 0.0, float(cost[feasible].min())
    if policy.gives_way == "error_limits":
        within = capacity <= _TIE
        least = limits[within].min()
        chosen = within & (limits <= least + _TIE)
        return float(least), 0.0, float(cost[chosen].min())
    within = limits <= _TIE
    least = capacity[within].min()
    chosen = within & (capacity <= least + _TIE)
    return 0.0, float(least), float(cost[chosen].min())


def test_thresholds_are_the_cheapest_that_trying_every_pair_finds():
    rng = np.random.default_rng(7)
    for trial in range(40):
        p, y = _scores(
            n=int(rng.integers(100, 2000)),
            separation=float(rng.uniform(0.3, 4)),
            shift=float(rng.uniform(-1, 1)),
            seed=trial,
        )
        summary = ScoreSummary.from_scores(p, y, bins=30)
        policy = CourtPolicy(
            max_review=float(rng.uniform(0.01, 1)),
            cost_complex_to_simple=float(rng.uniform(0, 20)),
            cost_simple_to_complex=float(rng.uniform(0.1, 10)),
            cost_review=float(rng.uniform(0, 3)),
            max_complex_to_simple=None if rng.random() < 0.3 else float(rng.uniform(0.01, 0.5)),
            max_simple_to_complex=None if rng.random() < 0.3 else float(rng.uniform(0.01, 0.5)),
            gives_way="error_limits" if rng.random() < 0.5 else "capacity",
        )
        result = thresholds_for(summary, policy)
        limits, capacity, cost = _brute_force(summary, policy)
        assert result.predicted.expected_cost_days == pytest.approx(cost, abs=1e-9), trial
        gave = {g.field: g.excess for g in result.gave_way}
        if policy.gives_way == "capacity":
            assert gave.get("max_review", 0.0) == pytest.approx(capacity, abs=1e-9), trial
        else:
            assert max(gave.values(), default=0.0) == pytest.approx(limits, abs=1e-9), trial


def test_capacity_binds_when_reviews_are_worth_more_than_the_desk_can_take():
    p, y = _scores()
    policy = CourtPolicy(max_review=0.15, max_complex_to_simple=None, max_simple_to_complex=None)
    result = thresholds_for(ScoreSummary.from_scores(p, y), policy)
    assert result.feasible
    assert 0.14 < result.predicted.share_review <= 0.15
    # Reviews go where routing is least sure: the band sits around the cost-balancing p.
    t = result.thresholds
    balance = policy.cost_simple_to_complex / (
        policy.cost_simple_to_complex + policy.cost_complex_to_simple
    )
    assert t.simple_below <= balance <= t.complex_from


def test_without_capacity_limits_the_band_is_where_a_review_costs_less_than_the_risk():
    p, y = _scores(n=200_000)
    policy = CourtPolicy(max_review=1.0, max_complex_to_simple=None, max_simple_to_complex=None)
    t = thresholds_for(ScoreSummary.from_scores(p, y), policy).thresholds
    # Calibrated p: route simple while p × 10 days < 0.25 days; complex once (1 − p) × 2 < 0.25.
    assert t.simple_below == pytest.approx(0.025, abs=0.01)
    assert t.complex_from == pytest.approx(0.875, abs=0.02)


def test_what_the_thresholds_predict_is_what_they_do_on_the_same_cases():
    p, y = _scores()
    for policy in (DEFAULT_POLICY, CourtPolicy(max_review=0.05, gives_way="capacity")):
        result = thresholds_for(ScoreSummary.from_scores(p, y), policy)
        actual = forecast(p, y, result.thresholds, policy)
        for name, value in result.predicted.to_dict().items():
            assert getattr(actual, name) == pytest.approx(value, abs=1e-12), name


def test_when_limits_cannot_hold_within_capacity_they_give_way_and_say_by_how_much():
    p, y = _scores(separation=1.0)
    policy = CourtPolicy(max_review=0.05, max_complex_to_simple=0.05, max_simple_to_complex=0.05)
    result = thresholds_for(ScoreSummary.from_scores(p, y), policy)
    assert not result.feasible
    assert result.predicted.share_review <= 0.05  # capacity held
    gave = {g.field: g for g in result.gave_way}
    assert set(gave) <= {"max_complex_to_simple", "max_simple_to_complex"} and gave
    for g in gave.values():
        assert g.excess > 0
        assert g.field in g.describe() and "points" in g.describe()
    assert gave["max_complex_to_simple"].predicted == pytest.approx(
        result.predicted.complex_to_simple
    )


def test_when_capacity_gives_way_the_limits_hold_with_as_few_reviews_as_they_need():
    p, y = _scores(separation=1.0)
    policy = CourtPolicy(
        max_review=0.05,
        max_complex_to_simple=0.05,
        max_simple_to_complex=0.05,
        gives_way="capacity",
    )
    result = thresholds_for(ScoreSummary.from_scores(p, y), policy)
    assert [g.field for g in result.gave_way] == ["max_review"]
    assert result.predicted.complex_to_simple <= 0.05 + _TIE
    assert result.predicted.simple_to_complex <= 0.05 + _TIE
    assert result.gave_way[0].predicted == pytest.approx(result.predicted.share_review)
    # Both limits are used up: fewer reviews would break one.
    assert result.predicted.complex_to_simple > 0.045
    assert result.predicted.simple_to_complex > 0.045


def test_no_constraint_is_ever_broken_silently():
    rng = np.random.default_rng(3)
    p, y = _scores(n=5000, separation=0.8)
    summary = ScoreSummary.from_scores(p, y)
    for _ in range(30):
        policy = CourtPolicy(
            max_review=float(rng.uniform(0.01, 0.5)),
            max_complex_to_simple=float(rng.uniform(0.01, 0.3)),
            max_simple_to_complex=float(rng.uniform(0.01, 0.3)),
            gives_way="error_limits" if rng.random() < 0.5 else "capacity",
        )
        result = thresholds_for(summary, policy)
        named = {g.field for g in result.gave_way}
        predicted = result.predicted
        for field, value, limit in (
            ("max_review", predicted.share_review, policy.max_review),
            ("max_complex_to_simple", predicted.complex_to_simple, policy.max_complex_to_simple),
            ("max_simple_to_complex", predicted.simple_to_complex, policy.max_simple_to_complex),
        ):
            assert value <= limit + _TIE or field in named, (policy, field)


def test_reviews_are_not_spent_where_they_are_worth_less_than_they_cost():
    p, y = _scores(n=100_000, separation=12)
    result = thresholds_for(ScoreSummary.from_scores(p, y), DEFAULT_POLICY)
    assert result.feasible
    assert result.predicted.share_review < DEFAULT_POLICY.max_review - 0.01  # capacity left
    assert result.thresholds.simple_below == pytest.approx(0.025, abs=0.01)
    assert result.thresholds.complex_from == pytest.approx(0.875, abs=0.03)
    # Reviews cost nothing: every case the model is unsure of goes to a person, up to capacity.
    free = CourtPolicy(cost_review=0.0, max_review=0.5)
    assert thresholds_for(ScoreSummary.from_scores(p, y), free).predicted.share_review > 0.3
