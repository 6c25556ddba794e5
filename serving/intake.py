"""Each court's recent intake, measured from the decision log for per-day review capacities.

`triage serve`'s follower (:mod:`serving.follower`) measures it off the
request path — one grouped query over the window's whole days, on the
dashboard's covering index — when some policy in force states its review
capacity in cases per day, and publishes it in the pointer file beside the
policy book; each worker routes by the book and this intake
(:mod:`models.review_capacity` turns a per-day capacity into a share).
The window ends yesterday, so the numbers change once a day: the follower
re-measures every ``intake_refresh_seconds`` and republishes only when they
changed.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from models.review_capacity import (
    INTAKE_WINDOW_DAYS,
    CourtIntake,
    intake_from_counts,
    intake_window,
)
from serving.decision_log import DECISION_DAY, DecisionLog, decisions

__all__ = ["measure_intake"]


def measure_intake(
    log: DecisionLog, today: dt.date, *, window_days: int = INTAKE_WINDOW_DAYS
) -> CourtIntake:
    """Distinct new cases of each court decided in the ``window_days`` whole days before ``today``.

    A case decided twice (a retry, a batch re-run) counts once; a court's days
    run from its first decision in the window (see :class:`CourtIntake`).
    """
    window = intake_window(today, window_days)
    day = DECISION_DAY
    query = (
        sa.select(
            decisions.c.court_id,
            sa.func.count(sa.distinct(decisions.c.case_id)),
            sa.func.min(day),
        )
        .where(day >= window[0].isoformat(), day <= window[1].isoformat())
        .group_by(decisions.c.court_id)
    )
    with log.engine.connect() as connection:
        counts = [(str(c), int(n), str(first)) for c, n, first in connection.execute(query)]
    measured_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return intake_from_counts(counts, window, measured_at)
