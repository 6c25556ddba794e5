"""Choosing the routing thresholds of a stream model on validation data.

A court states what it can tolerate (:class:`models.routing.RoutingPolicy`);
two thresholds are chosen on validation data so that the cases routed outside
the review band meet both limits; the cases in between go to a person.  When
the model separates the classes well enough, the band closes and no case
needs review.
"""

from __future__ import annotations

import numpy as np

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
