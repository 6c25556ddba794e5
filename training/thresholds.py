"""Choosing the routing thresholds of a stream model on validation data.

A stream model's own thresholds are those of the national default court
policy (:mod:`models.policy`): least expected cost within a review capacity,
keeping training's two error limits (:class:`models.routing.RoutingPolicy`)
as its hard limits where the capacity allows.  The model keeps the summary
of its validation scores they were computed from, so any court's policy gets
its own thresholds later without retraining.  With the generator's truth,
:func:`cost_against_bayes` prices the routing against the best possible one.

:func:`choose_thresholds` is the rule before court policies (the widest
streams that meet both limits, however many cases that leaves to review):
kept for comparison.
"""

from __future__ import annotations

import numpy as np

from models.policy import (
    DEFAULT_POLICY,
    CourtPolicy,
    PolicyThresholds,
    ScoreSummary,
    forecast,
    parse_policy,
    thresholds_for,
)
from models.routing import STREAMS, RoutingPolicy, RoutingThresholds


def choose_thresholds(
    is_complex: np.ndarray, p_complex: np.ndarray, policy: RoutingPolicy
) -> RoutingThresholds:
    """The widest simple and complex streams that still meet ``policy`` on this data."""
    y = np.asarray(is_complex, dtype=bool)
    p = np.asarray(p_complex, dtype=float)
    if y.all() or not y.any():
        raise ValueError("choosing routing thresholds needs both complex and simple cases")
    complex_scores = np.sort(p[y])
    simple_scores = np.sort(p[~y])[::-1]
    # Cases strictly below complex_scores[k] are at most k truly complex ones.
    k_complex = int(np.floor(policy.max_complex_to_simple * len(complex_scores)))
    simple_below = float(complex_scores[min(k_complex, len(complex_scores) - 1)])
    # Cases at or above just-above simple_scores[k] are at most k truly simple ones.
    k_simple = int(np.floor(policy.max_simple_to_complex * len(simple_scores)))
    complex_from = float(np.nextafter(simple_scores[min(k_simple, len(simple_scores) - 1)], 2.0))
    if complex_from <= simple_below:
        # The streams overlap: any cut in between meets both limits; no review band.
        cut = (complex_from + simple_below) / 2
        return RoutingThresholds(simple_below=cut, complex_from=cut)
    return RoutingThresholds(simple_below=simple_below, complex_from=complex_from)


def routing_outcome(
    is_complex: np.ndarray, p_complex: np.ndarray, thresholds: RoutingThresholds
) -> dict[str, float]:
    """Stream shares and the two error rates the policy limits, on labelled cases."""
    y = np.asarray(is_complex, dtype=bool)
    streams = thresholds.route(p_complex)
    outcome = {f"share_{s}": float(np.mean(streams == s)) for s in STREAMS}
    outcome["complex_to_simple"] = float(np.mean(streams[y] == "simple")) if y.any() else np.nan
    outcome["simple_to_complex"] = (
        float(np.mean(streams[~y] == "complex")) if (~y).any() else np.nan
    )
    return outcome


# --------------------------------------------------------------------------
# Court policies (models.policy): the default thresholds and the best possible
# --------------------------------------------------------------------------


def default_court_policy(limits: RoutingPolicy) -> CourtPolicy:
    """The national default policy, with training's two error limits as its hard limits.

    ``triage train --max-complex-to-simple …`` still sets the limits the
    stream model's own thresholds keep.
    """
    return parse_policy(
        DEFAULT_POLICY.model_dump()
        | {
            "max_complex_to_simple": limits.max_complex_to_simple,
            "max_simple_to_complex": limits.max_simple_to_complex,
        }
    )


def policy_thresholds(
    is_complex: np.ndarray, p_complex: np.ndarray, policy: CourtPolicy
) -> tuple[ScoreSummary, PolicyThresholds]:
    """The validation summary a stream model keeps, and ``policy``'s thresholds from it."""
    y = np.asarray(is_complex, dtype=bool)
    if y.all() or not y.any():
        raise ValueError("choosing routing thresholds needs both complex and simple cases")
    summary = ScoreSummary.from_scores(p_complex, y)
    return summary, thresholds_for(summary, policy)


