"""The follow-up page's numbers: a court's terminated inventory and what following up its top K is worth.

The inventory is every terminated case ``POST /follow_up`` has scored, at
its latest score (a case sent again is counted once, as last scored).  For a
budget of K follow-ups — a share of the inventory, rounded up as
``triage follow-up --budget 5%`` rounds it — the expected yuan recovered by
following up

* the top K of the list (highest expected yuan per follow-up first),
* K cases at random (K × the inventory's mean expected yuan), and
* the K longest-terminated (oldest first, the common rule),

all by the same models' expected yuan, so the three are comparable.  The
list itself is the top K with its reasons.  The legal six-monthly inquiry is
never replaced: the answer carries the notice.

Reads ``follow_up_scores`` (:mod:`serving.decision_log`); no model is loaded.
"""

from __future__ import annotations

import math
import typing as t
from dataclasses import dataclass

import sqlalchemy as sa

from serving.decision_log import follow_up_scores
from serving.stats import Filters

__all__ = ["SHARES", "follow_up_board"]

#: The budgets the page offers, as shares of the inventory.
SHARES = (0.01, 0.05, 0.10)

_f = follow_up_scores.c


@dataclass(frozen=True)
class _Case:
    case_id: str
    court_id: str
    expected_yuan: float
    unpaid_amount: float
    terminated_date: str


def _clauses(filters: Filters) -> list[sa.ColumnElement[bool]]:
    """The selection on the scores: court, province, and the days they were scored (UTC)."""
    day = sa.func.substr(_f.scored_at, sa.literal_column("1"), sa.literal_column("10"))
    return filters.clauses(follow_up_scores, day)


def _latest(filters: Filters) -> sa.Subquery:
    """Each case's latest score within the selection."""
    newest = (
        sa.func.row_number()
        .over(partition_by=_f.case_id, order_by=(_f.scored_at.desc(), _f.score_id.desc()))
        .label("newest")
    )
    return sa.select(follow_up_scores, newest).where(*_clauses(filters)).subquery()


def budget_of(share: float, inventory: int) -> int:
    """K for a share of an inventory: rounded up, as ``triage follow-up --budget`` does."""
    return min(inventory, math.ceil(share * inventory - 1e-9))


def _comparison(cases: list[_Case], by_value: list[_Case], share: float) -> dict[str, t.Any]:
    """Expected yuan of following up K cases: the top K, K at random, the K oldest."""
    k = budget_of(share, len(cases))
    mean = sum(c.expected_yuan for c in cases) / len(cases) if cases else 0.0
    oldest = sorted(cases, key=lambda c: (c.terminated_date, c.case_id))[:k]
    return {
        "share": share,
        "k": k,
        "model": round(sum(c.expected_yuan for c in by_value[:k]), 2),
        "random": round(k * mean, 2),
        "oldest_first": round(sum(c.expected_yuan for c in oldest), 2),
    }


def follow_up_board(
    connection: sa.Connection, filters: Filters, share: float, limit: int
) -> dict[str, t.Any]:
    """The follow-up page's answer for a selection and a budget share (one of :data:`SHARES`).

    ``limit`` caps the rows of the list sent (the page shows the top K; a
    national 10 % can be thousands).
    """
    latest = _latest(filters)
    rows = connection.execute(sa.select(latest).where(latest.c.newest == 1)).mappings().all()
    cases = [
        _Case(
            str(r["case_id"]),
            str(r["court_id"]),
            float(r["expected_yuan"]),
            float(r["unpaid_amount"]),
            str(r["terminated_date"]),
        )
        for r in rows
    ]
    by_id = {str(r["case_id"]): r for r in rows}
    # The list's order: highest expected yuan first, equal values by case_id (as ranked).
    by_value = sorted(cases, key=lambda c: (-c.expected_yuan, c.case_id))
    chosen = _comparison(cases, by_value, share)
    courts: dict[str, list[_Case]] = {}
    for case in by_value:
        courts.setdefault(case.court_id, []).append(case)
    listed = []
    for rank, case in enumerate(by_value[: min(chosen["k"], limit)], start=1):
        row = by_id[case.case_id]
        listed.append(
            {
                "rank": rank,
                "case_id": case.case_id,
                "court_id": case.court_id,
                "expected_yuan": case.expected_yuan,
                "p_resume": float(row["p_resume"]),
                "expected_amount": float(row["expected_amount"]),
                "unpaid_amount": case.unpaid_amount,
                "terminated_date": case.terminated_date,
                "months_since_termination": float(row["months_since_termination"]),
                "reasons_zh": str(row["reasons_zh"]),
                "reasons_en": str(row["reasons_en"]),
                "scored_at": str(row["scored_at"]),
                "models": {
                    "resume": str(row["resume_model_version"]),
                    "recovery": str(row["recovery_model_version"]),
                },
            }
        )
    return {
        "inventory": {
            "cases": len(cases),
            "unpaid_total": round(sum(c.unpaid_amount for c in cases), 2),
            "expected_total": round(sum(c.expected_yuan for c in cases), 2),
        },
        "share": share,
        "k": chosen["k"],
        "comparison": chosen,
        "budgets": [_comparison(cases, by_value, s) for s in SHARES],
        "courts": sorted(
            (
                {
                    "court_id": court,
                    "cases": len(members),
                    "unpaid_total": round(sum(c.unpaid_amount for c in members), 2),
                    "model": _comparison(members, members, share)["model"],
                    "k": budget_of(share, len(members)),
                }
                for court, members in courts.items()
            ),
            key=lambda c: (-c["cases"], c["court_id"]),
        ),
        "follow_ups": listed,
    }
