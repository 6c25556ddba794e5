"""The trade-off a court chooses from: review capacity against errors and cost.

A court sizes its review desk; every size gives other thresholds, another
share of each error and another expected cost per case.  :func:`tradeoff_curve`
computes, for a policy and the stream model's validation summary, what the
policy would do at each capacity of a grid — the same least-cost thresholds
:func:`models.policy.thresholds_for` gives, with only the capacity changed —
so the model card, ``GET /v1/policy/tradeoff`` and the dashboard's what-if
show one curve.

Pure: no I/O, no clock; 51 capacities take some tens of milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from models.policy import CourtPolicy, PolicyThresholds, ScoreSummary, thresholds_for

__all__ = ["CURVE_CAPACITIES", "TradeoffPoint", "tradeoff_curve"]

#: Review capacities of the curve: 0 to 50 % of new cases in steps of one point.  Beyond
#: half the cases a review desk is no longer triage's help but its replacement.
CURVE_CAPACITIES: Final = tuple(round(k / 100, 2) for k in range(51))


@dataclass(frozen=True)
class TradeoffPoint:
    """What the policy would do with a review capacity of ``capacity`` (share of new cases)."""

    capacity: float
    chosen: PolicyThresholds

    def to_dict(self) -> dict[str, object]:
        """One row of the curve: capacity, thresholds, predicted shares, errors, cost, what gave way."""
        predicted = self.chosen.predicted
        return {
            "capacity": self.capacity,
            "simple_below": self.chosen.thresholds.simple_below,
            "complex_from": self.chosen.thresholds.complex_from,
            **predicted.to_dict(),
            "gave_way": [g.describe() for g in self.chosen.gave_way],
        }


def tradeoff_curve(
    summary: ScoreSummary,
    policy: CourtPolicy,
    capacities: Sequence[float] = CURVE_CAPACITIES,
) -> list[TradeoffPoint]:
    """The policy's least-cost routing at each review capacity (shares in [0, 1]).

    Costs, error limits and what gives way are the policy's; only the
    capacity changes (a per-day capacity is dropped: the capacity *is* the
    share here).  A capacity of 0 is allowed, unlike in a policy: it is the
    point "no review desk at all" of the curve.
    """
    points = []
    for capacity in capacities:
        if not 0 <= capacity <= 1:
            raise ValueError(f"capacity: must be a share in [0, 1], got {capacity}")
        # model_copy does not validate: capacity 0 (no desk) is a point of the curve.
        at = policy.model_copy(update={"max_review": float(capacity)})
        points.append(TradeoffPoint(float(capacity), thresholds_for(summary, at)))
    return points
