"""A review desk's capacity in cases per day, as the share of new cases it can take.

A court may state its review capacity as a share of new cases
(:attr:`~models.policy.CourtPolicy.max_review`) or in cases per day
(:attr:`~models.policy.CourtPolicy.review_per_day`): a desk knows how many
files its judges can read in a day, not what share of an intake it does not
control that is.  Thresholds need a share, so a per-day capacity is divided by
the court's recent intake — new cases per day, measured from the decision log
(:class:`CourtIntake`) — and capped at 1: ``share = min(1, review_per_day /
intake_per_day)``.

The intake is that of the case's own court, whichever scope the policy is set
for: a review desk sits in a court, so a province's or the nation's
``review_per_day`` is what *each* of its courts' desks can take, and each
court's share follows its own intake.

Until a court has an intake (no decision of it in the window, or fewer than
:data:`MIN_DAYS_OBSERVED` days of them, or no measurement at all: a built
Bento, `triage score`), the policy's ``max_review`` applies, and
:class:`ReviewCapacity` says so in its ``note`` — a response's ``policy``
block carries it; it is never silent.

Everything here is pure: the measuring (SQL) is :mod:`serving.intake`'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from models.policy import CourtPolicy

__all__ = [
    "INTAKE_WINDOW_DAYS",
    "MIN_DAYS_OBSERVED",
    "CourtIntake",
    "ReviewCapacity",
    "intake_from_counts",
    "intake_window",
    "review_capacity",
]

#: The trailing window an intake is the mean of: four whole weeks, so weekdays and
#: weekends weigh as they do in a court's month, and one busy day moves it by ~4 %.
INTAKE_WINDOW_DAYS: Final = 28
#: Fewer days of a court's decisions than this and its mean is too noisy to size a desk
#: by (one week: a court's weekly rhythm at least once); its max_review applies meanwhile.
MIN_DAYS_OBSERVED: Final = 7


@dataclass(frozen=True, eq=False)
class CourtIntake:
    """New cases per day of each court over a window of whole UTC days of the decision log.

    ``cases[court]`` counts the distinct ``case_id``s of the court decided in
    the window (a case triaged twice is one new case); ``days[court]`` is the
    number of days from the court's first decision in the window through its
    last day (a court that joined the service mid-window is not diluted by the
    days before it did).  Whole days ending yesterday: the numbers change once
    a day, not with every decision, so thresholds are recomputed once a day.
    """

    window_from: str  # YYYY-MM-DD, first day counted
    window_through: str  # YYYY-MM-DD, last day counted (yesterday when measured)
    measured_at: str
    cases: Mapping[str, int] = field(default_factory=dict)
    days: Mapping[str, int] = field(default_factory=dict)

    def per_day(self, court: str) -> float | None:
        """The court's mean new cases per day, or None with too little history."""
        days = self.days.get(court, 0)
        if days < MIN_DAYS_OBSERVED or self.cases.get(court, 0) <= 0:
            return None
        return self.cases[court] / days

    def to_dict(self) -> dict[str, Any]:
        """As the pointer file (served-models.json) carries it."""
        return {
            "window_from": self.window_from,
            "window_through": self.window_through,
            "measured_at": self.measured_at,
            "min_days_observed": MIN_DAYS_OBSERVED,
            "courts": {
                court: {
                    "cases": self.cases[court],
                    "days": self.days[court],
                    "per_day": round(self.cases[court] / self.days[court], 3),
                }
                for court in sorted(self.cases)
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CourtIntake:
        courts = dict(data.get("courts") or {})
        return cls(
            window_from=str(data["window_from"]),
            window_through=str(data["window_through"]),
            measured_at=str(data.get("measured_at") or ""),
            cases={str(c): int(v["cases"]) for c, v in courts.items()},
            days={str(c): int(v["days"]) for c, v in courts.items()},
        )

    def __eq__(self, other: object) -> bool:
        # When it was measured does not change what it says.
        if not isinstance(other, CourtIntake):
            return NotImplemented
        return (self.window_from, self.window_through, dict(self.cases), dict(self.days)) == (
            other.window_from,
            other.window_through,
            dict(other.cases),
            dict(other.days),
        )

    __hash__ = None  # type: ignore[assignment]


def intake_window(today: dt.date, days: int = INTAKE_WINDOW_DAYS) -> tuple[dt.date, dt.date]:
    """The whole days an intake measured ``today`` covers: ``days`` days ending yesterday."""
    through = today - dt.timedelta(days=1)
    return through - dt.timedelta(days=days - 1), through


def intake_from_counts(
    counts: Iterable[tuple[str, int, str]],
    window: tuple[dt.date, dt.date],
    measured_at: str,
) -> CourtIntake:
    """The intake from ``(court, distinct cases, first day YYYY-MM-DD)`` of each court."""
    first, through = window
    cases: dict[str, int] = {}
    days: dict[str, int] = {}
    for court, n, first_day in counts:
        start = max(dt.date.fromisoformat(first_day[:10]), first)
        cases[str(court)] = int(n)
        days[str(court)] = (through - start).days + 1
    return CourtIntake(first.isoformat(), through.isoformat(), measured_at, cases, days)


Source = Literal["max_review", "review_per_day", "max_review_fallback"]


@dataclass(frozen=True)
class ReviewCapacity:
    """The share of a court's new cases its review desk takes, and where that share comes from.

    ``source`` is ``max_review`` (the policy states a share), ``review_per_day``
    (cases per day over the court's measured intake) or ``max_review_fallback``
    (a per-day capacity with no intake to apply it with yet: ``note`` says why).
    """

    share: float
    source: Source
    review_per_day: float | None = None
    intake_per_day: float | None = None
    intake_window: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, object]:
        """What a response's ``policy.capacity`` and the trade-off answer carry."""
        return {
            "review_share": self.share,
            "source": self.source,
            "review_per_day": self.review_per_day,
            "intake_per_day": None
            if self.intake_per_day is None
            else round(self.intake_per_day, 3),
            "intake_window": self.intake_window,
            "note": self.note,
        }


def review_capacity(
    policy: CourtPolicy, court: str | None, intake: CourtIntake | None
) -> ReviewCapacity:
    """The review share ``policy`` gives ``court`` with its measured ``intake`` (pure).

    ``min(1, review_per_day / intake_per_day)`` with an intake; the policy's
    ``max_review`` without one (said in ``note``), or when the policy states
    no per-day capacity.
    """
    per_day = policy.review_per_day
    if per_day is None:
        return ReviewCapacity(policy.max_review, "max_review")
    if intake is None:
        return ReviewCapacity(
            policy.max_review,
            "max_review_fallback",
            review_per_day=per_day,
            note="no intake measured (only `triage serve` measures it from the decision log): "
            f"max_review {policy.max_review:.1%} applies",
        )
    window = f"{intake.window_from}..{intake.window_through}"
    if court is None:
        return ReviewCapacity(
            policy.max_review,
            "max_review_fallback",
            review_per_day=per_day,
            intake_window=window,
            note="a per-day capacity is applied with each court's own intake: "
            f"max_review {policy.max_review:.1%} shown",
        )
    court_intake = intake.per_day(court)
    if court_intake is None:
        days = intake.days.get(court, 0)
        return ReviewCapacity(
            policy.max_review,
            "max_review_fallback",
            review_per_day=per_day,
            intake_window=window,
            note=f"court {court} has {days} day(s) of decisions in {window}, fewer than "
            f"{MIN_DAYS_OBSERVED}: max_review {policy.max_review:.1%} applies",
        )
    return ReviewCapacity(
        min(1.0, per_day / court_intake),
        "review_per_day",
        review_per_day=per_day,
        intake_per_day=court_intake,
        intake_window=window,
    )