def cost_against_bayes(
    p_complex: np.ndarray,
    p_true: np.ndarray,
    thresholds: RoutingThresholds,
    policy: CourtPolicy,
) -> dict[str, float]:
    """Expected cost of the model's routing over the Bayes-optimal routing's, same capacity.

    Both are priced with the true probabilities (expected days per case, not
    one draw of the labels).  The Bayes-optimal routing puts thresholds on the
    true ``p_complex`` under the same policy, with the review share the
    model's thresholds actually gave on these cases as its capacity: the
    same number of reviews, spent as well as they can be.
    """
    p_true = np.asarray(p_true, dtype=float)
    model = forecast(p_complex, p_true, thresholds, policy)
    capacity = min(max(model.share_review, 1e-6), 1.0)
    best = thresholds_for(
        ScoreSummary.from_scores(p_true, p_true),
        parse_policy(policy.model_dump() | {"max_review": capacity}),
    )
    return {
        "share_review": model.share_review,
        "model_cost_days": model.expected_cost_days,
        "bayes_cost_days": best.predicted.expected_cost_days,
        "cost_ratio": model.expected_cost_days / best.predicted.expected_cost_days,
        "model_complex_to_simple": model.complex_to_simple,
        "model_simple_to_complex": model.simple_to_complex,
        "bayes_complex_to_simple": best.predicted.complex_to_simple,
        "bayes_simple_to_complex": best.predicted.simple_to_complex,
    }


#: Review capacities at which the card prices the routing against the Bayes-optimal one.
BAYES_CURVE_CAPACITIES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


def cost_curve_against_bayes(
    p_complex: np.ndarray,
    p_true: np.ndarray,
    summary: ScoreSummary,
    policy: CourtPolicy,
    capacities: tuple[float, ...] = BAYES_CURVE_CAPACITIES,
) -> list[dict[str, float]]:
    """:func:`cost_against_bayes` at each review capacity: the curve of the issue's ratio.

    At each capacity the model's thresholds are the least-cost ones for the
    policy with that capacity, from its validation summary (what a court
    setting that capacity would get); they are priced on ``p_complex`` (the
    test cases) with the true probabilities, against the Bayes-optimal
    routing with as many reviews.
    """
    curve = []
    for capacity in capacities:
        at = parse_policy(policy.model_dump() | {"max_review": capacity})
        cost = cost_against_bayes(p_complex, p_true, thresholds_for(summary, at).thresholds, at)
        curve.append(
            {"capacity": capacity}
            | {k: cost[k] for k in ("share_review", "model_cost_days", "bayes_cost_days")}
            | {"cost_ratio": cost["cost_ratio"]}
        )
    return curve


def policy_curve_on_cases(
    summary: ScoreSummary,
    policy: CourtPolicy,
    p_complex: np.ndarray,
    is_complex: np.ndarray,
    p_true: np.ndarray,
    capacities: tuple[float, ...] = BAYES_CURVE_CAPACITIES,
) -> list[dict[str, float]]:
    """At each review capacity: what the policy predicted, what happened, and the cost ratio.

    The thresholds are the policy's at that capacity from the model's
    validation summary (what a court setting it would get); on ``p_complex``
    — cases the model never saw, ideally newer — the realised review share
    and error rates (with the drawn labels) stand beside the predicted ones,
    and the expected cost (with the true probabilities) over the
    Bayes-optimal routing's with as many reviews (:func:`cost_against_bayes`).
    `make bench` (benchmarks/bench_policy.py) and the evaluation notebook print it.
    """
    rows = []
    for capacity in capacities:
        at = parse_policy(policy.model_dump() | {"max_review": capacity})
        chosen = thresholds_for(summary, at)
        realised = routing_outcome(is_complex, p_complex, chosen.thresholds)
        cost = cost_against_bayes(p_complex, p_true, chosen.thresholds, at)
        rows.append(
            {
                "capacity": capacity,
                "predicted_share_review": chosen.predicted.share_review,
                "share_review": realised["share_review"],
                "predicted_complex_to_simple": chosen.predicted.complex_to_simple,
                "complex_to_simple": realised["complex_to_simple"],
                "predicted_simple_to_complex": chosen.predicted.simple_to_complex,
                "simple_to_complex": realised["simple_to_complex"],
                "model_cost_days": cost["model_cost_days"],
                "bayes_cost_days": cost["bayes_cost_days"],
                "cost_ratio": cost["cost_ratio"],
            }
        )
    return rows
