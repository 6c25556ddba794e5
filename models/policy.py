"""A court's routing policy in its own terms, and the thresholds that carry it out.

A court does not think in thresholds on ``p_complex``.  It knows how many new
cases its review desk can look at (:attr:`CourtPolicy.max_review`), what a
misrouted case costs it in days, and perhaps a limit it has promised on each
error.  :func:`thresholds_for` turns that into the two thresholds that
minimise the expected cost per case subject to the capacity and the limits,
from a compact summary of the stream model's calibrated validation scores and
their labels (:class:`ScoreSummary`, stored with each stream model version),
so a policy's thresholds are recomputed in milliseconds without retraining.

What one routing costs, per case (the unit is days):

- a truly complex case routed *simple* costs ``cost_complex_to_simple``: it
  stalls in the simple stream until it must be passed on;
- a truly simple case routed *complex* costs ``cost_simple_to_complex``:
  specialist time spent where the simple procedure would have done;
- a case routed to *review* costs ``cost_review`` (one person reading the
  file) and is then routed right: the review desk is taken to be correct.

When capacity and limits cannot all hold, the policy's :attr:`gives_way`
says which yields, and the result names each constraint that gave way and by
how much (:class:`GiveWay`) — never a silent violation.

Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.routing import STREAMS, RoutingThresholds

__all__ = [
    "DEFAULT_POLICY",
    "SUMMARY_BINS",
    "CourtPolicy",
    "GiveWay",
    "PolicyError",
    "PolicyThresholds",
    "RoutingForecast",
    "ScoreSummary",
    "forecast",
    "parse_policy",
    "thresholds_for",
]

#: Bins of the validation-score summary: 1,000 equal bins of width 0.001 on [0, 1].
#: Thresholds fall on bin edges, so the review share they give can miss the
#: capacity by at most the share of cases in one bin: at demo size (30,000
#: validation cases) the fullest bin inside the usual review band holds well
#: under 0.5 % of cases, far inside the ±2 points a court can notice, and the
#: sampling error of any share measured on 30,000 cases (±0.5 points) is larger.
#: Finer bins buy nothing; the summary stays ~10 kB of JSON in ``model.json``.
SUMMARY_BINS: Final = 1000

Yielding = Literal["error_limits", "capacity"]


class PolicyError(ValueError):
    """A policy refused: the message names each field and what was wrong with it."""


class CourtPolicy(BaseModel):
    """How a court wants its new cases routed, in its own terms.

    The defaults are the national default policy; each states its reasoning.
    A court sets the fields it cares about (``triage policy set``); the others
    keep the values of the policy in force above it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_review: float = Field(
        0.20,
        description=(
            "Largest share of new cases the review desk can take, in (0, 1]. Default 0.20: "
            "about what today's two error limits needed on `make demo`'s data (21.6 %), and "
            "one case in five is what a desk of two judges can read beside their own files. "
            "With `review_per_day` set, this is the capacity only until the court's intake is "
            "known."
        ),
    )
    review_per_day: float | None = Field(
        None,
        description=(
            "Optionally the review capacity in cases per day (a positive number; unset by "
            "default). When set it is the capacity: the service divides it by the court's "
            "recent intake (distinct new cases per day of that court over the last 28 whole "
            "days of the decision log) and reviews at most that share of new cases, "
            "`min(1, review_per_day / intake)`. Set for a province or the nation it is what "
            "each court's desk can take, applied with each court's own intake. Until a court "
            "has 7 days of decisions in the window, `max_review` applies and responses say so "
            "(see models.review_capacity)."
        ),
    )
    cost_complex_to_simple: float = Field(
        10.0,
        description=(
            "Days lost when a truly complex case is routed simple. Default 10: published "
            "practice gives the simple stream 20–45 days per case and requires a case found "
            "not to be simple to be passed on within 10 days, so a misrouted complex case "
            "loses up to those 10 days before the complex team starts on it."
        ),
    )
    cost_simple_to_complex: float = Field(
        2.0,
        description=(
            "Days of specialist work spent when a truly simple case is routed complex. "
            "Default 2: the complex stream's full procedure (searches, controls, interviews) "
            "on a case the simple stream would close with a fraction of it."
        ),
    )
    cost_review: float = Field(
        0.25,
        description=(
            "Days of work of one review (a judge reads the file and routes it). Default "
            "0.25: about two hours."
        ),
    )
    max_complex_to_simple: float | None = Field(
        0.10,
        description=(
            "Optional hard limit on the share of truly complex cases routed simple, in (0, 1). "
            "Default 0.10, the limit training used before court policies."
        ),
    )
    max_simple_to_complex: float | None = Field(
        0.25,
        description=(
            "Optional hard limit on the share of truly simple cases routed complex, in (0, 1). "
            "Default 0.25, the limit training used before court policies."
        ),
    )
    gives_way: Yielding = Field(
        "error_limits",
        description=(
            "What yields when capacity and limits cannot all hold. Default `error_limits`: "
            "cases sent beyond the desk's capacity would wait unread — the very stall the "
            "limits guard against — so the errors are kept as close to their limits as the "
            "capacity allows; `capacity` keeps the limits and reviews as few cases beyond "
            "capacity as they need."
        ),
    )

    @field_validator("max_review")
    @classmethod
    def _share(cls, value: float) -> float:
        if not 0 < value <= 1:  # NaN fails too
            raise ValueError(f"must be in (0, 1], got {value}")
        return value

    @field_validator("review_per_day")
    @classmethod
    def _per_day(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value < math.inf:  # NaN fails too
            raise ValueError(f"must be a positive number of cases per day or unset, got {value}")
        return value

    @field_validator("max_complex_to_simple", "max_simple_to_complex")
    @classmethod
    def _limit(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value < 1:
            raise ValueError(f"must be in (0, 1) or unset, got {value}")
        return value

    @field_validator("cost_complex_to_simple", "cost_simple_to_complex", "cost_review")
    @classmethod
    def _cost(cls, value: float) -> float:
        if not 0 <= value < math.inf:
            raise ValueError(f"must be a number of days, 0 or more, got {value}")
        return value

    @model_validator(mode="after")
    def _some_error_costs(self) -> CourtPolicy:
        if self.cost_complex_to_simple == 0 and self.cost_simple_to_complex == 0:
            raise ValueError(
                "cost_complex_to_simple, cost_simple_to_complex: at least one must be above 0, "
                "or no routing is better than another"
            )
        return self


#: The national default, in force where no province or court has a policy of its own.
DEFAULT_POLICY: Final = CourtPolicy()


def parse_policy(fields: Mapping[str, Any]) -> CourtPolicy:
    """A :class:`CourtPolicy` from plain fields; :class:`PolicyError` naming each bad field.

    ``max_review: must be in (0, 1], got 1.5`` rather than pydantic's report.
    """
    try:
        return CourtPolicy.model_validate(dict(fields))
    except ValidationError as error:
        raise PolicyError("; ".join(_problem(e) for e in error.errors())) from None


def _problem(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()))
    if error.get("type") == "value_error":
        message = str(error.get("ctx", {}).get("error", error.get("msg", "")))
        # A whole-policy check names its own fields.
        return message if not where else f"{where}: {message}"
    if error.get("type") == "extra_forbidden":
        return f"{where}: not a policy field (the fields are {', '.join(CourtPolicy.model_fields)})"
    return f"{where}: {str(error.get('msg', 'invalid')).lower()}, got {error.get('input')!r}"


# --------------------------------------------------------------------------
# The validation-score summary
# --------------------------------------------------------------------------


class ScoreSummary(BaseModel):
    """Calibrated scores of labelled cases, binned: what thresholds are computed from.

    ``complex[k]`` and ``simple[k]`` count the truly complex and truly simple
    cases whose calibrated ``p_complex`` falls in bin ``k`` (``[k/bins,
    (k+1)/bins)``, the last bin closed).  Counts may be fractional: with the
    generator's true probabilities as soft labels the same summary describes
    the best possible routing.  Only counts: no case, no personal data.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bins: int = Field(SUMMARY_BINS, ge=2, description="Equal-width bins on [0, 1].")
    # Whole counts stay ints (short in model.json); soft labels give floats.
    complex: list[int | float] = Field(description="Truly complex cases per bin.")
    simple: list[int | float] = Field(description="Truly simple cases per bin.")

    @model_validator(mode="after")
    def _consistent(self) -> ScoreSummary:
        if len(self.complex) != self.bins or len(self.simple) != self.bins:
            raise ValueError(f"complex and simple must have {self.bins} counts each")
        if min(self.complex) < 0 or min(self.simple) < 0:
            raise ValueError("counts must not be negative")
        if sum(self.complex) <= 0 or sum(self.simple) <= 0:
            raise ValueError("a summary needs both complex and simple cases")
        return self

    @classmethod
    def from_scores(
        cls, p_complex: npt.ArrayLike, is_complex: npt.ArrayLike, *, bins: int = SUMMARY_BINS
    ) -> ScoreSummary:
        """The summary of scores and labels (0/1, or probabilities as soft labels)."""
        p = np.clip(np.asarray(p_complex, dtype=float), 0.0, 1.0)
        weight = np.asarray(is_complex, dtype=float)
        if p.shape != weight.shape:
            raise ValueError("p_complex and is_complex must have the same length")
        if np.isnan(p).any() or np.isnan(weight).any():
            raise ValueError("scores and labels must not be missing")
        # Bin k holds edges[k] <= p < edges[k + 1], exactly as RoutingThresholds.route
        # splits at an edge; p = 1 joins the last bin.
        edges = np.linspace(0.0, 1.0, bins + 1)
        k = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1).astype(np.intp)
        complex_ = np.bincount(k, weights=weight, minlength=bins).astype(np.float64)
        simple = np.bincount(k, weights=1.0 - weight, minlength=bins).astype(np.float64)
        # Integer labels give whole counts: stored as such they stay short in model.json.
        as_numbers = _whole if np.all(np.isin(weight, (0.0, 1.0))) else _floats
        try:
            return cls(bins=bins, complex=as_numbers(complex_), simple=as_numbers(simple))
        except ValidationError as error:
            raise ValueError(str(error.errors()[0]["msg"]).removeprefix("Value error, ")) from None

    @property
    def n(self) -> float:
        """Cases summarised."""
        return float(sum(self.complex) + sum(self.simple))

    def edges(self) -> npt.NDArray[np.float64]:
        """The ``bins + 1`` bin edges, 0 … 1: the places a threshold can take."""
        return np.linspace(0.0, 1.0, self.bins + 1)


def _whole(counts: npt.NDArray[np.float64]) -> list[int | float]:
    return [round(float(c)) for c in counts]


def _floats(counts: npt.NDArray[np.float64]) -> list[int | float]:
    return [float(c) for c in counts]


# --------------------------------------------------------------------------
# Thresholds for a policy
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutingForecast:
    """What thresholds do to the summarised cases: shares, error rates, cost per case."""

    share_simple: float
    share_review: float
    share_complex: float
    complex_to_simple: float
    simple_to_complex: float
    expected_cost_days: float

    def to_dict(self) -> dict[str, float]:
        """As results, the card and (later) responses carry it."""
        return {
            "share_simple": self.share_simple,
            "share_review": self.share_review,
            "share_complex": self.share_complex,
            "complex_to_simple": self.complex_to_simple,
            "simple_to_complex": self.simple_to_complex,
            "expected_cost_days": self.expected_cost_days,
        }


@dataclass(frozen=True)
class GiveWay:
    """One constraint of the policy the thresholds could not meet, and by how much."""

    field: str
    limit: float
    predicted: float

    @property
    def excess(self) -> float:
        return self.predicted - self.limit

    def describe(self) -> str:
        """``max_complex_to_simple gives way: 12.4 % predicted against its limit 10.0 % (+2.4 points)``."""
        return (
            f"{self.field} gives way: {self.predicted:.1%} predicted against its limit "
            f"{self.limit:.1%} (+{self.excess * 100:.1f} points)"
        )


@dataclass(frozen=True)
class PolicyThresholds:
    """The thresholds a policy gives with one model, what they predict, and what gave way."""

    policy: CourtPolicy
    thresholds: RoutingThresholds
    predicted: RoutingForecast
    gave_way: tuple[GiveWay, ...] = ()
    max_review: float = 1.0  # the capacity used: the policy's, or its per-day share

    @property
    def feasible(self) -> bool:
        """Whether capacity and limits all hold on the summarised cases."""
        return not self.gave_way

    def to_dict(self) -> dict[str, object]:
        return {
            "thresholds": self.thresholds.to_dict(),
            "predicted": self.predicted.to_dict(),
            "gave_way": [g.describe() for g in self.gave_way],
            "max_review": self.max_review,
        }


#: Two routings whose cost or excess differ by less than this are equal (float noise).
_TIE: Final = 1e-12


def thresholds_for(
    summary: ScoreSummary, policy: CourtPolicy, *, capacity: float | None = None
) -> PolicyThresholds:
    """The thresholds of least expected cost under ``policy``'s capacity and limits.

    ``capacity`` is the review share to hold (default ``policy.max_review``):
    a per-day capacity turned into a share with the court's intake
    (:func:`models.review_capacity.review_capacity`).

    Thresholds sit on bin edges: simple below edge ``i``, complex from edge
    ``j`` (``i ≤ j``), review in between.  The cost per case splits into a
    part of ``i`` and a part of ``j``; the limits bound ``i`` from above and
    ``j`` from below, and the capacity bounds ``i`` from below for each
    ``j``.  So for each ``j`` the best ``i`` is a minimum over a range of
    edges (a sparse table answers all of them at once): a few thousand
    operations, well under a millisecond's numpy work per step.

    When no pair meets capacity and limits, ``policy.gives_way`` yields:
    the error limits (their largest excess as small as the capacity allows,
    then the cheapest) or the capacity (the fewest reviews that meet the
    limits, then the cheapest); :attr:`PolicyThresholds.gave_way` says by
    how much.  Equal costs go to the narrower review band.
    """
    if capacity is None:
        capacity = policy.max_review
    if not 0 <= capacity <= 1:  # 0: no review at all (the trade-off curve starts there)
        raise ValueError(f"capacity: must be in [0, 1], got {capacity}")
    counts = _Cumulative.of(summary)
    limit_cs, limit_sc = policy.max_complex_to_simple, policy.max_simple_to_complex
    found = counts.cheapest(policy, capacity, limit_cs, limit_sc)
    if found is None and policy.gives_way == "error_limits":
        # Both limits are relaxed by the least excess the capacity allows.
        least = counts.least_excess(capacity, limit_cs, limit_sc)
        found = counts.cheapest(
            policy,
            capacity,
            None if limit_cs is None else limit_cs + least,
            None if limit_sc is None else limit_sc + least,
        )
    elif found is None:
        found = counts.cheapest(policy, counts.least_review(limit_cs, limit_sc), limit_cs, limit_sc)
    assert found is not None, "relaxed constraints always admit a routing"
    i, j = found
    edges = summary.edges()
    # At the top edge nothing is complex, p = 1 included (the last bin is closed).
    complex_from = float(edges[j]) if j < summary.bins else float(np.nextafter(1.0, 2.0))
    thresholds = RoutingThresholds(simple_below=float(edges[i]), complex_from=complex_from)
    predicted = counts.forecast(policy, i, j)
    gave_way = []
    if predicted.share_review > capacity + _TIE:
        gave_way.append(GiveWay("max_review", capacity, predicted.share_review))
    for field, limit, rate in (
        ("max_complex_to_simple", limit_cs, predicted.complex_to_simple),
        ("max_simple_to_complex", limit_sc, predicted.simple_to_complex),
    ):
        if limit is not None and rate > limit + _TIE:
            gave_way.append(GiveWay(field, limit, rate))
    return PolicyThresholds(
        policy=policy,
        thresholds=thresholds,
        predicted=predicted,
        gave_way=tuple(gave_way),
        max_review=capacity,
    )


@dataclass(frozen=True)
class _Cumulative:
    """Cumulative counts below each bin edge: everything a pair of thresholds does."""

    complex: npt.NDArray[np.float64]  # [k]: truly complex cases below edge k
    simple: npt.NDArray[np.float64]
    all: npt.NDArray[np.float64]
    n_complex: float
    n_simple: float
    n: float

    @classmethod
    def of(cls, summary: ScoreSummary) -> _Cumulative:
        complex_ = np.concatenate([[0.0], np.cumsum(np.asarray(summary.complex, dtype=float))])
        simple = np.concatenate([[0.0], np.cumsum(np.asarray(summary.simple, dtype=float))])
        return cls(
            complex=complex_,
            simple=simple,
            all=complex_ + simple,
            n_complex=float(complex_[-1]),
            n_simple=float(simple[-1]),
            n=float(complex_[-1] + simple[-1]),
        )

    def complex_to_simple(self) -> npt.NDArray[np.float64]:
        """By the simple threshold's edge ``i``: share of complex cases routed simple."""
        return self.complex / self.n_complex

    def simple_to_complex(self) -> npt.NDArray[np.float64]:
        """By the complex threshold's edge ``j``: share of simple cases routed complex."""
        return (self.n_simple - self.simple) / self.n_simple

    def lowest_simple_edge(self, capacity: float) -> npt.NDArray[np.int64]:
        """By ``j``: the lowest ``i`` whose review band [i, j) stays within ``capacity``."""
        floor = self.all - capacity * self.n - _TIE * self.n
        return np.searchsorted(self.all, floor, side="left").astype(np.int64)

    def cheapest(
        self,
        policy: CourtPolicy,
        capacity: float,
        limit_cs: float | None,
        limit_sc: float | None,
    ) -> tuple[int, int] | None:
        """The least costly ``(i, j)`` within capacity and limits, or None when none is."""
        edges = len(self.all)
        # cost(i, j) = part_i[i] + part_j[j], per case times n.
        part_i = policy.cost_complex_to_simple * self.complex - policy.cost_review * self.all
        part_j = (
            policy.cost_simple_to_complex * (self.n_simple - self.simple)
            + policy.cost_review * self.all
        )
        top_i = edges - 1
        if limit_cs is not None:
            top_i = int(np.searchsorted(self.complex_to_simple(), limit_cs + _TIE, "right")) - 1
        j_from = 0
        if limit_sc is not None:
            j_from = int(np.argmax(self.simple_to_complex() <= limit_sc + _TIE))
        j = np.arange(j_from, edges)
        low = self.lowest_simple_edge(capacity)[j]
        high = np.minimum(j, top_i)
        ok = low <= high
        if not ok.any():
            return None
        j, low, high = j[ok], low[ok], high[ok]
        i = _range_argmin(part_i, low, high)
        total = part_i[i] + part_j[j]
        tied = np.flatnonzero(total <= total.min() + _TIE * self.n)
        width = self.all[j[tied]] - self.all[i[tied]]
        pick = tied[np.lexsort((j[tied], width))[0]]
        return int(i[pick]), int(j[pick])

    def least_excess(
        self, capacity: float, limit_cs: float | None, limit_sc: float | None
    ) -> float:
        """The smallest largest excess over the limits any routing within capacity has."""
        excess_cs = (
            np.zeros(len(self.all))
            if limit_cs is None
            else np.maximum(self.complex_to_simple() - limit_cs, 0.0)
        )
        excess_sc = (
            np.zeros(len(self.all))
            if limit_sc is None
            else np.maximum(self.simple_to_complex() - limit_sc, 0.0)
        )
        # For each j the lowest i allowed routes the fewest complex cases simple.
        low = self.lowest_simple_edge(capacity)
        return float(np.maximum(excess_cs[low], excess_sc).min())

    def least_review(self, limit_cs: float | None, limit_sc: float | None) -> float:
        """The smallest review share that meets both limits (full review always does)."""
        top_i = len(self.all) - 1
        if limit_cs is not None:
            top_i = int(np.searchsorted(self.complex_to_simple(), limit_cs + _TIE, "right")) - 1
        j_from = 0
        if limit_sc is not None:
            j_from = int(np.argmax(self.simple_to_complex() <= limit_sc + _TIE))
        return max(float(self.all[j_from] - self.all[top_i]) / self.n, 0.0)

    def forecast(self, policy: CourtPolicy, i: int, j: int) -> RoutingForecast:
        review = float(self.all[j] - self.all[i])
        routed_simple_wrong = float(self.complex[i])
        routed_complex_wrong = float(self.n_simple - self.simple[j])
        return RoutingForecast(
            share_simple=float(self.all[i]) / self.n,
            share_review=review / self.n,
            share_complex=float(self.n - self.all[j]) / self.n,
            complex_to_simple=routed_simple_wrong / self.n_complex,
            simple_to_complex=routed_complex_wrong / self.n_simple,
            expected_cost_days=(
                policy.cost_complex_to_simple * routed_simple_wrong
                + policy.cost_simple_to_complex * routed_complex_wrong
                + policy.cost_review * review
            )
            / self.n,
        )


def _range_argmin(
    values: npt.NDArray[np.float64], low: npt.NDArray[np.int64], high: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """For each range ``[low, high]`` the index of its smallest value (ties: the highest index).

    A sparse table: the argmin of every range of length 2^k, then each query
    is two overlapping ranges of the largest such length.
    """
    size = len(values)
    table = [np.arange(size)]
    length = 1
    while 2 * length <= size:
        previous = table[-1]
        left, right = previous[: size - 2 * length + 1], previous[length : size - length + 1]
        table.append(np.where(values[right] <= values[left], right, left))
        length *= 2
    span = high - low + 1
    level = np.floor(np.log2(span)).astype(np.int64)
    left = np.empty_like(low)
    right = np.empty_like(low)
    for k in np.unique(level):
        at = level == k
        left[at] = table[k][low[at]]
        right[at] = table[k][high[at] - (1 << int(k)) + 1]
    return np.where(values[right] <= values[left], right, left)


def forecast(
    p_complex: npt.ArrayLike,
    is_complex: npt.ArrayLike,
    thresholds: RoutingThresholds,
    policy: CourtPolicy,
) -> RoutingForecast:
    """What ``thresholds`` do to scored cases with their labels (0/1, or true probabilities).

    With true probabilities as ``is_complex`` the error rates and cost are
    the expected ones — how the best possible routing is priced.
    """
    p = np.asarray(p_complex, dtype=float)
    y = np.asarray(is_complex, dtype=float)
    streams = thresholds.route(p)
    shares = {s: float(np.mean(streams == s)) for s in STREAMS}
    to_simple, to_complex = streams == "simple", streams == "complex"
    n_complex, n_simple = y.sum(), (1.0 - y).sum()
    cost = (
        policy.cost_complex_to_simple * (y * to_simple).sum()
        + policy.cost_simple_to_complex * ((1.0 - y) * to_complex).sum()
        + policy.cost_review * (streams == "review").sum()
    ) / len(p)
    return RoutingForecast(
        share_simple=shares["simple"],
        share_review=shares["review"],
        share_complex=shares["complex"],
        complex_to_simple=float((y * to_simple).sum() / n_complex) if n_complex else math.nan,
        simple_to_complex=float(((1.0 - y) * to_complex).sum() / n_simple)
        if n_simple
        else math.nan,
        expected_cost_days=float(cost),
    )
