"""A per-day review capacity as a share of the court's intake, and what stands in without one."""

from __future__ import annotations

import datetime as dt

import pytest

from models.policy import DEFAULT_POLICY, parse_policy
from models.review_capacity import (
    MIN_DAYS_OBSERVED,
    CourtIntake,
    intake_from_counts,
    intake_window,
    review_capacity,
)

PER_DAY = parse_policy(DEFAULT_POLICY.model_dump() | {"review_per_day": 30, "max_review": 0.15})
WINDOW = intake_window(dt.date(2026, 12, 5))


def test_the_window_is_four_whole_weeks_ending_yesterday():
    assert (dt.date(2026, 11, 7), dt.date(2026, 12, 4)) == WINDOW
    assert (WINDOW[1] - WINDOW[0]).days + 1 == 28


def test_intake_is_distinct_cases_per_day_since_the_courts_first_day_in_the_window():
    intake = intake_from_counts(
        [
            ("440305", 5600, "2026-10-01"),  # before the window: counted from its first day
            ("110101", 150, "2026-11-20"),  # joined mid-window: 15 days, not diluted to 28
            ("320102", 40, "2026-11-30"),  # 5 days: too little history
        ],
        WINDOW,
        "2026-12-05T00:10:00Z",
    )
    assert intake.per_day("440305") == 200.0
    assert intake.days["110101"] == 15 and intake.per_day("110101") == 10.0
    assert intake.days["320102"] == 5 < MIN_DAYS_OBSERVED and intake.per_day("320102") is None
    assert intake.per_day("999999") is None
    # As served-models.json carries it, and back.
    again = CourtIntake.from_dict(intake.to_dict())
    assert again == intake and again.per_day("110101") == 10.0
    assert intake.to_dict()["courts"]["440305"] == {"cases": 5600, "days": 28, "per_day": 200.0}


def test_a_per_day_capacity_is_that_many_cases_of_the_courts_intake():
    intake = intake_from_counts(
        [("440305", 5600, "2026-11-07"), ("110101", 280, "2026-11-07")], WINDOW, "now"
    )
    busy = review_capacity(PER_DAY, "440305", intake)
    assert busy.share == pytest.approx(30 / 200) and busy.source == "review_per_day"
    assert busy.intake_per_day == 200.0 and busy.intake_window == "2026-11-07..2026-12-04"
    assert busy.note is None
    # 10 cases a day and a desk of 30: it can read them all, not more than all.
    quiet = review_capacity(PER_DAY, "110101", intake)
    assert quiet.share == 1.0 and quiet.source == "review_per_day"
    # A share-only policy keeps its share whatever the intake.
    assert review_capacity(DEFAULT_POLICY, "440305", intake).share == DEFAULT_POLICY.max_review
    assert review_capacity(DEFAULT_POLICY, "440305", intake).source == "max_review"


@pytest.mark.parametrize(
    ("court", "intake", "said"),
    [
        ("440305", None, "no intake measured"),
        ("440305", CourtIntake("2026-11-07", "2026-12-04", "now"), "0 day(s) of decisions"),
        (None, CourtIntake("2026-11-07", "2026-12-04", "now"), "each court's own intake"),
    ],
)
def test_without_an_intake_the_policys_max_review_applies_and_says_so(court, intake, said):
    capacity = review_capacity(PER_DAY, court, intake)
    assert capacity.share == 0.15 and capacity.source == "max_review_fallback"
    assert capacity.note is not None and said in capacity.note and "15.0%" in capacity.note
    assert capacity.to_dict()["review_per_day"] == 30
