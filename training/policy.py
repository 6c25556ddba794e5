"""Routing policy: from a calibrated ``p_complex`` to simple, complex or review.

A court states what it can tolerate — e.g. *at most 10 % of truly complex
cases may be routed to the simple stream* (they would stall there) and *at
most 25 % of truly simple cases may be routed to the complex stream* (they
would waste a specialist's time).  Two thresholds are chosen on validation
data so that the cases routed outside the review band meet both limits; the
cases in between go to a person.  When the model separates the classes well
enough, the band closes and no case needs review.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

STREAMS = ("simple", "complex", "review")


class RoutingPolicy(BaseModel):
    """What the court tolerates; configuration, logged with every stream model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_complex_to_simple: float = Field(
        0.10,
        gt=0,
        lt=1,
        description="Share of truly complex cases that may go to the simple stream.",
    )
    max_simple_to_complex: float = Field(
        0.25,
        gt=0,
        lt=1,
        description="Share of truly simple cases that may go to the complex stream.",
    )


@dataclass(frozen=True)
class RoutingThresholds:
    """Thresholds on calibrated ``p_complex``: simple below, complex at or above."""

    simple_below: float
    complex_from: float

    def route(self, p_complex: np.ndarray) -> np.ndarray:
        """Stream name of each case (an array of ``simple``/``complex``/``review``)."""
        p_complex = np.asarray(p_complex, dtype=float)
        return np.where(
            p_complex < self.simple_below,
            "simple",
            np.where(p_complex >= self.complex_from, "complex", "review"),
        )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


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
